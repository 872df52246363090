"""The monitoring kernel: observations of a batch of indicators in; one assessed row per organisation x
indicator (its latest figure, flag, benchmark and control chart) and one *judgement* per organisation x
indicator x recent period out. Pure and vectorised (no I/O, no loop per organisation or series), so the
embedded engine and Spark (``groupBy("indicator_id").applyInPandas``) run exactly the same code, and so
do system-review places and commissioner assessment (:func:`judge`).

How each indicator is compared comes from its :class:`carelens.monitor.comparison.Comparison` and from
nothing else. For each indicator the comparison period is its latest period in the data given. Steps:

1. small numbers: a value is *eligible* only with enough behind it (denominator or expected count at
   least the comparison's minimum); a funnel (indicator x period x peer group) with fewer eligible units
   than ``min_units`` compares nobody. Those rows say "insufficient data" and are never flagged;
2. funnel per indicator x period x peer group (:func:`carelens.stats.funnel.funnel`): proportions on the
   arcsine scale, standardised ratios by the SHMI (trimmed, log) or CQC (Winsorised, square-root)
   method, rates as ratios to the peers' rate; overdispersion by DerSimonian-Laird τ². Limits are the
   normal limits on the funnel's own scale, so a value lies beyond a limit exactly when its z does;
3. verdict and flag (docs/methods/comparison.md, docs/methods/intelligent-monitoring.md): z_adjusted
   beyond the verdict level is higher or lower than expected (worse or better by polarity); in the
   adverse direction it is a risk, beyond the elevated level an elevated risk; neutral-polarity
   indicators are compared but not scored;
4. benchmark against England (Fingertips, docs/methods/benchmarking.md): the value's confidence interval
   (Wilson, or Byar/exact Poisson) wholly above / below / around the England value;
5. SPC (:func:`carelens.stats.spc.xmr`, or the chart the definition declares: a run chart, or a p, p′, u
   or u′ chart of the counts) on each organisation's series; an alert is a special cause of concern among
   the latest ``spc_latest_points`` periods of the indicator.

Judgements are kept for each indicator's latest ``judged_periods`` periods (its comparison's: the
definition's, else the monitoring settings' ``history_periods``; all periods for :func:`judge`): the same funnels as step 2, with their limits, for every organisation
with an observation in those periods.

How the work is split (for speed; no figure depends on it, see ``tests/monitor/test_kernel_equivalence``):
indicators are assessed one at a time, since nothing is shared between them; funnels are computed for
every period (the relative SPC charts each period's z_adjusted): the periods before the judged ones in
one call that gives z only, the judged periods (whose limits are reported) in another; control charts'
rules by compiled loops, one series at a time (run charts in calls of a few thousand whole series, so
each call's arrays stay in the CPU cache). Rows of a group reach
the kernels in the same (organisation) order however they are split, so sums are added in the same order
and results are identical to the last bit. Only the rows reported are turned into output, and text
columns are built from codes, not per-row objects.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from carelens.model.data_quality import IMPLAUSIBLE_ZERO, implausible_zero
from carelens.monitor.comparison import DIRECTIONS, VERDICTS, Comparison, level_for_z
from carelens.monitor.settings import MonitorSettings
from carelens.stats import control_charts, run_chart, spc
from carelens.stats.funnel import OD_NOTES, funnel, funnel_fit
from carelens.stats.groups import Groups
from carelens.stats.intervals import poisson_limits, wilson

FLAG_LABELS = {
    -3: "not assessed",
    -2: "not scored",
    -1: "insufficient data",
    0: "no evidence of risk",
    1: "risk",
    2: "elevated risk",
}
"""Flag text by code. Codes 0-2 are applicable to the risk score; -1 to -3 are not ("not assessed": the
latest figure failed a data-quality check)."""

REASONS = (
    "",
    "adverse z_adjusted beyond the risk threshold",
    "adverse z_adjusted beyond the elevated-risk threshold",
    "no observation for the latest period",
    "missing or invalid counts",
    "denominator below the minimum",
    "expected count below the minimum",
    "too few comparable peers in the funnel",
    "no events among peers",
    "neutral polarity: compared, not scored",
    IMPLAUSIBLE_ZERO.reason,
)
"""Why a row has its flag (index = reason code)."""
(
    _R_NONE,
    _R_RISK,
    _R_ELEVATED,
    _R_NO_LATEST,
    _R_INVALID,
    _R_DENOMINATOR,
    _R_EXPECTED,
    _R_FEW_PEERS,
    _R_NO_EVENTS,
    _R_NEUTRAL,
    _R_IMPLAUSIBLE_ZERO,
) = range(len(REASONS))
NOT_ASSESSED = np.array([_R_IMPLAUSIBLE_ZERO], dtype=np.int8)
"""Reasons that make a figure "not assessed" (a failed data-quality check) rather than "not compared"."""

BENCHMARK_LABELS = {
    "lower_is_better": {-1: "better", 0: "similar", 1: "worse", 9: "not compared"},
    "higher_is_better": {-1: "worse", 0: "similar", 1: "better", 9: "not compared"},
    "neutral": {-1: "lower", 0: "similar", 1: "higher", 9: "not compared"},
}
"""Fingertips comparison text by polarity and code (-1 interval below England, +1 above, 0 around it)."""

OUTPUT_COLUMNS = (
    "indicator_id",
    "org_code",
    "period",
    "peer_group",
    "numerator",
    "denominator",
    "expected",
    "reported_value",
    "value",
    "target",
    "z",
    "z_adjusted",
    "risk_lower",
    "risk_upper",
    "elevated_lower",
    "elevated_upper",
    "phi",
    "tau2",
    "peer_units",
    "od_adjusted",
    "od_note",
    "method",
    "benchmark_value",
    "ci_lower",
    "ci_upper",
    "benchmark",
    "flag",
    "flag_code",
    "reason",
    "spc_points",
    "spc_mean",
    "spc_lower",
    "spc_upper",
    "spc_variation",
    "spc_alert",
    "spc_rule",
    "import_id",
)
"""Columns of the assessed table, in order (one row per indicator x organisation)."""
TEXT_COLUMNS = (
    "indicator_id",
    "org_code",
    "peer_group",
    "od_note",
    "method",
    "benchmark",
    "flag",
    "reason",
    "spc_variation",
    "spc_rule",
)
"""Text columns of the assessed table (categoricals: a few distinct values, millions of rows)."""

JUDGEMENT_COLUMNS = (
    "indicator_id",
    "org_code",
    "period",
    "peer_group",
    "numerator",
    "denominator",
    "expected",
    "value",
    "target",
    "z",
    "z_adjusted",
    "lower",
    "upper",
    "elevated_lower",
    "elevated_upper",
    "phi",
    "tau2",
    "peers",
    "od_adjusted",
    "od_note",
    "direction",
    "verdict",
    "reason",
)
"""Columns of the judgements table (one row per indicator x organisation x judged period): the value
against its peers' target and limits at the verdict and elevated levels, where it lies (``direction``),
what that means (``verdict``), and why a row is ``not compared`` (``reason``)."""

INPUT_COLUMNS = (
    "indicator_id",
    "org_code",
    "period",
    "numerator",
    "denominator",
    "expected",
    "value",
    "import_id",
    "peer_group",
)
"""Columns the kernel reads (``import_id`` may be all null, e.g. from Parquet)."""


SPC_CHUNK_ROWS = 65_536
"""Rows per call of the run chart kernel, made of whole series: each series is independent, so the split
does not change any result; it keeps the kernel's arrays small enough to stay in the CPU cache. (XmR and
attribute charts take every series in one call: their rules are compiled loops, one series at a time.)"""


@dataclass(frozen=True)
class Assessed:
    """What the kernel gives for a batch: the assessed table (one row per indicator x organisation,
    columns :data:`OUTPUT_COLUMNS`) and the judgements (one row per indicator x organisation x judged
    period, columns :data:`JUDGEMENT_COLUMNS`), both sorted by indicator, then organisation (and period)."""

    flags: pd.DataFrame
    judgements: pd.DataFrame
    judged_periods: dict[str, tuple]
    """Each indicator's first judged period (a ``datetime.date``) and number of judged periods."""


