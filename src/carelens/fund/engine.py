"""The allocation engine: weighted capitation targets, distance from target and pace of change.

Method: docs/methods/allocations.md. For each funding stream s (core services, primary medical care)
and practice p, the scenario gives a need-weighted population WP_p,s (published, or recombined from
components with the scenario's weights and health-inequalities share). A commissioner's weighted
population is the sum over its practices; its need index is WP / population. Its target share of
stream s is WP_i,s × MFF_i / Σ_j WP_j,s × MFF_j, and its target £ is Σ_s quantum_s × share_i,s. Places
(areas within a commissioner) get the same share of their commissioner's target as of its weighted
population.

Pace of change (:func:`pace_of_change`) then moves each commissioner from its baseline towards target
while spending exactly the national quantum. Everything is vectorised over practices and commissioners.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from carelens.errors import InputError, Problem
from carelens.fund.scenario import COMPONENTS, STREAMS, Scenario, StreamNeed

PUBLISHED_COLUMN = {"core": "core_final", "primary_medical_care": "primary_medical_care_final"}
"""Practice-table column holding each stream's published final weighted population."""
PMC_NEED_COLUMN = "primary_medical_care"
"""Primary medical care need before its health-inequalities share (recombined mode)."""


class Unaffordable(ValueError):
    """The pace-of-change floor and under-target cap need more money than the quantum."""


@dataclass(frozen=True)
class AllocationResult:
    """An allocation: per commissioner, per region, per place (within commissioner) and per practice."""

    scenario: Scenario
    commissioners: pd.DataFrame
    regions: pd.DataFrame
    places: pd.DataFrame
    practices: pd.DataFrame


def stream_weighted_population(practices: pd.DataFrame, stream: str, need: StreamNeed) -> np.ndarray:
    """Each practice's weighted population for one stream under the scenario's need rules.

    ``published``: the published final column. ``components`` (core): (1 − h) × Σ_c w_c WP_c / Σ_c w_c
    + h × WP_HI; (primary medical care): (1 − h) × WP_PMC + h × WP_HI, h the health-inequalities share.
    Because every input column sums to the national population, so does the result.
    """
    if need.method == "published":
        return practices[PUBLISHED_COLUMN[stream]].to_numpy(dtype=float)
    h = need.health_inequalities
    inequalities = practices["health_inequalities"].to_numpy(dtype=float)
    if stream == "core":
        weights = np.array([need.component_weights.get(c, 0.0) for c in COMPONENTS])
        values = practices[list(COMPONENTS)].to_numpy(dtype=float)
        base = values @ (weights / weights.sum())
    else:
        base = practices[PMC_NEED_COLUMN].to_numpy(dtype=float)
    return (1.0 - h) * base + h * inequalities


