"""Signing in and out with the API, and who am I."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from carelens.api.responses import respond
from carelens.http.security import ActorDep, request_token, sign_in
from carelens.model.access import ANONYMOUS
from carelens.services import Unauthenticated
from carelens.services.auth import logout

router = APIRouter(prefix="/auth", tags=["auth"])


class Credentials(BaseModel):
    user_name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
    password: str = Field(min_length=1, max_length=1000)


@router.post(
    "/token",
    summary="Sign in: exchange a user name and password for a bearer token",
    responses={
        401: {"description": "Wrong user name or password"},
        429: {"description": "Too many failed sign-ins for this account or address: see Retry-After"},
        503: {"description": "Too many sign-ins waiting: try again in a second"},
    },
)
async def issue_token(request: Request, credentials: Credentials) -> dict:
    token, expires = await sign_in(request, credentials.user_name, credentials.password, kind="api")
    return {"access_token": token, "token_type": "bearer", "expires_at": expires.isoformat()}


@router.post("/logout", summary="Revoke the bearer token (or session) this request carries")
async def revoke(request: Request, actor: ActorDep) -> dict:
    """Any live token can be revoked, whatever its account's role (a public-role account's too); a
    request that carries none, or a stale session cookie, is 401."""
    token = request_token(request)
    if token is None or actor is ANONYMOUS:
        raise Unauthenticated("not signed in")
    return {"revoked": await run_in_threadpool(logout, request.app.state.engine, token)}


@router.get("/me", summary="The signed-in actor: user name, role, organisations")
def me(request: Request, actor: ActorDep):
    return respond(
        request,
        actor,
        {
            "user_name": actor.user_name,
            "role": actor.role.value,
            "organisations": sorted(actor.organisations),
            "sector": actor.sector,
            "inspector_id": actor.inspector_id,
        },
    )
