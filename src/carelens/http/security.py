"""Who is asking: a bearer token (API) or the ``carelens_session`` cookie (web), else the public; and
signing in without starving other requests.

:func:`current_actor` is the FastAPI dependency every route uses. A request with an ``Authorization``
header that is not a live bearer token gets 401 (a program should know its token is bad); a stale
session cookie is ignored and the visitor is treated as the public (the web shows a sign-in link).

:func:`sign_in` is how the API and the login page sign in: the account's and the client address's
lockouts are checked in the event loop (a refusal costs no thread, and is answered after a short idle
wait), and the password is checked on ``sign_in_threads`` threads of their own, never on the threads
that serve other requests; at most ``sign_in_queue`` sign-ins wait for them, beyond which 503.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import Depends, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from carelens.model.access import ANONYMOUS, Actor
from carelens.services import ServiceError
from carelens.services.auth import actor_for_token, login, logout, remembered_actor
from carelens.services.settings import get_settings
from carelens.services.throttle import SignInGuard, SubmissionGuard, TooManyAttempts

SESSION_COOKIE = "carelens_session"
"""Name of the web session cookie (HttpOnly, SameSite=Lax)."""

__all__ = [
    "SESSION_COOKIE",
    "ActorDep",
    "Busy",
    "client_address",
    "current_actor",
    "end_session",
    "login",
    "logout",
    "sign_in",
    "start_session",
    "submission_guard",
]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "use 'Authorization: Bearer <token>'", {"WWW-Authenticate": "Bearer"})
    return token.strip()


async def current_actor(request: Request) -> Actor:
    """The actor behind ``request`` (cached on ``request.state.actor``).

    Asynchronous so that the public, and a token this process remembers, cost no trip to a worker
    thread (FastAPI runs a plain function dependency on one); only a store lookup goes there.
    """
    cached = getattr(request.state, "actor", None)
    if cached is not None:
        return cached
    token = _bearer(request)
    if token is not None:
        actor = await actor_of_token(request, token)
        if actor is None:
            raise HTTPException(401, "token unknown, expired or revoked", {"WWW-Authenticate": "Bearer"})
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        actor = (await actor_of_token(request, cookie) if cookie else None) or ANONYMOUS
    request.state.actor = actor
    return actor


async def actor_of_token(request: Request, token: str) -> Actor | None:
    """:func:`~carelens.services.auth.actor_for_token`, looked up in the store on a worker thread
    (it blocks) unless this process remembers the token."""
    remembered = remembered_actor(token)
    if remembered is not None:
        return remembered
    return await run_in_threadpool(actor_for_token, request.app.state.engine, token)


ActorDep = Annotated[Actor, Depends(current_actor)]
"""A route's ``actor: ActorDep`` parameter: who is asking (:func:`current_actor`)."""


def request_token(request: Request) -> str | None:
    """The bearer token or session cookie the request carries, if any."""
    return _bearer(request) or request.cookies.get(SESSION_COOKIE)


def start_session(response: Response, token: str, expires_at: dt.datetime, secure: bool = False) -> None:
    """Set the session cookie on a response after :func:`login` (``secure`` when served over HTTPS)."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        expires=expires_at,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )


def end_session(response: Response) -> None:
    """Remove the session cookie (after :func:`logout`)."""
    response.delete_cookie(SESSION_COOKIE, path="/")


class Busy(ServiceError):
    """Too many sign-ins are already waiting for a password check (503, try again in a second)."""

    status = 503
    retry_after = 1


def client_address(request: Request) -> str | None:
    """The client's address as the server sees it (uvicorn puts a trusted proxy's X-Forwarded-For here:
    its ``--forwarded-allow-ips``)."""
    return request.client.host if request.client else None


def sign_in_guard(app) -> SignInGuard:
    """The app's sign-in throttle (one per app, so per server process)."""
    guard = getattr(app.state, "sign_in_guard", None)
    if guard is None:
        guard = app.state.sign_in_guard = SignInGuard(get_settings())
    return guard


def submission_guard(app) -> SubmissionGuard:
    """The app's throttle of experiences and concerns sent (one per app, so per server process)."""
    guard = getattr(app.state, "submission_guard", None)
    if guard is None:
        guard = app.state.submission_guard = SubmissionGuard(get_settings())
    return guard


def _sign_in_limiter(app) -> anyio.CapacityLimiter:
    limiter = getattr(app.state, "sign_in_limiter", None)
    if limiter is None:
        limiter = app.state.sign_in_limiter = anyio.CapacityLimiter(get_settings().sign_in_threads)
        app.state.sign_ins_waiting = 0
    return limiter


async def sign_in(request: Request, user_name: str, password: str, kind: str) -> tuple[str, dt.datetime]:
    """:func:`~carelens.services.auth.login` for a request: (token, expires_at).

    Raises :class:`~carelens.services.throttle.TooManyAttempts` (429) when the account or the client
    address is locked out, after ``sign_in_refusal_delay_seconds`` (or the lockout's end, if sooner);
    :class:`Busy` (503) when ``sign_in_queue`` sign-ins are already waiting; else what ``login`` raises.
    """
    app, settings = request.app, get_settings()
    guard, address = sign_in_guard(app), client_address(request)
    try:
        guard.check(user_name, address)
    except TooManyAttempts as refused:
        await anyio.sleep(min(refused.retry_after, settings.sign_in_refusal_delay_seconds))
        raise
    limiter = _sign_in_limiter(app)
    if app.state.sign_ins_waiting >= settings.sign_in_threads + settings.sign_in_queue:
        raise Busy("too many sign-ins at once: try again in a second")
    app.state.sign_ins_waiting += 1
    try:
        work = partial(login, app.state.engine, user_name, password, kind, guard=guard, address=address)
        return await anyio.to_thread.run_sync(work, limiter=limiter)
    finally:
        app.state.sign_ins_waiting -= 1