def allocate(
    practices: pd.DataFrame, scenario: Scenario, baseline: pd.Series | None = None
) -> AllocationResult:
    """Targets for every commissioner (and place) and, given a baseline, allocations after pace of change.

    ``practices``: the practice table (:mod:`carelens.fund.practices`). ``baseline``: each
    commissioner's recurrent allocation last year (£, indexed by commissioner code); without it the
    allocation is the target.
    """
    frame = practices.copy()
    codes, commissioners = pd.factorize(frame["commissioner_code"], sort=True)
    n = len(commissioners)
    population = np.bincount(codes, weights=frame["population"].to_numpy(dtype=float), minlength=n)
    mff = (
        pd.Series(commissioners)
        .map(scenario.market_forces)
        .fillna(scenario.market_forces_default)
        .to_numpy(dtype=float)
    )
    target = np.zeros(n)
    out = pd.DataFrame({"commissioner_code": commissioners})
    first = frame.drop_duplicates("commissioner_code").set_index("commissioner_code")
    for column in ("commissioner_name", "region_code", "region_name"):
        out[column] = out["commissioner_code"].map(first[column])
    out["population"] = population
    practice_target = np.zeros(len(frame))
    for stream in STREAMS:
        wp = stream_weighted_population(frame, stream, scenario.need[stream])
        frame[f"wp_{stream}"] = wp
        wp_i = np.bincount(codes, weights=wp, minlength=n)
        adjusted = wp_i * mff
        share = adjusted / adjusted.sum()
        stream_target = scenario.quantum_gbp[stream] * share
        out[f"wp_{stream}"] = wp_i
        out[f"need_index_{stream}"] = wp_i / population
        out[f"target_{stream}_gbp"] = stream_target
        target += stream_target
        # Practices share their commissioner's stream target in proportion to weighted population.
        with np.errstate(invalid="ignore", divide="ignore"):
            practice_target += np.where(wp_i[codes] > 0, stream_target[codes] * wp / wp_i[codes], 0.0)
    out["market_forces_factor"] = mff
    out["target_gbp"] = target
    out["target_share"] = target / target.sum()
    frame["target_gbp"] = practice_target

    if baseline is None:
        out["baseline_gbp"] = np.nan
        out["allocation_gbp"] = target
    else:
        base = baseline.reindex(commissioners)
        missing = base.index[base.isna()].tolist()
        if missing:
            raise InputError(
                Problem("baseline", None, "commissioner_code", f"no baseline for commissioner(s) {missing}")
            )
        out["baseline_gbp"] = base.to_numpy(dtype=float)
        pace = scenario.pace
        try:
            out["allocation_gbp"] = pace_of_change(
                target,
                out["baseline_gbp"].to_numpy(),
                minimum_growth=pace.minimum_growth,
                under_target_cap=pace.under_target_cap,
                convergence_rate=pace.convergence_rate,
            )
        except Unaffordable as error:
            raise InputError(Problem(scenario.source, None, "pace_of_change", str(error))) from None
    out["growth"] = out["allocation_gbp"] / out["baseline_gbp"] - 1.0
    out["distance_from_target"] = distance_from_target(out["allocation_gbp"], target)
    out["allocation_per_head_gbp"] = out["allocation_gbp"] / population

    # Practices' and places' shares of their commissioner's allocation follow their target shares.
    scale = (out["allocation_gbp"] / out["target_gbp"]).to_numpy()
    frame["allocation_gbp"] = frame["target_gbp"].to_numpy() * scale[codes]
    places = _places(frame)
    regions = _regions(out)
    return AllocationResult(scenario, out, regions, places, frame)


def distance_from_target(allocation, target) -> np.ndarray:
    """(allocation − target) / target: negative means under target (docs/methods/allocations.md)."""
    allocation = np.asarray(allocation, dtype=float)
    target = np.asarray(target, dtype=float)
    return (allocation - target) / target


def pace_of_change(
    target,
    baseline,
    *,
    minimum_growth: float = 0.0,
    under_target_cap: float | None = None,
    convergence_rate: float = 0.0,
) -> np.ndarray:
    """Allocations that spend exactly Σ target, moving each body from ``baseline`` towards ``target``.

    With average growth ḡ = Σ target / Σ baseline − 1 and each body's baseline grown at ḡ,
    p_i = b_i (1 + ḡ):

    1. floor: every body gets at least F_i = b_i (1 + ``minimum_growth``);
    2. over target (p_i > T_i): a_i = max(F_i, p_i − r (p_i − T_i)), r = ``convergence_rate``
       (r = 0: average growth; r = 1: straight to target, floor permitting);
    3. under target (p_i ≤ T_i): the rest of the money R = Σ T − Σ_over a_i is shared so that every
       under-target body ends at the same distance from target δ, except that none gets less than
       L_i = max(F_i, T_i (1 − ``under_target_cap``)): a_i = max(L_i, T_i (1 + δ)), with δ solved
       exactly so that Σ_under a_i = R (a piecewise-linear equation, solved by sorting).

    Raises :class:`Unaffordable` when the floors and cap alone cost more than the quantum.
    """
    t = np.asarray(target, dtype=float)
    b = np.asarray(baseline, dtype=float)
    if t.shape != b.shape:
        raise ValueError("target and baseline must have the same shape")
    if np.any(t <= 0) or np.any(b <= 0):
        raise ValueError("targets and baselines must be positive")
    quantum = t.sum()
    growth = quantum / b.sum() - 1.0
    projected = b * (1.0 + growth)
    floor = b * (1.0 + minimum_growth)
    over = projected > t * (1.0 + 1e-12)  # rounding must not make an on-target body "over"
    allocation = np.empty_like(t)
    allocation[over] = np.maximum(
        floor[over], projected[over] - convergence_rate * (projected[over] - t[over])
    )
    rest = quantum - allocation[over].sum()
    under = ~over
    t_u = t[under]
    lower = floor[under]
    if under_target_cap is not None:
        lower = np.maximum(lower, t_u * (1.0 - under_target_cap))
    needed = lower.sum()
    if rest < needed - 1e-12 * quantum:
        raise Unaffordable(
            f"the minimum growth and under-target cap need £{needed - rest:,.0f} more than the quantum "
            f"allows ({len(t)} bodies, average growth {growth:.2%}): lower the floor or widen the cap"
        )
    if not np.any(under):  # pragma: no cover - Σ projected = Σ target makes this unreachable
        return allocation
    allocation[under] = _common_distance(t_u, lower, rest)
    return allocation


