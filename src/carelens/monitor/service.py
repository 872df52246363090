"""The monitoring pass service: read observations in batches of indicators, assess them with the
kernel, score and band organisations, store the run with everything that explains it, compare runs.

This is what ``carelens monitor`` and ``carelens profile`` (and later the API and web pages) call.
A run is deterministic: the same observations, organisations and settings give byte-identical stored
results (rows are in a canonical order; nothing depends on time except the run's own timestamp).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from carelens.errors import NotFound
from carelens.monitor.comparison import Comparison
from carelens.monitor.cusum import cusum_alerts
from carelens.monitor.engines import (
    EmbeddedEngine,
    Engine,
    JudgementParts,
    PassJob,
    engine_for,
    frame_digest,
)
from carelens.monitor.inputs import Inputs, batches, parquet_inputs, sql_inputs
from carelens.monitor.kernel import (
    OUTPUT_COLUMNS,
    TEXT_COLUMNS,
    empty_judgements,
    empty_result,
    method_text,
)
from carelens.monitor.scoring import IndicatorKinds, out_of_date_kinds, score_organisations
from carelens.monitor.settings import MonitorSettings, load_settings
from carelens.store import repository, schema_monitor
from carelens.store.engine import hide_password
from carelens.store.migrate import ensure_schema

Progress = Callable[[int, int], None]
"""Called as ``progress(indicators_done, indicators_total)`` after each batch."""


@dataclass
class PassResult:
    """The outcome of a pass, before it is stored."""

    flags: pd.DataFrame
    organisations: pd.DataFrame
    questions: pd.DataFrame
    judgement_parts: JudgementParts
    """The judgements, one part per batch of indicators (columns :data:`JUDGEMENT_COLUMNS`), kept on disk
    until stored."""
    indicator_rows: pd.DataFrame
    """How each indicator was compared and which periods were judged (the ``monitor_indicator`` rows)."""
    inputs_digest: str
    results_digest: str
    indicators: int
    observations: int
    settings: MonitorSettings
    source: str
    period_from: dt.date | None = None
    period_to: dt.date | None = None
    special_measures: list[str] = field(default_factory=list)
    recently_inspected: list[str] = field(default_factory=list)
    staff_concerns: list[str] = field(default_factory=list)
    """Organisations with a validated concern raised by their staff (scored as elevated risk)."""
    scope: str = "complete"
    """``complete``, ``partial`` or ``what-if`` (:func:`run_scope`)."""
    scope_note: str = ""

    @property
    def judgements(self) -> pd.DataFrame:
        """Every judgement of the pass in one frame (sorted by indicator, organisation, period): for
        small passes and tests; a national pass is read part by part (:attr:`judgement_parts`)."""
        parts = list(self.judgement_parts)
        return pd.concat(parts, ignore_index=True) if parts else empty_judgements()


SCOPES = ("complete", "partial", "what-if")
"""What a run covers. Only a complete run can be the default run (docs/methods/judgements.md)."""


def run_scope(
    period_from: dt.date | None,
    period_to: dt.date | None,
    indicator_ids=None,
    what_if: bool = False,
    held: tuple[dt.date | None, dt.date | None] = (None, None),
) -> tuple[str, str]:
    """A run's scope and why: ``what-if`` when the user says so, ``partial`` when it leaves out periods
    the store ``held`` (first and last period) or indicators, else ``complete``."""
    if what_if:
        return "what-if", "labelled a what-if run when it was started"
    first, last = held
    left_out = []
    if period_from is not None and (first is None or period_from > first):
        left_out.append(f"periods before {period_from.isoformat()}")
    if period_to is not None and (last is None or period_to < last):
        left_out.append(f"periods after {period_to.isoformat()}")
    if indicator_ids is not None:
        left_out.append("indicators not asked for")
    if left_out:
        return "partial", "leaves out " + " and ".join(left_out)
    return "complete", ""


def results_digest(
    flag_digests: list[str],
    judgement_digests: list[str],
    organisations: pd.DataFrame,
    questions: pd.DataFrame,
    indicator_rows: pd.DataFrame,
) -> str:
    """The digest of a pass's results: every indicator's flags and judgements (:func:`indicator_digests`
    of each), then the organisations' scores and bands, the key-question counts and how each indicator
    was compared."""
    digest = hashlib.sha256(json.dumps([flag_digests, judgement_digests]).encode())
    digest.update(frame_digest(organisations, questions, indicator_rows).encode())
    return digest.hexdigest()


def indicator_rows(
    comparisons: dict[str, Comparison],
    flags: pd.DataFrame,
    periods: dict[str, tuple[dt.date, int]],
    settings: MonitorSettings,
    stale: dict[str, list[str]],
) -> pd.DataFrame:
    """The ``monitor_indicator`` rows of a pass: each assessed indicator's comparison, latest period and
    judged periods, and the organisation kinds it is out of date for."""
    columns = [
        "indicator_id",
        "latest_period",
        "first_judged",
        "judged_periods",
        "value_type",
        "polarity",
        "peer_group",
        "verdict_level",
        "elevated_level",
        "method",
        "out_of_date_kinds",
    ]
    if flags.empty:
        return pd.DataFrame(columns=columns)
    latest = flags.groupby("indicator_id", sort=True)["period"].first()
    rows = []
    for indicator_id, period in latest.items():
        spec = comparisons[str(indicator_id)]
        first, count = periods.get(str(indicator_id), (period, 0))
        rows.append(
            {
                "indicator_id": str(indicator_id),
                "latest_period": period,
                "first_judged": first,
                "judged_periods": int(count),
                "value_type": spec.value_type,
                "polarity": spec.polarity,
                "peer_group": spec.peer_group,
                "verdict_level": spec.verdict_level,
                "elevated_level": spec.elevated_level,
                "method": method_text(spec, settings)[:400],
                "out_of_date_kinds": ", ".join(stale.get(str(indicator_id), []))[:400],
            }
        )
    return pd.DataFrame(rows, columns=columns)


def compute_pass(
    inputs: Inputs,
    settings: MonitorSettings | None = None,
    period_from: dt.date | None = None,
    period_to: dt.date | None = None,
    special_measures: Iterable[str] = (),
    recently_inspected: Iterable[str] = (),
    progress: Progress | None = None,
    indicator_ids: Iterable[str] | None = None,
    staff_concerns: Iterable[str] = (),
    workers: int = 1,
    what_if: bool = False,
    engine: Engine | None = None,
) -> PassResult:
    """Assess every indicator (in batches, by ``engine``), then score and band organisations, mark
    out-of-date indicators and digest it all. Nothing is stored. This is the one orchestration of a
    pass: every engine only assesses batches (:class:`carelens.monitor.engines.Engine`).
    ``staff_concerns``: organisations with a validated concern from their staff (:mod:`scoring`).

    ``engine``: default the embedded engine with ``workers`` processes (:class:`EmbeddedEngine`). The
    run's scope (:func:`run_scope`) says whether it is complete; ``what_if`` labels it a what-if.
    """
    settings = settings or load_settings()
    comparisons = inputs.comparisons(settings)
    ids = sorted(inputs.indicators if indicator_ids is None else set(indicator_ids) & set(inputs.indicators))
    digest = hashlib.sha256(settings.as_json().encode())
    judged = JudgementParts()
    periods: dict[str, tuple[dt.date, int]] = {}
    flag_digests: list[str] = []
    judgement_digests: list[str] = []
    observations = 0
    done = 0
    todo = list(batches(ids, settings.indicators_per_batch))
    stacked = StackedFlags(len(todo))
    engine = engine or EmbeddedEngine(workers)
    job = PassJob(inputs, comparisons, settings, period_from, period_to, todo, judged.folder)
    for batch, assessed in zip(todo, engine.assess(job), strict=True):
        observations += assessed.observations
        if assessed.flags is not None:
            digest.update(assessed.keys_digest.encode())
            stacked.add(assessed.flags)
            judged.add(assessed.judgements, assessed.judgement_rows)
            periods |= assessed.judged_periods
            flag_digests += assessed.flag_digests
            judgement_digests += assessed.judgement_digests
        digest.update(json.dumps([_canonical(inputs.indicators[i]) for i in batch]).encode())
        done += len(batch)
        if progress is not None:
            progress(done, len(ids))
    flags = stacked.frame()
    # once, after every engine's assess step: indicators declaring a CUSUM alert (none: nothing changes)
    flags, alert_digests = cusum_alerts(inputs, comparisons, settings, flags, period_from, period_to)
    flag_digests += alert_digests
    bounded = period_from is not None or period_to is not None
    held = inputs.reader.period_range(ids) if bounded and ids else (None, None)
    scope, note = run_scope(period_from, period_to, None if indicator_ids is None else ids, what_if, held)
    result = _finish(
        inputs,
        comparisons,
        settings,
        flags,
        judged,
        periods,
        flag_digests,
        judgement_digests,
        inputs_digest=digest,
        observations=observations,
        indicators=len(ids),
        period_from=period_from,
        period_to=period_to,
        special_measures=special_measures,
        recently_inspected=recently_inspected,
        staff_concerns=staff_concerns,
        source=inputs.source if engine.name == "embedded" else f"{engine.name}: {inputs.source}",
    )
    return dataclasses.replace(result, scope=scope, scope_note=note)


class StackedFlags:
    """The batches' assessed tables put together as they arrive, into one table (columns
    :data:`OUTPUT_COLUMNS`): each batch's rows are copied into columns made for the whole pass and the
    batch is let go, so the parent process holds the pass's flags once (5 million rows at national
    scale) rather than once in parts and once joined, and does the copying while the workers assess
    (it would otherwise wait for them, then copy alone). Text columns are kept as integer codes into
    the distinct values seen so far (from a batch's categoricals, or Spark's text) and become
    categoricals of the values present, in sorted order: ``pd.concat`` would make one string per row of
    categoricals with different categories (the method text alone is hundreds of bytes)."""

    GROWTH = 1.25
    """Room made beyond the rows expected (pages never written are never memory)."""

    def __init__(self, batches: int) -> None:
        self.batches = max(batches, 1)
        self.added = 0
        self.rows = 0
        self.columns: dict[str, np.ndarray] = {}
        self.labels: dict[str, list] = {name: [] for name in TEXT_COLUMNS}
        self.label_index: dict[str, pd.Index] = {name: pd.Index([], dtype=object) for name in TEXT_COLUMNS}
        self.last_categories: dict[str, tuple[pd.Index, np.ndarray]] = {}

    def add(self, part: pd.DataFrame) -> None:
        """Copy a batch's assessed rows in."""
        n = len(part)
        self.added += 1
        # Each column's array by its position (a pandas look-up by name per column costs more than the
        # copy), in the order of OUTPUT_COLUMNS whatever the part's order.
        names = part.columns.tolist()
        values = {}
        for name in OUTPUT_COLUMNS:
            array = part._get_column_array(names.index(name))
            values[name] = self._codes(name, array) if name in TEXT_COLUMNS else np.asarray(array)
        capacity = len(next(iter(self.columns.values()))) if self.columns else 0
        if self.rows + n > capacity:  # rows per batch so far, times the batches
            expected = (self.rows + n) * self.batches / self.added
            self._resize(int(max(expected, capacity * self.GROWTH) * self.GROWTH), values)
        for name, column in values.items():
            if not np.can_cast(column.dtype, self.columns[name].dtype, casting="safe"):
                self.columns[name] = self.columns[name].astype(np.result_type(self.columns[name], column))
            self.columns[name][self.rows : self.rows + n] = column
        self.rows += n

    def frame(self) -> pd.DataFrame:
        """Every row added, in order, as one table (sharing these columns: add nothing after)."""
        if not self.rows:
            return empty_result()
        out = {}
        for name in OUTPUT_COLUMNS:
            column = self.columns[name][: self.rows]
            if name in TEXT_COLUMNS:  # categories: the values present, sorted (whatever the engine)
                labels = pd.Index(self.labels[name], dtype=object)
                used = np.flatnonzero(np.bincount(column + 1, minlength=len(labels) + 1)[1:])
                order = used[labels[used].argsort()]
                rank = np.full(len(labels) + 1, -1, dtype=np.int32)  # the extra -1 serves a missing value
                rank[order] = np.arange(len(order))
                column = pd.Categorical.from_codes(rank[column], categories=labels[order])
            out[name] = column
        return pd.DataFrame(out, copy=False)

    def _codes(self, name: str, column) -> np.ndarray:
        """Codes of a text column's values (an array, categorical or not) among every value of that
        column seen so far."""
        if not isinstance(column, pd.Categorical):
            column = pd.Categorical(column)
        categories = column.categories
        last = self.last_categories.get(name)
        if last is not None and last[0].equals(categories):  # the same object: at once
            mapping = last[1]
        else:
            known = self.label_index[name]
            where = known.get_indexer(categories)
            new = where < 0
            if new.any():
                where[new] = len(known) + np.arange(int(new.sum()))
                self.labels[name].extend(categories[new].to_numpy(dtype=object).tolist())
                self.label_index[name] = pd.Index(self.labels[name], dtype=object)
            mapping = np.append(where, -1).astype(np.int32)  # code -1 (missing) stays -1
            self.last_categories[name] = (categories, mapping)
        return mapping[column.codes]

    def _resize(self, capacity: int, like: dict[str, np.ndarray]) -> None:
        for name, column in like.items():
            old = self.columns.get(name)
            grown = np.empty(capacity, dtype=column.dtype if old is None else old.dtype)
            if old is not None:
                grown[: self.rows] = old[: self.rows]
            self.columns[name] = grown