def assess_all(
    observations: pd.DataFrame, comparisons: Mapping[str, Comparison], settings: MonitorSettings
) -> Assessed:
    """Assess every organisation of every indicator in ``observations`` (columns :data:`INPUT_COLUMNS`),
    each compared as its :class:`Comparison` says. The result depends only on the rows given, not on
    their order."""
    if observations.empty:
        return Assessed(empty_result(), empty_judgements(), {})
    rows = _Rows.sorted_from(observations)
    parts = [
        _assess_indicator(rows, k, comparisons[str(name)], settings) for k, name in enumerate(rows.ind_names)
    ]
    periods = {str(name): p["_judged_periods"] for name, p in zip(rows.ind_names, parts, strict=True)}
    return Assessed(_result_frame(parts, rows, settings), _judgement_frame(parts, rows), periods)


def assess(
    observations: pd.DataFrame, comparisons: Mapping[str, Comparison], settings: MonitorSettings
) -> pd.DataFrame:
    """The assessed table of :func:`assess_all` (one row per indicator x organisation)."""
    return assess_all(observations, comparisons, settings).flags


def judge(
    observations: pd.DataFrame, comparisons: Mapping[str, Comparison], settings: MonitorSettings
) -> pd.DataFrame:
    """The judgement of every row given, in every period (columns :data:`JUDGEMENT_COLUMNS`; text as
    text and periods as dates), exactly as a monitoring pass over the same rows would store it: what system-review places and commissioner
    assessment compare with (``observations`` needs ``peer_group``; ``import_id`` may be left out)."""
    if "import_id" not in observations:
        observations = observations.assign(import_id=np.nan)
    judged = assess_all(
        observations, comparisons, dataclasses.replace(settings, history_periods=None)
    ).judgements
    text = judged.select_dtypes("category").columns  # plain text: these tables are small
    return judged.astype(dict.fromkeys(text, object)).assign(period=judged["period"].dt.date.astype(object))


@dataclass(frozen=True)
class _Rows:
    """Observations as NumPy columns (in the order given) and the canonical order to read them in
    (indicator, organisation, period), with the sorted names behind the integer codes. Indicator k's rows
    are ``order[bounds[k]:bounds[k + 1]]``; columns are gathered one indicator at a time, which keeps the
    gathers within one partition of memory, and only for the rows needed."""

    ind_names: np.ndarray
    org_names: pd.Index
    peer_names: pd.Index
    bounds: np.ndarray
    order: np.ndarray | None
    """Row order (None when the rows are in canonical order already)."""
    columns: dict[str, np.ndarray]
    """``org``, ``day``, ``peer`` codes and ``o``, ``d``, ``e``, ``reported``, ``import_id`` values."""

    @classmethod
    def sorted_from(cls, observations: pd.DataFrame) -> _Rows:
        ind_codes, ind_names = _sorted_codes(observations["indicator_id"])
        org_codes, org_names = _sorted_codes(observations["org_code"])
        peer_codes, peer_names = _sorted_codes(observations["peer_group"])
        day = observations["period"].to_numpy(dtype="datetime64[D]").view(np.int64)  # a new array
        # Data read from a store written in canonical order are checked by one compiled pass and not
        # sorted at all; otherwise one integer key ordered like (indicator, organisation, day) is sorted
        # (stable, so equal keys keep their input order: the same order as a lexsort of the three).
        from carelens.monitor.kernel_loops import in_canonical_order

        order = None
        if not in_canonical_order(ind_codes, org_codes, day):
            span = int(day.max() - day.min()) + 1
            key = (ind_codes.astype(np.int64) * len(org_names) + org_codes) * span + (day - day.min())
            order = np.argsort(key, kind="stable")
        sorted_ind = ind_codes if order is None else ind_codes[order]
        return cls(
            ind_names=np.asarray(ind_names, dtype=object),
            org_names=org_names,
            peer_names=peer_names,
            bounds=np.searchsorted(sorted_ind, np.arange(len(ind_names) + 1)),
            order=order,
            columns={
                "org": org_codes,
                "day": day,
                "peer": peer_codes,
                "o": _floats(observations["numerator"]),
                "d": _floats(observations["denominator"]),
                "e": _floats(observations["expected"]),
                "reported": _floats(observations["value"]),
                "import_id": _floats(observations["import_id"]),
            },
        )

    def take(self, name: str, k: int, rows: np.ndarray | None = None) -> np.ndarray:
        """Column ``name`` of indicator ``k`` in canonical order (only its ``rows`` when given)."""
        part = slice(self.bounds[k], self.bounds[k + 1])
        values = self.columns[name]
        if self.order is None:
            return values[part] if rows is None else values[part][rows]
        index = self.order[part]
        return values[index if rows is None else index[rows]]


