"""Turning service results into HTTP responses: JSON or CSV, ETags (304 on If-None-Match) and caching;
service errors as JSON errors (:func:`service_error`).

A response to a signed-in actor may hold confidential data (flags, unpublished ratings, unsuppressed
small numbers), so it is ``Cache-Control: no-store``. A response to the public holds published data
only and may be cached for ``public_max_age`` seconds. Both vary on the credentials.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request, Response
from fastapi.responses import JSONResponse

from carelens.errors import ServiceError, Unauthenticated
from carelens.http.downloads import csv_bytes
from carelens.http.protection import excerpt
from carelens.model.access import Actor
from carelens.services._db import Page
from carelens.services.settings import get_settings

OutputFormat = Annotated[
    Literal["json", "csv"], Query(description="json (default) or csv (the rows of the page only).")
]
PageNumber = Annotated[int, Query(ge=1, le=1_000_000, description="Page number, from 1.")]
PageSize = Annotated[
    int | None, Query(ge=1, le=10_000, description="Rows per page (default and maximum are settings).")
]
RowId = Annotated[int, Path(ge=1, le=2**62)]
"""A stored row's id in a path (at most 2**62: it fits the database's 64-bit integers)."""
OrgCode = Annotated[str, Path(min_length=1, max_length=40, description="Organisation code (ODS or CQC id).")]


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    """Rows as CSV (:func:`carelens.http.downloads.csv_chunks`: cells safe to open in a spreadsheet,
    ``a.b`` columns read from the row's object ``a``); without ``columns``, the first row's keys."""
    return csv_bytes(columns or (list(rows[0]) if rows else []), rows)


def respond(
    request: Request,
    actor: Actor,
    data: Any,
    output: str = "json",
    name: str = "data",
) -> Response:
    """The response for ``data`` (a :class:`Page`, dict or list), with ETag and cache headers."""
    if isinstance(data, Page):
        if output == "csv":
            body, media = _csv(data.items, data.columns), "text/csv; charset=utf-8"
        else:
            body, media = _dumps(data.as_dict()), "application/json"
    elif output == "csv" and isinstance(data, list):
        body, media = _csv(data, []), "text/csv; charset=utf-8"
    else:
        body, media = _dumps(data), "application/json"
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Vary": "Authorization, Cookie"}
    if actor.signed_in:
        headers["Cache-Control"] = "no-store"
    else:
        headers["Cache-Control"] = f"public, max-age={get_settings().public_max_age}"
    if media.startswith("text/csv"):
        headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media, headers=headers)


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in candidates or etag in candidates


def _dumps(data: Any) -> bytes:
    return json.dumps(data, default=str, separators=(",", ":"), allow_nan=False).encode()


async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
    """A service error as a JSON error with its HTTP status (``NotFound`` 404, ``Forbidden`` 403,
    ``Unauthenticated`` 401 with WWW-Authenticate, ``Invalid`` 400, ``TooManyAttempts`` 429 and ``Busy``
    503 with Retry-After), never cached; the message is cut to 300 characters (it may quote the request)."""
    headers = {"Cache-Control": "no-store"}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if getattr(exc, "retry_after", None):
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse({"detail": excerpt(exc.message, 300)}, status_code=exc.status, headers=headers)
