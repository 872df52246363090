"""Signing in and out with the API, and who am I."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from carelens.api.responses import respond
from carelens.api.security import ActorDep, request_token
from carelens.services import Unauthenticated
from carelens.services.auth import login, logout

router = APIRouter(prefix="/auth", tags=["auth"])


class Credentials(BaseModel):
    user_name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


@router.post("/token", summary="Sign in: exchange a user name and password for a bearer token")
def issue_token(request: Request, credentials: Credentials) -> dict:
    token, expires = login(request.app.state.engine, credentials.user_name, credentials.password, kind="api")
    return {"access_token": token, "token_type": "bearer", "expires_at": expires.isoformat()}


@router.post("/logout", summary="Revoke the bearer token (or session) this request carries")
def revoke(request: Request, actor: ActorDep) -> dict:
    token = request_token(request)
    if not actor.signed_in or token is None:
        raise Unauthenticated("not signed in")
    return {"revoked": logout(request.app.state.engine, token)}


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
