"""Writing to the store in bulk, inside a caller's transaction.

Every function here takes an open :class:`sqlalchemy.Connection` inside a transaction and never
commits: the import service decides what is one unit of work. Frames are pandas DataFrames whose
columns are named as in :mod:`carelens.store.schema`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from carelens.store import schema

COPY_THRESHOLD_ROWS = 2000
"""On PostgreSQL, inserts of at least this many rows use COPY; smaller ones use executemany."""
QUERY_CHUNK = 900
"""Most values bound in one ``IN (...)`` list (SQLite allows 999 parameters per statement by default)."""


def insert_rows(connection: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> int:
    """Insert every row of ``frame`` (columns named as in ``table``) and return how many.

    PostgreSQL: COPY for large frames. Elsewhere: one executemany (SQLAlchemy batches it into
    multi-row INSERTs).
    """
    if frame.empty:
        return 0
    columns = list(frame.columns)
    records = _records(frame)
    if connection.dialect.name == "postgresql" and len(records) >= COPY_THRESHOLD_ROWS:
        quoted = ", ".join(connection.dialect.identifier_preparer.quote(c) for c in columns)
        # COPY sends text, which PostgreSQL parses by the column's type: a whole number held as a float
        # (pandas keeps an integer column with nulls as float) must go as "1", never "1.0".
        whole = [isinstance(table.c[c].type, sa.Integer) for c in columns]
        with connection.connection.driver_connection.cursor() as cursor:
            with cursor.copy(f"COPY {table.name} ({quoted}) FROM STDIN") as copy:
                for record in records:
                    copy.write_row(
                        tuple(
                            int(record[c]) if integer and isinstance(record[c], float) else record[c]
                            for c, integer in zip(columns, whole, strict=True)
                        )
                    )
    else:
        connection.execute(table.insert(), records)
    return len(records)


COPY_BLOCK_ROWS = 250_000
"""Rows encoded to CSV per block when streaming an Arrow table through COPY (bounds memory)."""


def copy_arrow(connection: sa.Connection, table: sa.Table, data: pa.Table) -> int:
    """Bulk-load an Arrow table into a PostgreSQL table with ``COPY ... FROM STDIN (FORMAT csv)``.

    The columns of ``data`` name the target columns. Rows are encoded to CSV by Arrow in blocks and
    streamed, so no Python object is made per row; it runs inside the caller's transaction.
    """
    import pyarrow.csv as pacsv

    if connection.dialect.name != "postgresql":
        raise ValueError("copy_arrow needs PostgreSQL; use insert_rows elsewhere")
    quoted = ", ".join(connection.dialect.identifier_preparer.quote(c) for c in data.column_names)
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    with connection.connection.driver_connection.cursor() as cursor:
        with cursor.copy(f"COPY {table.name} ({quoted}) FROM STDIN WITH (FORMAT csv)") as copy:
            for start in range(0, data.num_rows, COPY_BLOCK_ROWS):
                block = pa.BufferOutputStream()
                pacsv.write_csv(data.slice(start, COPY_BLOCK_ROWS), block, options)
                copy.write(block.getvalue().to_pybytes())
    return data.num_rows


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts of plain Python values, with NaN/NA as None and datetimes as dates."""
    out = frame.astype(object).where(frame.notna(), None)
    records = out.to_dict("records")
    for record in records:
        for key, value in record.items():
            if isinstance(value, pd.Timestamp):
                record[key] = value.date()
            elif isinstance(value, np.generic):
                record[key] = value.item()
    return records


def select_in(
    connection: sa.Connection, query: sa.Select, column: sa.ColumnElement, values: Iterable
) -> pd.DataFrame:
    """Run ``query`` filtered by ``column IN values`` in chunks; return all rows as one frame."""
    values = sorted(set(values))
    frames = [
        pd.DataFrame(
            connection.execute(query.where(column.in_(values[i : i + QUERY_CHUNK]))).mappings().all()
        )
        for i in range(0, len(values), QUERY_CHUNK)
    ]
    names = [c.name for c in query.selected_columns]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=names)


# --- import records and the audit log -------------------------------------------------------------


def find_import(connection: sa.Connection, source: str, sha256: str) -> sa.Row | None:
    """The earlier import of the same bytes by the same importer, if any."""
    table = schema.import_record
    query = sa.select(table).where(table.c.source == source, table.c.sha256 == sha256)
    return connection.execute(query).first()


def start_import(
    connection: sa.Connection, source: str, file_name: str, sha256: str, rows: int, user: str
) -> int:
    """Record an import (counts are filled in by :func:`finish_import`) and return its id."""
    result = connection.execute(
        schema.import_record.insert().values(
            source=source,
            file_name=file_name,
            sha256=sha256,
            rows=rows,
            inserted=0,
            superseded=0,
            unchanged=0,
            user_name=user,
            imported_at=dt.datetime.now(dt.UTC),
            status="loaded",
        )
    )
    return int(result.inserted_primary_key[0])


