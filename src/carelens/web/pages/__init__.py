"""The web pages: one module per page type, each found here (:func:`page_modules`) as the API's
routers are. A page module has

- ``router``: its routes (``APIRouter(include_in_schema=False)``), calling the services and rendering
  its template in ``templates/pages/``;
- ``visible_to(actor) -> bool``: whether the page is for this actor, asked of the services' own rule
  (never worked out from the role here);
- optionally ``nav_links(actor) -> list[NavLink]``: its links in the header, shown when ``visible_to``.

To add a page, add a module here (and its template, and its row in the page matrix test): nothing else
needs editing. A service error raised by a page becomes its HTML error page
(:func:`carelens.web.layout.service_error_page`).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache
from types import ModuleType

from fastapi import APIRouter

from carelens.model.access import Actor


@dataclass(frozen=True)
class NavLink:
    """A link in the header. Links are shown by ``order``, lowest first: the header moves those that do
    not fit its width into "More" starting from the last, so the actor's own pages come first."""

    text: str
    href: str
    order: tuple[int, ...]


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


def navigation(actor: Actor, current: str) -> list[dict]:
    """The header's links for ``actor``: every page visible to it, in order (``current`` marks the page
    being shown)."""
    links = [
        link
        for module in page_modules()
        if hasattr(module, "nav_links") and module.visible_to(actor)
        for link in module.nav_links(actor)
    ]
    links.sort(key=lambda link: link.order)
    return [{"text": link.text, "href": link.href, "current": link.href == current} for link in links]
