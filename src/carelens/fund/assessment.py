"""Commissioner assessment: outcomes against peers, finance, leadership; a rating with its reasons.

docs/methods/nhs-oversight.md (CCG Improvement and Assessment Framework; NHS Oversight Framework).
Rules are data (``config/fund/assessment.yaml``). Steps:

1. **Outcomes**: each indicator's latest period is compared across all commissioners with the
   overdispersed funnel (``carelens.stats.funnel``; proportions ``pr``, indirectly standardised ratios
   ``sr``, rates ``rc``), one vectorised call per data type over every indicator. Net worse share =
   (worse − better) / indicators assessed gives the outcomes rating by thresholds.
2. **Finance**: surplus (+) or deficit (−) = allocation − spend, as a share of allocation; running
   costs against allowance. Either can cap the rating.
3. **Leadership**: a panel's rating (input) caps the overall rating.
4. **Overall** = the worst of the three, with one plain-English reason per step; a commissioner rated
   at ``intervene_at`` gets a proposed intervention (:func:`record_intervention` records the decision).

The **size analysis** asks whether performance is related to size: Spearman's rank correlation of
population with the net score, and scores by population band.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from carelens.config import FieldReader, packaged, read_mapping
from carelens.errors import InputError, Problem
from carelens.model.organisations import OrgKind
from carelens.stats.funnel import funnel
from carelens.store import repository, schema
from carelens.store.schema_fund import fund_intervention

RATINGS = ("outstanding", "good", "requires_improvement", "inadequate")
"""Best first; a rating's position is its severity."""
FUNNEL_KIND = {
    "proportion": ("pr", "denominator"),
    "indirectly_standardised_ratio": ("sr", "expected"),
    "rate": ("rc", "denominator"),
}
"""Indicator value type -> (funnel data type, column holding its denominator)."""
POLARITY = {
    "higher_is_better": "higher-is-better",
    "lower_is_better": "lower-is-better",
    "neutral": "neutral",
}


@dataclass(frozen=True)
class AssessmentRules:
    level: float
    overdispersion: str | None
    outstanding_net_better: float
    ri_net_worse: float
    inadequate_net_worse: float
    ri_deficit: float
    inadequate_deficit: float
    running_costs_cap: str
    leadership_caps: bool
    intervene_at: str
    size_bands: tuple[float, ...]
    source: str


def load_rules(path: str | Path | None = None) -> AssessmentRules:
    """Read the assessment rules (packaged defaults unless ``path`` is given)."""
    document, source = read_mapping(Path(path) if path else packaged("fund", "assessment.yaml"))
    r = FieldReader(source, document)
    share = {"minimum": 0.0, "maximum": 1.0}
    rules = AssessmentRules(
        level=r.get("outcomes.level", float, minimum=0.0, maximum=100.0, exclusive=True),
        overdispersion=r.get("outcomes.overdispersion", str, optional=True),
        outstanding_net_better=r.get("outcomes.outstanding_if_net_better_at_least", float, **share),
        ri_net_worse=r.get("outcomes.requires_improvement_if_net_worse_at_least", float, **share),
        inadequate_net_worse=r.get("outcomes.inadequate_if_net_worse_at_least", float, **share),
        ri_deficit=r.get("finance.requires_improvement_if_deficit_over", float, **share),
        inadequate_deficit=r.get("finance.inadequate_if_deficit_over", float, **share),
        running_costs_cap=r.get("finance.running_costs_over_allowance", str),
        leadership_caps=bool(r.get("leadership.cap_overall", bool, default=True)),
        intervene_at=r.get("overall.intervene_at", str),
        size_bands=tuple(float(b) for b in (r.get("size.bands", list, default=[]) or [])),
        source=source,
    )
    for attribute, field_name in (
        ("running_costs_cap", "finance.running_costs_over_allowance"),
        ("intervene_at", "overall.intervene_at"),
    ):
        if getattr(rules, attribute) not in RATINGS:
            r.problem(field_name, f"must be one of {', '.join(RATINGS)}")
    if rules.overdispersion not in (None, "additive", "multiplicative"):
        r.problem("outcomes.overdispersion", "must be additive, multiplicative or empty")
    r.raise_if_any()
    return rules