def _floats(column: pd.Series) -> np.ndarray:
    """A column as float64 with NaN for missing values (no copy when it is float64 already)."""
    if column.dtype == np.float64:
        return column.to_numpy()
    return column.to_numpy(dtype=float, na_value=np.nan)


@dataclass
class _Funnels:
    """Step 2's results: every row's z_adjusted (NaN where not compared), and for the compared rows of
    the judged periods (``rows``, in order) their target, limits and dispersion."""

    z_adjusted: np.ndarray
    rows: np.ndarray
    z: np.ndarray
    target: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    elevated_lower: np.ndarray
    elevated_upper: np.ndarray
    phi: np.ndarray
    tau2: np.ndarray
    od_adjusted: np.ndarray
    od_note: np.ndarray
    """Index into :data:`OD_NOTE_LABELS`."""


def _funnels(
    o: np.ndarray,
    d: np.ndarray,
    e: np.ndarray,
    group: np.ndarray,
    comparable: np.ndarray,
    judged: np.ndarray,
    spec: Comparison,
) -> _Funnels:
    """Step 2: the funnels of every period; limits only for the judged periods."""
    n = len(o)
    z_adj = np.full(n, np.nan)
    idx = np.flatnonzero(comparable & judged)
    empty = np.full(len(idx), np.nan)
    out = _Funnels(
        z_adj,
        idx,
        *(empty.copy() for _ in range(8)),
        np.zeros(len(idx), dtype=bool),
        np.zeros(len(idx), np.int8),
    )
    levels = (level_for_z(spec.verdict_z), level_for_z(spec.elevated_z))
    options = dict(kind=spec.kind, method=spec.sr_method, trim=spec.trim, overdispersion=spec.overdispersion)
    for part, with_limits in ((np.flatnonzero(comparable & ~judged), False), (idx, True)):
        if not len(part):
            continue
        # The funnel codes as they are, from 0 (no renumbering): how groups are numbered, and whether
        # some numbers go unused, changes no row's result.
        keys = group[part]
        low = int(keys.min())
        groups = Groups(keys - low if low else keys, int(keys.max()) - low + 1)
        numerator = o[part]
        denominator = e[part] if spec.is_ratio else d[part]
        scale = None
        if spec.is_rate:  # rates: expected = n x the peers' rate, compared as a ratio O/E
            with np.errstate(invalid="ignore"):  # 0/0 for codes no row has
                peer_rate = groups.sum(numerator) / groups.sum(denominator)
            scale = peer_rate[groups.codes]
            denominator = denominator * scale
        if not with_limits:  # periods before the judged ones feed the SPC only: z without limits
            z_adj[part] = funnel_fit(numerator, denominator, groups=groups, **options).z_adjusted
            continue
        result = funnel(numerator, denominator, groups=groups, levels=levels, exact_poisson=False, **options)
        codes = groups.codes
        z_adj[part] = result.z_adjusted
        out.z[:] = result.z
        if scale is None:
            out.target[:] = result.target
            out.lower[:], out.upper[:] = result.lower[0], result.upper[0]
            out.elevated_lower[:], out.elevated_upper[:] = result.lower[1], result.upper[1]
        else:
            out.target[:] = result.target * scale
            out.lower[:], out.upper[:] = result.lower[0] * scale, result.upper[0] * scale
            out.elevated_lower[:], out.elevated_upper[:] = result.lower[1] * scale, result.upper[1] * scale
        out.phi[:] = result.phi[codes]
        out.tau2[:] = result.tau2[codes]
        out.od_adjusted[:] = result.od_adjusted[codes]
        notes, note_index = np.unique(result.od_note, return_inverse=True)
        note_code = np.array([OD_NOTE_LABELS.index(str(note)) for note in notes], dtype=np.int8)
        out.od_note[:] = note_code[note_index][codes]
    return out


@dataclass(frozen=True)
class _Periods:
    """Where each row's period lies among the indicator's distinct periods (the SPC axis: gaps are
    missing periods), which rows are at the latest period, and which periods are judged."""

    position: np.ndarray
    last_position: int
    at_latest: np.ndarray
    judged: np.ndarray


def periods_of(day: np.ndarray, judged_periods: int | None) -> _Periods:
    """Step 0: each row's period position, the latest period, and the latest ``judged_periods`` periods
    (None: every period)."""
    return _periods_and_series(day, np.zeros(len(day), dtype=np.int8), judged_periods)[0]


def _periods_and_series(
    day: np.ndarray, org: np.ndarray, judged_periods: int | None
) -> tuple[_Periods, np.ndarray, np.ndarray, np.ndarray]:
    """Step 0 (:func:`periods_of`) and the series of an indicator's rows (sorted by organisation, then
    day): (periods, whether a row starts its series, its series number, each series' last row), by one
    compiled pass over the rows."""
    from carelens.monitor.kernel_loops import periods_and_series

    position, last_position, at_latest, judged, first, series, last_row = periods_and_series(
        day, org, -1 if judged_periods is None else int(judged_periods)
    )
    return _Periods(position, int(last_position), at_latest, judged), first, series, last_row


