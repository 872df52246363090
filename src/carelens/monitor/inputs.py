"""Where a monitoring pass gets its data: observations (SQL store or Parquet store), organisations
(for peer groups and banding) and indicator definitions, in batches of indicators to bound memory.

Peer groups follow the indicator definition's rule (:class:`carelens.model.indicators.PeerGroup`):
``national`` compares everyone with everyone; ``org_kind`` compares an organisation with others of its
kind (refined by subtype where known, e.g. "NHS trust: acute" in the synthetic data); ``region`` with its
region; ``commissioner`` with its commissioner's other providers. An organisation whose region or
commissioner is not known is compared within an "unknown" group.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from carelens.model.indicators import definition_json, load_indicators
from carelens.monitor.comparison import Comparison, comparisons_for
from carelens.monitor.kernel import INPUT_COLUMNS, code_dtype
from carelens.monitor.settings import MonitorSettings
from carelens.store import schema

UNKNOWN = "unknown"
ORG_COLUMNS = ("code", "name", "kind", "peer_kind", "region", "commissioner")
"""Organisation columns a pass uses (peer labels per rule; ``kind`` bands organisations among their kind)."""


@dataclass
class Inputs:
    """The data of one pass: indicators to assess (their definitions), organisations, and a way to read
    observations."""

    indicators: dict[str, dict]
    """Indicator id -> definition (as stored: a plain dict)."""
    titles: dict[str, str]
    organisations: pd.DataFrame
    reader: ObservationReader
    source: str

    def comparisons(self, settings: MonitorSettings) -> dict[str, Comparison]:
        """How each indicator is compared under ``settings`` (docs/methods/comparison.md)."""
        return comparisons_for(self.indicators, settings)


class ObservationReader:
    """Reads observations of some indicators within a period range, in canonical columns."""

    processes: bool = False
    """True when a copy of the reader works in another process (so batches can be read in parallel)."""

    def read(
        self, indicator_ids: Sequence[str], period_from: dt.date | None, period_to: dt.date | None
    ) -> pd.DataFrame:  # pragma: no cover - interface
        raise NotImplementedError

    def available(self) -> list[str]:  # pragma: no cover - interface
        raise NotImplementedError

    def period_range(self, indicator_ids: Sequence[str]) -> tuple[dt.date | None, dt.date | None]:
        """The first and last period of these indicators' observations (None, None when there are none)."""
        raise NotImplementedError  # pragma: no cover - interface


def definition_dict(definition) -> dict:
    """An indicator definition (dataclass or its stored JSON dict) as a plain dict of text and numbers."""
    return dict(definition) if isinstance(definition, dict) else definition_json(definition)


# --- SQL store ------------------------------------------------------------------------------------


class SqlReader(ObservationReader):
    """Current observations from the database store (with the import that wrote each)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def available(self) -> list[str]:
        table = schema.observation
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(table.c.indicator_id).distinct()).scalars().all()
        return sorted(rows)

    def period_range(self, indicator_ids):
        table = schema.observation
        query = sa.select(sa.func.min(table.c.period), sa.func.max(table.c.period)).where(
            table.c.superseded_by.is_(None), table.c.indicator_id.in_(list(indicator_ids))
        )
        with self.engine.connect() as connection:
            first, last = connection.execute(query).one()
        return first, last

    def read(self, indicator_ids, period_from, period_to) -> pd.DataFrame:
        table = schema.observation
        query = sa.select(
            *(table.c[c] for c in INPUT_COLUMNS if c not in ("peer_group",)),
        ).where(table.c.superseded_by.is_(None), table.c.indicator_id.in_(list(indicator_ids)))
        if period_from is not None:
            query = query.where(table.c.period >= period_from)
        if period_to is not None:
            query = query.where(table.c.period <= period_to)
        with self.engine.connect() as connection:
            frame = pd.DataFrame(connection.execute(query).mappings().all())
        if frame.empty:
            frame = pd.DataFrame(columns=[c for c in INPUT_COLUMNS if c != "peer_group"])
        frame["period"] = pd.to_datetime(frame["period"])
        return frame


def sql_inputs(engine: sa.Engine) -> Inputs:
    """Indicators (as stored with their observations) and organisations from the database store."""
    with engine.connect() as connection:
        stored = connection.execute(
            sa.select(schema.indicator.c.id, schema.indicator.c.title, schema.indicator.c.definition)
        ).all()
        orgs = pd.DataFrame(
            connection.execute(
                sa.select(
                    schema.organisation.c.code,
                    schema.organisation.c.name,
                    schema.organisation.c.kind,
                    schema.organisation.c.subtype,
                )
            )
            .mappings()
            .all(),
            columns=["code", "name", "kind", "subtype"],
        )
    reader = SqlReader(engine)
    present = set(reader.available())
    indicators = {row.id: definition_dict(row.definition or {}) for row in stored if row.id in present}
    titles = {row.id: row.title for row in stored}
    subtype = orgs["subtype"].astype(object)
    organisations = pd.DataFrame(
        {
            "code": orgs["code"].astype(object),
            "name": orgs["name"].astype(object),
            "kind": orgs["kind"].astype(object),
            "peer_kind": np.where(
                subtype.notna(),
                orgs["kind"].astype(str) + ": " + subtype.fillna("").astype(str),
                orgs["kind"],
            ),
            "region": UNKNOWN,
            "commissioner": UNKNOWN,
        }
    )
    return Inputs(indicators, titles, organisations, reader, f"database {engine.url.render_as_string()}")


# --- Parquet store --------------------------------------------------------------------------------


_read_threads = True
"""Whether Parquet is decoded with Arrow's thread pool (:func:`read_threads`)."""


