"""The monitoring kernel: observations of a batch of indicators in, one assessed row per organisation
x indicator out. Pure and vectorised (no I/O, no loop per organisation or series), so the embedded
engine and Spark (``groupBy("indicator_id").applyInPandas``) run exactly the same code.

For each indicator the comparison period is its latest period in the data given. Steps:

1. small numbers: a value is *eligible* only with enough behind it (denominator or expected count at
   least the configured minimum); a funnel (indicator x period x peer group) with fewer eligible units
   than ``min_units`` compares nobody. Those rows say "insufficient data" and are never flagged;
2. funnel per indicator x period x peer group (:func:`carelens.stats.funnel.funnel`): proportions on the
   arcsine scale, standardised ratios by the SHMI (trimmed, log) or CQC (Winsorised, square-root)
   method, rates as ratios to the peers' rate; overdispersion by DerSimonian-Laird τ²;
3. flag (docs/methods/intelligent-monitoring.md): adverse-direction z_adjusted beyond ``risk_z`` = risk,
   beyond ``elevated_z`` = elevated risk; neutral-polarity indicators are compared but not scored;
4. benchmark against England (Fingertips, docs/methods/benchmarking.md): the value's confidence interval
   (Wilson, or Byar/exact Poisson) wholly above / below / around the England value;
5. SPC (:func:`carelens.stats.spc.xmr`) on each organisation's series; an alert is a special cause of
   concern among the latest ``spc_latest_points`` periods of the indicator.

How the work is split (for speed; no figure depends on it, see ``tests/monitor/test_kernel_equivalence``):
indicators are assessed one at a time, since nothing is shared between them; funnels are computed for
every period (the relative SPC charts each period's z_adjusted): all earlier periods in one call that
gives z only, the latest period (whose limits are reported) in another; control charts in calls of a few
thousand whole series, so each call's arrays stay in the CPU cache. Rows of a group reach the kernels in
the same (organisation) order however they are split, so sums are added in the same order and results
are identical to the last bit. Only the rows reported (each
series' latest) are turned into output, and text columns are built from codes, not per-row objects.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from carelens.monitor.settings import MonitorSettings
from carelens.stats import spc
from carelens.stats.funnel import OD_NOTES, funnel, funnel_fit
from carelens.stats.groups import Groups
from carelens.stats.intervals import poisson_limits, wilson

FLAG_LABELS = {
    -2: "not scored",
    -1: "insufficient data",
    0: "no evidence of risk",
    1: "risk",
    2: "elevated risk",
}
"""Flag text by code. Codes 0-2 are applicable to the risk score; -1 and -2 are not."""

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
    "value type not compared by funnel",
    "neutral polarity: compared, not scored",
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
    _R_UNSUPPORTED,
    _R_NEUTRAL,
) = range(len(REASONS))

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


@dataclass(frozen=True)
class IndicatorMeta:
    """What the kernel needs to know about an indicator."""

    value_type: str
    polarity: str
    method: str
    peer_group: str
    key_question: str

    @property
    def funnel_family(self) -> tuple[str, str] | None:
        """(kind, sr method) of the funnel, or None when the value type is not compared by funnel."""
        trimmed = self.method.endswith("_trimmed")
        if self.value_type == "proportion":
            return ("pr", "shmi")
        if self.value_type in ("rate", "indirectly_standardised_ratio"):
            return ("sr", "shmi" if trimmed else "cqc")
        return None


def level_for_z(z: float) -> float:
    """Two-sided confidence level (%) whose limits sit at ±z: 1.96 → 95.0004, 3.0 → 99.73."""
    return float(100 * (2 * sps.norm.cdf(z) - 1))


def method_text(meta: IndicatorMeta, settings: MonitorSettings) -> str:
    """A short, complete description of the comparison method and its parameters."""
    family = meta.funnel_family
    if family is None:
        return "not compared"
    kind, method = family
    scale = {"pr": "proportion, arcsine scale", "sr": "ratio O/E"}[kind]
    if meta.value_type == "rate":
        scale = "rate as ratio to the peers' rate"
    if kind == "sr":
        scale += ", log scale, rank trim" if method == "shmi" else ", square-root scale, Winsorised"
    else:
        scale += ", Winsorised"
    return (
        f"funnel ({scale} {settings.trim:g} per tail; overdispersion {settings.overdispersion or 'none'}); "
        f"risk |z|>{settings.risk_z:g}, elevated |z|>{settings.elevated_z:g}; "
        f"SPC XmR on {settings.spc_measure} values, alert in latest {settings.spc_latest_points}"
    )


SPC_CHUNK_ROWS = 262_144
"""Rows per call of the XmR kernel, made of whole series: each series is independent, so the split does
not change any result; it keeps the kernel's arrays small enough to stay in the CPU cache."""


