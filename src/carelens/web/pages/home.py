"""The home page (find and compare services) and what the figures mean, open to everyone."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from carelens.http.security import ActorDep
from carelens.model.access import Actor
from carelens.web.common import suppression_note
from carelens.web.layout import render_page

router = APIRouter(include_in_schema=False)


def visible_to(actor: Actor) -> bool:
    """Published data: for everyone."""
    return True


@router.get("/", response_class=HTMLResponse)
def home(request: Request, actor: ActorDep):
    return render_page(request, actor, "home.jinja", title="Find and compare health and care services")


@router.get("/about", response_class=HTMLResponse)
def about(request: Request, actor: ActorDep):
    return render_page(
        request, actor, "about.jinja", title="About the figures", suppression_note=suppression_note()
    )
