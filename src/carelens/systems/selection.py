"""Which places a review programme should visit, and how many reviews a budget buys.

**Selection score** (documented in docs/systems.md): for each place and each transition indicator with
a weight w > 0, take the overdispersion-adjusted z-score from the place comparison, signed so that
positive means worse than peers (``adverse_z``), capped at ± ``z_cap``; the score is the weighted mean
Σ w·z / Σ w over the indicators compared for the place. Places rank by score, highest (worst) first,
ties by place code.

**No evidence, no rank**: a place with no weighted indicator compared in the period (no observation,
or none its peers could be compared with) is *not assessed*: it has no score and no rank (it is not
"low need"), is listed after the ranked places with why, and is never selected.

**Programme plan**: reviews affordable = ⌊(budget − fixed cost) / cost per review⌋ (in whole pence, so
£2,000,000 at £86,956.52 buys exactly 23), at most the number of places assessed; the top places by
score are selected. Total cost = fixed cost + reviews x cost per review; budget left = budget − total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from carelens.errors import InputError, Problem
from carelens.systems.config import SystemsConfig


def selection_scores(
    compared: pd.DataFrame, config: SystemsConfig, places: Sequence[str] | None = None
) -> pd.DataFrame:
    """Score and rank places from :func:`carelens.systems.places.compare` output (one period).

    ``places``: every place to list (default: those in ``compared``); one with nothing compared is not
    assessed. Columns: ``rank`` (null when not assessed), ``org_code``, ``score``, ``indicators_scored``,
    ``assessed`` and one ``z_<indicator>`` column per weighted indicator (the capped adverse z used).
    """
    weights = {i.id: i.weight for i in config.indicators if i.weight > 0}
    scored = compared[compared["indicator_id"].isin(list(weights))]
    codes = sorted(set(compared["org_code"]) | set(places or ()))
    matrix = (
        scored.pivot_table(index="org_code", columns="indicator_id", values="adverse_z", aggfunc="first")
        .reindex(index=codes, columns=list(weights))
        .to_numpy(float)
    )
    capped = np.clip(matrix, -config.z_cap, config.z_cap)
    w = np.array(list(weights.values()))
    present = np.isfinite(capped)
    total_w = (present * w).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(total_w > 0, np.nansum(np.where(present, capped, 0.0) * w, axis=1) / total_w, np.nan)
    out = pd.DataFrame({"org_code": codes, "score": score, "indicators_scored": present.sum(axis=1)})
    out["assessed"] = out["score"].notna()
    for j, ident in enumerate(weights):
        out[f"z_{ident}"] = capped[:, j]
    out["_missing"] = ~out["assessed"]
    out["_neg"] = -out["score"].fillna(0.0)
    out = out.sort_values(["_missing", "_neg", "org_code"]).drop(columns=["_missing", "_neg"])
    rank = pd.array(np.arange(1, len(out) + 1), dtype="Int64")
    rank[~out["assessed"].to_numpy(bool)] = pd.NA
    out.insert(0, "rank", rank)
    return out.reset_index(drop=True)


def selection_reasons(compared: pd.DataFrame, ranking: pd.DataFrame, config: SystemsConfig) -> list[str]:
    """Why each place of ``ranking`` (from :func:`selection_scores`) has its score, in plain English.

    Names the weighted indicators on which the place is significantly worse or better than its peers
    (outside the funnel limits at the configured level), then the indicators that raise the score most
    (largest weighted adverse z-scores), each with its adverse z-score (positive = worse), noting where
    it was capped and any weight other than 1. One text per ranking row.
    """
    indicators = {i.id: i for i in config.indicators if i.weight > 0}
    scored = compared[compared["indicator_id"].isin(list(indicators))]
    by_place = dict(tuple(scored.groupby("org_code")))
    period = f" in {compared['period'].iloc[0]}" if not compared.empty else ""

    def describe(indicator_id: str, z: float) -> str:
        indicator = indicators[indicator_id]
        notes = [f"z {z:+.2f}"]
        if abs(z) > config.z_cap:
            notes.append(f"counted as {np.sign(z) * config.z_cap:+.2f}")
        if indicator.weight != 1:
            notes.append(f"weight {indicator.weight:g}")
        return f"{indicator.title.strip()} ({', '.join(notes)})"

    def listing(rows: pd.DataFrame) -> str:
        pairs = zip(rows["indicator_id"], rows["adverse_z"], strict=True)
        return "; ".join(describe(i, z) for i, z in pairs)

    reasons = []
    for code, score, count in zip(
        ranking["org_code"], ranking["score"], ranking["indicators_scored"], strict=True
    ):
        if pd.isna(score):
            rows = by_place.get(code, scored.iloc[0:0])
            why_not = rows["reason"] if "reason" in rows else pd.Series("", index=rows.index, dtype=object)
            found = dict(zip(rows["indicator_id"], why_not, strict=True))
            why = "; ".join(
                f"{indicators[i].title.strip()} ({found[i] or 'not compared'})"
                if i in found
                else f"{indicators[i].title.strip()} (no observation)"
                for i in indicators
            )
            reasons.append(
                f"Not assessed: no weighted transition indicator was compared for this place{period} "
                f"({why}), so it has no score and no rank."
            )
            continue
        rows = by_place[code][by_place[code]["adverse_z"].notna()]
        flagged = []
        for label, ascending in (("worse", False), ("better", True)):
            hits = rows[rows["assessment"] == label].sort_values("adverse_z", ascending=ascending)
            if not hits.empty:
                flagged.append(f"{label} than its peers on {listing(hits)}")
        text = "; ".join(flagged) if flagged else "no indicator outside the funnel limits"
        weight = rows["indicator_id"].map(lambda i: indicators[i].weight)
        pull = weight * rows["adverse_z"].clip(-config.z_cap, config.z_cap)
        raising = rows.assign(pull=pull).query("pull > 0").sort_values("pull", ascending=False).head(2)
        raised = f"; raised most by {listing(raising)}" if not raising.empty else ""
        reasons.append(
            f"{text[0].upper()}{text[1:]}. Score {score:+.2f}: the weighted mean of {int(count)} adverse "
            f"z-scores (positive = worse), each capped at ±{config.z_cap:g}{raised}."
        )
    return reasons


@dataclass(frozen=True)
class ProgrammePlan:
    """How many reviews a budget buys and which places they go to; the figures add up."""

    budget_gbp: float
    cost_per_review_gbp: float
    fixed_cost_gbp: float
    reviews_affordable: int
    reviews: int
    total_cost_gbp: float
    remaining_gbp: float
    places: pd.DataFrame
    """The ranking with a ``selected`` column (the first ``reviews`` places assessed)."""

    def as_dict(self) -> dict:
        return {
            "budget_gbp": self.budget_gbp,
            "cost_per_review_gbp": self.cost_per_review_gbp,
            "fixed_cost_gbp": self.fixed_cost_gbp,
            "reviews_affordable": self.reviews_affordable,
            "reviews": self.reviews,
            "total_cost_gbp": self.total_cost_gbp,
            "remaining_gbp": self.remaining_gbp,
            "selected": list(self.places.loc[self.places["selected"], "org_code"]),
        }


def reviews_affordable(budget_gbp: float, cost_per_review_gbp: float, fixed_cost_gbp: float = 0.0) -> int:
    """How many reviews a budget buys after its fixed cost (counted in whole pence)."""
    pence = round((budget_gbp - fixed_cost_gbp) * 100)
    return max(0, int(pence // round(cost_per_review_gbp * 100)))


def plan_programme(
    ranking: pd.DataFrame, budget_gbp: float, cost_per_review_gbp: float, fixed_cost_gbp: float = 0.0
) -> ProgrammePlan:
    """Plan a programme: reviews the budget buys and the places chosen from ``ranking`` (best rank first)."""
    problems = []
    if not budget_gbp >= 0:
        problems.append(Problem("plan", None, "budget_gbp", f"must be >= 0, got {budget_gbp}"))
    if not cost_per_review_gbp > 0:
        problems.append(
            Problem("plan", None, "cost_per_review_gbp", f"must be > 0, got {cost_per_review_gbp}")
        )
    if not 0 <= fixed_cost_gbp <= max(budget_gbp, 0):
        problems.append(Problem("plan", None, "fixed_cost_gbp", "must be between 0 and the budget"))
    if problems:
        raise InputError(problems)
    affordable = reviews_affordable(budget_gbp, cost_per_review_gbp, fixed_cost_gbp)
    eligible = int(ranking["score"].notna().sum())
    reviews = min(affordable, eligible)
    places = ranking.copy()
    ranked = pd.array(places["rank"], dtype="Int64")
    places["selected"] = places["score"].notna().to_numpy(bool) & (ranked <= reviews).fillna(False).to_numpy(
        bool
    )
    total = round(fixed_cost_gbp + reviews * cost_per_review_gbp, 2)
    return ProgrammePlan(
        budget_gbp=float(budget_gbp),
        cost_per_review_gbp=float(cost_per_review_gbp),
        fixed_cost_gbp=float(fixed_cost_gbp),
        reviews_affordable=affordable,
        reviews=reviews,
        total_cost_gbp=total,
        remaining_gbp=round(budget_gbp - total, 2),
        places=places,
    )