def assess(
    observations: pd.DataFrame, indicators: Mapping[str, IndicatorMeta], settings: MonitorSettings
) -> pd.DataFrame:
    """Assess every organisation of every indicator in ``observations`` (columns :data:`INPUT_COLUMNS`).

    Returns one row per indicator x organisation (columns :data:`OUTPUT_COLUMNS`), sorted by indicator
    then organisation; the result depends only on the rows given, not on their order.
    """
    if observations.empty:
        return empty_result()
    rows = _Rows.sorted_from(observations)
    parts = [
        _assess_indicator(rows, k, indicators[str(name)], settings) for k, name in enumerate(rows.ind_names)
    ]
    return _result_frame(parts, rows, settings)


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
        day = observations["period"].to_numpy(dtype="datetime64[D]").astype(np.int64)
        # One integer key ordered like (indicator, organisation, day): sorting it (stable, so equal keys
        # keep their input order) gives the same order as a lexsort of the three columns, and data that
        # arrive already in order are not sorted at all.
        span = int(day.max() - day.min()) + 1
        key = (ind_codes.astype(np.int64) * len(org_names) + org_codes) * span + (day - day.min())
        order = None if bool(np.all(key[1:] >= key[:-1])) else np.argsort(key, kind="stable")
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


def _assess_indicator(rows: _Rows, k: int, meta: IndicatorMeta, settings: MonitorSettings) -> dict:
    """Steps 1-5 of the module docstring for indicator ``k`` of ``rows`` (in organisation, period order).

    Returns one value per series (organisation) under the output column names, plus ``_org`` and
    ``_peer`` codes; text columns other than those are built by :func:`_result_frame`.
    """
    org, day, peer = rows.take("org", k), rows.take("day", k), rows.take("peer", k)
    o, d, e = rows.take("o", k), rows.take("d", k), rows.take("e", k)
    n = len(o)
    is_pr = meta.value_type == "proportion"
    is_rate = meta.value_type == "rate"
    is_sr = meta.value_type == "indirectly_standardised_ratio"
    adverse_sign = ADVERSE_SIGN.get(meta.polarity, 0.0)

    # Position of each period among the indicator's distinct periods (the SPC axis; gaps are missing).
    first_day = day.min()
    present = np.zeros(int(day.max() - first_day) + 1, dtype=bool)
    present[day - first_day] = True
    position = (np.cumsum(present) - 1)[day - first_day]
    last_position = int(position.max())
    at_latest = position == last_position

    # 1. small numbers
    supported = is_pr or is_rate or is_sr
    with np.errstate(invalid="ignore"):
        if is_sr:
            valid = np.isfinite(o) & (o >= 0) & np.isfinite(e) & (e > 0)
            big_enough = e >= settings.min_expected
        else:
            valid = np.isfinite(o) & (o >= 0) & np.isfinite(d) & (d > 0)
            if is_pr:
                valid &= o <= d
            big_enough = d >= settings.min_denominator
    eligible = valid & big_enough if supported else np.zeros(n, dtype=bool)
    reason = np.full(n, _R_NONE, dtype=np.int8)
    reason[~big_enough] = _R_EXPECTED if is_sr else _R_DENOMINATOR
    reason[~valid] = _R_INVALID
    if not supported:
        reason[:] = _R_UNSUPPORTED

    # Funnel groups: period x peer group, as one integer.
    group = position * max(len(rows.peer_names), 1) + peer
    units = np.bincount(group, weights=eligible).astype(np.int64)
    enough_peers = units[group] >= settings.min_units
    if is_rate:
        has_events = np.bincount(group, weights=np.where(eligible, o, 0.0))[group] > 0
    else:
        has_events = np.ones(n, dtype=bool)
    comparable = eligible & enough_peers & has_events
    reason[eligible & ~has_events] = _R_NO_EVENTS
    reason[eligible & ~enough_peers] = _R_FEW_PEERS
    with np.errstate(invalid="ignore", divide="ignore"):
        value = o / np.where(valid, e if is_sr else d, 1.0)
    value[~valid] = np.nan

    # Series (organisations): rows are sorted, so each series is one contiguous block.
    first = np.r_[True, org[1:] != org[:-1]]
    series = np.cumsum(first) - 1
    n_series = int(series[-1]) + 1
    last_row = np.r_[np.flatnonzero(first)[1:] - 1, n - 1]
    has_latest = at_latest[last_row]

    # 2. funnels (every period: the relative SPC charts each period's z_adjusted), in chunks of whole
    # periods; the figures reported come from the latest period's call.
    z_adj = np.full(n, np.nan)
    out = {
        name: np.full(n_series, np.nan)
        for name in (
            *("target", "z", "z_adjusted", "risk_lower", "risk_upper"),
            *("elevated_lower", "elevated_upper", "phi", "tau2"),
        )
    }
    od_adjusted = np.zeros(n_series, dtype=bool)
    od_note = np.zeros(n_series, dtype=np.int8)  # index into OD_NOTE_LABELS
    family = meta.funnel_family
    if family is not None and comparable.any():
        kind, method = family
        levels = (level_for_z(settings.risk_z), level_for_z(settings.elevated_z))
        # Every earlier period's funnels in one call (their z only), then the latest period's.
        for idx in (np.flatnonzero(comparable & ~at_latest), np.flatnonzero(comparable & at_latest)):
            if not len(idx):
                continue
            groups = Groups.from_codes(_dense_codes(group[idx]))
            group_codes = groups.codes
            denominator = e[idx] if is_sr else d[idx]
            scale = np.ones(len(idx))
            if is_rate:  # rates: expected = n x the peers' rate, compared as a ratio O/E
                peer_rate = groups.sum(o[idx]) / groups.sum(d[idx])
                scale = peer_rate[group_codes]
                denominator = d[idx] * scale
            options = dict(groups=groups, kind=kind, method=method, trim=settings.trim)
            options.update(overdispersion=settings.overdispersion)
            if not at_latest[idx[0]]:  # earlier periods feed the SPC only: z without limits
                z_adj[idx] = funnel_fit(o[idx], denominator, **options).z_adjusted
                continue
            result = funnel(o[idx], denominator, levels=levels, **options)
            z_adj[idx] = result.z_adjusted
            at = series[idx]
            out["target"][at] = result.target * scale
            out["z"][at] = result.z
            out["z_adjusted"][at] = result.z_adjusted
            out["risk_lower"][at] = result.lower[0] * scale
            out["risk_upper"][at] = result.upper[0] * scale
            out["elevated_lower"][at] = result.lower[1] * scale
            out["elevated_upper"][at] = result.upper[1] * scale
            out["phi"][at] = result.phi[group_codes]
            out["tau2"][at] = result.tau2[group_codes]
            od_adjusted[at] = result.od_adjusted[group_codes]
            note_of_group = np.array([OD_NOTE_LABELS.index(s) for s in result.od_note], dtype=np.int8)
            od_note[at] = note_of_group[group_codes]

    # 3. flags from the adverse-direction adjusted z, for each series' latest row
    r = last_row
    compared = comparable[r] & has_latest
    adverse = out["z_adjusted"] * adverse_sign
    flag = np.full(n_series, -1, dtype=np.int8)
    if adverse_sign != 0:
        flag[compared] = 0
        flag[compared & (adverse > settings.risk_z)] = 1
        flag[compared & (adverse > settings.elevated_z)] = 2
    else:
        flag[compared] = -2
    why = np.where(has_latest, reason[r], _R_NO_LATEST).astype(np.int8)
    why[flag == 1] = _R_RISK
    why[flag == 2] = _R_ELEVATED
    why[flag == -2] = _R_NEUTRAL

    # 5. SPC per organisation x indicator series, in chunks of whole series
    charted, chartable = (z_adj, comparable) if settings.spc_measure == "relative" else (value, eligible)
    charted_finite = chartable & np.isfinite(charted)  # z = -inf (O = 0) cannot be charted
    measure = np.where(charted_finite, charted, np.nan)
    gap = np.zeros(n, dtype=bool)
    gap[1:] = ~first[1:] & (position[1:] - position[:-1] > 1)
    recent = position > last_position - settings.spc_latest_points
    concern_code = spc.POINT_TYPES.index("special_cause_concern")
    points = np.bincount(series, weights=charted_finite, minlength=n_series).astype(np.int64)
    spc_mean, spc_lower, spc_upper = (np.full(n_series, np.nan) for _ in range(3))
    variation = np.zeros(n_series, dtype=np.int8)  # index into VARIATION_LABELS
    spc_rule = np.zeros(n_series, dtype=np.int8)  # index into RULE_LABELS
    alert = np.zeros(n_series, dtype=bool)
    series_start = np.r_[0, last_row + 1]
    for s0, s1 in _blocks(np.diff(series_start), SPC_CHUNK_ROWS):
        a, b = series_start[s0], series_start[s1]
        chart = spc.xmr(
            measure[a:b],
            series[a:b] - s0,
            gap_before=gap[a:b],
            fix_after=settings.spc_fix_after,
            shift_length=settings.spc_run_length,
            trend_length=settings.spc_run_length,
            improvement=IMPROVEMENT[meta.polarity],
            min_points=settings.spc_min_points,
        )
        last_phase = chart.phase_index[last_row[s0:s1] - a]
        spc_mean[s0:s1] = chart.phase_mean[last_phase]
        spc_lower[s0:s1] = chart.phase_lower[last_phase]
        spc_upper[s0:s1] = chart.phase_upper[last_phase]
        variation[s0:s1] = chart.variation_code + 1  # VARIATION_LABELS is ('', *POINT_TYPES, ...)
        concern = np.flatnonzero(recent[a:b] & (chart.point_type_code == concern_code))
        last_concern = np.full(s1 - s0, -1, dtype=np.int64)
        np.maximum.at(last_concern, series[a:b][concern] - s0, concern)
        fired = (last_concern >= 0) & (points[s0:s1] >= settings.spc_min_points)
        alert[s0:s1] = fired
        spc_rule[s0:s1][fired] = chart.rule_code[last_concern[fired]]
    variation[points < settings.spc_min_points] = VARIATION_LABELS.index("insufficient data")

    # 4. benchmark against England, for the rows reported: each value's interval vs the England value
    bench = np.full(n_series, np.nan)
    ci_lo, ci_hi = np.full(n_series, np.nan), np.full(n_series, np.nan)
    bench_code = np.full(n_series, 9, dtype=np.int64)
    shown = eligible[r] & has_latest
    c = r[shown]
    if len(c):
        level = settings.benchmark_level
        with np.errstate(invalid="ignore", divide="ignore"):
            if is_sr:
                england = 1.0
            else:  # summed in row order (np.bincount), as for every other per-group sum
                latest = np.flatnonzero(at_latest & eligible)
                zeros = np.zeros(len(latest), dtype=np.int64)
                total_o = np.bincount(zeros, weights=o[latest], minlength=1)[0]
                total_d = np.bincount(zeros, weights=d[latest], minlength=1)[0]
                england = total_o / max(total_d, 1e-300)
            if is_pr:
                lo, hi = wilson(o[c], d[c], level)
            else:
                p_lo, p_hi = poisson_limits(o[c], level)
                base = e[c] if is_sr else d[c]
                lo, hi = p_lo / base, p_hi / base
            bench[shown] = england
            ci_lo[shown], ci_hi[shown] = lo, hi
            bench_code[shown] = np.where(lo > england, 1, np.where(hi < england, -1, 0))

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
        "value": pick(value, np.nan),
        **out,
        "peer_units": pick(np.where(eligible[r], units[group[r]], 0).astype(np.int64), 0, picked=True),
        "od_adjusted": od_adjusted,
        "od_note": od_note,
        "benchmark_value": bench,
        "ci_lower": ci_lo,
        "ci_upper": ci_hi,
        "_benchmark_code": bench_code,
        "flag_code": flag.astype(np.int64),
        "_reason_code": why,
        "spc_points": points,
        "spc_mean": spc_mean,
        "spc_lower": spc_lower,
        "spc_upper": spc_upper,
        "spc_variation": variation,
        "spc_alert": alert,
        "spc_rule": spc_rule,
        "import_id": pick(rows.take("import_id", k, r), np.nan, picked=True),
        "_period": np.datetime64(int(day.max()), "D"),
        "_meta": meta,
    }


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
    codes = column.cat.codes.to_numpy()
    categories = column.cat.categories
    missing = len(codes) > 0 and codes.min() < 0
    kept = np.flatnonzero(np.bincount(codes[codes >= 0] if missing else codes, minlength=len(categories)))
    if not missing and len(kept) == len(categories) and categories.is_monotonic_increasing:
        return codes, pd.Index(np.asarray(categories, dtype=object))
    names = categories[kept]
    order = names.argsort()
    rank = np.full(len(categories) + 1, -1, dtype=np.int64)  # the extra -1 serves code -1 (NA)
    rank[kept[order]] = np.arange(len(kept))
    return rank[codes], pd.Index(np.asarray(names[order], dtype=object))


