"""Small helpers shared by the services: connections, pages of rows."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from carelens.services.settings import get_settings

Db = sa.Engine | sa.Connection
"""What a service accepts: an engine (it opens its own connection) or a caller's open connection."""


@contextmanager
def reading(db: Db) -> Iterator[sa.Connection]:
    """A connection to read with: the caller's, or a new one from the engine."""
    if isinstance(db, sa.Connection):
        yield db
    else:
        with db.connect() as connection:
            yield connection


@contextmanager
def writing(db: Db) -> Iterator[sa.Connection]:
    """A connection in a transaction: the caller's (which commits), or a new one committed on success."""
    if isinstance(db, sa.Connection):
        yield db
    else:
        with db.begin() as connection:
            yield connection


@dataclass(frozen=True)
class Page:
    """One page of rows and where it sits in the whole result."""

    items: list[dict[str, Any]]
    total: int
    page: int
    page_size: int
    columns: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "total": self.total,
            "page": self.page,
            "page_size": self.page_size,
            "pages": self.pages,
        }


def page_bounds(page: int, page_size: int | None) -> tuple[int, int]:
    """(page, size) clamped to the settings: pages count from 1, size between 1 and ``max_page_size``."""
    settings = get_settings()
    size = settings.page_size if page_size is None else page_size
    return max(1, page), max(1, min(size, settings.max_page_size))


def plain(row: sa.RowMapping | dict) -> dict[str, Any]:
    """A row as a dict of JSON-friendly values (dates as ISO strings)."""
    out = {}
    for key, value in dict(row).items():
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        elif isinstance(value, float) and not math.isfinite(value):
            value = None
        out[key] = value
    return out
