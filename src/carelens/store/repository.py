"""Writing to the store in bulk, inside a caller's transaction.

Every function here takes an open :class:`sqlalchemy.Connection` inside a transaction and never
commits: the import service decides what is one unit of work. Frames are pandas DataFrames whose
columns are named as in :mod:`carelens.store.schema`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

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

    PostgreSQL: COPY (:func:`copy_arrow`) for large frames. Elsewhere, and for small frames: one
    executemany of plain Python tuples (each column converted once, as a whole, by :func:`bind_columns`),
    with no per-row work by SQLAlchemy.
    """
    if frame.empty:
        return 0
    if connection.dialect.name == "postgresql" and len(frame) >= COPY_THRESHOLD_ROWS:
        try:
            data = arrow_for(table, frame)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
            data = None  # values Arrow cannot type as the column: COPY them row by row
        if data is not None:
            return copy_arrow(connection, table, data)
        return _copy_rows(connection, table, frame)
    columns = list(frame.columns)
    preparer = connection.dialect.identifier_preparer
    marks = ", ".join(["?" if connection.dialect.paramstyle == "qmark" else "%s"] * len(columns))
    statement = (
        f"INSERT INTO {preparer.format_table(table)} "
        f"({', '.join(preparer.quote(c) for c in columns)}) VALUES ({marks})"
    )
    for start in range(0, len(frame), INSERT_BATCH_ROWS):
        values = bind_columns(connection.dialect, table, frame.iloc[start : start + INSERT_BATCH_ROWS])
        connection.exec_driver_sql(statement, list(zip(*values, strict=True)))
    return len(frame)


def in_key_order(frame: pd.DataFrame, key: Sequence[str]) -> pd.DataFrame:
    """``frame`` sorted by ``key``: rows inserted in the order of a table's unique index go into its
    B-tree side by side instead of at random pages (twice as fast into a large SQLite table)."""
    if len(frame) < 2:
        return frame
    codes = [pd.factorize(frame[k], sort=True)[0] for k in reversed(key)]
    return frame.iloc[np.lexsort(codes)]


INSERT_BATCH_ROWS = 100_000
"""Rows sent to one executemany by :func:`insert_rows` (bounds the tuples held at once)."""


def bind_columns(dialect: sa.Dialect, table: sa.Table, frame: pd.DataFrame) -> list[list]:
    """Each column of ``frame`` as a list of plain Python values the driver binds as the column's type.

    Missing values (None, NaN, NA, NaT) become None; NumPy scalars become Python numbers; a whole number
    held as a float goes to an integer column as an int; values the column's type converts for this
    database (dates on SQLite are ISO text) are converted through SQLAlchemy's own bind processor,
    once per distinct value.
    """
    out = []
    for name in frame.columns:
        series = frame[name]
        kind = table.c[name].type
        missing = series.isna().to_numpy()
        numeric = series.dtype.kind in "iuf"
        if isinstance(kind, sa.Integer) and numeric:
            numbers = series.to_numpy(dtype=float, na_value=np.nan)
            values = np.where(missing, 0, numbers).astype(np.int64).astype(object)
        elif numeric:
            values = series.to_numpy(dtype=float, na_value=np.nan).astype(object)
        elif series.dtype.kind == "M":
            values = np.array([None if pd.isna(v) else v.date() for v in series], dtype=object)
        else:
            values = series.to_numpy(dtype=object, copy=True)
        values[missing] = None
        process = None if numeric else kind.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:  # e.g. dates as ISO text on SQLite: each distinct value once
            codes, uniques = pd.factorize(values, use_na_sentinel=True)
            converted = np.array([process(_plain(u)) for u in uniques] + [None], dtype=object)
            values = converted[codes]
        out.append(values.tolist())
    return out


def _plain(value):
    """A NumPy scalar as the Python value it holds; anything else unchanged."""
    if isinstance(value, pd.Timestamp):
        return value.date()
    return value.item() if isinstance(value, np.generic) else value