def _dense_codes(keys: np.ndarray) -> np.ndarray:
    """Small non-negative integer keys renumbered 0..k-1 in sorted order (``pd.factorize(sort=True)``'s
    codes, by counting instead of hashing)."""
    low = keys.min()
    present = np.bincount(keys - low) > 0
    return (np.cumsum(present) - 1)[keys - low]


def _blocks(sizes: np.ndarray, target: int) -> list[tuple[int, int]]:
    """Split items (series) of the given row ``sizes`` into consecutive blocks ``[i, j)`` of about
    ``target`` rows (whole items, at least one per block)."""
    block = (np.cumsum(sizes) - sizes) // target
    edges = [0, *(np.flatnonzero(np.diff(block)) + 1).tolist(), len(sizes)]
    return list(itertools.pairwise(edges))


def _result_frame(parts: list[dict], rows: _Rows, settings: MonitorSettings) -> pd.DataFrame:
    """The output table from the per-indicator results (text columns built from small label arrays)."""
    ind = np.repeat(np.arange(len(parts)), [len(p["_org"]) for p in parts])

    def column(name: str) -> np.ndarray:
        return np.concatenate([p[name] for p in parts])

    def text(labels, codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
        # A string column as a "take" from its few distinct labels (no Python object per row).
        return pd.array(np.asarray(labels, dtype=object), dtype="str").take(np.asarray(codes, dtype=np.int64))

    metas = [p["_meta"] for p in parts]
    periods = np.array([pd.Timestamp(p["_period"]).date() for p in parts], dtype=object)
    bench_labels = [BENCHMARK_LABELS[m.polarity][c] for m in metas for c in (-1, 0, 1, 9)]
    bench_code = np.searchsorted([-1, 0, 1, 9], column("_benchmark_code"))
    frame = {
        "indicator_id": text(rows.ind_names, ind),
        "org_code": text(rows.org_names, column("_org")),
        "period": periods[ind],
        "peer_group": text(rows.peer_names, column("_peer")),
    }
    for name in OUTPUT_COLUMNS[4:]:
        if name == "od_note":
            frame[name] = text(OD_NOTE_LABELS, column("od_note"))
        elif name == "method":
            frame[name] = text([method_text(m, settings) for m in metas], ind)
        elif name == "benchmark":
            frame[name] = text(bench_labels, ind * 4 + bench_code)
        elif name == "flag":
            frame[name] = text([FLAG_LABELS[c] for c in range(-2, 3)], column("flag_code") + 2)
        elif name == "reason":
            frame[name] = text(REASONS, column("_reason_code"))
        elif name == "spc_variation":
            frame[name] = text(VARIATION_LABELS, column("spc_variation"))
        elif name == "spc_rule":
            frame[name] = text(RULE_LABELS, column("spc_rule"))
        else:
            frame[name] = column(name)
    return pd.DataFrame(frame)


ADVERSE_SIGN = {"lower_is_better": 1.0, "higher_is_better": -1.0}
"""Sign turning z into the adverse direction (high values are bad when lower is better)."""
IMPROVEMENT = {"lower_is_better": "decrease", "higher_is_better": "increase", "neutral": "neutral"}
"""SPC improvement direction by polarity (z and values both rise when the value rises)."""

OD_NOTE_LABELS = ("", *(str(note) for note in OD_NOTES))
"""Overdispersion note text by code (``""``: not compared by funnel)."""
VARIATION_LABELS = ("", *spc.POINT_TYPES, "insufficient data")
"""SPC variation icon text by code."""
RULE_LABELS = ("", *spc.RULES)
"""SPC rule text by code (``""``: no alert)."""


def empty_result() -> pd.DataFrame:
    """An assessed table with no rows."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in OUTPUT_COLUMNS})