def finish_import(connection: sa.Connection, import_id: int, counts: WriteCounts, user: str) -> None:
    """Store the counts of an import and write its audit event."""
    table = schema.import_record
    connection.execute(
        table.update()
        .where(table.c.id == import_id)
        .values(inserted=counts.inserted, superseded=counts.superseded, unchanged=counts.unchanged)
    )
    audit(connection, user, "import.loaded", "import_record", str(import_id), counts.as_dict(), import_id)


def audit(
    connection: sa.Connection,
    user: str,
    action: str,
    entity: str,
    entity_key: str | None = None,
    detail: dict | None = None,
    import_id: int | None = None,
) -> None:
    """Append one event to the audit log (in the caller's transaction). ``detail`` is stored as JSON:
    values JSON cannot hold are stored as text, and NaN or infinite numbers (e.g. an empty cell read by
    pandas) as null, which every database accepts."""
    connection.execute(
        schema.audit_event.insert().values(
            at=dt.datetime.now(dt.UTC),
            user_name=user,
            action=action,
            entity=entity,
            entity_key=entity_key,
            detail=json.loads(json.dumps(detail, default=str), parse_constant=lambda _nan: None)
            if detail
            else None,
            import_id=import_id,
        )
    )


@dataclass
class WriteCounts:
    """What a write did: rows added, earlier rows superseded (or relationships closed), rows already there."""

    inserted: int = 0
    superseded: int = 0
    unchanged: int = 0

    def __iadd__(self, other: WriteCounts) -> WriteCounts:
        self.inserted += other.inserted
        self.superseded += other.superseded
        self.unchanged += other.unchanged
        return self

    def as_dict(self) -> dict[str, int]:
        return {"inserted": self.inserted, "superseded": self.superseded, "unchanged": self.unchanged}


# --- organisations and relationships -------------------------------------------------------------

ORG_COLUMNS = ("code", "name", "kind", "subtype", "sector")


def existing_organisations(connection: sa.Connection, codes: Iterable[str]) -> pd.DataFrame:
    """Stored organisations among ``codes`` (columns code, name, kind, subtype, sector)."""
    table = schema.organisation
    query = sa.select(*(table.c[c] for c in ORG_COLUMNS))
    return select_in(connection, query, table.c.code, codes)


def write_organisations(
    connection: sa.Connection, organisations: pd.DataFrame, existing: pd.DataFrame, import_id: int
) -> WriteCounts:
    """Insert new organisations; give a name, and a close date (``valid_to``), to stored ones that had none
    (a source that knows an organisation closed says so once; names and dates are never overwritten)."""
    table = schema.organisation
    is_new = ~organisations["code"].isin(existing["code"])
    columns = [c for c in (*ORG_COLUMNS, "valid_from", "valid_to") if c in organisations.columns]
    fresh = organisations.loc[is_new, columns].assign(import_id=import_id)
    inserted = insert_rows(connection, table, fresh)
    unnamed = set(existing.loc[existing["name"].isna(), "code"])
    naming = organisations[organisations["code"].isin(unnamed) & organisations["name"].notna()]
    if not naming.empty:
        connection.execute(
            table.update().where(table.c.code == sa.bindparam("b_code")).values(name=sa.bindparam("b_name")),
            [{"b_code": c, "b_name": n} for c, n in zip(naming["code"], naming["name"], strict=True)],
        )
    if "valid_to" in organisations.columns:
        closing = organisations[~is_new & organisations["valid_to"].notna()]
        if not closing.empty:
            connection.execute(
                table.update()
                .where(table.c.code == sa.bindparam("b_code"), table.c.valid_to.is_(None))
                .values(valid_to=sa.bindparam("b_to")),
                [{"b_code": c, "b_to": d} for c, d in zip(closing["code"], closing["valid_to"], strict=True)],
            )
    return WriteCounts(inserted=inserted, superseded=0, unchanged=len(organisations) - inserted)


RELATIONSHIP_COLUMNS = ("kind", "subject_code", "object_code", "valid_from")


