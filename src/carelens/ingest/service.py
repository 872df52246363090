"""The import service: read files with a source's reader, then load them in one transaction.

Guarantees: every problem in every file is reported before anything is written; the whole command
is one transaction, so a failure (bad reference, crash, killed process) leaves the store as it was;
a file whose bytes were already imported by the same source is skipped (SHA-256), so re-importing
changes nothing; a corrected file supersedes the values it changes and keeps the old ones as history.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from carelens.errors import InputError, Problem
from carelens.ingest.sources import SOURCE_MODULES, get_source
from carelens.ingest.sources.base import MAX_PROBLEMS, Batch, ProblemList, Source
from carelens.model.data_quality import failing, packaged_rules
from carelens.model.indicators import definition_json, load_indicators
from carelens.model.observations import OBSERVATION_COLUMNS
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
    revised: tuple[str, ...] = ()
    """Organisations whose stored values this file changed (a revised release)."""
    left_out: int = 0
    """Links naming organisations the store does not hold, left out (a ``known_only`` source)."""
    verdicts: VerdictReport | None = None
    """The publisher's verdicts the file gave, against carelens's recomputation (None: it gave none)."""
    not_assessed: tuple[str, ...] = ()
    """Organisations with a figure that fails a data-quality check (docs/methods/data-quality.md): stored
    as published, and not assessed when monitored."""


LIMIT_PAIRS = (("lower", "recomputed_lower"), ("upper", "recomputed_upper"))
LIMIT_PAIRS += (("poisson_lower", "recomputed_poisson_lower"), ("poisson_upper", "recomputed_poisson_upper"))
"""Each published limit and carelens's recomputation of it."""


