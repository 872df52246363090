"""What every page does alike: render its template inside the site's frame (header links, caching),
turn a service error into an HTML error page, link to the previous and next pages of a table.

Pages showing data the public may not see are never cached.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from carelens.http.protection import excerpt
from carelens.model.access import ANONYMOUS, Actor
from carelens.services import ServiceError
from carelens.web.pages import navigation
from carelens.web.templating import download_links, render  # noqa: F401 (the pages' way to link downloads)

PageNumber = Annotated[int, Query(alias="page", ge=1, le=1_000_000, description="Page of the table, from 1.")]
"""A page's ``page`` parameter: anything but a whole number from 1 to a million (the services'
highest page) is the 400 error page."""
PageSize = Annotated[
    int | None, Query(alias="size", ge=1, le=10_000, description="Rows a page (the settings cap it).")
]
"""A page's ``size`` parameter (rows a page; the services keep it within ``max_page_size``)."""

ERROR_TITLES = {404: "Page not found", 403: "You cannot see this page", 400: "Cannot show this page"}


def render_page(request: Request, actor: Actor, template: str, status: int = 200, **context) -> HTMLResponse:
    """``pages/<template>`` with the header's links for ``actor``; ``no-store`` when signed in."""
    html = render(template, actor=actor, nav=navigation(actor, request.url.path), **context)
    headers = {"Cache-Control": "no-store"} if actor.signed_in else {}
    return HTMLResponse(html, status_code=status, headers=headers)


def service_error_page(request: Request, error: ServiceError) -> HTMLResponse:
    """The HTML error page of a service error a page raised, with the error's status (404, 403, 400...)
    and at most 300 characters of its message (it may quote the request: a code in the path); to
    someone not signed in, a page they may not see offers signing in and coming back."""
    actor = getattr(request.state, "actor", None) or ANONYMOUS
    title = ERROR_TITLES.get(error.status, "Something went wrong")
    message = excerpt(error.message, 300)
    return render_page(
        request,
        actor,
        "error.jinja",
        status=error.status,
        title=title,
        message=message,
        sign_in_href=sign_in_link(request) if error.status in (403, 404) and not actor.signed_in else None,
    )


def sign_in_link(request: Request) -> str:
    """The sign-in page, to come back to this page (its path and query) once signed in; an address
    longer than the sign-in form takes back (:data:`NEXT_CHARS`) is not echoed: signing in lands on
    the role's own page."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?{urlencode({'next': here})}" if len(here) <= NEXT_CHARS else "/login"


NEXT_CHARS = 1000
"""The longest address a refused page offers to come back to after signing in."""


def store(request: Request) -> sa.Engine:
    """The engine of the store the app serves."""
    return request.app.state.engine


def pager_links(path: str, params: dict, result) -> dict:
    """``previous_href`` and ``next_href`` of a paged result (a services ``Page``; None: no links);
    ``params`` are the page's other query parameters, kept in the links."""
    if result is None:
        return {"previous_href": None, "next_href": None}
    previous_href = f"{path}?{urlencode({**params, 'page': result.page - 1})}" if result.page > 1 else None
    next_href = (
        f"{path}?{urlencode({**params, 'page': result.page + 1})}" if result.page < result.pages else None
    )
    return {"previous_href": previous_href, "next_href": next_href}
