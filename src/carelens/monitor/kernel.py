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
3. flag (METHODS.md §1a): adverse-direction z_adjusted beyond ``risk_z`` = risk, beyond ``elevated_z`` =
   elevated risk; neutral-polarity indicators are compared but not scored;
4. benchmark against England (Fingertips, METHODS.md §4): the value's confidence interval (Wilson, or
   Byar/exact Poisson) wholly above / below / around the England value;
5. SPC (:func:`carelens.stats.spc.xmr`) on each organisation's series; an alert is a special cause of
   concern among the latest ``spc_latest_points`` periods of the indicator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from carelens.monitor.settings import MonitorSettings
from carelens.stats import spc
from carelens.stats.funnel import funnel
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


def assess(
    observations: pd.DataFrame, indicators: Mapping[str, IndicatorMeta], settings: MonitorSettings
) -> pd.DataFrame:
    """Assess every organisation of every indicator in ``observations`` (columns :data:`INPUT_COLUMNS`).

    Returns one row per indicator x organisation (columns :data:`OUTPUT_COLUMNS`), sorted by indicator
    then organisation; the result depends only on the rows given, not on their order.
    """
    if observations.empty:
        return empty_result()
    frame, ind_codes, ind_names, org_codes, org_names = _sorted(observations)
    n = len(frame)
    metas = [indicators[name] for name in ind_names]
    period = frame["period"].to_numpy(dtype="datetime64[D]")
    o = frame["numerator"].to_numpy(dtype=float, na_value=np.nan)
    d = frame["denominator"].to_numpy(dtype=float, na_value=np.nan)
    e = frame["expected"].to_numpy(dtype=float, na_value=np.nan)

    def per_indicator(values, dtype) -> np.ndarray:
        return np.array(values, dtype=dtype)[ind_codes]

    family = per_indicator([_family_code(m) for m in metas], np.int64)
    adverse_sign = per_indicator([ADVERSE_SIGN.get(m.polarity, 0.0) for m in metas], float)
    is_pr = per_indicator([m.value_type == "proportion" for m in metas], bool)
    is_rate = per_indicator([m.value_type == "rate" for m in metas], bool)
    is_sr = per_indicator([m.value_type == "indirectly_standardised_ratio" for m in metas], bool)

    # Position of each period among the indicator's distinct periods (the SPC axis; gaps are missing).
    day = period.astype(np.int64)
    period_key = ind_codes.astype(np.int64) * (1 << 32) + (day - day.min())
    distinct = np.unique(period_key)
    dense = np.searchsorted(distinct, period_key)
    first_of_indicator = np.searchsorted(distinct, ind_codes.astype(np.int64) * (1 << 32))
    position = dense - first_of_indicator
    last_position = np.zeros(len(ind_names), dtype=np.int64)
    np.maximum.at(last_position, ind_codes, position)
    latest_period = np.full(len(ind_names), np.datetime64("NaT"), dtype="datetime64[D]")
    latest_period[ind_codes[position == last_position[ind_codes]]] = period[
        position == last_position[ind_codes]
    ]

    # 1. small numbers
    supported = is_pr | is_rate | is_sr
    with np.errstate(invalid="ignore"):
        valid = np.where(
            is_sr,
            np.isfinite(o) & (o >= 0) & np.isfinite(e) & (e > 0),
            np.isfinite(o) & (o >= 0) & np.isfinite(d) & (d > 0) & (~is_pr | (o <= d)),
        )
        big_enough = np.where(is_sr, e >= settings.min_expected, d >= settings.min_denominator)
    eligible = supported & valid & big_enough
    reason = np.full(n, _R_NONE, dtype=np.int8)
    reason[~big_enough] = np.where(is_sr, _R_EXPECTED, _R_DENOMINATOR)[~big_enough]
    reason[~valid] = _R_INVALID
    reason[~supported] = _R_UNSUPPORTED

    peer_codes, peer_names = pd.factorize(frame["peer_group"], sort=True)
    funnel_groups = Groups.from_keys(dense * max(len(peer_names), 1) + peer_codes)
    units = funnel_groups.count(eligible)
    if is_rate.any():
        events = funnel_groups.sum(np.where(eligible & is_rate, o, 0.0))
    else:
        events = np.ones(funnel_groups.n)
    enough_peers = units[funnel_groups.codes] >= settings.min_units
    has_events = ~is_rate | (events[funnel_groups.codes] > 0)
    comparable = eligible & enough_peers & has_events
    reason[eligible & ~has_events] = _R_NO_EVENTS
    reason[eligible & ~enough_peers] = _R_FEW_PEERS

    # 2. funnels, one call per funnel family (at most three), each vectorised over all its groups
    nan = np.full(n, np.nan)
    value = np.where(is_sr, o / np.where(valid, e, 1.0), o / np.where(valid, d, 1.0))
    value[~valid] = np.nan
    target, z, z_adj = nan.copy(), nan.copy(), nan.copy()
    risk_lo, risk_hi, elev_lo, elev_hi = nan.copy(), nan.copy(), nan.copy(), nan.copy()
    phi, tau2 = nan.copy(), nan.copy()
    peer_units = np.where(eligible, units[funnel_groups.codes], 0).astype(np.int64)
    od_adjusted = np.zeros(n, dtype=bool)
    od_note = np.full(n, "", dtype=object)
    levels = (level_for_z(settings.risk_z), level_for_z(settings.elevated_z))
    for fam in np.unique(family[comparable]):
        rows = np.flatnonzero(comparable & (family == fam))
        kind, method = FAMILIES[fam]
        group_codes, _ = pd.factorize(funnel_groups.codes[rows], sort=True)
        groups = Groups.from_codes(group_codes)
        rate_rows = is_rate[rows]
        denominator = np.where(is_sr[rows], e[rows], d[rows])
        scale = np.ones(len(rows))
        if rate_rows.any():  # rates: expected = n x the peers' rate, compared as a ratio O/E
            peer_rate = groups.sum(o[rows]) / groups.sum(d[rows])
            scale = np.where(rate_rows, peer_rate[group_codes], 1.0)
            denominator = np.where(rate_rows, d[rows] * scale, denominator)
        result = funnel(
            o[rows],
            denominator,
            groups=groups,
            kind=kind,
            method=method,
            levels=levels,
            trim=settings.trim,
            overdispersion=settings.overdispersion,
        )
        target[rows] = result.target * scale
        z[rows] = result.z
        z_adj[rows] = result.z_adjusted
        risk_lo[rows], risk_hi[rows] = result.lower[0] * scale, result.upper[0] * scale
        elev_lo[rows], elev_hi[rows] = result.lower[1] * scale, result.upper[1] * scale
        phi[rows] = result.phi[group_codes]
        tau2[rows] = result.tau2[group_codes]
        od_adjusted[rows] = result.od_adjusted[group_codes]
        od_note[rows] = result.od_note[group_codes]

    # 3. flags from the adverse-direction adjusted z
    adverse = z_adj * adverse_sign
    flag = np.full(n, -1, dtype=np.int8)
    scored = comparable & (adverse_sign != 0)
    flag[scored] = 0
    flag[scored & (adverse > settings.risk_z)] = 1
    flag[scored & (adverse > settings.elevated_z)] = 2
    flag[comparable & (adverse_sign == 0)] = -2
    reason[flag == 1] = _R_RISK
    reason[flag == 2] = _R_ELEVATED
    reason[flag == -2] = _R_NEUTRAL

    # 5. SPC per organisation x indicator series
    first = np.r_[True, (ind_codes[1:] != ind_codes[:-1]) | (org_codes[1:] != org_codes[:-1])]
    series_codes = np.cumsum(first) - 1  # rows are sorted, so each series is one contiguous block
    n_series = int(series_codes[-1]) + 1
    measure = z_adj if settings.spc_measure == "relative" else value
    measure = np.where(comparable if settings.spc_measure == "relative" else eligible, measure, np.nan)
    measure = np.where(np.isfinite(measure), measure, np.nan)  # z = -inf (O = 0) cannot be charted
    gap = np.zeros(n, dtype=bool)
    gap[1:] = ~first[1:] & (position[1:] - position[:-1] > 1)
    series_start = np.flatnonzero(first)
    series_end = np.r_[series_start[1:] - 1, n - 1]
    series_ind = ind_codes[series_start]
    direction = np.array([IMPROVEMENT[m.polarity] for m in metas], dtype=object)[series_ind]
    chart = spc.xmr(
        measure,
        series_codes,
        gap_before=gap,
        fix_after=settings.spc_fix_after,
        shift_length=settings.spc_run_length,
        trend_length=settings.spc_run_length,
        improvement=list(direction),
        min_points=settings.spc_min_points,
    )
    points = np.bincount(series_codes, weights=np.isfinite(measure), minlength=n_series).astype(np.int64)
    recent = position > (last_position[ind_codes] - settings.spc_latest_points)
    concern = recent & (chart.point_type_code == spc.POINT_TYPES.index("special_cause_concern"))
    last_concern = np.full(n_series, -1, dtype=np.int64)
    np.maximum.at(last_concern, series_codes[concern], np.flatnonzero(concern))
    alert = (last_concern >= 0) & (points >= settings.spc_min_points)
    spc_rule = np.full(n_series, "", dtype=object)
    spc_rule[alert] = chart.rule[last_concern[alert]]
    variation = np.where(points >= settings.spc_min_points, chart.variation_icon, "insufficient data")

    # One output row per series, at the indicator's latest period.
    last_row = series_end
    has_latest = position[last_row] == last_position[series_ind]

    def pick(a: np.ndarray, fill) -> np.ndarray:
        out = a[last_row].copy()
        if (~has_latest).any():
            out = out.astype(object) if out.dtype.kind in "OU" else out
            out[~has_latest] = fill
        return out

    # 4. benchmark against England, for the rows reported: each value's interval vs the England value
    national = Groups.from_keys(dense)
    england = national.sum(np.where(eligible, o, 0.0)) / np.maximum(
        national.sum(np.where(eligible, d, 0.0)), 1e-300
    )
    r = last_row
    with np.errstate(invalid="ignore", divide="ignore"):
        bench = np.where(is_sr[r], 1.0, england[national.codes[r]])
        w_lo, w_hi = wilson(o[r], d[r], settings.benchmark_level)
        p_lo, p_hi = poisson_limits(np.where(np.isfinite(o[r]), o[r], 0.0), settings.benchmark_level)
        base = np.where(is_sr[r], e[r], d[r])
        ci_lo = np.where(is_pr[r], w_lo, p_lo / base)
        ci_hi = np.where(is_pr[r], w_hi, p_hi / base)
        bench_code = np.where(ci_lo > bench, 1, np.where(ci_hi < bench, -1, 0))
    compared = eligible[r] & has_latest
    bench_out = np.where(compared, bench_code, 9)
    ci_lo[~compared] = np.nan
    ci_hi[~compared] = np.nan
    bench[~compared] = np.nan

    flag_out = pick(flag, -1)
    reason_out = pick(reason, _R_NO_LATEST)
    method_of = np.array([method_text(m, settings) for m in metas], dtype=object)
    bench_labels = np.array(
        [[BENCHMARK_LABELS[m.polarity][c] for c in (-1, 0, 1, 9)] for m in metas], dtype=object
    )
    import_ids = frame["import_id"].to_numpy(dtype=float, na_value=np.nan)
    out = pd.DataFrame(
        {
            "indicator_id": ind_names[series_ind].astype(object),
            "org_code": np.asarray(org_names, dtype=object)[org_codes[last_row]],
            "period": pd.to_datetime(latest_period[series_ind]).date,
            "peer_group": np.asarray(peer_names, dtype=object)[peer_codes[last_row]],
            "numerator": pick(o, np.nan),
            "denominator": pick(d, np.nan),
            "expected": pick(e, np.nan),
            "reported_value": pick(frame["value"].to_numpy(dtype=float, na_value=np.nan), np.nan),
            "value": pick(value, np.nan),
            "target": pick(target, np.nan),
            "z": pick(z, np.nan),
            "z_adjusted": pick(z_adj, np.nan),
            "risk_lower": pick(risk_lo, np.nan),
            "risk_upper": pick(risk_hi, np.nan),
            "elevated_lower": pick(elev_lo, np.nan),
            "elevated_upper": pick(elev_hi, np.nan),
            "phi": pick(phi, np.nan),
            "tau2": pick(tau2, np.nan),
            "peer_units": pick(peer_units, 0),
            "od_adjusted": pick(od_adjusted, False).astype(bool),
            "od_note": pick(od_note, ""),
            "method": method_of[series_ind],
            "benchmark_value": bench,
            "ci_lower": ci_lo,
            "ci_upper": ci_hi,
            "benchmark": bench_labels[series_ind, np.searchsorted([-1, 0, 1, 9], bench_out)],
            "flag": np.array([FLAG_LABELS[c] for c in range(-2, 3)], dtype=object)[flag_out + 2],
            "flag_code": flag_out.astype(np.int64),
            "reason": np.array(REASONS, dtype=object)[reason_out.astype(np.int64)],
            "spc_points": points,
            "spc_mean": chart.mean[last_row],
            "spc_lower": chart.lower[last_row],
            "spc_upper": chart.upper[last_row],
            "spc_variation": variation.astype(object),
            "spc_alert": alert,
            "spc_rule": spc_rule,
            "import_id": pick(import_ids, np.nan),
        }
    )
    return out