@dataclass(frozen=True)
class VerdictReport:
    """A file's published verdicts (e.g. the SHMI banding) beside carelens's recomputation from the
    published counts: how many, the organisations whose recomputed band differs from the published one
    (published band, value and limits beside the recomputed ones), and the largest absolute difference
    of each limit (name -> (difference, organisation code)). The published band is the verdict shown."""

    verdicts: int
    differing: tuple[dict, ...]
    largest_differences: dict[str, tuple[float, str]]

    @classmethod
    def of(cls, frame: pd.DataFrame) -> VerdictReport:
        frame = frame.sort_values(["org_code", "period"], kind="stable").reset_index(drop=True)
        differs = frame["recomputed_band"].notna() & (frame["recomputed_band"] != frame["band"])
        largest = {}
        for published, recomputed in LIMIT_PAIRS:
            gap = (frame[published] - frame[recomputed]).abs()
            if gap.notna().any():
                at = int(gap.idxmax())
                largest[published] = (float(gap[at]), str(frame["org_code"][at]))
        shown = ["org_code", "period", "band", "recomputed_band", "value", "recomputed_value"]
        shown += ["lower", "recomputed_lower", "upper", "recomputed_upper"]
        differing = tuple(frame.loc[differs, shown].to_dict("records"))
        return cls(len(frame), differing, largest)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def files_to_import(
    source_name: str, paths: Sequence[str | Path]
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The files ``paths`` name, a folder replaced by its files in the source's order; and the files
    skipped, with why. Only a source published as a series of files (``Source.folder``) reads folders."""
    source = _source(source_name)
    files: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for raw_path in paths:
        path = Path(raw_path)
        if not path.is_dir():
            files.append(path)
        elif source.folder is None:
            raise InputError(
                Problem(str(path), None, None, f"a folder: {source_name} imports files one by one")
            )
        else:
            found, passed = source.folder(path)
            files += found
            skipped += passed
    return files, skipped


def _source(source_name: str) -> Source:
    if source_name not in SOURCE_MODULES:
        raise InputError(
            Problem(source_name, None, None, f"unknown source; choose one of: {', '.join(SOURCE_MODULES)}")
        )
    return get_source(source_name)


def ingest(
    engine: sa.Engine,
    source_name: str,
    paths: Sequence[str | Path],
    user: str,
    period: dt.date | None = None,
    progress: Callable[[FileResult], None] | None = None,
) -> list[FileResult]:
    """Validate and load every file in one transaction; return one result per file.

    ``progress`` is called with each file's result as it is read (before the transaction commits).

    Files are read batch by batch (a national file never whole in memory); each batch is written once
    it is valid. The first problem stops all writing, the rest of every file is still checked so that
    every problem is reported, and the transaction is rolled back: nothing is half-written. A file
    imported by another process at the same time, or a store locked by one, is bad input naming it.
    """
    source = _source(source_name)
    problems = ProblemList()
    files: list[tuple[Path, str]] = []
    for raw_path in paths:
        path = Path(raw_path)
        if not path.is_file():
            problems.append(Problem(str(path), None, None, "file not found"))
            continue
        try:
            files.append((path, sha256_of(path)))
        except OSError as exc:
            problems.append(Problem(str(path), None, None, f"cannot read file: {exc}"))
    problems.raise_if_any()

    definitions = load_indicators()
    ensure_schema(engine)
    try:
        with engine.begin() as connection:
            results = []
            for path, digest in files:
                results.append(_load(connection, source, path, digest, period, user, definitions, problems))
                if progress is not None:
                    progress(results[-1])
            problems.raise_if_any()  # rolls the whole command back
    except (sa.exc.IntegrityError, sa.exc.OperationalError) as error:
        raise _clash(engine, source_name, files, error) from None
    return results


def _load(
    connection: sa.Connection,
    source: Source,
    path: Path,
    digest: str,
    period: dt.date | None,
    user: str,
    definitions: dict,
    problems: ProblemList,
) -> FileResult:
    """Read one file batch by batch and write each valid batch; problems go to ``problems``."""
    previous = repository.find_import(connection, source.name, digest)
    if previous is not None:
        return FileResult(str(path), source.name, digest, previous.rows, "already imported", previous.id)
    import_id: int | None = None
    counts = repository.WriteCounts()
    bulk = repository.BulkLoad(connection)
    rows = left_out = 0
    verdicts: list[pd.DataFrame] = []
    failed: set[str] = set()
    for batch in prefetched(source.batches(path, period, problems)):
        rows += batch.rows
        failed |= _failing_organisations(batch)
        if not batch.published_verdicts.empty:
            verdicts.append(batch.published_verdicts)
        if problems:
            continue  # nothing more is written; the rest is only checked
        try:
            batch, known, dropped = _check_references(connection, batch, source)
            left_out += dropped
            if import_id is None:
                import_id = repository.start_import(connection, source.name, path.name, digest, 0, user)
            counts += _write(
                connection, batch, known, definitions, import_id, user, source.authoritative_names, bulk
            )
        except InputError as error:
            problems.extend(error.problems)
    if problems or import_id is None:
        return FileResult(str(path), source.name, digest, rows, "rejected", 0)
    bulk.finish()
    repository.finish_import(connection, import_id, counts, user, rows)
    return FileResult(
        str(path),
        source.name,
        digest,
        rows,
        "loaded",
        import_id,
        **counts.as_dict(),
        revised=tuple(sorted(counts.revised)),
        left_out=left_out,
        verdicts=VerdictReport.of(pd.concat(verdicts, ignore_index=True)) if verdicts else None,
        not_assessed=tuple(sorted(failed)),
    )


def load_derived(
    engine: sa.Engine, source_name: str, label: str, observations: pd.DataFrame, user: str
) -> FileResult | None:
    """Store observations carelens derives from what the store itself holds (not read from a publisher's
    file) as an import of their own, in one transaction: recorded under ``source_name`` with ``label``
    as its file name and the SHA-256 of the rows in canonical order, so the same rows again change
    nothing and changed rows supersede the stored ones (kept as history), as a revised file's do.
    ``observations``: the observation columns, periods as dates. None when there are none."""
    if observations.empty:
        return None
    frame = observations[list(OBSERVATION_COLUMNS)].sort_values(["indicator_id", "org_code", "period"])
    frame = frame.reset_index(drop=True)
    digest = hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()
    definitions = load_indicators()
    ensure_schema(engine)
    with engine.begin() as connection:
        previous = repository.find_import(connection, source_name, digest)
        if previous is not None:
            return FileResult(label, source_name, digest, previous.rows, "already imported", previous.id)
        import_id = repository.start_import(connection, source_name, label, digest, len(frame), user)
        batch = Batch(label, len(frame), observations=frame)
        known = repository.existing_organisations(connection, [])  # the batch names no organisation
        counts = _write(connection, batch, known, definitions, import_id, user, False, None)
        repository.finish_import(connection, import_id, counts, user)
    return FileResult(
        label,
        source_name,
        digest,
        len(frame),
        "loaded",
        import_id,
        **counts.as_dict(),
        revised=tuple(sorted(counts.revised)),
    )


def _failing_organisations(batch: Batch) -> set[str]:
    """The organisations of a batch's observations with a figure that fails a data-quality check."""
    obs = batch.observations
    if obs is None or obs.empty:
        return set()
    bad = failing(
        obs["indicator_id"],
        obs["numerator"].to_numpy(float),
        obs["denominator"].to_numpy(float),
        packaged_rules(),
    )
    return set(obs.loc[bad, "org_code"].astype(str))


def prefetched(batches: Iterator[Batch]) -> Iterator[Batch]:
    """The batches of ``batches``, the next one read and checked in a thread while this one is written.

    Reading (Arrow's CSV parser, pandas) and writing (the database driver) both release the GIL for
    most of their work, so a national file imports in about the time of the slower of the two rather
    than their sum. At most two batches are held at once, so memory stays bounded by the batch size.
    """
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    done = object()

    def offer(item: object) -> bool:
        """Hand ``item`` to the writer; False once the writer has stopped."""
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not offer(batch):
                    return
            offer(done)
        except BaseException as error:  # handed to the writer, which raises it
            offer(error)

    worker = threading.Thread(target=produce, name="carelens-ingest-reader", daemon=True)
    worker.start()
    try:
        while (item := ready.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def _clash(engine: sa.Engine, source_name: str, files: list[tuple[Path, str]], error: Exception) -> Exception:
    """The error to give when the database refused a write: another process imported one of these files
    (or is importing into a locked SQLite store) at the same time. Anything else is returned as is."""
    with engine.connect() as connection:
        for path, digest in files:
            other = repository.find_import(connection, source_name, digest)
            if other is not None:
                return InputError(
                    Problem(
                        str(path),
                        None,
                        None,
                        f"imported by {other.user_name} at the same time (import #{other.id}); "
                        "this import wrote nothing",
                    )
                )
    if isinstance(error, sa.exc.OperationalError) and "locked" in str(error.orig):
        return InputError(
            Problem(
                str(files[0][0]) if files else source_name,
                None,
                None,
                "the store is locked by another import; nothing was written: try again when it has finished",
            )
        )
    return error


def _with_stored_kinds(batch: Batch, known: pd.DataFrame) -> Batch:
    """The batch with each stored organisation's kind and sector in place of the ones the source gave."""
    if known.empty:
        return batch
    organisations = batch.organisations.copy()
    kinds = dict(zip(known["code"], known["kind"], strict=True))
    sectors = dict(zip(known["code"], known["sector"], strict=True))
    stored = organisations["code"].isin(kinds)
    organisations.loc[stored, "kind"] = organisations.loc[stored, "code"].map(kinds)
    organisations.loc[stored, "sector"] = organisations.loc[stored, "code"].map(sectors)
    return replace(batch, organisations=organisations)


def _known_links_only(batch: Batch, known: pd.DataFrame) -> tuple[Batch, int]:
    """The batch without the links that name an organisation neither stored nor in the batch; how many."""
    links = batch.relationships
    codes = set(known["code"]) | set(batch.organisations["code"])
    keep = links["subject_code"].isin(codes) & links["object_code"].isin(codes)
    return replace(batch, relationships=links[keep].reset_index(drop=True)), int((~keep).sum())


def _check_references(
    connection: sa.Connection, batch: Batch, source: Source
) -> tuple[Batch, pd.DataFrame, int]:
    """Reject a batch whose organisations clash with stored ones or whose links name unknown codes;
    return the batch as written, the stored organisations it names (as
    :func:`repository.existing_organisations`) and the links left out. A ``stored_kinds`` source's
    organisations take their stored kinds; a ``known_only`` source's links naming organisations not in
    the store are left out rather than refused."""
    referenced = set(batch.relationships["subject_code"]) | set(batch.relationships["object_code"])
    named = set(batch.organisations["code"])
    unnamed = set(pd.unique(batch.observations["org_code"])) - named  # observed, named by no row here
    known = repository.existing_organisations(connection, named | referenced | unnamed)
    left_out = 0
    if source.stored_kinds:
        batch = _with_stored_kinds(batch, known)
    if source.known_only:
        batch, left_out = _known_links_only(batch, known)
    where = batch.source_file
    problems: list[Problem] = []
    links = batch.relationships
    clash = batch.organisations.merge(known[["code", "kind"]], on="code", suffixes=("", "_stored"))
    clash = clash[clash["kind"] != clash["kind_stored"]]
    problems += [
        Problem(where, None, "code", f"organisation {c} is a {k} here but already stored as a {s}")
        for c, k, s in zip(clash["code"], clash["kind"], clash["kind_stored"], strict=True)
    ]
    kinds = dict(zip(known["code"], known["kind"], strict=True))
    kinds.update(zip(batch.organisations["code"], batch.organisations["kind"], strict=True))
    for link in links.itertuples(index=False):
        allowed_subjects, allowed_objects = RELATIONSHIP_ENDPOINTS[RelationshipKind(link.kind)]
        row = int(link.row) if pd.notna(link.row) else None
        if link.subject_code == link.object_code:
            problems.append(
                Problem(
                    where,
                    row,
                    "object_code",
                    f"{link.subject_code} cannot be linked to itself (a {link.kind} link)",
                )
            )
            continue
        for side, code, allowed in (
            ("subject", link.subject_code, allowed_subjects),
            ("object", link.object_code, allowed_objects),
        ):
            if code not in kinds:
                problems.append(
                    Problem(
                        where,
                        row,
                        f"{side}_code",
                        f"unknown organisation code {code!r} in a {link.kind} link",
                    )
                )
            elif kinds[code] not in allowed:
                problems.append(
                    Problem(
                        where,
                        row,
                        f"{side}_code",
                        f"{code} is a {kinds[code]}, which cannot be the {side} of a {link.kind} link",
                    )
                )
    problems += _unknown_observed(batch, unnamed - set(known["code"]))
    if problems:
        raise InputError(problems)
    return batch, known, left_out


def _unknown_observed(batch: Batch, unknown: set[str]) -> list[Problem]:
    """A problem for each observation of an ``unknown`` organisation: neither in the batch nor in the
    store (a reader that names no organisations of its own, such as ``observations``, relies on this)."""
    if not unknown:
        return []
    observed = batch.observations["org_code"]
    at = np.flatnonzero(observed.isin(unknown).to_numpy())
    rows = batch.observation_rows
    return [
        Problem(
            batch.source_file,
            None if rows is None else int(rows[i]),
            "org_code",
            f"unknown organisation code {observed.iloc[i]!r}: import the organisations first",
        )
        for i in at[:MAX_PROBLEMS]
    ]


def _write(
    connection: sa.Connection,
    batch: Batch,
    known: pd.DataFrame,
    definitions: dict,
    import_id: int,
    user: str,
    rename: bool,
    bulk: repository.BulkLoad | None,
) -> repository.WriteCounts:
    counts = repository.WriteCounts()
    existing = known[known["code"].isin(batch.organisations["code"])]  # stored before this batch
    counts += repository.write_organisations(
        connection, batch.organisations, existing, import_id, user=user, rename=rename
    )
    links = batch.relationships.drop(columns="row")
    counts += repository.write_relationships(
        connection, links, {k.value: side for k, side in ONE_AT_A_TIME.items()}, import_id
    )
    observations = batch.observations
    if not observations.empty:
        used = sorted(observations["indicator_id"].unique())
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
        observations,
        key=["indicator_id", "org_code", "period"],
        narrow_by=["org_code", "indicator_id", "period"],
        import_id=import_id,
        bulk=bulk,
    )
    counts += repository.write_versioned(
        connection,
        schema.published_verdict,
        batch.published_verdicts,
        key=["indicator_id", "org_code", "period"],
        narrow_by=["org_code", "indicator_id", "period"],
        import_id=import_id,
        bulk=bulk,
    )
    counts += repository.write_versioned(
        connection,
        schema.population,
        batch.populations,
        key=["org_code", "year", "measure", "age_band", "sex"],
        narrow_by=["org_code", "year", "measure"],
        import_id=import_id,
        bulk=bulk,
    )
    counts += repository.write_versioned(
        connection,
        schema.rating,
        batch.ratings,
        key=["org_code", "level", "service", "key_question", "method"],
        narrow_by=["org_code", "method"],
        import_id=import_id,
        bulk=bulk,
    )
    return counts