@dataclass(frozen=True)
class Assessment:
    """Per-indicator comparisons, the per-commissioner scorecard, and the size analysis."""

    comparisons: pd.DataFrame
    scorecard: pd.DataFrame
    size: pd.DataFrame
    size_correlation: float
    size_p_value: float


def compare_outcomes(observations: pd.DataFrame, definitions: dict, rules: AssessmentRules) -> pd.DataFrame:
    """Each commissioner's latest value of each indicator against its peers (all commissioners).

    ``observations``: the observation columns (indicator_id, org_code, period, numerator, denominator,
    expected, value). Indicators whose value type has no funnel are listed with assessment 'not compared'.
    """
    if observations.empty:
        return pd.DataFrame(columns=["indicator_id", "org_code", "period", "domain", "value", "assessment"])
    unknown = sorted(set(observations["indicator_id"]) - set(definitions))
    if unknown:
        raise InputError(
            Problem("observations", None, "indicator_id", f"no indicator definition for {unknown}")
        )
    latest = observations["period"] == observations.groupby("indicator_id")["period"].transform("max")
    obs = observations[latest].reset_index(drop=True).copy()
    for column in ("numerator", "denominator", "expected", "value"):
        if column not in obs:
            obs[column] = np.nan
    obs["domain"] = obs["indicator_id"].map({k: d.domain for k, d in definitions.items()})
    value_type = obs["indicator_id"].map(
        {k: str(getattr(d.value_type, "value", d.value_type)) for k, d in definitions.items()}
    )
    polarity = obs["indicator_id"].map(
        {k: str(getattr(d.polarity, "value", d.polarity)) for k, d in definitions.items()}
    )
    obs["assessment"] = "not compared"
    obs["lower"] = np.nan
    obs["upper"] = np.nan
    obs["z"] = np.nan
    for vtype, (kind, denominator) in FUNNEL_KIND.items():
        for pol, funnel_polarity in POLARITY.items():
            rows = np.flatnonzero((value_type == vtype).to_numpy() & (polarity == pol).to_numpy())
            rows = rows[obs.loc[rows, ["numerator", denominator]].notna().all(axis=1).to_numpy()]
            if len(rows) == 0:
                continue
            result = funnel(
                obs.loc[rows, "numerator"].to_numpy(dtype=float),
                obs.loc[rows, denominator].to_numpy(dtype=float),
                groups=obs.loc[rows, "indicator_id"].to_numpy(),
                kind=kind,
                levels=(rules.level,),
                overdispersion=rules.overdispersion,
                polarity=funnel_polarity,
            )
            obs.loc[rows, "assessment"] = result.assessment
            obs.loc[rows, "lower"] = result.lower[0]
            obs.loc[rows, "upper"] = result.upper[0]
            obs.loc[rows, "z"] = result.z_adjusted
            obs.loc[rows, "value"] = result.value
    return obs


def _worst(*ratings: pd.Series) -> pd.Series:
    codes = np.max(np.vstack([r.map(RATINGS.index).to_numpy(dtype=int) for r in ratings]), axis=0)
    return pd.Series(np.asarray(RATINGS, dtype=object)[codes], index=ratings[0].index)


