"""What every response and request goes through: security headers, a request-size limit, and error
bodies that quote at most a short excerpt of what was sent.

- :class:`SecurityHeaders` adds to every response (API, pages, static files, errors) a
  Content-Security-Policy (:data:`PAGE_CSP`: scripts, styles, images and connections from this site
  only, no inline script but the design system's one known line, no plugins, no framing:
  ``frame-ancestors 'none'``), ``X-Frame-Options: DENY`` for older browsers,
  ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin`` and, on a request that came
  over https, ``Strict-Transport-Security`` (the ``hsts_seconds`` setting). A route may set its own
  Content-Security-Policy (the API documentation pages do: :data:`API_DOCS_CSP`); the others are
  always set.
- :class:`BodyLimit` refuses a request body over ``max_request_bytes`` with 413: at once when its
  Content-Length says so (nothing is read), else as soon as the bytes read pass the limit.
- :func:`validation_error` replaces FastAPI's 422 handler, which echoes the whole input: each error
  keeps its location, message and type, and quotes at most ``error_excerpt_chars`` characters of the
  value; :func:`excerpt` cuts any other message that may quote a request.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from carelens.services.settings import get_settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

NHSUK_INLINE_SCRIPT_SHA256 = "tDOvXJi1PXbg0CWjLCCYSNHRXtps26K4JXkE3M6u/c0="
"""SHA-256 of the one inline script of the NHS.UK page template (nhsuk-frontend-jinja's
``template.jinja``: it marks the body ``js-enabled``); tests/api/test_protection.py checks that every
inline script on a page is allowed by hash, so a new template version that changes it fails there."""

NHS_FONT_HOST = "https://assets.nhs.uk"
"""Where the NHS.UK design system's CSS loads the NHS font from (the only other host a page may use)."""

_COMMON = (
    "default-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)
PAGE_CSP = "; ".join(
    (
        *_COMMON,
        f"script-src 'self' 'sha256-{NHSUK_INLINE_SCRIPT_SHA256}'",
        "style-src 'self'",
        f"font-src 'self' {NHS_FONT_HOST}",
    )
)
"""The Content-Security-Policy of every response but the API documentation pages."""
API_DOCS_CSP = "; ".join(
    (
        *_COMMON,
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "font-src 'self'",
        "worker-src 'self' blob:",
    )
)
"""/docs and /redoc: scripts from this site only (the vendored Swagger UI and ReDoc), but the styles
those libraries write into the page, and ReDoc's search worker (a blob)."""


class SecurityHeaders:
    """ASGI middleware adding the security headers to every HTTP response."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in security_headers(https).items():
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def security_headers(https: bool) -> dict[str, str]:
    """The headers :class:`SecurityHeaders` adds (a route's own Content-Security-Policy wins)."""
    headers = {
        "Content-Security-Policy": PAGE_CSP,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }
    seconds = get_settings().hsts_seconds
    if https and seconds > 0:
        headers["Strict-Transport-Security"] = f"max-age={seconds}; includeSubDomains"
    return headers


class BodyLimit:
    """ASGI middleware refusing request bodies over ``max_request_bytes`` with 413."""

    def __init__(self, app, max_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes if self.max_bytes is not None else get_settings().max_request_bytes
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                too_large = False
            if too_large:
                await _too_large(limit)(scope, receive, send)
                return
        read = 0
        started = False

        async def counted() -> Message:
            nonlocal read
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > limit:
                    raise HTTPException(413, _too_large_text(limit))
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except HTTPException as exc:  # raised while a body was read outside a route (e.g. by middleware)
            if exc.status_code != 413 or started:
                raise
            await _too_large(limit)(scope, receive, send)


def _too_large_text(limit: int) -> str:
    return f"request body too large: at most {limit:,} bytes"


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(
        {"detail": _too_large_text(limit)},
        status_code=413,
        headers={"Cache-Control": "no-store", "Connection": "close"},
    )


def excerpt(value: Any, limit: int | None = None) -> str:
    """``value`` as text, cut to ``limit`` characters (the ``error_excerpt_chars`` setting) with the
    number of characters left out said."""
    limit = get_settings().error_excerpt_chars if limit is None else limit
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with each error's location, message and type, and an excerpt of the value it was about."""
    details = []
    for error in exc.errors():
        item: dict[str, Any] = {
            "loc": [part if isinstance(part, int) else excerpt(str(part)) for part in error.get("loc", ())],
            "msg": excerpt(str(error.get("msg", ""))),
            "type": str(error.get("type", "")),
        }
        if "input" in error and error["input"] is not None:
            item["input"] = excerpt(error["input"])
        details.append(item)
    return JSONResponse({"detail": details}, status_code=422, headers={"Cache-Control": "no-store"})
