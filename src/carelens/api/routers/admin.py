"""Administration: users and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from carelens.api.responses import OutputFormat, PageNumber, PageSize, respond
from carelens.http.security import ActorDep
from carelens.model.access import Role
from carelens.services.audit_log import audit_events
from carelens.services.auth import NewUser, create_user

router = APIRouter(tags=["admin"])


class UserIn(BaseModel):
    user_name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._@-]+$")
    role: Role
    password: str | None = Field(default=None, min_length=8, max_length=1000)
    organisations: list[str] = Field(default_factory=list, max_length=1000)
    sector: str | None = Field(default=None, max_length=30)
    inspector_id: str | None = Field(default=None, max_length=60)
    display_name: str | None = Field(default=None, max_length=200)


@router.post("/users", status_code=201, summary="Create a user (administrators only; audited)")
def post_user(request: Request, actor: ActorDep, user: UserIn) -> dict:
    new = NewUser(
        user.user_name,
        user.role,
        user.password,
        frozenset(user.organisations),
        user.sector,
        user.inspector_id,
        user.display_name,
    )
    return create_user(request.app.state.engine, actor, new)


@router.get("/audit", summary="The audit log, newest first (administrators only)")
def get_audit(
    request: Request,
    actor: ActorDep,
    user_name: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=60)] = None,
    page: PageNumber = 1,
    page_size: PageSize = None,
    format: OutputFormat = "json",
):
    result = audit_events(request.app.state.engine, actor, user_name, action, page, page_size)
    return respond(request, actor, result, format, "audit")
