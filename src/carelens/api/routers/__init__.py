"""One router module per area, each exposing ``router``; :func:`area_routers` finds them all.

To add an area's routes (monitoring, assessment, funding...), add a module here with
``router = APIRouter(prefix="/<area>", tags=["<area>"])`` calling that area's services: nothing else
needs editing.
"""

from __future__ import annotations

import importlib
import pkgutil

from fastapi import APIRouter


def area_routers() -> list[APIRouter]:
    """The ``router`` of every module in this package, in module-name order."""
    routers = []
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        loaded = importlib.import_module(f"{__name__}.{module.name}")
        if isinstance(getattr(loaded, "router", None), APIRouter):
            routers.append(loaded.router)
    return routers
