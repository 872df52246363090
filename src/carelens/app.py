"""The HTTP application: the API under ``/api/v1``, the web pages, their static files and the API
documentation, served with uvicorn.

``create_app(engine)`` keeps the engine on ``app.state.engine``; every route reads it from there and
calls :mod:`carelens.services`, which enforce the role rules. Every response carries the security
headers, request bodies are limited and 422 errors quote only excerpts (:mod:`carelens.http.protection`).
The API documentation (/docs, /redoc) is served from the package's own copies of Swagger UI and ReDoc
under /static.

A service error (not found, forbidden, invalid...) keeps its HTTP status everywhere: the API answers it
as JSON (:func:`carelens.api.responses.service_error`), the pages as their HTML error page
(:func:`carelens.web.layout.service_error_page`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from carelens import __version__
from carelens.api import API_PREFIX
from carelens.api.responses import service_error
from carelens.api.routers import area_routers
from carelens.errors import InputError
from carelens.http.protection import API_DOCS_CSP, BodyLimit, SecurityHeaders, validation_error
from carelens.http.security import sign_in_guard
from carelens.services import Invalid, ServiceError
from carelens.services.settings import get_settings
from carelens.web.layout import service_error_page
from carelens.web.pages import page_routers
from carelens.web.templating import STATIC_DIR

DEFAULT_HOST = "127.0.0.1"
"""Loopback only by default: exposing the service on a network is an explicit choice (``--host``)."""
DEFAULT_PORT = 8000


def create_app(engine: sa.Engine) -> FastAPI:
    """A FastAPI app serving the API, the web pages and ``/static`` over the store behind ``engine``."""
    from fastapi.staticfiles import StaticFiles

    app = FastAPI(
        lifespan=_lifespan,
        title="carelens",
        version=__version__,
        description="Open oversight engine for health and care. Sign in with POST /api/v1/auth/token and "
        "send 'Authorization: Bearer <token>'; without a token you see published data only.",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.engine = engine
    sign_in_guard(app)
    app.add_middleware(BodyLimit)
    build_stack = app.build_middleware_stack
    # Outside even Starlette's last-resort 500 handler, so that every response carries the headers.
    app.build_middleware_stack = lambda: SecurityHeaders(build_stack())  # type: ignore[method-assign]
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(InputError, _input_error)

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return _docs_page(
            "Swagger UI",
            "swagger-ui",
            "/static/swagger-ui/swagger-ui.css",
            ("/static/swagger-ui/swagger-ui-bundle.js", "/static/api-docs/swagger.js"),
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return _docs_page(
            "ReDoc", "redoc", None, ("/static/redoc/redoc.standalone.js", "/static/api-docs/redoc.js")
        )

    for router in area_routers():
        app.include_router(router, prefix=API_PREFIX)
    for router in page_routers():
        app.include_router(router)
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


async def _service_error(request: Request, exc: ServiceError) -> Response:
    """JSON for an API route, the HTML error page for a page (rendered on a worker thread, as pages are)."""
    if request.url.path.startswith(f"{API_PREFIX}/"):
        return await service_error(request, exc)
    return await run_in_threadpool(service_error_page, request, exc)


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    """A request whose parameters are not valid: the API's 422 with each error, a page's HTML error
    page (400) naming each parameter and what is wrong with it (``?page=0``, ``?page=abc``)."""
    if request.url.path.startswith(f"{API_PREFIX}/"):
        return await validation_error(request, exc)
    problems = "; ".join(
        f"{error.get('loc', ('', ''))[-1]}: {str(error.get('msg', '')).lower()}" for error in exc.errors()[:5]
    )
    message = f"This page cannot be shown for that address ({problems})."
    return await run_in_threadpool(service_error_page, request, Invalid(message))


async def _input_error(request: Request, exc: InputError) -> Response:
    """A change refused by the domain, with every reason in words: 409 for a guard's refusal
    (:class:`carelens.errors.Refused`), 422 for other bad input; a page shows it as a bad request."""
    if request.url.path.startswith(f"{API_PREFIX}/"):
        from fastapi.responses import JSONResponse

        body = {
            "detail": exc.summary(limit=20),
            "problems": [{"field": p.field, "reason": p.reason} for p in exc.problems[:20]],
        }
        return JSONResponse(
            body, status_code=getattr(exc, "status", 422), headers={"Cache-Control": "no-store"}
        )
    return await run_in_threadpool(service_error_page, request, Invalid(exc.summary(limit=20)))


def _docs_page(name: str, element: str, css: str | None, scripts: tuple[str, ...]) -> HTMLResponse:
    """An API documentation page: the vendored library, started by a script file (no inline script)."""
    head = f'<link rel="stylesheet" href="{css}">' if css else ""
    body = "".join(f'<script src="{src}"></script>' for src in scripts)
    html = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>carelens API – {name}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" href="/static/swagger-ui/favicon-32x32.png">{head}</head>'
        f'<body><div id="{element}" data-openapi-url="/openapi.json"></div>{body}</body></html>'
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": API_DOCS_CSP})


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    """On start: run synchronous routes on ``request_threads`` threads (AnyIO's default is 40)."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = get_settings().request_threads
    yield


def serve(engine: sa.Engine, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, workers: int = 1) -> None:
    """Serve the API and web pages over ``engine``'s store until interrupted.

    With ``workers`` > 1, uvicorn runs that many processes; each builds the app from the store URL
    (passed in ``CARELENS_DB``) with :func:`app_from_environment`.
    """
    import os

    import uvicorn

    if workers <= 1:
        uvicorn.run(create_app(engine), host=host, port=port, log_level="info", access_log=False)
        return
    os.environ["CARELENS_DB"] = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    uvicorn.run(
        "carelens.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,
    )


def app_from_environment() -> FastAPI:
    """The app over the store named by ``CARELENS_DB`` (what each uvicorn worker process runs)."""
    from carelens.store.engine import create_engine

    return create_app(create_engine(None))