@dataclass(frozen=True)
class _Eligibility:
    """Step 1's results per row: the compared value, whether it has enough behind it, and why not."""

    value: np.ndarray
    valid: np.ndarray
    eligible: np.ndarray
    reason: np.ndarray
    """Index into :data:`REASONS` (``_R_NONE`` where eligible)."""


def eligibility(o: np.ndarray, d: np.ndarray, e: np.ndarray, spec: Comparison) -> _Eligibility:
    """Step 1, data quality and small numbers: a value is eligible only with valid counts that pass the
    data-quality checks (docs/methods/data-quality.md; a failing row has no value, so it is never
    compared, charted or benchmarked) and enough behind it (a denominator, or an expected count for
    ratios, of at least the comparison's minimum)."""
    with np.errstate(invalid="ignore"):
        if spec.is_ratio:
            valid = np.isfinite(o) & (o >= 0) & np.isfinite(e) & (e > 0)
            big_enough = e >= spec.min_size
        else:
            valid = np.isfinite(o) & (o >= 0) & np.isfinite(d) & (d > 0)
            if spec.kind == "pr":
                valid &= o <= d
            big_enough = d >= spec.min_size
    reason = np.full(len(o), _R_NONE, dtype=np.int8)
    reason[~big_enough] = _R_EXPECTED if spec.is_ratio else _R_DENOMINATOR
    reason[~valid] = _R_INVALID
    failed = implausible_zero(o, d, spec.implausible_zero_above) & valid
    reason[failed] = _R_IMPLAUSIBLE_ZERO
    valid &= ~failed
    with np.errstate(invalid="ignore", divide="ignore"):
        value = o / np.where(valid, e if spec.is_ratio else d, 1.0)
    value[~valid] = np.nan
    return _Eligibility(value, valid, valid & big_enough, reason)


def comparable_rows(
    o: np.ndarray, group: np.ndarray, checked: _Eligibility, spec: Comparison
) -> tuple[np.ndarray, np.ndarray]:
    """Step 1, peers: (comparable, units): a row is compared only if its funnel (``group``: period x
    peer group) has at least ``min_units`` eligible units and, for rates, any events. ``units`` counts
    the eligible units of each group. Updates ``checked.reason`` for rows left out here."""
    eligible = checked.eligible
    units = np.bincount(group, weights=eligible).astype(np.int64)
    enough_peers = units[group] >= spec.min_units
    if spec.is_rate:
        has_events = np.bincount(group, weights=np.where(eligible, o, 0.0))[group] > 0
    else:
        has_events = np.ones(len(o), dtype=bool)
    checked.reason[eligible & ~has_events] = _R_NO_EVENTS
    checked.reason[eligible & ~enough_peers] = _R_FEW_PEERS
    return eligible & enough_peers & has_events, units


def checked_rows(
    o: np.ndarray, d: np.ndarray, e: np.ndarray, group: np.ndarray, spec: Comparison
) -> tuple[_Eligibility, np.ndarray, np.ndarray]:
    """Step 1 as :func:`eligibility` then :func:`comparable_rows` give it, (checked, comparable, units),
    by one compiled pass over the rows (and one over their groups) instead of a dozen NumPy ones."""
    from carelens.monitor.kernel_loops import checked_rows as compiled

    above = spec.implausible_zero_above
    value, valid, eligible, reason, comparable, units = compiled(
        o,
        d,
        e,
        group,
        int(group.max()) + 1 if len(group) else 0,
        bool(spec.is_ratio),
        spec.kind == "pr",
        bool(spec.is_rate),
        float(spec.min_size),
        int(spec.min_units),
        above is not None,
        float(above) if above is not None else 0.0,
        (
            _R_NONE,
            _R_EXPECTED if spec.is_ratio else _R_DENOMINATOR,
            _R_INVALID,
            _R_IMPLAUSIBLE_ZERO,
            _R_NO_EVENTS,
            _R_FEW_PEERS,
        ),
    )
    return _Eligibility(value, valid, eligible, reason), comparable, units


def flags_of(
    z_adjusted: np.ndarray, compared: np.ndarray, has_latest: np.ndarray, reason: np.ndarray, spec: Comparison
) -> tuple[np.ndarray, np.ndarray]:
    """Step 3, per series (its latest row): the flag code (:data:`FLAG_LABELS`) from the adverse-direction
    adjusted z against the verdict and elevated levels, and why (:data:`REASONS`)."""
    adverse = z_adjusted * spec.adverse_sign
    flag = np.full(len(z_adjusted), -1, dtype=np.int8)
    if spec.adverse_sign != 0:
        flag[compared] = 0
        flag[compared & (adverse > spec.verdict_z)] = 1
        flag[compared & (adverse > spec.elevated_z)] = 2
    else:
        flag[compared] = -2
    why = np.where(has_latest, reason, _R_NO_LATEST).astype(np.int8)
    why[flag == 1] = _R_RISK
    why[flag == 2] = _R_ELEVATED
    why[flag == -2] = _R_NEUTRAL
    flag[np.isin(why, NOT_ASSESSED)] = -3
    return flag, why