ADVERSE_SIGN = {"lower_is_better": 1.0, "higher_is_better": -1.0}
"""Sign turning z into the adverse direction (high values are bad when lower is better)."""
IMPROVEMENT = {"lower_is_better": "decrease", "higher_is_better": "increase", "neutral": "neutral"}
"""SPC improvement direction by polarity (z and values both rise when the value rises)."""

FAMILIES: tuple[tuple[str, str], ...] = (("pr", "shmi"), ("sr", "shmi"), ("sr", "cqc"))
"""Funnel (kind, sr method) families; the kernel calls the funnel once per family present."""


def _family_code(meta: IndicatorMeta) -> int:
    family = meta.funnel_family
    return -1 if family is None else FAMILIES.index(family)


def _sorted(observations: pd.DataFrame):
    """Rows in a canonical order (indicator, organisation, period) whatever order they came in, with the
    sorted codes and names of indicators and organisations."""
    ind_codes, ind_names = pd.factorize(observations["indicator_id"], sort=True)
    org_codes, org_names = pd.factorize(observations["org_code"], sort=True)
    day = observations["period"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    order = np.lexsort((day, org_codes, ind_codes))
    frame = observations.take(order).reset_index(drop=True)
    return frame, ind_codes[order], np.asarray(ind_names, dtype=object), org_codes[order], org_names


def empty_result() -> pd.DataFrame:
    """An assessed table with no rows."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in OUTPUT_COLUMNS})