def _copy_rows(connection: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> int:
    """COPY ``frame`` row by row (the driver adapts each value): for values :func:`arrow_for` cannot type."""
    columns = list(frame.columns)
    quoted = ", ".join(connection.dialect.identifier_preparer.quote(c) for c in columns)
    with connection.connection.driver_connection.cursor() as cursor:
        with cursor.copy(f"COPY {table.name} ({quoted}) FROM STDIN") as copy:
            for start in range(0, len(frame), INSERT_BATCH_ROWS):
                values = bind_columns(
                    connection.dialect, table, frame.iloc[start : start + INSERT_BATCH_ROWS]
                )
                for record in zip(*values, strict=True):
                    copy.write_row(record)
    return len(frame)


def arrow_for(table: sa.Table, frame: pd.DataFrame) -> pa.Table:
    """``frame`` as an Arrow table typed by ``table``'s columns (integers as int64, dates as date32), for
    :func:`copy_arrow`: a whole number held as a float reaches an integer column as "1", never "1.0"."""
    arrays = {}
    for name in frame.columns:
        kind = table.c[name].type
        series = frame[name]
        if isinstance(kind, sa.Integer):
            arrays[name] = pa.array(series.to_numpy(dtype=float, na_value=np.nan), from_pandas=True).cast(
                pa.int64()
            )
        elif isinstance(kind, sa.Float):
            arrays[name] = pa.array(series.to_numpy(dtype=float, na_value=np.nan), from_pandas=True)
        elif isinstance(kind, sa.DateTime):
            raise TypeError("timestamps are copied row by row")
        elif isinstance(kind, sa.Date):
            arrays[name] = pa.array(
                [None if v is None or pd.isna(v) else _plain(v) for v in series], pa.date32()
            )
        elif isinstance(kind, sa.JSON):
            arrays[name] = pa.array(
                [None if v is None else json.dumps(v) for v in series.astype(object)], pa.string()
            )
        elif isinstance(kind, sa.Boolean):
            arrays[name] = pa.array(series.astype(object).where(series.notna(), None), pa.bool_())
        elif isinstance(kind, sa.String):
            arrays[name] = pa.array(series.astype(object).where(series.notna(), None), pa.string())
        else:
            arrays[name] = pa.array(series.astype(object).where(series.notna(), None), from_pandas=True)
    return pa.table(arrays)


COPY_BLOCK_ROWS = 250_000
"""Rows encoded to CSV per block when streaming an Arrow table through COPY (bounds memory)."""


def copy_arrow(connection: sa.Connection, table: sa.Table, data: pa.Table) -> int:
    """Bulk-load an Arrow table into a PostgreSQL table with ``COPY ... FROM STDIN (FORMAT csv)``.

    The columns of ``data`` name the target columns. Rows are encoded to CSV by Arrow in blocks and
    streamed, so no Python object is made per row; it runs inside the caller's transaction.

    Foreign keys are checked for the whole table at once: the distinct values of each referencing
    column are looked up (and locked against deletion, ``FOR KEY SHARE``, as the per-row check would),
    and a missing one fails the load. When that is done and the role may (a superuser, or one granted
    ``SET`` on ``session_replication_role``) and the table has no triggers of its own, PostgreSQL's
    per-row foreign-key triggers are skipped for the COPY: they cost more than the rest of the load
    (about 60,000 rows/s with them, over 200,000 without). Unique indexes are enforced as always.
    """
    import pyarrow.csv as pacsv

    if connection.dialect.name != "postgresql":
        raise ValueError("copy_arrow needs PostgreSQL; use insert_rows elsewhere")
    quoted = ", ".join(connection.dialect.identifier_preparer.quote(c) for c in data.column_names)
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    bulk_checked = _check_references(connection, table, data) and _may_skip_row_triggers(connection, table)
    if bulk_checked:  # SET LOCAL: a failed COPY aborts the transaction, which undoes it
        connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
    with connection.connection.driver_connection.cursor() as cursor:
        with cursor.copy(f"COPY {table.name} ({quoted}) FROM STDIN WITH (FORMAT csv)") as copy:
            for start in range(0, data.num_rows, COPY_BLOCK_ROWS):
                block = pa.BufferOutputStream()
                pacsv.write_csv(data.slice(start, COPY_BLOCK_ROWS), block, options)
                copy.write(block.getvalue().to_pybytes())
    if bulk_checked:
        connection.exec_driver_sql("SET LOCAL session_replication_role = origin")
    return data.num_rows


def _check_references(connection: sa.Connection, table: sa.Table, data: pa.Table) -> bool:
    """Check every foreign key of ``table`` for the rows of ``data`` at once; raise IntegrityError naming
    the first missing values. True when every single-column key could be checked this way."""
    import pyarrow.compute as pc
    from sqlalchemy.dialects.postgresql import ARRAY

    complete = True
    for constraint in table.foreign_key_constraints:
        if len(constraint.columns) != 1:
            complete = False
            continue
        [column] = constraint.columns
        [element] = constraint.elements
        if column.name not in data.column_names:
            continue
        wanted = pc.unique(data[column.name]).drop_null().to_pylist()
        if not wanted:
            continue
        parent = element.column
        found: set = set()
        for start in range(0, len(wanted), 50_000):
            chunk = wanted[start : start + 50_000]
            found.update(
                connection.execute(
                    sa.select(parent)
                    .where(parent == sa.any_(sa.bindparam("wanted", chunk, type_=ARRAY(parent.type))))
                    .with_for_update(key_share=True, read=True)
                ).scalars()
            )
        missing = [v for v in wanted if v not in found]
        if missing:
            raise sa.exc.IntegrityError(
                f"COPY {table.name}",
                None,
                ValueError(
                    f"{table.name}.{column.name} refers to {len(missing)} value(s) not in "
                    f"{parent.table.name}.{parent.name}, e.g. {missing[:5]!r}"
                ),
            )
    return complete


def _may_skip_row_triggers(connection: sa.Connection, table: sa.Table) -> bool:
    """Whether this role may set ``session_replication_role`` and ``table`` has only the internal
    (foreign-key) triggers, which :func:`_check_references` has done the work of."""
    if "may_set_replication_role" not in connection.info:
        connection.info["may_set_replication_role"] = bool(
            connection.exec_driver_sql(
                "SELECT rolsuper OR has_parameter_privilege('session_replication_role', 'SET') "
                "FROM pg_roles WHERE rolname = current_user"
            ).scalar()
        )
    if not connection.info["may_set_replication_role"]:
        return False
    own = connection.exec_driver_sql(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = CAST(%(t)s AS regclass) AND NOT tgisinternal",
        {"t": table.name},
    ).scalar()
    return own == 0


def select_in(
    connection: sa.Connection, query: sa.Select, column: sa.ColumnElement, values: Iterable
) -> pd.DataFrame:
    """Run ``query`` filtered by ``column IN values`` in chunks; return all rows as one frame."""
    values = sorted(set(values))
    names = [c.name for c in query.selected_columns]
    frames = [
        pd.DataFrame.from_records(
            [tuple(row) for row in connection.execute(query.where(column.in_(values[i : i + QUERY_CHUNK])))],
            columns=names,
        )
        for i in range(0, len(values), QUERY_CHUNK)
    ]
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


def finish_import(
    connection: sa.Connection, import_id: int, counts: WriteCounts, user: str, rows: int | None = None
) -> None:
    """Store the counts of an import (and the rows read, when known only at the end) and audit it."""
    table = schema.import_record
    values = {"inserted": counts.inserted, "superseded": counts.superseded, "unchanged": counts.unchanged}
    if rows is not None:
        values["rows"] = rows
    connection.execute(table.update().where(table.c.id == import_id).values(**values))
    detail = counts.as_dict() | ({"revised": sorted(counts.revised)} if counts.revised else {})
    audit(connection, user, "import.loaded", "import_record", str(import_id), detail, import_id)


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
    revised: set[str] = field(default_factory=set)
    """Organisations whose stored values (observations, populations, ratings) this write replaced."""

    def __iadd__(self, other: WriteCounts) -> WriteCounts:
        self.inserted += other.inserted
        self.superseded += other.superseded
        self.unchanged += other.unchanged
        self.revised |= other.revised
        return self

    def as_dict(self) -> dict[str, int]:
        return {"inserted": self.inserted, "superseded": self.superseded, "unchanged": self.unchanged}


# --- organisations and relationships -------------------------------------------------------------

ORG_COLUMNS = ("code", "name", "kind", "subtype", "sector")


def existing_organisations(connection: sa.Connection, codes: Iterable[str]) -> pd.DataFrame:
    """Stored organisations among ``codes`` (columns code, name, kind, subtype, sector, import_id)."""
    table = schema.organisation
    query = sa.select(*(table.c[c] for c in ORG_COLUMNS), table.c.import_id)
    return select_in(connection, query, table.c.code, codes)


def write_organisations(
    connection: sa.Connection,
    organisations: pd.DataFrame,
    existing: pd.DataFrame,
    import_id: int,
    user: str | None = None,
    rename: bool = False,
) -> WriteCounts:
    """Insert new organisations; give a name, and a close date (``valid_to``), to stored ones that had none
    (a source that knows an organisation closed says so once).

    A stored name is replaced only when ``rename`` (a source whose names are authoritative: a curated
    list, the registry's own file): each replacement counts as superseded and is audited with ``user``,
    the old name and the new. Otherwise a different name is left as stored, and counted unchanged.
    Organisations first written by this same import (an earlier batch of its file) are not counted again.
    """
    table = schema.organisation
    is_new = ~organisations["code"].isin(existing["code"])
    columns = [c for c in (*ORG_COLUMNS, "valid_from", "valid_to") if c in organisations.columns]
    fresh = organisations.loc[is_new, columns].assign(import_id=import_id)
    inserted = insert_rows(connection, table, fresh)
    stored_names = dict(zip(existing["code"], existing["name"], strict=True))
    named = organisations[~is_new & organisations["name"].notna()]
    naming = [(c, n) for c, n in zip(named["code"], named["name"], strict=True) if pd.isna(stored_names[c])]
    renaming = [
        (c, n, stored_names[c])
        for c, n in zip(named["code"], named["name"], strict=True)
        if rename and pd.notna(stored_names[c]) and stored_names[c] != n
    ]
    changes = [(c, n) for c, n in naming] + [(c, n) for c, n, _ in renaming]
    if changes:
        connection.execute(
            table.update().where(table.c.code == sa.bindparam("b_code")).values(name=sa.bindparam("b_name")),
            [{"b_code": c, "b_name": n} for c, n in changes],
        )
    for code, name, old in renaming:
        audit(
            connection,
            user or "unknown",
            "organisation.renamed",
            "organisation",
            code,
            {"from": old, "to": name},
            import_id,
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
    ours = set(existing.loc[existing["import_id"] == import_id, "code"]) if len(existing) else set()
    repeated = int(organisations["code"].isin(ours).sum())
    return WriteCounts(
        inserted=inserted,
        superseded=len(renaming),
        unchanged=len(organisations) - inserted - len(renaming) - repeated,
    )


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
    Rows written by ``import_id`` itself (earlier batches of the same file) are not fetched: a file
    read in batches must not repeat a key (its reader checks), and the current-row index refuses one.
    """
    counts = WriteCounts()
    if frame.empty:
        return counts
    values = [c for c in frame.columns if c not in key]
    query = sa.select(table.c.id, *(table.c[c] for c in frame.columns))
    query = query.where(table.c.superseded_by.is_(None), table.c.import_id != import_id)
    for column in narrow_by[1:]:
        query = query.where(table.c[column].in_(sorted(frame[column].unique())))
    current = select_in(connection, query, table.c[narrow_by[0]], frame[narrow_by[0]].unique())
    if current.empty:
        counts.inserted = insert_rows(connection, table, in_key_order(frame, key).assign(import_id=import_id))
        return counts
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
    if "org_code" in key:
        counts.revised = set(merged.loc[changed, "org_code"])
    counts.unchanged = int(same.sum())
    fresh = in_key_order(frame.loc[~same.to_numpy()], key)
    counts.inserted = insert_rows(connection, table, fresh.assign(import_id=import_id))
    return counts
