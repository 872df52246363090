"""Importing publishers' files into the store (``carelens ingest``), as an authenticated actor.

The work is :mod:`carelens.ingest.service` (validated, all or nothing, audited); this module records
who imports. The list of sources is read without loading any importer, so ``carelens --help`` stays fast.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlalchemy as sa

    from carelens.model.access import Actor


def source_names() -> list[str]:
    """The importers' names, as typed after ``carelens ingest``."""
    from carelens.ingest.sources import SOURCE_MODULES

    return list(SOURCE_MODULES)


def files_to_import(source: str, paths: Sequence[str | Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The files ``paths`` name (a folder's files in the source's order) and those skipped, with why
    (:func:`carelens.ingest.service.files_to_import`)."""
    from carelens.ingest.service import files_to_import as found

    return found(source, paths)


def import_files(
    engine: sa.Engine,
    actor: Actor,
    source: str,
    paths: Sequence[Path],
    period: dt.date | None = None,
    progress: Callable[[Any], None] | None = None,
) -> list[Any]:
    """Import ``paths`` with the ``source`` importer in one transaction, audited as done by ``actor``;
    one result per file (:func:`carelens.ingest.service.ingest`)."""
    from carelens.ingest.service import ingest
    from carelens.services._db import author

    return ingest(engine, source, paths, user=author(actor), period=period, progress=progress)