def stacked_flags(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Assessed tables as one (:class:`StackedFlags`)."""
    stacked = StackedFlags(len(parts))
    for part in parts:
        stacked.add(part)
    return stacked.frame()


def _finish(
    inputs: Inputs,
    comparisons: dict[str, Comparison],
    settings: MonitorSettings,
    flags: pd.DataFrame,
    judgement_parts: JudgementParts,
    periods: dict[str, tuple[dt.date, int]],
    flag_digests: list[str],
    judgement_digests: list[str],
    *,
    inputs_digest,
    observations: int,
    indicators: int,
    period_from: dt.date | None,
    period_to: dt.date | None,
    special_measures: Iterable[str],
    recently_inspected: Iterable[str],
    source: str,
    staff_concerns: Iterable[str] = (),
) -> PassResult:
    """Once every batch is assessed: mark out-of-date indicators, score and band organisations, describe
    each indicator's comparison, and digest it all."""
    confidential = [i for i, d in inputs.indicators.items() if d.get("confidential")]
    stale = out_of_date_kinds(flags, inputs.organisations, settings.max_age_months, confidential)
    flags = flags.assign(out_of_date=_stale_rows(flags, inputs.organisations, stale))
    key_questions = {k: v.key_question for k, v in comparisons.items()}
    special = sorted(set(special_measures))
    recent = sorted(set(recently_inspected))
    concerns = sorted(set(staff_concerns))
    orgs, questions = score_organisations(
        flags, inputs.organisations, key_questions, settings, special, recent, concerns
    )
    described = indicator_rows(comparisons, flags, periods, settings, stale)
    inputs_digest.update(frame_digest(inputs.organisations.sort_values("code")).encode())
    inputs_digest.update(json.dumps([special, recent, str(period_from), str(period_to)]).encode())
    if concerns:  # only a pass with such concerns digests them: every other digest is as it was
        inputs_digest.update(json.dumps({"staff_concerns": concerns}).encode())
    return PassResult(
        flags=flags,
        organisations=orgs,
        questions=questions,
        judgement_parts=judgement_parts,
        indicator_rows=described,
        inputs_digest=inputs_digest.hexdigest(),
        results_digest=results_digest(flag_digests, judgement_digests, orgs, questions, described),
        indicators=indicators,
        observations=observations,
        settings=settings,
        source=source,
        period_from=period_from,
        period_to=period_to,
        special_measures=special,
        recently_inspected=recent,
        staff_concerns=concerns,
    )


def _canonical(definition: dict) -> str:
    """A definition as canonical JSON (part of the inputs digest)."""
    return json.dumps(definition, sort_keys=True, default=str)


def _stale_rows(frame: pd.DataFrame, organisations: pd.DataFrame, stale: dict[str, list[str]]) -> np.ndarray:
    """Whether each row's indicator is out of date for its organisation's kind."""
    if frame.empty or not stale:
        return np.zeros(len(frame), dtype=bool)
    pairs = {(indicator, kind) for indicator, kinds in stale.items() for kind in kinds}
    coded = IndicatorKinds.of(frame, organisations)
    table = np.array(
        [[(str(i), str(k)) in pairs for k in coded.kind_names] for i in coded.indicator_names], dtype=bool
    )
    return table[coded.indicator, coded.kind]


@dataclass(frozen=True)
class RunSummary:
    """What a stored run found."""

    run_id: int
    previous_run_id: int | None
    indicators: int
    observations: int
    organisations: int
    flags: dict[str, int]
    spc_alerts: int
    bands: dict[str, int]
    changed_flags: int
    changed_bands: int
    results_digest: str
    scope: str = "complete"
    scope_note: str = ""


def run_monitor(
    store: sa.Engine,
    *,
    parquet: str | Path | None = None,
    period_from: dt.date | None = None,
    period_to: dt.date | None = None,
    settings: MonitorSettings | None = None,
    special_measures: Iterable[str] = (),
    recently_inspected: Iterable[str] = (),
    staff_concerns: Iterable[str] = (),
    user: str = "carelens",
    progress: Progress | None = None,
    workers: int = 1,
    what_if: bool = False,
    engine: Engine | str | None = None,
    spark_master: str | None = None,
) -> RunSummary:
    """Run a monitoring pass over the store (or a Parquet folder) and store it as a new run, with the
    change since the previous run, in one transaction with its audit event. ``workers``, ``what_if``
    and ``staff_concerns``: see :func:`compute_pass`. ``engine``: an :class:`Engine`, or its name
    (``embedded`` or ``spark``; default the settings' ``engine.name``), run on ``spark_master`` (default
    the settings' ``engine.spark.master``); a Spark session started for the pass is stopped after it."""
    ensure_schema(store)
    settings = settings or load_settings()
    inputs = parquet_inputs(parquet) if parquet is not None else sql_inputs(store)
    with engine_for(settings.engine, engine, spark_master, workers) as chosen:
        result = compute_pass(
            inputs,
            settings,
            period_from,
            period_to,
            special_measures,
            recently_inspected,
            progress,
            workers=workers,
            what_if=what_if,
            engine=chosen,
            staff_concerns=staff_concerns,
        )
    return store_run(store, result, user)


def store_run(engine: sa.Engine, result: PassResult, user: str) -> RunSummary:
    """Write a pass as a new run (with the change since the last run) and its audit event."""
    run = schema_monitor.monitor_run
    with engine.begin() as connection:
        previous = previous_run_id(connection)
        flags, orgs = _with_previous(connection, result.flags, result.organisations, previous)
        inserted = connection.execute(
            run.insert().values(
                started_at=dt.datetime.now(dt.UTC),
                user_name=user,
                source=hide_password(result.source)[:500],
                period_from=result.period_from,
                period_to=result.period_to,
                settings=result.settings.as_json(),
                special_measures=json.dumps(result.special_measures),
                recently_inspected=json.dumps(result.recently_inspected),
                indicators=result.indicators,
                organisations=len(orgs),
                flags=len(flags),
                inputs_digest=result.inputs_digest,
                results_digest=result.results_digest,
                previous_run_id=previous,
                scope=result.scope,
                scope_note=result.scope_note[:500],
            )
        )
        run_id = int(inserted.inserted_primary_key[0])
        repository.insert_rows(
            connection, schema_monitor.monitor_indicator, result.indicator_rows.assign(run_id=run_id)
        )
        store_flags(connection, run_id, flags)
        for part in result.judgement_parts:
            repository.insert_rows(connection, schema_monitor.monitor_judgement, part.assign(run_id=run_id))
        repository.insert_rows(connection, schema_monitor.monitor_org, orgs.assign(run_id=run_id))
        repository.insert_rows(
            connection, schema_monitor.monitor_org_question, result.questions.assign(run_id=run_id)
        )
        changed_flags = int(
            (flags["previous_flag"].notna() & (flags["previous_flag"] != flags["flag"])).sum()
        )
        changed_bands = int(orgs["change"].isin(["higher risk", "lower risk", "changed"]).sum())
        summary = RunSummary(
            run_id=run_id,
            previous_run_id=previous,
            indicators=result.indicators,
            observations=result.observations,
            organisations=len(orgs),
            flags={
                str(k): int(v) for k, v in flags["flag"].astype(object).value_counts().sort_index().items()
            },
            spc_alerts=int(flags["spc_alert"].sum()),
            bands={
                str(k): int(v)
                for k, v in orgs["band"]
                .astype("string")
                .fillna(orgs["status"])
                .value_counts()
                .sort_index()
                .items()
            },
            changed_flags=changed_flags,
            changed_bands=changed_bands,
            results_digest=result.results_digest,
            scope=result.scope,
            scope_note=result.scope_note,
        )
        repository.audit(
            connection,
            user,
            "monitor.run",
            "monitor_run",
            str(run_id),
            {
                "scope": result.scope,
                "scope_note": result.scope_note,
                "source": hide_password(result.source),
                "period_from": result.period_from,
                "period_to": result.period_to,
                "indicators": result.indicators,
                "observations": result.observations,
                "flags": summary.flags,
                "inputs_digest": result.inputs_digest,
                "results_digest": result.results_digest,
                "special_measures": result.special_measures,
                "recently_inspected": result.recently_inspected,
            }
            | ({"staff_concerns": result.staff_concerns} if result.staff_concerns else {}),
        )
    return summary


def store_flags(connection: sa.Connection, run_id: int, flags: pd.DataFrame) -> None:
    """Write a run's flags (through COPY on PostgreSQL when there are many: :func:`carelens.store.
    repository.insert_rows`) with their places in the run's listing, and the run's counts of them.

    The rows go in in the order of their places. That order is sorted by organisation within each flag
    (risks first) and by place within each indicator, so every index of ``monitor_flag`` grows at a few
    points at a time instead of at random pages of its B-tree: in the pass's order (indicator, then
    organisation) the organisation and place indexes took a random insert per row, which made most of
    the cost of storing a national run (docs/scale.md). Text columns may be str or categorical."""
    order = listing_order(flags)
    positions = np.empty(len(flags), dtype=np.int64)
    positions[order] = np.arange(1, len(flags) + 1)
    positioned = flags.assign(run_id=run_id, position=positions).iloc[order]
    repository.insert_rows(connection, schema_monitor.monitor_flag, positioned)
    repository.insert_rows(connection, schema_monitor.monitor_flag_count, flag_counts(flags, run_id))


def listing_order(flags: pd.DataFrame) -> np.ndarray:
    """The rows of ``flags`` in the order of the run's listing: risks first (``RISK_FLAGS`` in order),
    then control-chart alerts, then by organisation and indicator (codes compared as text, whether the
    columns hold str or categoricals)."""
    risk = np.full(len(flags), len(schema_monitor.RISK_FLAGS), dtype=np.int8)
    for rank, name in reversed(list(enumerate(schema_monitor.RISK_FLAGS))):
        risk[(flags["flag"] == name).to_numpy(dtype=bool)] = rank
    keys = [  # np.lexsort: the last key sorts first
        pd.factorize(flags["indicator_id"].astype(object), sort=True)[0],
        pd.factorize(flags["org_code"].astype(object), sort=True)[0],
        ~flags["spc_alert"].to_numpy(dtype=bool),
        risk,
    ]
    return np.lexsort(keys)


def flag_counts(flags: pd.DataFrame, run_id: int) -> pd.DataFrame:
    """A run's ``monitor_flag_count`` rows: how many flags of each indicator, flag and alert (only the
    combinations that occur, whether the text columns are str or categorical)."""
    keys = ["indicator_id", "flag", "spc_alert"]
    counted = (
        flags[keys]
        .astype({"indicator_id": object, "flag": object, "spc_alert": bool})
        .groupby(keys, sort=True)
        .size()
    )
    return counted.rename("flags").reset_index().assign(run_id=run_id)


def _with_previous(
    connection: sa.Connection, flags: pd.DataFrame, orgs: pd.DataFrame, previous: int | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add the previous run's flag to each flag, and the previous score, band and change to each org."""
    flag_t, org_t = schema_monitor.monitor_flag, schema_monitor.monitor_org
    if previous is None:
        before_flags = pd.DataFrame(columns=["indicator_id", "org_code", "previous_flag"])
        before_orgs = pd.DataFrame(columns=["org_code", "previous_score", "previous_band"])
    else:
        before_flags = _frame(
            connection,
            sa.select(flag_t.c.indicator_id, flag_t.c.org_code, flag_t.c.flag.label("previous_flag")).where(
                flag_t.c.run_id == previous
            ),
        )
        before_orgs = _frame(
            connection,
            sa.select(
                org_t.c.org_code,
                org_t.c.score.label("previous_score"),
                org_t.c.band.label("previous_band"),
            ).where(org_t.c.run_id == previous),
        )
    flags = flags.merge(before_flags, on=["indicator_id", "org_code"], how="left", sort=False)
    flags["previous_flag"] = flags["previous_flag"].astype(object).where(flags["previous_flag"].notna(), None)
    orgs = orgs.merge(before_orgs, on="org_code", how="left", sort=False, indicator=True)
    was = orgs["_merge"] == "both"
    now_band = orgs["band"].astype("Float64")
    then_band = pd.to_numeric(orgs["previous_band"], errors="coerce").astype("Float64")
    same = (now_band == then_band).fillna(now_band.isna() & then_band.isna()).astype(bool)
    change = np.select(
        [
            ~was,
            same,
            (now_band < then_band).fillna(False).astype(bool),
            (now_band > then_band).fillna(False).astype(bool),
        ],
        ["new", "same", "higher risk", "lower risk"],
        "changed",
    )
    orgs = orgs.drop(columns="_merge").assign(
        previous_score=pd.to_numeric(orgs["previous_score"], errors="coerce"),
        previous_band=then_band.astype("Int64"),
        change=change,
    )
    return flags, orgs


def _frame(connection: sa.Connection, query: sa.Select) -> pd.DataFrame:
    rows = connection.execute(query).mappings().all()
    return pd.DataFrame(rows, columns=[c.name for c in query.selected_columns])


def previous_run_id(connection: sa.Connection) -> int | None:
    """The run a new run is compared with: the latest complete run, else the latest run of any scope."""
    return (
        latest_run_id(connection)
        or connection.execute(sa.select(sa.func.max(schema_monitor.monitor_run.c.id))).scalar()
    )


# --- reading runs back ----------------------------------------------------------------------------


def latest_run_id(connection: sa.Connection) -> int | None:
    """The default run: the latest *complete* run (every indicator, organisation and period the store
    held when it ran; docs/methods/judgements.md). Partial and what-if runs are read only when asked
    for by id. None when no complete run is stored."""
    run = schema_monitor.monitor_run
    return connection.execute(sa.select(sa.func.max(run.c.id)).where(run.c.scope == "complete")).scalar()


def read_run(engine: sa.Engine, run_id: int | None = None) -> dict[str, pd.DataFrame]:
    """A stored run's flags, organisations and key-question counts (sorted, as written)."""
    with engine.connect() as connection:
        run_id = run_id if run_id is not None else latest_run_id(connection)
        out = {}
        for name, table, keys in (
            ("flags", schema_monitor.monitor_flag, ["indicator_id", "org_code"]),
            ("organisations", schema_monitor.monitor_org, ["org_code"]),
            ("questions", schema_monitor.monitor_org_question, ["org_code", "key_question"]),
        ):
            query = sa.select(table).where(table.c.run_id == run_id).order_by(*(table.c[k] for k in keys))
            out[name] = _frame(connection, query)
    return out


@dataclass(frozen=True)
class RunDiff:
    """What changed between two runs: flags and bands that differ (and organisations or indicators that
    appear in only one run)."""

    run_id: int
    against: int | None
    flags: pd.DataFrame
    """indicator_id, org_code, before, after (before or after missing when only one run has the row)."""
    bands: pd.DataFrame
    """org_code, score_before, score_after, band_before, band_after, status_before, status_after."""

    @property
    def empty(self) -> bool:
        return self.flags.empty and self.bands.empty


def diff_runs(engine: sa.Engine, run_id: int | None = None, against: int | None = None) -> RunDiff:
    """Compare a run (default the latest) with another (default the one before it)."""
    run = schema_monitor.monitor_run
    with engine.connect() as connection:
        run_id = run_id if run_id is not None else latest_run_id(connection)
        if run_id is None:
            raise NotFound("no monitoring run is stored: run `carelens monitor` first")
        if against is None:
            against = connection.execute(sa.select(sa.func.max(run.c.id)).where(run.c.id < run_id)).scalar()
    now = read_run(engine, run_id)
    then = read_run(engine, against) if against is not None else {k: v.iloc[0:0] for k, v in now.items()}
    flags = now["flags"][["indicator_id", "org_code", "flag"]].merge(
        then["flags"][["indicator_id", "org_code", "flag"]],
        on=["indicator_id", "org_code"],
        how="outer",
        suffixes=("_after", "_before"),
        sort=True,
    )
    flags = flags[flags["flag_before"].astype(object).ne(flags["flag_after"].astype(object))]
    flags = flags.rename(columns={"flag_before": "before", "flag_after": "after"})[
        ["indicator_id", "org_code", "before", "after"]
    ]
    cols = ["org_code", "score", "band", "status"]
    bands = now["organisations"][cols].merge(
        then["organisations"][cols], on="org_code", how="outer", suffixes=("_after", "_before"), sort=True
    )
    differs = np.zeros(len(bands), dtype=bool)
    for c in ("band", "status"):
        a, b = bands[f"{c}_after"].astype(object), bands[f"{c}_before"].astype(object)
        differs |= ~((a == b) | (pd.isna(a) & pd.isna(b))).to_numpy(dtype=bool)
    bands = bands[differs][
        [
            "org_code",
            "score_before",
            "score_after",
            "band_before",
            "band_after",
            "status_before",
            "status_after",
        ]
    ]
    return RunDiff(run_id, against, flags.reset_index(drop=True), bands.reset_index(drop=True))


# --- the intelligence profile ---------------------------------------------------------------------

PROFILE_FLAG_COLUMNS = (
    "indicator_id",
    "title",
    "key_question",
    "period",
    "value",
    "target",
    "risk_lower",
    "risk_upper",
    "z_adjusted",
    "verdict",
    "benchmark",
    "flag",
    "out_of_date",
    "previous_flag",
    "reason",
    "spc_variation",
    "spc_alert",
    "spc_rule",
    "trend",
)


def profile(engine: sa.Engine, org_code: str, run_id: int | None = None, trend_points: int = 12) -> dict:
    """An organisation's intelligence profile from a run (default the latest), as plain data.

    Keys: ``org_code``, ``run_id``, ``organisation`` (score, band, status, change and counts),
    ``key_questions`` (list of count dicts), ``indicators`` (one dict per indicator with its value,
    peers' target, limits, z, benchmark, flag and why, SPC icon and alert, and ``trend``: its last
    ``trend_points`` reported values as [period ISO date, value] pairs).
    Raises :class:`carelens.errors.NotFound` when there is no run or the organisation is not in it.
    """
    from carelens.monitor.published import judgements_shown
    from carelens.store import schema

    flag_t, org_t, q_t = (
        schema_monitor.monitor_flag,
        schema_monitor.monitor_org,
        schema_monitor.monitor_org_question,
    )
    with engine.connect() as connection:
        run_id = run_id if run_id is not None else latest_run_id(connection)
        if run_id is None:
            raise NotFound("no monitoring run is stored: run `carelens monitor` first")
        run_row = connection.execute(
            sa.select(schema_monitor.monitor_run.c.scope, schema_monitor.monitor_run.c.scope_note).where(
                schema_monitor.monitor_run.c.id == run_id
            )
        ).first()
        if run_row is None:
            raise NotFound(f"no monitoring run {run_id}")
        run_text = f"run {run_id} ({run_row.scope}{': ' + run_row.scope_note if run_row.scope_note else ''})"
        org = (
            connection.execute(sa.select(org_t).where(org_t.c.run_id == run_id, org_t.c.org_code == org_code))
            .mappings()
            .first()
        )
        if org is None:
            raise NotFound(f"organisation {org_code!r} is not in monitoring run {run_id}")
        flags = [
            dict(r)
            for r in connection.execute(
                sa.select(flag_t)
                .where(flag_t.c.run_id == run_id, flag_t.c.org_code == org_code)
                .order_by(flag_t.c.indicator_id)
            ).mappings()
        ]
        questions = [
            dict(r)
            for r in connection.execute(
                sa.select(q_t)
                .where(q_t.c.run_id == run_id, q_t.c.org_code == org_code)
                .order_by(q_t.c.key_question)
            ).mappings()
        ]
        j = judgements_shown()  # the publisher's verdict where it gave one
        verdicts = {
            (row.indicator_id, row.period): (row.verdict, row.direction)
            for row in connection.execute(
                sa.select(j.c.indicator_id, j.c.period, j.c.verdict, j.c.direction).where(
                    j.c.run_id == run_id, j.c.org_code == org_code
                )
            )
        }
        ids = sorted({f["indicator_id"] for f in flags})
        ind = schema.indicator
        described = {
            r.id: (r.title, r.definition or {})
            for r in connection.execute(
                sa.select(ind.c.id, ind.c.title, ind.c.definition).where(ind.c.id.in_(ids))
            )
        }
        obs = schema.observation
        trend: dict[str, list] = {}
        for indicator_id, period, value in connection.execute(
            sa.select(obs.c.indicator_id, obs.c.period, obs.c.value)
            .where(
                # the run's indicators: lets the (indicator, organisation, period) index serve the rows
                obs.c.indicator_id.in_(ids),
                obs.c.org_code == org_code,
                obs.c.superseded_by.is_(None),
            )
            .order_by(obs.c.indicator_id, obs.c.period)
        ):
            trend.setdefault(indicator_id, []).append([str(period), None if value is None else float(value)])
    indicators = []
    for row in flags:  # one organisation's indicators (about a hundred at most)
        title, definition = described.get(row["indicator_id"], (row["indicator_id"], {}))
        row["title"] = title
        row["key_question"] = definition.get("key_question") or definition.get("domain") or "unassigned"
        row["verdict"], row["direction"] = verdicts.get(
            (row["indicator_id"], row["period"]), ("not compared", "")
        )
        row["period"] = str(row["period"])
        row["trend"] = trend.get(row["indicator_id"], [])[-trend_points:]
        row.pop("run_id", None)
        indicators.append({k: _plain(v) for k, v in row.items()})
    organisation = {k: _plain(v) for k, v in dict(org).items() if k != "run_id"}
    return {
        "org_code": org_code,
        "run_id": run_id,
        "run_label": run_text,
        "organisation": organisation,
        "key_questions": [
            {k: _plain(v) for k, v in r.items() if k not in ("run_id", "org_code")} for r in questions
        ],
        "indicators": indicators,
    }


def _plain(value):
    """A JSON-friendly Python value (NaN and NA become None). A profile has ~40 values a flag, so the
    usual ones (None, text, whole numbers, finite floats) are answered before any pandas test."""
    if value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None if np.isnan(value) else value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value