def read_threads(enabled: bool) -> bool:
    """Decode Parquet with Arrow's thread pool (the default) or in the calling thread only, as a process
    should while other processes keep the cores busy (the embedded engine's workers): idle pool threads
    spinning for work would cost more CPU than they save. Returns the setting before."""
    global _read_threads
    before, _read_threads = _read_threads, bool(enabled)
    return before


class ParquetReader(ObservationReader):
    """Observations from a Parquet observation store, read with pyarrow a batch of partitions at a time.

    A partition is read straight from its files (a plain scan needs no query engine), keeping organisation
    codes as the files' dictionary: ``indicator_id`` and ``org_code`` come as categoricals, so no string
    is made per row (the kernel codes them in sorted order itself).
    """

    processes = True  # files are opened per read

    def __init__(self, root: Path) -> None:
        from carelens.store.parquet import ObservationStore

        self.store = ObservationStore(root)
        self._last_organisations: tuple[object, pd.CategoricalDtype] | None = None

    def _organisations_type(self, names) -> pd.CategoricalDtype:
        """The organisation codes of a read (the files' unified dictionary, an Arrow array) as a
        categorical type: the last read's type object itself when its dictionary is equal, as it is read
        after read in a store of one set of organisations, so that the index of 50,000 codes is made,
        checked and looked up (:func:`attach_peer_groups`) once, not once per indicator."""
        last = self._last_organisations
        if last is not None and last[0].equals(names):
            return last[1]
        kind = pd.CategoricalDtype(pd.Index(names.to_pylist(), dtype=object))
        self._last_organisations = (names, kind)
        return kind

    def available(self) -> list[str]:
        return self.store.indicators()

    def period_range(self, indicator_ids):
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        first = last = None
        for path in self.store.files(list(indicator_ids)):
            periods = pq.read_table(path, columns=["period"], partitioning=None)["period"]
            if len(periods):
                low, high = pc.min_max(periods).values()
                low, high = low.as_py(), high.as_py()
                first = low if first is None else min(first, low)
                last = high if last is None else max(last, high)
        return first, last

    def read(self, indicator_ids, period_from, period_to) -> pd.DataFrame:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        from carelens.store.parquet import FILE_SCHEMA

        schema = pa.schema(
            [pa.field("org_code", pa.dictionary(pa.int32(), pa.string()))]
            + [FILE_SCHEMA.field(c) for c in ("period", "numerator", "denominator", "expected", "value")]
        )
        # List only the wanted indicators' partitions, never every partition in the store.
        files = {i: self.store.files([i]) for i in dict.fromkeys(indicator_ids)}
        wanted = [i for i, paths in files.items() if paths]
        start_day = None if period_from is None else pa.scalar(period_from, pa.date32())
        end_day = None if period_to is None else pa.scalar(period_to, pa.date32())
        parts, rows_of = [], np.zeros(len(wanted), dtype=np.int64)
        for k, indicator_id in enumerate(wanted):
            for path in files[indicator_id]:
                # The file itself, not a dataset of it: mapped rather than copied into fresh buffers,
                # without reading ahead in other threads (a local file), and each column one array
                # however many row groups (so it reaches NumPy without another copy).
                table = pq.ParquetFile(
                    path, read_dictionary=["org_code"], memory_map=True, pre_buffer=False
                ).read(columns=schema.names, use_threads=_read_threads)
                if table.schema.types != schema.types:
                    table = table.cast(schema)
                if start_day is not None:
                    table = table.filter(pc.field("period") >= start_day)
                if end_day is not None:
                    table = table.filter(pc.field("period") <= end_day)
                parts.append(table)
                rows_of[k] += table.num_rows
        table = pa.concat_tables(parts) if parts else schema.empty_table()
        del parts
        n = table.num_rows
        # Columns straight to NumPy, without pandas' general conversion and without a copy where Arrow's
        # buffer serves (read-only arrays): org_code as a categorical of the files' dictionary (one string
        # per organisation, not per row), period as datetime64, a column with no value as one NaN.
        org = table.column("org_code").unify_dictionaries()
        names = org.chunk(0).dictionary if org.num_chunks else pa.array([], pa.string())
        columns = {
            "indicator_id": pd.Categorical.from_codes(
                np.repeat(np.arange(len(wanted), dtype=np.int32), rows_of), pd.Index(wanted, dtype=object)
            ),
            "org_code": pd.Categorical.from_codes(
                _numpy([chunk.indices for chunk in org.chunks], n, np.int32),
                dtype=self._organisations_type(names),
            ),
            "period": _numpy(table.column("period").cast(pa.timestamp("ms")).chunks, n, "datetime64[ms]"),
        }
        for name in ("numerator", "denominator", "expected", "value"):
            columns[name] = _numpy(table.column(name).chunks, n, np.float64)  # nulls as NaN
        del table
        columns["import_id"] = _nothing(n)
        return pd.DataFrame(columns, copy=False)