def benchmark(
    o: np.ndarray,
    d: np.ndarray,
    e: np.ndarray,
    reported: np.ndarray,
    latest_eligible: np.ndarray,
    spec: Comparison,
    level: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Step 4, for the ``reported`` rows (one per series, -1 where none): (England value, interval lower,
    upper, code -1 below / 0 around / 1 above / 9 not compared) of each value's confidence interval
    (Wilson for proportions, Byar or exact Poisson otherwise) against the England value, the sum over the
    latest period's eligible rows (``latest_eligible``), added in row order as every per-group sum is."""
    n = len(reported)
    bench, ci_lo, ci_hi = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    code = np.full(n, 9, dtype=np.int64)
    shown = reported >= 0
    c = reported[shown]
    if not len(c):
        return bench, ci_lo, ci_hi, code
    with np.errstate(invalid="ignore", divide="ignore"):
        if spec.is_ratio:
            england = 1.0
        else:
            zeros = np.zeros(len(latest_eligible), dtype=np.int64)
            total_o = np.bincount(zeros, weights=o[latest_eligible], minlength=1)[0]
            total_d = np.bincount(zeros, weights=d[latest_eligible], minlength=1)[0]
            england = total_o / max(total_d, 1e-300)
        if spec.kind == "pr":
            lo, hi = wilson(o[c], d[c], level)
        else:
            p_lo, p_hi = poisson_limits(o[c], level)
            base = e[c] if spec.is_ratio else d[c]
            lo, hi = p_lo / base, p_hi / base
        bench[shown] = england
        ci_lo[shown], ci_hi[shown] = lo, hi
        code[shown] = np.where(lo > england, 1, np.where(hi < england, -1, 0))
    return bench, ci_lo, ci_hi, code


def _latest_of_series(fit: _Funnels, at_latest: np.ndarray, series: np.ndarray, n_series: int) -> dict:
    """Step 2's figures for each series at the indicator's latest period (NaN where it has none)."""
    out = {
        name: np.full(n_series, np.nan)
        for name in (
            *("target", "z", "z_adjusted", "risk_lower", "risk_upper"),
            *("elevated_lower", "elevated_upper", "phi", "tau2"),
        )
    }
    out["od_adjusted"] = np.zeros(n_series, dtype=bool)
    out["od_note"] = np.zeros(n_series, dtype=np.int8)  # index into OD_NOTE_LABELS
    latest = at_latest[fit.rows]  # the judged rows of the latest period: one per series at most
    at = series[fit.rows[latest]]
    for name, values in (
        ("target", fit.target),
        ("z", fit.z),
        ("z_adjusted", fit.z_adjusted[fit.rows]),
        ("risk_lower", fit.lower),
        ("risk_upper", fit.upper),
        ("elevated_lower", fit.elevated_lower),
        ("elevated_upper", fit.elevated_upper),
        ("phi", fit.phi),
        ("tau2", fit.tau2),
        ("od_adjusted", fit.od_adjusted),
        ("od_note", fit.od_note),
    ):
        out[name][at] = values[latest]
    return out


def _assess_indicator(rows: _Rows, k: int, spec: Comparison, settings: MonitorSettings) -> dict:
    """Steps 1-5 of the module docstring for indicator ``k`` of ``rows`` (in organisation, period order).

    Returns one value per series (organisation) under the output column names, plus ``_org`` and
    ``_peer`` codes, and ``_judged``: the judgement columns of the judged periods' rows. Text columns
    other than those are built by :func:`_result_frame` and :func:`_judgement_frame`.
    """
    org, day, peer = rows.take("org", k), rows.take("day", k), rows.take("peer", k)
    o, d, e = rows.take("o", k), rows.take("d", k), rows.take("e", k)
    # Series (organisations): rows are sorted, so each series is one contiguous block; r is each
    # series' last row.
    when, first, series, r = _periods_and_series(day, org, spec.judged_periods)
    n_series = len(r)
    group = when.position * max(len(rows.peer_names), 1) + peer  # funnel: period x peer group
    checked, comparable, units = checked_rows(o, d, e, group, spec)
    has_latest = when.at_latest[r]

    fit = _funnels(o, d, e, group, comparable, when.judged, spec)  # 2. every period's funnels
    out = _latest_of_series(fit, when.at_latest, series, n_series)
    flag, why = flags_of(out["z_adjusted"], comparable[r] & has_latest, has_latest, checked.reason[r], spec)
    charted = (
        (fit.z_adjusted, comparable)
        if settings.spc_measure == "relative"
        else (checked.value, checked.eligible)
    )
    counts = sizes = None
    if spec.chart in COUNT_CHARTS:  # p and u charts chart the counts themselves, whatever spc.measure says
        size = e if spec.is_ratio else d
        with np.errstate(invalid="ignore"):
            usable = checked.eligible & np.isfinite(o) & (size > 0) & ((o <= size) | (spec.kind != "pr"))
        counts, sizes = np.where(usable, o, np.nan), np.where(usable, size, np.nan)
        charted = (counts / sizes, usable)
    spc_out = _control_charts(  # 5. z = -inf (O = 0) cannot be charted
        np.where(charted[1] & np.isfinite(charted[0]), charted[0], np.nan),
        series,
        first,
        when.position,
        when.last_position,
        r,
        spec,
        settings,
        counts,
        sizes,
    )
    reported = np.where(checked.eligible[r] & has_latest, r, -1)
    latest_eligible = np.flatnonzero(when.at_latest & checked.eligible)
    bench, ci_lo, ci_hi, bench_code = benchmark(
        o, d, e, reported, latest_eligible, spec, settings.benchmark_level
    )

    def pick(a: np.ndarray, fill, picked: bool = False) -> np.ndarray:
        """A row's value per series, at the indicator's latest period (``fill`` if it has none)."""
        out = a if picked else a[r]
        out[~has_latest] = fill
        return out

    return {
        "_org": org[r],
        "_peer": peer[r],
        "numerator": pick(o, np.nan),
        "denominator": pick(d, np.nan),
        "expected": pick(e, np.nan),
        "reported_value": pick(rows.take("reported", k, r), np.nan, picked=True),
        "value": pick(checked.value, np.nan),
        **out,
        "peer_units": pick(
            np.where(checked.eligible[r], units[group[r]], 0).astype(np.int64), 0, picked=True
        ),
        "benchmark_value": bench,
        "ci_lower": ci_lo,
        "ci_upper": ci_hi,
        "_benchmark_code": bench_code,
        "flag_code": flag.astype(np.int64),
        "_reason_code": why,
        **spc_out,
        "import_id": pick(rows.take("import_id", k, r), np.nan, picked=True),
        "_period": np.datetime64(int(day.max()), "D"),
        "_judged_periods": (
            pd.Timestamp(np.datetime64(int(day[when.judged].min()), "D")).date(),
            # positions are 0..last_position, each held by some row: the judged are the latest ones
            when.last_position + 1
            if spec.judged_periods is None
            else min(spec.judged_periods, when.last_position + 1),
        ),
        "_spec": spec,
        "_judged": _judged_rows(
            np.flatnonzero(when.judged),
            comparable,
            fit,
            org,
            day,
            peer,
            o,
            d,
            e,
            checked.value,
            units[group],
            checked.eligible,
            checked.reason,
            spec,
        ),
    }


def _control_charts(
    measure: np.ndarray,
    series: np.ndarray,
    first: np.ndarray,
    position: np.ndarray,
    last_position: int,
    last_row: np.ndarray,
    spec: Comparison,
    settings: MonitorSettings,
    counts: np.ndarray | None = None,
    sizes: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Step 5: the indicator's control chart (``spec.chart``: XmR of ``measure`` by default, a run chart of
    it, or a p, p′, u or u′ chart of ``counts`` over ``sizes``) of each series: per series the latest
    phase's centre and limits, the variation icon and whether (and by which rule) it alerts. XmR and
    attribute charts by :func:`carelens.stats.spc.xmr_latest` and
    :func:`carelens.stats.control_charts.control_chart_latest` (rules by compiled loops), run charts in
    chunks of whole series."""
    n_series = len(last_row)
    gap = np.zeros(len(measure), dtype=bool)
    gap[1:] = ~first[1:] & (position[1:] - position[:-1] > 1)
    recent = position > last_position - settings.spc_latest_points
    concern_code = spc.POINT_TYPES.index("special_cause_concern")
    series_start = np.r_[0, last_row + 1]
    points = np.add.reduceat(np.isfinite(measure), series_start[:-1], dtype=np.int64)  # each block's count
    spc_mean, spc_lower, spc_upper = (np.full(n_series, np.nan) for _ in range(3))
    variation = np.zeros(n_series, dtype=np.int8)  # index into VARIATION_LABELS
    spc_rule = np.zeros(n_series, dtype=np.int8)  # index into RULE_LABELS
    alert = np.zeros(n_series, dtype=bool)
    if spec.chart == "run":
        for s0, s1 in _blocks(np.diff(series_start), SPC_CHUNK_ROWS):
            a, b = series_start[s0], series_start[s1]
            codes, last = series[a:b] - s0, last_row[s0:s1] - a
            chart = run_chart.run_chart(
                measure[a:b], codes, fix_after=settings.spc_fix_after, improvement=IMPROVEMENT[spec.polarity]
            )
            spc_mean[s0:s1] = chart.phase_median[chart.phase_index[last]]
            rule_code = np.where(chart.runs.long_run, RULE_LABELS.index(LONG_RUN), 0)
            variation[s0:s1] = chart.variation_code + 1  # VARIATION_LABELS is ('', *POINT_TYPES, ...)
            concern = np.flatnonzero(recent[a:b] & (chart.point_type_code == concern_code))
            last_concern = np.full(s1 - s0, -1, dtype=np.int64)
            np.maximum.at(last_concern, series[a:b][concern] - s0, concern)
            fired = (last_concern >= 0) & (points[s0:s1] >= settings.spc_min_points)
            alert[s0:s1] = fired
            spc_rule[s0:s1][fired] = rule_code[last_concern[fired]]
    else:  # XmR, p, p′, u, u′: the rules by compiled loops, every series in one call
        rules = dict(
            recent=recent,
            gap_before=gap,
            fix_after=settings.spc_fix_after,
            shift_length=settings.spc_run_length,
            trend_length=settings.spc_run_length,
            improvement=IMPROVEMENT[spec.polarity],
        )
        if spec.chart in COUNT_CHARTS:
            latest = control_charts.control_chart_latest(spec.chart, counts, series, sizes, **rules)
        else:
            latest = spc.xmr_latest(measure, series, **rules)
        spc_mean, spc_lower, spc_upper = latest.mean, latest.lower, latest.upper
        variation[:] = latest.variation_code + 1
        alert = (latest.concern_rule_code > 0) & (points >= settings.spc_min_points)
        spc_rule[alert] = latest.concern_rule_code[alert]
    variation[points < settings.spc_min_points] = VARIATION_LABELS.index("insufficient data")
    return {
        "spc_points": points,
        "spc_mean": spc_mean,
        "spc_lower": spc_lower,
        "spc_upper": spc_upper,
        "spc_variation": variation,
        "spc_alert": alert,
        "spc_rule": spc_rule,
    }


_D_HIGHER, _D_LOWER, _D_WITHIN, _D_NONE = range(4)
DIRECTION_LABELS = (*DIRECTIONS, "")
"""Direction text by code (``""``: not compared)."""
_VERDICT_OF = {
    # (direction code) -> verdict index, by polarity
    "lower_is_better": (VERDICTS.index("worse"), VERDICTS.index("better"), VERDICTS.index("as expected")),
    "higher_is_better": (VERDICTS.index("better"), VERDICTS.index("worse"), VERDICTS.index("as expected")),
    "neutral": (VERDICTS.index("higher"), VERDICTS.index("lower"), VERDICTS.index("as expected")),
}


def _judged_rows(
    idx: np.ndarray,
    comparable: np.ndarray,
    fit: _Funnels,
    org: np.ndarray,
    day: np.ndarray,
    peer: np.ndarray,
    o: np.ndarray,
    d: np.ndarray,
    e: np.ndarray,
    value: np.ndarray,
    peers: np.ndarray,
    eligible: np.ndarray,
    reason: np.ndarray,
    spec: Comparison,
) -> dict[str, np.ndarray]:
    """The judgement columns of rows ``idx`` (the judged periods' rows; ``fit.rows`` is the compared
    subset of them, in the same order: those ``comparable``)."""
    compared = comparable[idx]
    columns: dict[str, np.ndarray] = {
        "_org": org[idx],
        "_day": day[idx],
        "_peer": peer[idx],
        "numerator": o[idx],
        "denominator": d[idx],
        "expected": e[idx],
        "value": value[idx],
    }
    for name in ("target", "z", "lower", "upper", "elevated_lower", "elevated_upper", "phi", "tau2"):
        column = np.full(len(idx), np.nan)
        column[compared] = getattr(fit, name)
        columns[name] = column
    columns["z_adjusted"] = fit.z_adjusted[idx]
    columns["peers"] = np.where(eligible[idx], peers[idx], 0).astype(np.int64)
    od_adjusted = np.zeros(len(idx), dtype=bool)
    od_adjusted[compared] = fit.od_adjusted
    columns["od_adjusted"] = od_adjusted
    od_note = np.zeros(len(idx), dtype=np.int8)
    od_note[compared] = fit.od_note
    columns["_od_note"] = od_note
    z = columns["z_adjusted"]
    direction = np.full(len(idx), _D_NONE, dtype=np.int8)
    direction[compared] = _D_WITHIN
    direction[compared & (z > spec.verdict_z)] = _D_HIGHER
    direction[compared & (z < -spec.verdict_z)] = _D_LOWER
    columns["_direction"] = direction
    verdict = np.full(len(idx), VERDICTS.index("not compared"), dtype=np.int8)
    verdict[compared] = np.asarray(_VERDICT_OF[spec.polarity], dtype=np.int8)[direction[compared]]
    why = reason[idx]  # a copy (fancy indexing)
    verdict[np.isin(why, NOT_ASSESSED) & ~compared] = VERDICTS.index("not assessed")
    columns["_verdict"] = verdict
    why[compared] = _R_NONE
    columns["_reason"] = why
    return columns


def _sorted_codes(column: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Codes of a column's values and its distinct values in sorted order (``pd.factorize(sort=True)``).

    A categorical column (e.g. read from a Parquet dictionary) is coded from its categories, without
    hashing every row; its own category order is not used, as factorize would (it need not be sorted).
    When the categories are sorted and all used (a store written in canonical order), its codes are
    the answer as they are.
    """
    if not isinstance(column.dtype, pd.CategoricalDtype):
        codes, names = pd.factorize(column, sort=True)
        return codes, pd.Index(names)
    from carelens.monitor.kernel_loops import used_codes

    codes = column.cat.codes.to_numpy()
    categories = column.cat.categories
    used, missing = used_codes(codes, len(categories))
    kept = np.flatnonzero(used)
    if not missing and len(kept) == len(categories) and categories.is_monotonic_increasing:
        # the categories themselves when they are text already: the same index object read after read
        # keeps what pandas has learnt of it (sorted, unique, its hash table)
        return codes, categories if categories.dtype == object else pd.Index(categories, dtype=object)
    names = categories[kept]
    order = names.argsort()
    rank = np.full(len(categories) + 1, -1, dtype=np.int64)  # the extra -1 serves code -1 (NA)
    rank[kept[order]] = np.arange(len(kept))
    return rank[codes], pd.Index(np.asarray(names[order], dtype=object))


def _blocks(sizes: np.ndarray, target: int) -> list[tuple[int, int]]:
    """Split items (series) of the given row ``sizes`` into consecutive blocks ``[i, j)`` of about
    ``target`` rows (whole items, at least one per block)."""
    block = (np.cumsum(sizes) - sizes) // target
    edges = [0, *(np.flatnonzero(np.diff(block)) + 1).tolist(), len(sizes)]
    return list(itertools.pairwise(edges))


def _text(labels, codes: np.ndarray, sorted_unique: bool = False) -> pd.Categorical:
    """A text column as a categorical of its distinct labels (``labels[codes]``, no string per row: at
    national scale the flags table has 5 million rows). Its categories are in sorted order, so sorting,
    grouping or factorizing it orders rows as the text would; it hashes as the text does
    (``pd.util.hash_pandas_object``), so digests do not depend on it. ``sorted_unique``: the labels are
    so already (names behind sorted codes: 50,000 organisations are not sorted again)."""
    codes = np.asarray(codes)
    if sorted_unique:
        return _categorical(codes, _label_index(labels))
    names, inverse = _sorted_labels(tuple(labels))
    return _categorical(inverse[codes], names)


def code_dtype(n_labels: int) -> type:
    """The integer type pandas keeps a categorical's codes in for ``n_labels`` categories."""
    return np.int8 if n_labels < 128 else np.int16 if n_labels < 32_768 else np.int32


def _categorical(codes: np.ndarray, categories: pd.Index) -> pd.Categorical:
    """A categorical of ``codes`` (in range by construction: not checked again, one pass less over
    millions of rows), given in pandas' own code type where they are not already, so not copied again."""
    return pd.Categorical.from_codes(
        codes.astype(code_dtype(len(categories)), copy=False), dtype=_text_type(categories), validate=False
    )


def _label_index(labels) -> pd.Index:
    """``labels`` as an index of text: the same object for the same labels, read after read and batch
    after batch, so that its categorical type is made once (:func:`_text_type`)."""
    if isinstance(labels, pd.Index) and labels.dtype == object:
        return labels
    return _index_of(tuple(labels))


@functools.lru_cache(maxsize=256)
def _index_of(labels: tuple) -> pd.Index:
    return pd.Index(list(labels), dtype=object)


@functools.lru_cache(maxsize=256)
def _sorted_labels(labels: tuple) -> tuple[pd.Index, np.ndarray]:
    """The distinct ``labels`` in sorted order, and where each label is among them."""
    names, inverse = np.unique(np.asarray(labels, dtype=object), return_inverse=True)
    inverse = inverse.astype(code_dtype(len(names)))
    inverse.flags.writeable = False  # shared by every call with these labels
    return _index_of(tuple(names)), inverse


_text_types: dict[int, tuple[pd.Index, pd.CategoricalDtype]] = {}


def _text_type(categories: pd.Index) -> pd.CategoricalDtype:
    """The categorical type of ``categories``, made once per index object: making one checks that the
    labels are unique and not missing, which for a few labels costs more than the column's codes, and
    for 50,000 organisation codes far more."""
    kept = _text_types.get(id(categories))
    if kept is None or kept[0] is not categories:
        if len(_text_types) >= 256:
            _text_types.clear()
        kept = _text_types[id(categories)] = (categories, pd.CategoricalDtype(categories))
    return kept[1]


def _result_frame(parts: list[dict], rows: _Rows, settings: MonitorSettings) -> pd.DataFrame:
    """The output table from the per-indicator results (text columns built from small label arrays)."""
    ind = np.repeat(np.arange(len(parts)), [len(p["_org"]) for p in parts])

    def column(name: str) -> np.ndarray:
        return np.concatenate([p[name] for p in parts])

    specs = [p["_spec"] for p in parts]
    periods = np.array([pd.Timestamp(p["_period"]).date() for p in parts], dtype=object)
    bench_labels = [BENCHMARK_LABELS[m.polarity][c] for m in specs for c in (-1, 0, 1, 9)]
    bench_code = np.searchsorted([-1, 0, 1, 9], column("_benchmark_code"))
    frame = {
        "indicator_id": _text(rows.ind_names, ind, sorted_unique=True),
        "org_code": _text(rows.org_names, column("_org"), sorted_unique=True),
        "period": periods[ind],
        "peer_group": _text(rows.peer_names, column("_peer"), sorted_unique=True),
    }
    for name in OUTPUT_COLUMNS[4:]:
        if name == "od_note":
            frame[name] = _text(OD_NOTE_LABELS, column("od_note"))
        elif name == "method":
            frame[name] = _text([method_text(m, settings) for m in specs], ind)
        elif name == "benchmark":
            frame[name] = _text(bench_labels, ind * 4 + bench_code)
        elif name == "flag":
            frame[name] = _text([FLAG_LABELS[c] for c in range(-3, 3)], column("flag_code") + 3)
        elif name == "reason":
            frame[name] = _text(REASONS, column("_reason_code"))
        elif name == "spc_variation":
            frame[name] = _text(VARIATION_LABELS, column("spc_variation"))
        elif name == "spc_rule":
            frame[name] = _text(RULE_LABELS, column("spc_rule"))
        else:
            frame[name] = column(name)
    return pd.DataFrame(frame)


def _judgement_frame(parts: list[dict], rows: _Rows) -> pd.DataFrame:
    """The judgements table from the per-indicator results, sorted by indicator, organisation, period.
    Millions of rows at national scale, so the period is a ``datetime64[D]`` column and text columns are
    categoricals made from codes (no Python object per row)."""
    judged = [p["_judged"] for p in parts]
    ind = np.repeat(np.arange(len(parts)), [len(j["_org"]) for j in judged])

    def column(name: str) -> np.ndarray:
        return np.concatenate([j[name] for j in judged])

    def text(labels, codes: np.ndarray) -> pd.Categorical:
        return _categorical(codes, _label_index(labels))

    frame = {
        "indicator_id": text(rows.ind_names, ind),
        "org_code": text(rows.org_names, column("_org")),
        "period": column("_day").astype("datetime64[D]"),
        "peer_group": text(rows.peer_names, column("_peer")),
    }
    labelled = {
        "od_note": OD_NOTE_LABELS,
        "direction": DIRECTION_LABELS,
        "verdict": VERDICTS,
        "reason": REASONS,
    }
    for name in JUDGEMENT_COLUMNS[4:]:
        labels = labelled.get(name)
        frame[name] = column(name) if labels is None else text(labels, column(f"_{name}"))
    return pd.DataFrame(frame)


def method_text(spec: Comparison, settings: MonitorSettings) -> str:
    """A short, complete description of how an indicator was compared and charted."""
    if spec.chart in COUNT_CHARTS:
        charted = f"SPC {CHART_TEXT[spec.chart]} of the counts"
    else:
        charted = f"SPC {CHART_TEXT[spec.chart]} on {settings.spc_measure} values"
    text = f"{spec.describe()}; {charted}, alert in latest {settings.spc_latest_points}"
    if spec.cusum is not None:
        alert = spec.cusum
        text += (
            f"; CUSUM of O against E (rate x{alert.odds_ratio:g}, false-alarm rate {alert.false_alarm_rate:g}"
            f"{'' if alert.reset else ', no reset'})"
        )
    return text


IMPROVEMENT = {"lower_is_better": "decrease", "higher_is_better": "increase", "neutral": "neutral"}
"""SPC improvement direction by polarity (z and values both rise when the value rises)."""

OD_NOTE_LABELS = ("", *(str(note) for note in OD_NOTES))
"""Overdispersion note text by code (``""``: not compared by funnel)."""
VARIATION_LABELS = ("", *spc.POINT_TYPES, "insufficient data")
"""SPC variation icon text by code."""
LONG_RUN = "long_run"
"""A run chart's rule: the point is in an unusually long run (Anhøj)."""
RULE_LABELS = ("", *spc.RULES, LONG_RUN)
"""SPC rule text by code (``""``: no alert)."""
COUNT_CHARTS = ("p", "pp", "u", "up")
"""Charts of the counts (numerator over denominator, or observed over expected) rather than of a measure."""
CHART_TEXT = {
    "xmr": "XmR",
    "run": "run chart",
    "p": "p chart",
    "pp": "p' chart",
    "u": "u chart",
    "up": "u' chart",
}
"""The chart's name in the method text."""


def empty_result() -> pd.DataFrame:
    """An assessed table with no rows."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in OUTPUT_COLUMNS})


def empty_judgements() -> pd.DataFrame:
    """A judgements table with no rows."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in JUDGEMENT_COLUMNS})