def assess(
    commissioners: pd.DataFrame,
    observations: pd.DataFrame,
    definitions: dict,
    rules: AssessmentRules,
    finance: pd.DataFrame | None = None,
    leadership: pd.DataFrame | None = None,
) -> Assessment:
    """Assess every commissioner in ``commissioners`` (columns commissioner_code, population and, for
    running costs, running_cost_allowance_gbp).

    ``finance``: commissioner_code, allocation_gbp, spend_gbp, optional running_costs_gbp.
    ``leadership``: commissioner_code, leadership (a rating in :data:`RATINGS`).
    """
    comparisons = compare_outcomes(observations, definitions, rules)
    card = commissioners[["commissioner_code", "population"]].copy().set_index("commissioner_code")
    compared = comparisons[comparisons["assessment"] != "not compared"]
    counts = (
        pd.crosstab(compared["org_code"], compared["assessment"]) if not compared.empty else pd.DataFrame()
    )
    for label in ("better", "worse", "within"):
        card[label] = counts[label].reindex(card.index).fillna(0).astype(int) if label in counts else 0
    card["assessed"] = card["better"] + card["worse"] + card["within"]
    with np.errstate(invalid="ignore", divide="ignore"):
        card["net_worse_share"] = (card["worse"] - card["better"]) / card["assessed"].where(
            card["assessed"] > 0
        )
    net = card["net_worse_share"]
    outcomes = pd.Series("good", index=card.index, dtype=object)
    outcomes[-net >= rules.outstanding_net_better] = "outstanding"
    outcomes[net >= rules.ri_net_worse] = "requires_improvement"
    outcomes[net >= rules.inadequate_net_worse] = "inadequate"
    card["outcomes_rating"] = outcomes
    reasons = {code: [] for code in card.index}
    for code, row in card.iterrows():  # explanation text only; the arithmetic above is vectorised
        if row["assessed"] == 0:
            reasons[code].append(
                "outcomes: no indicator could be compared with peers (rated good by default)"
            )
        else:
            reasons[code].append(
                f"outcomes: {row['worse']} of {row['assessed']} indicators worse and {row['better']} better than "
                f"peers at {rules.level:g}% limits (net worse {row['net_worse_share']:+.0%}): {row['outcomes_rating']}"
            )

    finance_rating = pd.Series("outstanding", index=card.index, dtype=object)
    if finance is not None:
        f = finance.set_index("commissioner_code").reindex(card.index)
        card["allocation_gbp"] = f["allocation_gbp"]
        card["spend_gbp"] = f["spend_gbp"]
        card["surplus_gbp"] = f["allocation_gbp"] - f["spend_gbp"]
        card["surplus_share"] = card["surplus_gbp"] / f["allocation_gbp"]
        deficit = -card["surplus_share"]
        finance_rating[deficit > rules.ri_deficit] = "requires_improvement"
        finance_rating[deficit > rules.inadequate_deficit] = "inadequate"
        if "running_costs_gbp" in f and "running_cost_allowance_gbp" in commissioners:
            allowance = commissioners.set_index("commissioner_code")["running_cost_allowance_gbp"].reindex(
                card.index
            )
            card["running_costs_gbp"] = f["running_costs_gbp"]
            card["running_cost_allowance_gbp"] = allowance
            over = card["running_costs_gbp"] > allowance
            capped = _worst(finance_rating, pd.Series(rules.running_costs_cap, index=card.index))
            finance_rating = finance_rating.where(~over, capped)
        for code, row in card.iterrows():
            if pd.isna(row["surplus_gbp"]):
                reasons[code].append("finance: no finance return")
                continue
            word = "surplus" if row["surplus_gbp"] >= 0 else "deficit"
            text = f"finance: {word} of £{abs(row['surplus_gbp']):,.0f} ({row['surplus_share']:+.1%} of allocation)"
            if "running_costs_gbp" in card and pd.notna(row.get("running_costs_gbp")):
                within = row["running_costs_gbp"] <= row["running_cost_allowance_gbp"]
                text += (
                    f"; running costs £{row['running_costs_gbp']:,.0f} "
                    f"{'within' if within else 'over'} allowance £{row['running_cost_allowance_gbp']:,.0f}"
                )
            reasons[code].append(f"{text}: {finance_rating[code].replace('outstanding', 'no concern')}")
    card["finance_rating"] = finance_rating

    leadership_rating = pd.Series("outstanding", index=card.index, dtype=object)
    if leadership is not None:
        given = leadership.set_index("commissioner_code")["leadership"].reindex(card.index)
        bad = given.notna() & ~given.isin(RATINGS)
        if bad.any():
            raise InputError(
                Problem(
                    "leadership",
                    None,
                    "leadership",
                    f"ratings must be one of {', '.join(RATINGS)}: {given[bad].to_dict()}",
                )
            )
        card["leadership"] = given
        if rules.leadership_caps:
            leadership_rating = given.fillna("outstanding")
        for code, value in given.dropna().items():
            reasons[code].append(f"leadership: panel rated {value}")
    card["overall"] = _worst(card["outcomes_rating"], finance_rating, leadership_rating)
    card["intervene"] = card["overall"].map(RATINGS.index) >= RATINGS.index(rules.intervene_at)
    card["reasons"] = pd.Series(reasons)
    card = card.reset_index()

    size, rho, p_value = size_analysis(card, rules.size_bands)
    return Assessment(comparisons, card, size, rho, p_value)