def _numpy(chunks, rows: int, dtype) -> np.ndarray:
    """Arrow chunks of ``rows`` values in all as one NumPy array (nulls of a float column as NaN).

    One chunk without nulls (the usual read: one file per indicator) is Arrow's buffer itself, read-only;
    several are copied once each into one array (not converted one by one, then concatenated); a float
    column that is all nulls is :func:`_nothing`."""
    if len(chunks) == 1 and chunks[0].null_count == 0:
        return chunks[0].to_numpy(zero_copy_only=False)
    if rows and sum(chunk.null_count for chunk in chunks) == rows and np.dtype(dtype) == np.float64:
        return _nothing(rows)
    out = np.empty(rows, dtype=dtype)
    at = 0
    for chunk in chunks:
        size = len(chunk)
        if not size:
            continue
        if chunk.null_count == size:
            out[at : at + size] = np.nan
        elif chunk.null_count:
            out[at : at + size] = chunk.to_numpy(zero_copy_only=False)
        else:
            out[at : at + size] = chunk.to_numpy(zero_copy_only=True)
        at += size
    return out


def _nothing(rows: int) -> np.ndarray:
    """A float column of ``rows`` NaN without memory behind it (one value seen ``rows`` times; read-only)."""
    return np.broadcast_to(np.float64(np.nan), (rows,))


def parquet_inputs(path: str | Path) -> Inputs:
    """Inputs from a Parquet folder: either a synthetic data set (``organisations.parquet``,
    ``indicators.parquet`` and ``observations/``) or a bare observation store (packaged indicators)."""
    import pyarrow.parquet as pq

    root = Path(path)
    observations = root / "observations" if (root / "observations").is_dir() else root
    reader = ParquetReader(observations)
    packaged = load_indicators()  # read once: parsing the YAML files is most of this function's time
    indicators = {k: definition_dict(v) for k, v in packaged.items()}
    titles = {k: v.title for k, v in packaged.items()}
    if (root / "indicators.parquet").exists():
        synth = pq.read_table(root / "indicators.parquet").to_pandas()
        for row in synth.itertuples(index=False):  # one per indicator definition, not per organisation
            indicators[row.id] = {
                "id": row.id,
                "title": row.title,
                "value_type": row.value_type,
                "polarity": row.polarity,
                "method": "funnel_overdispersed",
                "peer_group": row.peer_group,
                "key_question": "synthetic",
            }
            titles[row.id] = row.title
    if (root / "organisations.parquet").exists():
        orgs = pq.read_table(root / "organisations.parquet").to_pandas()
        organisations = pd.DataFrame(
            {
                "code": orgs["code"].astype(object),
                "name": orgs["name"].astype(object),
                "kind": orgs["kind"].astype(object),
                "peer_kind": orgs["peer_group"].astype(object),
                "region": orgs["region"].astype(object),
                "commissioner": UNKNOWN,
            }
        )
    else:
        organisations = pd.DataFrame({c: pd.Series(dtype=object) for c in ORG_COLUMNS})
    present = set(reader.available())
    indicators = {k: v for k, v in indicators.items() if k in present}
    return Inputs(indicators, titles, organisations, reader, f"parquet {root}")


# --- peer groups ----------------------------------------------------------------------------------