def write_relationships(
    connection: sa.Connection, links: pd.DataFrame, one_at_a_time: dict[str, str], import_id: int
) -> WriteCounts:
    """Record dated links (columns kind, subject_code, object_code, valid_from).

    A link that already holds is left alone. For kinds in ``one_at_a_time`` (kind -> the side that
    has one link at a time), a different current link on that side is closed the day before the new
    link starts; a new link that starts no later than the current one is older news and is skipped.
    """
    table = schema.org_relationship
    counts = WriteCounts()
    if links.empty:
        return counts
    query = sa.select(table.c.id, *(table.c[c] for c in RELATIONSHIP_COLUMNS)).where(
        table.c.valid_to.is_(None), table.c.kind.in_(sorted(links["kind"].unique()))
    )
    codes = set(links["subject_code"]) | set(links["object_code"])
    current = pd.concat(
        [
            select_in(connection, query, table.c.subject_code, codes),
            select_in(connection, query, table.c.object_code, codes),
        ],
        ignore_index=True,
    ).drop_duplicates("id")
    key = ["kind", "subject_code", "object_code"]
    merged = links.merge(current[[*key, "id"]], on=key, how="left")
    holding = merged["id"].notna()
    counts.unchanged += int(holding.sum())
    candidates = merged.loc[~holding, list(RELATIONSHIP_COLUMNS)]
    to_close: list[dict] = []
    keep = pd.Series(True, index=candidates.index)
    for kind, side in one_at_a_time.items():
        holder = f"{side}_code"
        mine = candidates[candidates["kind"] == kind]
        if mine.empty:
            continue
        rivals = mine.merge(
            current[current["kind"] == kind][[holder, "id", "valid_from"]].rename(
                columns={"valid_from": "current_from"}
            ),
            on=holder,
            how="inner",
        )
        newer = rivals["current_from"].isna() | (rivals["valid_from"] > rivals["current_from"])
        older_codes = set(rivals.loc[~newer, holder])
        keep.loc[mine.index[mine[holder].isin(older_codes)]] = False
        to_close += [
            {"b_id": int(i), "b_to": (start - dt.timedelta(days=1)) if start is not None else None}
            for i, start in zip(rivals.loc[newer, "id"], rivals.loc[newer, "valid_from"], strict=True)
        ]
    if to_close:
        connection.execute(
            table.update()
            .where(table.c.id == sa.bindparam("b_id"))
            .values(valid_to=sa.bindparam("b_to"), ended_by=import_id),
            to_close,
        )
    counts.superseded += len(to_close)
    counts.unchanged += int((~keep).sum())
    counts.inserted += insert_rows(connection, table, candidates[keep].assign(import_id=import_id))
    return counts


# --- indicators and versioned facts --------------------------------------------------------------


def write_indicators(connection: sa.Connection, definitions: Sequence[dict]) -> None:
    """Store (or refresh) the definitions of the indicators an import uses."""
    table = schema.indicator
    stored = {
        row.id: (row.version, row.definition)
        for row in connection.execute(
            sa.select(table.c.id, table.c.version, table.c.definition).where(
                table.c.id.in_([d["id"] for d in definitions])
            )
        )
    }
    for definition in definitions:
        values = {"version": definition["version"], "title": definition["title"], "definition": definition}
        if definition["id"] not in stored:
            connection.execute(table.insert().values(id=definition["id"], **values))
        elif stored[definition["id"]] != (definition["version"], definition):
            connection.execute(table.update().where(table.c.id == definition["id"]).values(**values))


def write_versioned(
    connection: sa.Connection,
    table: sa.Table,
    frame: pd.DataFrame,
    key: Sequence[str],
    narrow_by: Sequence[str],
    import_id: int,
) -> WriteCounts:
    """Make ``frame`` the current rows of ``table`` for its keys, keeping what it replaces as history.

    Keys already current with equal values are left alone; keys with different values get a new row
    and the old row's ``superseded_by`` is set to ``import_id``; new keys are inserted. ``narrow_by``
    names key columns used to fetch the current rows (their distinct values in ``frame`` are few).
    Date columns must hold :class:`datetime.date` objects so they compare equal to stored dates.
    """
    counts = WriteCounts()
    if frame.empty:
        return counts
    values = [c for c in frame.columns if c not in key]
    query = sa.select(table.c.id, *(table.c[c] for c in frame.columns)).where(table.c.superseded_by.is_(None))
    for column in narrow_by[1:]:
        query = query.where(table.c[column].in_(sorted(frame[column].unique())))
    current = select_in(connection, query, table.c[narrow_by[0]], frame[narrow_by[0]].unique())
    merged = frame.merge(current, on=list(key), how="left", suffixes=("", "_stored"), indicator=True)
    stored = merged["_merge"] == "both"
    same = stored.copy()
    for column in values:
        new = merged[column]
        old = merged[f"{column}_stored"]
        equal = (new == old) | (new.isna() & old.isna())
        same &= equal.fillna(False).astype(bool)
    changed = stored & ~same
    superseded_ids = [int(i) for i in merged.loc[changed, "id"]]
    for start in range(0, len(superseded_ids), QUERY_CHUNK):
        chunk = superseded_ids[start : start + QUERY_CHUNK]
        connection.execute(table.update().where(table.c.id.in_(chunk)).values(superseded_by=import_id))
    counts.superseded = len(superseded_ids)
    counts.unchanged = int(same.sum())
    counts.inserted = insert_rows(connection, table, frame.loc[~same.to_numpy()].assign(import_id=import_id))
    return counts
