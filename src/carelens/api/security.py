"""Who is asking: a bearer token (API) or the ``carelens_session`` cookie (web), else the public.

:func:`current_actor` is the FastAPI dependency every route uses. A request with an ``Authorization``
header that is not a live bearer token gets 401 (a program should know its token is bad); a stale
session cookie is ignored and the visitor is treated as the public (the web shows a sign-in link).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from carelens.model.access import ANONYMOUS, Actor
from carelens.services.auth import actor_for_token, login, logout, remembered_actor

SESSION_COOKIE = "carelens_session"
"""Name of the web session cookie (HttpOnly, SameSite=Lax)."""

__all__ = ["SESSION_COOKIE", "ActorDep", "current_actor", "end_session", "login", "logout", "start_session"]


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
        actor = await _actor_for_token(request, token)
        if actor is None:
            raise HTTPException(401, "token unknown, expired or revoked", {"WWW-Authenticate": "Bearer"})
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        actor = (await _actor_for_token(request, cookie) if cookie else None) or ANONYMOUS
    request.state.actor = actor
    return actor


async def _actor_for_token(request: Request, token: str) -> Actor | None:
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