def attach_peer_groups(
    observations: pd.DataFrame, organisations: pd.DataFrame, comparisons: dict[str, Comparison]
) -> pd.DataFrame:
    """Add the ``peer_group`` label of each observation, by its indicator's peer-group rule.

    Labels are looked up once per distinct (indicator, organisation), not per row, and returned as a
    categorical column.
    """
    org_codes, org_names = _codes(observations["org_code"])
    ind_codes, ind_names = _codes(observations["indicator_id"])
    rules = tuple(
        PEER_COLUMNS.get(comparisons[i].peer_group) if i in comparisons else None for i in ind_names
    )
    label_codes, label_names = _peer_labels(organisations, org_names, rules)
    if len(ind_codes) < 2 or np.all(ind_codes[1:] >= ind_codes[:-1]):  # rows grouped by indicator (a read)
        bounds = np.searchsorted(ind_codes, np.arange(len(ind_names) + 1))
        per_row = np.empty(len(ind_codes), dtype=label_codes.dtype)
        for row, (start, end) in enumerate(itertools.pairwise(bounds)):
            per_row[start:end] = label_codes[row][org_codes[start:end]]
    else:
        per_row = label_codes[ind_codes, org_codes]
    peer = pd.Categorical.from_codes(  # codes in range by construction: not checked row by row
        per_row, categories=label_names, validate=False
    )
    return observations.assign(peer_group=peer)


PEER_COLUMNS = {"national": None, "org_kind": "peer_kind", "region": "region", "commissioner": "commissioner"}
"""The organisations' column that gives each peer-group rule's label (None: everyone is "England")."""

_last_peer_labels: tuple[pd.DataFrame, pd.Index, np.ndarray, dict] | None = None
"""The organisations frame and codes last labelled, where each code is among the organisations (−1: not
there), and the codes' labels by the rules asked for."""


def _peer_labels(
    organisations: pd.DataFrame, names: pd.Index, rules: tuple[str | None, ...]
) -> tuple[np.ndarray, pd.Index]:
    """Each organisation's peer-group label under each of ``rules`` (an organisations column, or None
    for "England"): codes (rule x organisation, in pandas' own code type) into the labels, sorted.
    Kept for the last organisations frame and index of codes, by rules: a pass's reads give the same
    index object, read after read (:meth:`ParquetReader._organisations_type`), and its indicators few
    rules, so 50,000 codes are looked up once a pass and labelled a few times, not once per indicator."""
    global _last_peer_labels
    last = _last_peer_labels
    if last is None or last[0] is not organisations or last[1] is not names:
        where = _code_index(organisations).get_indexer(np.asarray(names, dtype=object))
        last = _last_peer_labels = (organisations, names, where, {})
    where, by_rules = last[2], last[3]
    if rules in by_rules:
        return by_rules[rules]
    known = where >= 0
    table = np.full((len(rules), len(names)), "England", dtype=object)
    for row, column in enumerate(rules):
        if column is not None:
            labels = np.full(len(names), UNKNOWN, dtype=object)
            labels[known] = organisations[column].to_numpy(dtype=object)[where[known]]
            table[row] = labels
    label_codes, label_names = pd.factorize(table.ravel(), sort=True)
    # in pandas' own code type for so many labels, so the categorical takes the codes without a copy
    label_codes = label_codes.astype(code_dtype(len(label_names))).reshape(table.shape)
    label_codes.flags.writeable = False  # shared by the reads that follow
    by_rules[rules] = (label_codes, pd.Index(label_names, dtype=object))
    return by_rules[rules]


_last_code_index: tuple[pd.DataFrame, pd.Index] | None = None
"""The organisations frame last looked up in and its codes as an index (see :func:`_code_index`)."""


def _code_index(organisations: pd.DataFrame) -> pd.Index:
    """Organisation codes as an index to look codes up in, made once for a pass's organisations frame
    rather than once per batch (its hash table of 50,000 codes is built by the first look-up). The
    frame is kept with it, so another frame (even at the same address) gets its own."""
    global _last_code_index
    if (
        _last_code_index is None
        or _last_code_index[0] is not organisations
        or len(_last_code_index[1]) != len(organisations)
    ):
        _last_code_index = (organisations, pd.Index(organisations["code"].astype(object)))
    return _last_code_index[1]


def _codes(column: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes of a column and the values they stand for (a categorical's own, without hashing)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(), column.cat.categories
    codes, names = pd.factorize(column)
    return codes, pd.Index(names)


def batches(ids: Sequence[str], size: int) -> Iterator[list[str]]:
    """Indicator ids in sorted batches of ``size``."""
    ordered = sorted(ids)
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]
