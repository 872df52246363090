"""The web pages: one module per page type, each found here (:func:`page_modules`) as the API's
routers are. A page module has

- ``router``: its routes (``APIRouter(include_in_schema=False)``), calling the services and rendering
  its template in ``templates/pages/``;
- ``visible_to(actor) -> bool``: whether the page is for this actor, asked of the services' own rule
  (never worked out from the role here);
- optionally ``nav_links(actor) -> list[NavLink]``: its links in the header, shown when ``visible_to``.

To add a page, add a module here (and its template, and its row in the page matrix test): nothing else
needs editing; to make it one of a role's own pages (first in its header, never hidden), add the
module's name to that role's entry of :data:`ROLE_PAGES`. A service error raised by a page becomes its HTML error page
(:func:`carelens.web.layout.service_error_page`).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache
from types import ModuleType

from fastapi import APIRouter

from carelens.model.access import Actor, Role


@dataclass(frozen=True)
class NavLink:
    """A link in the header. The other pages' links are shown by ``order``, lowest first (the header
    moves those that do not fit its width into "More", starting from the last)."""

    text: str
    href: str
    order: tuple[int, ...]


ROLE_PAGES: dict[Role, tuple[str, ...]] = {
    Role.PUBLIC: (),
    Role.PROVIDER: ("organisation", "monitoring"),
    Role.COMMISSIONER: ("scorecard", "organisation", "allocations"),
    Role.INSPECTOR: ("plan",),
    Role.ANALYST: ("monitoring", "concerns", "league_tables", "plan"),
    Role.CHIEF_INSPECTOR: ("plan", "regime", "monitoring"),
    Role.NATIONAL_BOARD: ("monitoring", "regime", "allocations", "system_reviews"),
    Role.POLICY_MAKER: ("allocations", "system_reviews"),
    Role.ADMIN: ("monitoring", "plan"),
}
"""Each role's own pages (page module names), most used first: their links lead the header in a bar of
their own that wraps rather than hides, and signing in lands on the first one the actor is offered.
The module's ``visible_to`` still decides whether the actor is offered the page at all."""


OWN_ORGANISATION_LINKS = 2
"""How many of the actor's own organisations the header links (each with its pages)."""


@cache
def page_modules() -> tuple[ModuleType, ...]:
    """Every page module of this package (those with a ``router``), in module-name order."""
    modules = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        loaded = importlib.import_module(f"{__name__}.{info.name}")
        if isinstance(getattr(loaded, "router", None), APIRouter):
            modules.append(loaded)
    return tuple(modules)


def page_routers() -> list[APIRouter]:
    """The ``router`` of every page module (what the app mounts at the site root)."""
    return [module.router for module in page_modules()]


@dataclass(frozen=True)
class Navigation:
    """The header's links for an actor, as ``{"text", "href", "current"}`` dicts."""

    own: list[dict]
    """The role's own pages (:data:`ROLE_PAGES`, in its order): never moved into "More"."""
    other: list[dict]
    """Every other page offered to the actor, by :attr:`NavLink.order`."""


def navigation(actor: Actor, current: str) -> Navigation:
    """The header's links for ``actor``: every page visible to it, its role's own first (``current``
    marks the page being shown)."""
    own_pages = ROLE_PAGES.get(actor.role, ())
    own: list[tuple[int, NavLink]] = []
    other: list[NavLink] = []
    for module in page_modules():
        if not hasattr(module, "nav_links") or not module.visible_to(actor):
            continue
        name = module.__name__.rsplit(".", 1)[-1]
        for link in module.nav_links(actor):
            if name in own_pages:
                own.append((own_pages.index(name), link))
            else:
                other.append(link)
    own.sort(key=lambda pair: (pair[0], pair[1].order))
    other.sort(key=lambda link: link.order)

    def shown(links) -> list[dict]:
        return [{"text": link.text, "href": link.href, "current": link.href == current} for link in links]

    return Navigation(own=shown(link for _, link in own), other=shown(other))


def landing_page(actor: Actor) -> str:
    """Where signing in leads when no page asked for it: the actor's first own page, else the home page."""
    own = navigation(actor, "").own
    return own[0]["href"] if own else "/"
