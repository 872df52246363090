"""What every page does alike: render its template inside the site's frame (header links, caching),
turn a service error into an HTML error page, link to the previous and next pages of a table.

Pages showing data the public may not see are never cached.
"""

from __future__ import annotations

from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import HTMLResponse

from carelens.http.protection import excerpt
from carelens.model.access import ANONYMOUS, Actor
from carelens.services import ServiceError
from carelens.web.pages import navigation
from carelens.web.templating import render

ERROR_TITLES = {404: "Page not found", 403: "You cannot see this page", 400: "Cannot show this page"}


def render_page(request: Request, actor: Actor, template: str, status: int = 200, **context) -> HTMLResponse:
    """``pages/<template>`` with the header's links for ``actor``; ``no-store`` when signed in."""
    html = render(template, actor=actor, nav=navigation(actor, request.url.path), **context)
    headers = {"Cache-Control": "no-store"} if actor.signed_in else {}
    return HTMLResponse(html, status_code=status, headers=headers)


def service_error_page(request: Request, error: ServiceError) -> HTMLResponse:
    """The HTML error page of a service error a page raised, with the error's status (404, 403, 400...)
    and at most 300 characters of its message (it may quote the request: a code in the path)."""
    actor = getattr(request.state, "actor", None) or ANONYMOUS
    title = ERROR_TITLES.get(error.status, "Something went wrong")
    message = excerpt(error.message, 300)
    return render_page(
        request, actor, "error.jinja", status=error.status, title=title, message=message, code=error.status
    )


def store(request: Request) -> sa.Engine:
    """The engine of the store the app serves."""
    return request.app.state.engine


def pager_links(path: str, params: dict, result) -> dict:
    """``previous_href`` and ``next_href`` of a paged result (a services ``Page``; None: no links)."""
    if result is None:
        return {"previous_href": None, "next_href": None}
    previous_href = f"{path}?{urlencode({**params, 'page': result.page - 1})}" if result.page > 1 else None
    next_href = (
        f"{path}?{urlencode({**params, 'page': result.page + 1})}" if result.page < result.pages else None
    )
    return {"previous_href": previous_href, "next_href": next_href}