def size_analysis(card: pd.DataFrame, bands: tuple[float, ...]) -> tuple[pd.DataFrame, float, float]:
    """Is performance related to size? Spearman's rho (population vs net worse share) and scores by band."""
    from scipy.stats import spearmanr

    scored = card.dropna(subset=["net_worse_share"])
    if len(scored) >= 3 and scored["net_worse_share"].nunique() > 1:
        rho, p_value = spearmanr(scored["population"], scored["net_worse_share"])
    else:
        rho, p_value = float("nan"), float("nan")
    edges = [0.0, *bands, np.inf]
    labels = [
        f"{int(lo):,}–{int(hi):,}" if np.isfinite(hi) else f"{int(lo):,}+"
        for lo, hi in itertools.pairwise(edges)
    ]
    band = pd.cut(card["population"], edges, right=False, labels=labels)
    size = (
        card.assign(band=band)
        .groupby("band", observed=False)
        .agg(
            commissioners=("commissioner_code", "size"),
            mean_net_worse_share=("net_worse_share", "mean"),
            worse=("worse", "sum"),
            better=("better", "sum"),
            assessed=("assessed", "sum"),
        )
        .reset_index()
    )
    return size, float(rho), float(p_value)


def observations_from_store(connection: sa.Connection) -> pd.DataFrame:
    """Current observations of every commissioner in the store."""
    obs, org = schema.observation, schema.organisation
    query = (
        sa.select(
            obs.c.indicator_id,
            obs.c.org_code,
            obs.c.period,
            obs.c.numerator,
            obs.c.denominator,
            obs.c.expected,
            obs.c.value,
        )
        .join(org, org.c.code == obs.c.org_code)
        .where(org.c.kind == OrgKind.COMMISSIONER.value, obs.c.superseded_by.is_(None))
    )
    return pd.DataFrame(
        connection.execute(query).mappings().all(), columns=list(query.selected_columns.keys())
    )


def record_intervention(
    engine: sa.Engine,
    commissioner_code: str,
    year: int,
    decision: str,
    reasons: list[str],
    user: str,
    assessment: dict | None = None,
) -> int:
    """Record a decision to intervene in a failing commissioner, with its reasons, audited.

    The inspection area's failure regime takes open interventions over when it exists; until then the
    decision and its reasons are the record.
    """
    if not str(commissioner_code).strip():
        raise InputError(Problem("intervention", None, "commissioner_code", "value is missing"))
    if not str(decision).strip():
        raise InputError(Problem("intervention", None, "decision", "value is missing"))
    if not reasons or not all(str(r).strip() for r in reasons):
        raise InputError(Problem("intervention", None, "reasons", "give at least one reason"))
    with engine.begin() as connection:
        new_id = connection.execute(
            fund_intervention.insert().values(
                commissioner_code=commissioner_code,
                year=year,
                decision=decision,
                reasons=list(reasons),
                assessment=assessment,
                status="open",
                user_name=user,
                decided_at=dt.datetime.now(dt.UTC),
            )
        ).inserted_primary_key[0]
        repository.audit(
            connection,
            user,
            "intervention.decided",
            "fund_intervention",
            str(new_id),
            {
                "commissioner_code": commissioner_code,
                "year": year,
                "decision": decision,
                "reasons": list(reasons),
            },
        )
    return int(new_id)


def interventions(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as connection:
        rows = (
            connection.execute(sa.select(fund_intervention).order_by(fund_intervention.c.id)).mappings().all()
        )
    return pd.DataFrame(rows, columns=[c.name for c in fund_intervention.columns])
