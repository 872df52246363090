"""Signing in and out with the web session cookie.

The sign-in form carries an anti-forgery token (:data:`CSRF_COOKIE`); the password is checked off the
request threads and throttled (:func:`carelens.http.security.sign_in`). A page that needed signing
in links here with ``?next=`` its own path, and signing in returns there; only a path of this site is
followed (no open redirect: :func:`local_path`). Without one, signing in lands on the role's own first
page (:func:`carelens.web.pages.landing_page`).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from carelens.http.security import (
    SESSION_COOKIE,
    ActorDep,
    actor_of_token,
    end_session,
    logout,
    sign_in,
    start_session,
)
from carelens.model.access import Actor
from carelens.services import ServiceError, Unauthenticated
from carelens.web.forms import protected_page, token_matches
from carelens.web.layout import store
from carelens.web.pages import landing_page

router = APIRouter(include_in_schema=False)

CSRF_COOKIE = "carelens_csrf"
"""The sign-in form's anti-forgery cookie (double submit): GET /login sets a random value in this
cookie (HttpOnly, SameSite=Strict, path /login) and in a hidden field of the form; POST /login signs in
only when the two match, so another site cannot sign a visitor's browser in to an account of its
choosing (login CSRF). Another site can neither read the cookie nor set it with the field's value."""


def visible_to(actor: Actor) -> bool:
    """Anyone may sign in (again, as someone else) or out."""
    return True


def local_path(target: str | None) -> str:
    """``target`` if it is a path of this site (``/plan``, ``/search?q=x``), else ``/``: never another
    host. Browsers read ``//host``, ``/\\host`` and ``/<tab>/host`` as another host (they drop tabs and
    line breaks, and take a backslash for a slash), so a path with a backslash, a control character
    or a space, or one that names a scheme or host, is refused."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    if any(c == "\\" or c.isspace() or ord(c) < 32 or ord(c) == 127 for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def _login_page(
    request: Request, actor: Actor, next_path: str, errors: list, status: int = 200, user_name: str = ""
) -> HTMLResponse:
    """The sign-in form with a fresh anti-forgery token (cookie and hidden field), never cached."""
    return protected_page(
        request,
        actor,
        "login.jinja",
        CSRF_COOKIE,
        "/login",
        status=status,
        title="Sign in",
        next=next_path,
        errors=errors,
        user_name=user_name,
    )


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, actor: ActorDep, next: str | None = None):
    return _login_page(request, actor, local_path(next), [])


@router.post("/login")
async def login_submit(
    request: Request,
    actor: ActorDep,
    user_name: Annotated[str, Form(max_length=100)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
):
    """Sign in (the password is checked off the request threads, throttled: http.security.sign_in)."""
    errors = []
    if not token_matches(request, CSRF_COOKIE, csrf_token):
        errors.append({"text": "Your sign-in form had expired: sign in again", "href": "#user_name"})
        return _login_page(request, actor, local_path(next), errors, status=400, user_name=user_name)
    if not user_name.strip():
        errors.append({"text": "Enter your user name", "href": "#user_name"})
    elif any(ord(c) < 32 or ord(c) == 127 for c in user_name):
        errors.append({"text": "A user name has no control characters", "href": "#user_name"})
    if not password:
        errors.append({"text": "Enter your password", "href": "#password"})
    status, retry_after = 400, None
    if not errors:
        try:
            token, expires = await sign_in(request, user_name.strip(), password, kind="session")
        except Unauthenticated:
            errors.append({"text": "User name or password is not right", "href": "#user_name"})
            status = 401
        except ServiceError as error:  # locked out (429) or too many sign-ins at once (503)
            errors.append({"text": _sign_in_refusal(error), "href": "#user_name"})
            status, retry_after = error.status, getattr(error, "retry_after", None)
        else:
            target = local_path(next)
            if target == "/":
                signed_in = await actor_of_token(request, token)
                target = landing_page(signed_in) if signed_in else "/"
            response = RedirectResponse(target, status_code=303)
            start_session(response, token, expires, secure=request.url.scheme == "https")
            response.delete_cookie(CSRF_COOKIE, path="/login")
            return response
    response = _login_page(request, actor, local_path(next), errors, status=status, user_name=user_name)
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _sign_in_refusal(error: ServiceError) -> str:
    seconds = getattr(error, "retry_after", 1)
    if error.status == 429:
        return f"Too many failed sign-ins: try again in {seconds} second{'s' if seconds != 1 else ''}"
    return "Too many people are signing in at once: try again in a moment"


@router.post("/logout")
def logout_submit(request: Request):
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        logout(store(request), token)
    response = RedirectResponse("/", status_code=303)
    end_session(response)
    return response
