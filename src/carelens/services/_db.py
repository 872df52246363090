"""Small helpers shared by the services: connections, pages of rows."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from carelens.model.access import Actor
from carelens.services import Forbidden
from carelens.services.settings import get_settings
from carelens.store import schema
from carelens.store.engine import Bind, reading, writing  # noqa: F401 (the services' way to connect)

if TYPE_CHECKING:
    import pandas as pd

Db = Bind
"""What a service accepts: an engine (it opens its own connection) or a caller's open connection."""


class Kept:
    """Answers kept in this server process, the least recently used let go first; thread-safe. For
    answers that never change for their key (the key names everything they depend on). Used by the
    services and by the pages' drawn charts and printed reports. ``keep_none``: whether an answer of
    None is kept too, or asked for again next time."""

    def __init__(self, entries: int, keep_none: bool = True):
        self.entries = entries
        self.keep_none = keep_none
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The answer kept for ``key``, else ``compute()``'s, kept."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compute()
        if value is None and not self.keep_none:
            return None
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.entries:
                self._items.popitem(last=False)
        return value


def author(actor: Actor) -> str:
    """The name a change is recorded under in the audit log: the actor's. Nobody who has not signed in
    changes data (Forbidden)."""
    if not actor.signed_in:
        raise Forbidden("sign in to change data")
    return actor.user_name


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


MAX_PAGE = 1_000_000
"""The highest page number asked for (the API refuses more; a page beyond the last is empty): it keeps
the row offset, (page - 1) x size, within the database's 64-bit integers whatever number a URL holds."""


def page_bounds(page: int, page_size: int | None) -> tuple[int, int]:
    """(page, size) clamped to the settings: pages count from 1 to :data:`MAX_PAGE`, size between 1 and
    ``max_page_size``."""
    settings = get_settings()
    size = settings.page_size if page_size is None else page_size
    return max(1, min(page, MAX_PAGE)), max(1, min(size, settings.max_page_size))


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


def page_query(
    connection: sa.Connection,
    query: sa.Select,
    order_by: Sequence[Any],
    page: int,
    page_size: int | None,
    columns: list[str],
    row: Callable[[sa.RowMapping], dict[str, Any]] = plain,
) -> Page:
    """One page of ``query``'s rows in ``order_by`` order (bounds as :func:`page_bounds`), each made a
    dict by ``row`` (default :func:`plain`), with the number of rows the whole query gives."""
    page, size = page_bounds(page, page_size)
    total = connection.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    rows = connection.execute(query.order_by(*order_by).limit(size).offset((page - 1) * size)).mappings()
    return Page([row(r) for r in rows], total, page, size, columns)


@dataclass(frozen=True)
class Rows:
    """Every row of a result, for a download: its columns and the rows, read from the store as they are
    consumed (the access rules were applied when the ``Rows`` was made, so a refusal comes before the
    first row)."""

    columns: list[str]
    rows: Iterator[dict[str, Any]]


STREAM_BATCH = 1_000
"""Rows fetched from the database at a time while a result is streamed."""


def stream_rows(
    db: Db, query: sa.Select, row: Callable[[sa.RowMapping], dict[str, Any]] = plain
) -> Iterator[dict[str, Any]]:
    """Every row of ``query`` (ordered by the caller), made a dict by ``row``, fetched
    :data:`STREAM_BATCH` at a time on a connection of its own held while they are read (or the
    caller's)."""
    with reading(db) as connection:
        for found in connection.execute(query.execution_options(yield_per=STREAM_BATCH)).mappings():
            yield row(found)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a frame as JSON-friendly dicts (missing values as None, dates as ISO strings)."""
    if frame.empty:
        return []
    clean = frame.astype(object).where(frame.notna(), None)
    return [plain(row) for row in clean.to_dict("records")]


def page_of(rows: list[dict[str, Any]], page: int, page_size: int | None, columns: list[str]) -> Page:
    """One page of rows already in memory (bounds as :func:`page_bounds`)."""
    page, size = page_bounds(page, page_size)
    return Page(rows[(page - 1) * size : page * size], len(rows), page, size, columns)


def organisation_names(connection: sa.Connection, codes: set[str]) -> dict[str, str | None]:
    """Names of the organisations with these codes (from the public directory)."""
    if not codes:
        return {}
    org = schema.organisation
    query = sa.select(org.c.code, org.c.name).where(org.c.code.in_(sorted(codes)))
    return {row.code: row.name for row in connection.execute(query)}
