"""Formula what-if: who gains and who loses when the formula changes (the 2011–13 debate,
docs/methods/allocations.md).

Two allocations of the same year are compared on their targets (or allocations) by commissioner, by
region and by deprivation decile of practices. The practice files carry no IMD score, so deprivation is
measured by a documented proxy: the practice's health inequalities / unmet need index (its health
inequalities weighted population per head, built by NHS England from premature mortality and similar
measures). Deciles are population-weighted: decile 1 is the most deprived tenth of the population.
Age is measured by the community services need index (community services need is driven mainly by
age, so older populations score high).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from carelens.fund.engine import AllocationResult

DECILES = 10


@dataclass(frozen=True)
class Comparison:
    """Gainers and losers moving from scenario A to scenario B (change = B − A)."""

    name_a: str
    name_b: str
    measure: str
    commissioners: pd.DataFrame
    regions: pd.DataFrame
    deciles: pd.DataFrame


def deprivation_deciles(practices: pd.DataFrame, deciles: int = DECILES) -> np.ndarray:
    """Population-weighted decile (1 = most deprived) of each practice by its health-inequalities index."""
    index = (practices["health_inequalities"] / practices["population"]).to_numpy(dtype=float)
    population = practices["population"].to_numpy(dtype=float)
    order = np.argsort(-index, kind="stable")
    cumulative = np.cumsum(population[order]) - population[order] / 2  # mid-point of each practice
    out = np.empty(len(index), dtype=np.int64)
    out[order] = np.minimum(np.floor(cumulative / population.sum() * deciles).astype(np.int64) + 1, deciles)
    return out


def compare(a: AllocationResult, b: AllocationResult, measure: str = "target_gbp") -> Comparison:
    """Change from ``a`` to ``b`` in ``measure`` (``target_gbp`` or ``allocation_gbp``)."""
    if a.scenario.year != b.scenario.year:
        raise ValueError("compare allocations of the same year")
    pa, pb = a.practices, b.practices
    if not pa["practice_code"].equals(pb["practice_code"]):
        raise ValueError("the two allocations were run on different practices")
    practices = pa[["practice_code", "commissioner_code", "region_code", "region_name", "population"]].copy()
    practices["health_inequalities"] = pa["health_inequalities"]
    practices["community"] = pa["community"]
    practices["a"] = pa[measure].to_numpy()
    practices["b"] = pb[measure].to_numpy()
    practices["decile"] = deprivation_deciles(practices)

    ca = a.commissioners.set_index("commissioner_code")
    cb = b.commissioners.set_index("commissioner_code")
    by_commissioner = practices.groupby("commissioner_code")[
        ["population", "health_inequalities", "community"]
    ].sum()
    commissioners = pd.DataFrame(
        {
            "commissioner_name": ca["commissioner_name"],
            "region_name": ca["region_name"],
            "population": ca["population"],
            "age_index": by_commissioner["community"] / by_commissioner["population"],
            "deprivation_index": by_commissioner["health_inequalities"] / by_commissioner["population"],
            "a_gbp": ca[measure],
            "b_gbp": cb[measure].reindex(ca.index),
        }
    )
    commissioners = _changes(commissioners).reset_index()
    regions = _changes(practices.groupby("region_name")[["population", "a", "b"]].sum().rename(columns=_AB))
    deciles = _changes(practices.groupby("decile")[["population", "a", "b"]].sum().rename(columns=_AB))
    decile_index = practices.groupby("decile")[["health_inequalities", "population"]].sum()
    deciles.insert(1, "deprivation_index", decile_index["health_inequalities"] / decile_index["population"])
    return Comparison(
        a.scenario.name,
        b.scenario.name,
        measure,
        commissioners.sort_values("change_pct", ignore_index=True),
        regions.reset_index().sort_values("change_pct", ignore_index=True),
        deciles.reset_index(),
    )


_AB = {"a": "a_gbp", "b": "b_gbp"}


def _changes(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["change_gbp"] = frame["b_gbp"] - frame["a_gbp"]
    frame["change_pct"] = frame["change_gbp"] / frame["a_gbp"] * 100
    frame["change_per_head_gbp"] = frame["change_gbp"] / frame["population"]
    return frame


def chart_svg(comparison: Comparison) -> str:
    """A two-panel SVG chart: % change by commissioner (coloured by region) and by deprivation decile."""
    import altair as alt
    import vl_convert as vlc

    title = (
        f"{comparison.name_b} vs {comparison.name_a}: change in {comparison.measure.replace('_gbp', '')} (%)"
    )
    by_commissioner = (
        alt.Chart(comparison.commissioners)
        .mark_bar()
        .encode(
            x=alt.X("change_pct:Q", title="change (%)"),
            y=alt.Y("commissioner_name:N", sort="x", title=None),
            color=alt.Color("region_name:N", title="region"),
            tooltip=["commissioner_name", "region_name", alt.Tooltip("change_pct:Q", format=".2f")],
        )
        .properties(width=360, height=alt.Step(11), title="by commissioner")
    )
    by_decile = (
        alt.Chart(comparison.deciles)
        .mark_bar()
        .encode(
            x=alt.X("decile:O", title="deprivation decile (1 = most deprived)"),
            y=alt.Y("change_pct:Q", title="change (%)"),
            tooltip=["decile", alt.Tooltip("change_pct:Q", format=".2f")],
        )
        .properties(width=260, height=240, title="by deprivation decile of practices")
    )
    chart = alt.hconcat(by_commissioner, by_decile).properties(title=title)
    return vlc.vegalite_to_svg(chart.to_dict())