def _common_distance(target: np.ndarray, lower: np.ndarray, total: float) -> np.ndarray:
    """max(lower_i, target_i (1 + δ)) with δ such that the sum is ``total`` (≥ Σ lower)."""
    breaks = lower / target - 1.0  # δ at which body i leaves its lower bound
    order = np.argsort(breaks, kind="stable")
    b_sorted = breaks[order]
    t_sorted = target[order]
    l_sorted = lower[order]
    # With the first k bodies (smallest breaks) free and the rest at their lower bound:
    # total = (1 + δ) Σ_{<k} T + Σ_{>=k} L  =>  δ_k; valid when b_(k-1) <= δ_k <= b_(k).
    free_t = np.concatenate([[0.0], np.cumsum(t_sorted)])
    bound_l = np.concatenate([np.cumsum(l_sorted[::-1])[::-1], [0.0]])
    k = np.arange(1, len(target) + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        delta = (total - bound_l[k]) / free_t[k] - 1.0
    upper_ok = np.append(b_sorted[1:], np.inf) >= delta - 1e-15
    lower_ok = delta >= b_sorted - 1e-15
    valid = np.flatnonzero(upper_ok & lower_ok)
    if len(valid) == 0:  # total equals Σ lower: everyone at the bound
        return lower.copy()
    d = delta[valid[0]]
    out = np.maximum(lower, target * (1.0 + d))
    # Put the last rounding error on the largest free body so the sum is exact to the penny.
    free = target * (1.0 + d) >= lower
    if free.any():
        i = np.flatnonzero(free)[np.argmax(target[free])]
        out[i] += total - out.sum()
    return out


def _places(frame: pd.DataFrame) -> pd.DataFrame:
    """Per place within commissioner: population, weighted populations, relative need index, £."""
    keys = ["commissioner_code", "place_code"]
    sums = ["population", "wp_core", "wp_primary_medical_care", "target_gbp", "allocation_gbp"]
    places = frame.groupby(keys, sort=True, as_index=False).agg(
        place_name=("place_name", "first"),
        practices=("practice_code", "size"),
        **{c: (c, "sum") for c in sums},
    )
    icb = frame.groupby("commissioner_code")[["population", "wp_core", "wp_primary_medical_care"]].sum()
    for stream in ("core", "primary_medical_care"):
        own = places[f"wp_{stream}"] / places["population"]
        parent = places["commissioner_code"].map(icb[f"wp_{stream}"] / icb["population"])
        places[f"need_index_{stream}"] = own
        # NHS England's place-based allocation tool: (WP_p / pop_p) / (WP_i / pop_i).
        places[f"relative_need_index_{stream}"] = own / parent
    return places


def _regions(commissioners: pd.DataFrame) -> pd.DataFrame:
    sums = ["population", "wp_core", "wp_primary_medical_care", "target_gbp", "allocation_gbp"]
    regions = commissioners.groupby(["region_code", "region_name"], as_index=False, dropna=False)[sums].sum()
    regions["need_index_core"] = regions["wp_core"] / regions["population"]
    regions["target_share"] = regions["target_gbp"] / regions["target_gbp"].sum()
    regions["distance_from_target"] = distance_from_target(regions["allocation_gbp"], regions["target_gbp"])
    return regions
