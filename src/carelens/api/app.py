"""The web application: the versioned HTTP API under ``/api/v1``, the web pages and their static files.

``create_app(engine)`` keeps the engine on ``app.state.engine``; every route reads it from there and
calls :mod:`carelens.services`, which enforce the role rules. Service errors become JSON errors with
their HTTP status (``NotFound`` 404, ``Forbidden`` 403, ``Unauthenticated`` 401, ``Invalid`` 400,
``TooManyAttempts`` 429 and ``Busy`` 503 with Retry-After), never cached. Every response carries the
security headers, request bodies are limited and 422 errors quote only excerpts
(:mod:`carelens.api.protection`). The API documentation (/docs, /redoc) is served from the package's
own copies of Swagger UI and ReDoc under /static.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse

from carelens import __version__
from carelens.api.protection import API_DOCS_CSP, BodyLimit, SecurityHeaders, excerpt, validation_error
from carelens.api.security import sign_in_guard
from carelens.services import ServiceError, Unauthenticated
from carelens.services.settings import get_settings

API_PREFIX = "/api/v1"
STATIC_DIR = Path(__file__).resolve().parents[1] / "web" / "static"


def create_app(engine: sa.Engine) -> FastAPI:
    """A FastAPI app serving the API, the web pages and ``/static`` over the store behind ``engine``."""
    from fastapi.staticfiles import StaticFiles

    from carelens.api.routers import area_routers
    from carelens.web.routes import router as web_router

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
    app.add_exception_handler(RequestValidationError, validation_error)

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        headers = {"Cache-Control": "no-store"}
        if isinstance(exc, Unauthenticated):
            headers["WWW-Authenticate"] = "Bearer"
        if getattr(exc, "retry_after", None):
            headers["Retry-After"] = str(exc.retry_after)
        return JSONResponse({"detail": excerpt(exc.message, 300)}, status_code=exc.status, headers=headers)

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
    app.include_router(web_router)
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


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
