"""Anti-forgery tokens for the pages' forms (double submit), the one way every form that changes
something is protected.

A page showing a form puts a fresh random token both in a hidden ``csrf_token`` field and in a cookie
of its own (HttpOnly, SameSite=Strict, limited to the form's path); the form's POST is accepted only
when the two match. Another site can make a visitor's browser post a form, but can neither read the
cookie nor set it to the field's value, so it cannot act, sign in or send anything in the visitor's
name.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from carelens.errors import InputError, NotFound, ServiceError

FIELD = "csrf_token"
"""The hidden field carrying the token in every protected form."""


def new_token() -> str:
    """A fresh random token for one form."""
    return secrets.token_urlsafe(32)


def set_token_cookie(request: Request, response: Response, cookie: str, token: str, path: str) -> None:
    """Set the form's cookie to ``token`` (HttpOnly, SameSite=Strict, Secure over https, for ``path``)."""
    response.set_cookie(
        cookie,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=path,
    )


def protected_page(
    request: Request, actor: Any, template: str, cookie: str, path: str, **context: Any
) -> HTMLResponse:
    """A page showing protected forms, the one way every such page is drawn: ``template`` rendered with a
    fresh token in the forms' hidden fields and in the ``cookie`` for ``path``, never cached."""
    from carelens.web.layout import render_page

    token = new_token()
    response = render_page(request, actor, template, csrf_token=token, **context)
    response.headers["Cache-Control"] = "no-store"
    set_token_cookie(request, response, cookie, token, path)
    return response


def token_matches(request: Request, cookie: str, submitted: str) -> bool:
    """Whether the submitted field matches the form's cookie (both present; compared in constant time)."""
    expected = request.cookies.get(cookie, "")
    return bool(expected and submitted) and hmac.compare_digest(expected.encode(), submitted.encode())


EXPIRED = "Your form had expired: send it again"
"""What a form posted without its page's token (or with another) is told, with status 400."""


def refusal(error: ServiceError | InputError) -> tuple[list[str], int]:
    """What a refused form says, and its status: a service's refusal as the service put it, with its
    status; each reason a change is refused for by the domain, in words, with 409 for a guard's refusal
    in the state the store holds (:class:`carelens.errors.Refused`, as the API answers) and 400 for
    other bad input."""
    if isinstance(error, ServiceError):
        return [error.message], error.status
    return [problem.reason for problem in error.problems[:20]], getattr(error, "status", 400)


def form_page(
    request: Request,
    cookie: str,
    submitted: str,
    act: Callable[[], Any],
    show: Callable[[list[dict[str, str]], int], Response],
    anchor: str,
    done: str | Callable[[Any], Response],
) -> Response:
    """A protected form's POST, the one way every page handles it: a post without its page's token is
    refused (``show`` the form again with :data:`EXPIRED`, 400); otherwise ``act()`` calls the service,
    and a refusal is shown in words with its status (:func:`refusal`: 403, 409 for a guard's, 429 with
    ``Retry-After``...), each reason linking to ``anchor``; a 404 stays the error page. After success:
    a redirect (303) to ``done``, or the page ``done(result)`` makes."""
    if not token_matches(request, cookie, submitted):
        return show([{"text": EXPIRED, "href": anchor}], 400)
    try:
        result = act()
    except NotFound:
        raise
    except (ServiceError, InputError) as error:
        reasons, status = refusal(error)
        response = show([{"text": reason, "href": anchor} for reason in reasons], status)
        if getattr(error, "retry_after", None):
            response.headers["Retry-After"] = str(error.retry_after)
        return response
    return done(result) if callable(done) else RedirectResponse(done, status_code=303)
