"""The import service: read files with a source's reader, then load them in one transaction.

Guarantees: every problem in every file is reported before anything is written; the whole command
is one transaction, so a failure (bad reference, crash, killed process) leaves the store as it was;
a file whose bytes were already imported by the same source is skipped (SHA-256), so re-importing
changes nothing; a corrected file supersedes the values it changes and keeps the old ones as history.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from carelens.errors import InputError, Problem
from carelens.ingest.sources import SOURCE_MODULES, get_source
from carelens.ingest.sources.base import Batch, ProblemList
from carelens.model.indicators import definition_json, load_indicators
from carelens.model.organisations import ONE_AT_A_TIME, RELATIONSHIP_ENDPOINTS, RelationshipKind
from carelens.store import repository, schema
from carelens.store.migrate import ensure_schema


@dataclass(frozen=True)
class FileResult:
    """What happened to one file."""

    file: str
    source: str
    sha256: str
    rows: int
    status: str
    """``loaded`` or ``already imported`` (nothing written)."""
    import_id: int
    inserted: int = 0
    superseded: int = 0
    unchanged: int = 0


def current_user() -> str:
    """The operating-system user running the import, recorded with it."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ingest(
    engine: sa.Engine,
    source_name: str,
    paths: Sequence[str | Path],
    user: str | None = None,
    period: dt.date | None = None,
) -> list[FileResult]:
    """Validate every file, then load them all in one transaction; return one result per file."""
    if source_name not in SOURCE_MODULES:
        raise InputError(
            Problem(source_name, None, None, f"unknown source; choose one of: {', '.join(SOURCE_MODULES)}")
        )
    source = get_source(source_name)
    user = user or current_user()
    problems = ProblemList()
    batches: list[tuple[Path, str, Batch]] = []
    for raw_path in paths:
        path = Path(raw_path)
        if not path.is_file():
            problems.append(Problem(str(path), None, None, "file not found"))
            continue
        batch = problems.attempt(source.read, path, period)
        if batch is not None:
            batches.append((path, sha256_of(path), batch))
    problems.raise_if_any()

    definitions = load_indicators()
    ensure_schema(engine)
    results: list[FileResult] = []
    with engine.begin() as connection:
        for path, digest, batch in batches:
            previous = repository.find_import(connection, source_name, digest)
            if previous is not None:
                results.append(
                    FileResult(str(path), source_name, digest, batch.rows, "already imported", previous.id)
                )
                continue
            _check_references(connection, batch)
            import_id = repository.start_import(connection, source_name, path.name, digest, batch.rows, user)
            counts = _write(connection, batch, definitions, import_id)
            repository.finish_import(connection, import_id, counts, user)
            results.append(
                FileResult(
                    str(path), source_name, digest, batch.rows, "loaded", import_id, **counts.as_dict()
                )
            )
    return results


def _check_references(connection: sa.Connection, batch: Batch) -> None:
    """Reject a batch whose organisations clash with stored ones or whose links name unknown codes."""
    source = batch.source_file
    problems: list[Problem] = []
    links = batch.relationships
    referenced = set(links["subject_code"]) | set(links["object_code"])
    known = repository.existing_organisations(connection, set(batch.organisations["code"]) | referenced)
    clash = batch.organisations.merge(known[["code", "kind"]], on="code", suffixes=("", "_stored"))
    clash = clash[clash["kind"] != clash["kind_stored"]]
    problems += [
        Problem(source, None, "code", f"organisation {c} is a {k} here but already stored as a {s}")
        for c, k, s in zip(clash["code"], clash["kind"], clash["kind_stored"], strict=True)
    ]
    kinds = dict(zip(known["code"], known["kind"], strict=True))
    kinds.update(zip(batch.organisations["code"], batch.organisations["kind"], strict=True))
    for link in links.itertuples(index=False):
        allowed_subjects, allowed_objects = RELATIONSHIP_ENDPOINTS[RelationshipKind(link.kind)]
        row = int(link.row) if pd.notna(link.row) else None
        for side, code, allowed in (
            ("subject", link.subject_code, allowed_subjects),
            ("object", link.object_code, allowed_objects),
        ):
            if code not in kinds:
                problems.append(
                    Problem(
                        source,
                        row,
                        f"{side}_code",
                        f"unknown organisation code {code!r} in a {link.kind} link",
                    )
                )
            elif kinds[code] not in allowed:
                problems.append(
                    Problem(
                        source,
                        row,
                        f"{side}_code",
                        f"{code} is a {kinds[code]}, which cannot be the {side} of a {link.kind} link",
                    )
                )
    if problems:
        raise InputError(problems)


def _write(
    connection: sa.Connection, batch: Batch, definitions: dict, import_id: int
) -> repository.WriteCounts:
    counts = repository.WriteCounts()
    existing = repository.existing_organisations(connection, batch.organisations["code"])
    counts += repository.write_organisations(connection, batch.organisations, existing, import_id)
    links = batch.relationships.drop(columns="row")
    counts += repository.write_relationships(
        connection, links, {k.value: side for k, side in ONE_AT_A_TIME.items()}, import_id
    )
    if not batch.observations.empty:
        used = sorted(batch.observations["indicator_id"].unique())
        missing = [i for i in used if i not in definitions]
        if missing:
            raise InputError(
                [
                    Problem(batch.source_file, None, "indicator_id", f"no indicator definition for {i!r}")
                    for i in missing
                ]
            )
        repository.write_indicators(connection, [definition_json(definitions[i]) for i in used])
    counts += repository.write_versioned(
        connection,
        schema.observation,
        batch.observations,
        key=["indicator_id", "org_code", "period"],
        narrow_by=["org_code", "indicator_id", "period"],
        import_id=import_id,
    )
    counts += repository.write_versioned(
        connection,
        schema.population,
        batch.populations,
        key=["org_code", "year", "measure", "age_band", "sex"],
        narrow_by=["org_code", "year", "measure"],
        import_id=import_id,
    )
    counts += repository.write_versioned(
        connection,
        schema.rating,
        batch.ratings,
        key=["org_code", "level", "service", "key_question", "method"],
        narrow_by=["org_code", "method"],
        import_id=import_id,
    )
    return counts
