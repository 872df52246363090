"""Commissioner assessment: outcomes against peers, finance, leadership; a rating with its reasons.

docs/methods/nhs-oversight.md (CCG Improvement and Assessment Framework; NHS Oversight Framework).
Rules are data (``config/fund/assessment.yaml``). Steps:

1. **Outcomes**: each indicator's latest period is judged across the commissioners assessed by
   :func:`carelens.monitor.kernel.judge` with the indicator's one comparison specification
   (:func:`carelens.monitor.comparison.comparison_for`: funnel, method, thresholds, small-number rule;
   docs/methods/comparison.md), so a commissioner's verdict on an indicator is the one a monitoring run
   over the same observations stores. Net worse share = (worse − better) / indicators scored (verdict
   worse, better or as expected; neutral indicators are compared, not scored) gives the outcomes rating
   by thresholds.
2. **Finance**: surplus (+) or deficit (−) = allocation − spend, as a share of allocation; running
   costs against allowance. Either can cap the rating.
3. **Leadership**: a panel's rating (input) caps the overall rating.
4. **Overall** = the worst of the three, with one plain-English reason per step; a commissioner rated
   at ``intervene_at`` gets a proposed intervention (:func:`record_intervention` records the decision).

**No evidence, no rating.** A commissioner with no indicator scored against its peers has outcomes
:data:`NOT_ASSESSED` (the reason names the indicators it has no observation of, and why each of the
others could not be compared); one with no finance return has finance not assessed; the overall rating
is not assessed when any part ``overall.required`` names is, and says which. A rating is never good or
outstanding for want of evidence, and no intervention is proposed or recorded on a commissioner that is
not assessed.

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

from carelens.config import packaged, read_settings
from carelens.errors import InputError, Problem
from carelens.model.organisations import OrgKind
from carelens.monitor.comparison import Comparison, comparison_for
from carelens.monitor.kernel import JUDGEMENT_COLUMNS, judge
from carelens.monitor.settings import MonitorSettings, load_settings
from carelens.store import repository, schema
from carelens.store.schema_fund import fund_commissioner_assessment, fund_intervention

RATINGS = ("outstanding", "good", "requires_improvement", "inadequate")
"""Best first; a rating's position is its severity."""
NOT_ASSESSED = "not assessed"
"""A part (or the whole) of an assessment with no evidence to rate it: never a rating in :data:`RATINGS`."""
PARTS = ("outcomes", "finance", "leadership")
"""The parts of an assessment ``overall.required`` may name."""
PEER_GROUP = "commissioners"
"""Peer-group label of the outcome funnels: every commissioner assessed is compared with all the others."""
SCORED_VERDICTS = {"worse": "worse", "better": "better", "as expected": "within"}
"""Verdicts that count towards the outcomes rating, and the scorecard column each is counted in."""
RETIRED = {
    "outcomes.level": "limits come from each indicator's comparison specification (its definition's "
    "levels, else the monitoring settings' flags.risk_z)",
    "outcomes.overdispersion": "overdispersion comes from the monitoring settings (funnel.overdispersion)",
}
"""Fields of older rule files that no longer decide anything (docs/methods/comparison.md)."""


@dataclass(frozen=True)
class AssessmentRules:
    outstanding_net_better: float
    ri_net_worse: float
    inadequate_net_worse: float
    ri_deficit: float
    inadequate_deficit: float
    running_costs_cap: str
    leadership_caps: bool
    required: tuple[str, ...]
    """Parts that must be assessed for an overall rating (else the overall is not assessed)."""
    intervene_at: str
    size_bands: tuple[float, ...]
    source: str


def load_rules(path: str | Path | None = None) -> AssessmentRules:
    """Read the assessment rules (packaged defaults unless ``path`` is given)."""
    r = read_settings(path, packaged("fund", "assessment.yaml"))
    for dotted, why in RETIRED.items():
        r.retired(dotted, why)
    if r.get("overall.rule", str, default="worst_of") != "worst_of":
        r.problem("overall.rule", "must be worst_of (the overall rating is the worst of the parts)")
    share = {"minimum": 0.0, "maximum": 1.0}
    required = r.get("overall.required", list, of=str)
    rules = AssessmentRules(
        outstanding_net_better=r.get("outcomes.outstanding_if_net_better_at_least", float, **share),
        ri_net_worse=r.get("outcomes.requires_improvement_if_net_worse_at_least", float, **share),
        inadequate_net_worse=r.get("outcomes.inadequate_if_net_worse_at_least", float, **share),
        ri_deficit=r.get("finance.requires_improvement_if_deficit_over", float, **share),
        inadequate_deficit=r.get("finance.inadequate_if_deficit_over", float, **share),
        running_costs_cap=r.get("finance.running_costs_over_allowance", str),
        leadership_caps=bool(r.get("leadership.cap_overall", bool, default=True)),
        required=tuple(required or ()),
        intervene_at=r.get("overall.intervene_at", str),
        size_bands=tuple(r.get("size.bands", list, default=[], of=float) or ()),
        source=r.source,
    )
    for attribute, field_name in (
        ("running_costs_cap", "finance.running_costs_over_allowance"),
        ("intervene_at", "overall.intervene_at"),
    ):
        if getattr(rules, attribute) not in RATINGS:
            r.problem(field_name, f"must be one of {', '.join(RATINGS)}")
    if required is not None and (not rules.required or not set(rules.required) <= set(PARTS)):
        r.problem("overall.required", f"must list one or more of {', '.join(PARTS)}, got {required!r}")
    r.raise_if_any()
    return rules


@dataclass(frozen=True)
class Assessment:
    """Per-indicator judgements, the per-commissioner scorecard, and the size analysis."""

    comparisons: pd.DataFrame
    scorecard: pd.DataFrame
    size: pd.DataFrame
    size_correlation: float
    size_p_value: float


COMPARISON_COLUMNS = ("domain", *JUDGEMENT_COLUMNS)
"""Columns of :attr:`Assessment.comparisons`: each indicator's key question or domain, then the
judgement exactly as :func:`carelens.monitor.kernel.judge` gives it."""


def outcome_comparisons(definitions: dict, indicator_ids, settings: MonitorSettings) -> dict[str, Comparison]:
    """The one comparison specification of each indicator (InputError for one that has no definition or
    whose value type nothing can compare)."""
    problems, specs = [], {}
    for indicator_id in sorted(set(indicator_ids)):
        if indicator_id not in definitions:
            problems.append(
                Problem("observations", None, "indicator_id", f"no indicator definition for {indicator_id!r}")
            )
            continue
        try:
            specs[indicator_id] = comparison_for(indicator_id, definitions[indicator_id], settings)
        except ValueError as exc:
            problems.append(Problem("observations", None, "indicator_id", str(exc)))
    if problems:
        raise InputError(problems)
    return specs


def compare_outcomes(
    observations: pd.DataFrame,
    definitions: dict,
    settings: MonitorSettings | None = None,
    commissioners=None,
) -> pd.DataFrame:
    """Each commissioner's latest value of each indicator judged against its peers (columns
    :data:`COMPARISON_COLUMNS`).

    ``observations``: indicator_id, org_code, period, numerator, denominator and, where the indicator
    needs them, expected and value. Peers are every commissioner given (``commissioners``: the codes
    assessed, default everyone in ``observations``) with an observation in the indicator's latest
    period; each indicator is compared as its comparison specification says (``settings``: the
    monitoring settings, default the packaged ones), by the monitoring kernel's :func:`judge`.
    """
    if observations.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COMPARISON_COLUMNS})
    settings = settings or load_settings()
    specs = outcome_comparisons(definitions, observations["indicator_id"].unique(), settings)
    obs = observations
    if commissioners is not None:
        obs = obs[obs["org_code"].isin(set(commissioners))]
    obs = obs.assign(period=pd.to_datetime(obs["period"]))
    latest = obs["period"] == obs.groupby("indicator_id")["period"].transform("max")
    obs = obs[latest].reset_index(drop=True)
    for column in ("numerator", "denominator", "expected", "value"):
        if column not in obs:
            obs[column] = np.nan
    if obs.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COMPARISON_COLUMNS})
    frame = obs[["indicator_id", "org_code", "period", "numerator", "denominator", "expected", "value"]]
    judged = judge(frame.assign(peer_group=PEER_GROUP), specs, settings)
    judged.insert(0, "domain", judged["indicator_id"].map({k: s.key_question for k, s in specs.items()}))
    return judged[list(COMPARISON_COLUMNS)]


def _worst(*ratings: pd.Series) -> pd.Series:
    codes = np.max(np.vstack([r.map(RATINGS.index).to_numpy(dtype=int) for r in ratings]), axis=0)
    return pd.Series(np.asarray(RATINGS, dtype=object)[codes], index=ratings[0].index)


def _and(names: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names)


def _percent(level: float) -> str:
    return f"{level:.4g}%" if abs(level - round(level, 1)) > 1e-3 else f"{round(level, 1):g}%"


def _why_not_compared(rows: pd.DataFrame, polarity: dict[str, str]) -> str:
    """'a (reason); b (reason)' for a commissioner's judgement rows that do not count."""
    parts = []
    for indicator_id, verdict, reason in zip(
        rows["indicator_id"], rows["verdict"], rows["reason"], strict=True
    ):
        if verdict == "not compared":
            parts.append(f"{indicator_id} ({reason or 'not compared'})")
        elif polarity.get(indicator_id) == "neutral":
            parts.append(f"{indicator_id} (neutral polarity: compared, not scored)")
    return "; ".join(parts)


def _outcome_reasons(
    card: pd.DataFrame, comparisons: pd.DataFrame, specs: dict[str, Comparison]
) -> dict[str, str]:
    """One reason per commissioner: what its outcomes rating rests on, or why it is not assessed."""
    polarity = {k: s.polarity for k, s in specs.items()}
    by_org = dict(tuple(comparisons.groupby("org_code"))) if not comparisons.empty else {}
    indicators = sorted(set(comparisons["indicator_id"])) if not comparisons.empty else []
    levels = sorted({s.verdict_level for s in specs.values()})
    limits = " or ".join(_percent(level) for level in levels)
    out = {}
    for code, row in card.iterrows():  # explanation text only; the arithmetic is vectorised
        rows = by_org.get(code, comparisons.iloc[0:0])
        missing = [i for i in indicators if i not in set(rows["indicator_id"])]
        uncounted = _why_not_compared(rows, polarity)
        if row["assessed"] > 0:
            text = (
                f"outcomes: {row['worse']} of {row['assessed']} indicators worse and {row['better']} better "
                f"than peers at their {limits} limits (net worse {row['net_worse_share']:+.0%}): "
                f"{row['outcomes_rating']}"
            )
            if uncounted:
                text += f"; not counted: {uncounted}"
            if missing:
                text += f"; no observation of {', '.join(missing)}"
            out[code] = text
            continue
        if comparisons.empty:
            why = "no commissioner assessed has an observation of any indicator"
        elif rows.empty:
            why = f"no observation of any indicator compared ({', '.join(indicators)})"
        else:
            why = "no indicator could be compared with peers: " + uncounted
            if missing:
                why += f"; no observation of {', '.join(missing)}"
        out[code] = f"outcomes: {NOT_ASSESSED}: {why}"
    return out


def assess(
    commissioners: pd.DataFrame,
    observations: pd.DataFrame,
    definitions: dict,
    rules: AssessmentRules,
    finance: pd.DataFrame | None = None,
    leadership: pd.DataFrame | None = None,
    *,
    settings: MonitorSettings | None = None,
    year: int | None = None,
) -> Assessment:
    """Assess every commissioner in ``commissioners`` (columns commissioner_code, population and, for
    running costs, running_cost_allowance_gbp).

    ``finance``: commissioner_code, allocation_gbp, spend_gbp, optional running_costs_gbp (one row per
    commissioner returning its accounts for ``year``). ``leadership``: commissioner_code, leadership (a
    rating in :data:`RATINGS`). ``settings``: the monitoring settings the outcome comparisons use.
    """
    from carelens.fund.scenario import year_label

    settings = settings or load_settings()
    codes = list(commissioners["commissioner_code"])
    comparisons = compare_outcomes(observations, definitions, settings, codes)
    specs = outcome_comparisons(definitions, comparisons["indicator_id"].unique(), settings)
    card = commissioners[["commissioner_code", "population"]].copy().set_index("commissioner_code")
    scored = comparisons[comparisons["verdict"].isin(list(SCORED_VERDICTS))]
    counts = (
        pd.crosstab(scored["org_code"], scored["verdict"].map(SCORED_VERDICTS))
        if not scored.empty
        else pd.DataFrame()
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
    outcomes[card["assessed"] == 0] = NOT_ASSESSED
    card["outcomes_rating"] = outcomes
    outcome_text = _outcome_reasons(card, comparisons, specs)
    reasons = {code: [outcome_text[code]] for code in card.index}

    period = year_label(year) if year is not None else "the year"
    finance_rating = pd.Series(NOT_ASSESSED, index=card.index, dtype=object)
    if finance is not None:
        absent = [c for c in ("commissioner_code", "allocation_gbp", "spend_gbp") if c not in finance]
        if absent:
            source = finance.attrs.get("source", "finance")
            raise InputError([Problem(source, None, c, "required column is missing") for c in absent])
        f = finance.set_index("commissioner_code").reindex(card.index)
    else:
        f = pd.DataFrame(index=card.index, columns=["allocation_gbp", "spend_gbp"], dtype=float)
    card["allocation_gbp"] = f["allocation_gbp"].astype(float)
    card["spend_gbp"] = f["spend_gbp"].astype(float)
    card["surplus_gbp"] = card["allocation_gbp"] - card["spend_gbp"]
    card["surplus_share"] = card["surplus_gbp"] / card["allocation_gbp"]
    returned = card["surplus_share"].notna()
    deficit = -card["surplus_share"]
    finance_rating[returned] = "outstanding"  # no concern
    finance_rating[returned & (deficit > rules.ri_deficit)] = "requires_improvement"
    finance_rating[returned & (deficit > rules.inadequate_deficit)] = "inadequate"
    if "running_costs_gbp" in f and "running_cost_allowance_gbp" in commissioners:
        allowance = commissioners.set_index("commissioner_code")["running_cost_allowance_gbp"].reindex(
            card.index
        )
        card["running_costs_gbp"] = f["running_costs_gbp"]
        card["running_cost_allowance_gbp"] = allowance
        over = returned & (card["running_costs_gbp"] > allowance)
        capped = _worst(
            finance_rating.where(returned, "outstanding"),
            pd.Series(rules.running_costs_cap, index=card.index),
        )
        finance_rating = finance_rating.where(~over, capped)
    for code, row in card.iterrows():
        if not returned[code]:
            reasons[code].append(f"finance: {NOT_ASSESSED}: no finance return for {period}")
            continue
        word = "surplus" if row["surplus_gbp"] >= 0 else "deficit"
        text = (
            f"finance: {word} of £{abs(row['surplus_gbp']):,.0f} ({row['surplus_share']:+.1%} of allocation)"
        )
        if "running_costs_gbp" in card and pd.notna(row.get("running_costs_gbp")):
            within = row["running_costs_gbp"] <= row["running_cost_allowance_gbp"]
            text += (
                f"; running costs £{row['running_costs_gbp']:,.0f} "
                f"{'within' if within else 'over'} allowance £{row['running_cost_allowance_gbp']:,.0f}"
            )
        reasons[code].append(f"{text}: {finance_rating[code].replace('outstanding', 'no concern')}")
    card["finance_rating"] = finance_rating

    leadership_rating = pd.Series(NOT_ASSESSED, index=card.index, dtype=object)
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
        leadership_rating = given.fillna(NOT_ASSESSED).astype(object)
        for code, value in given.dropna().items():
            reasons[code].append(f"leadership: panel rated {value}")
    parts = {"outcomes": card["outcomes_rating"], "finance": finance_rating, "leadership": leadership_rating}
    missing = pd.Series(
        [_and([p for p in rules.required if parts[p][code] == NOT_ASSESSED]) for code in card.index],
        index=card.index,
        dtype=object,
    )
    capping = {name: parts[name] for name in PARTS if name != "leadership" or rules.leadership_caps}
    worst = _worst(*(p.where(p != NOT_ASSESSED, RATINGS[0]) for p in capping.values()))
    # with nothing assessed at all there is nothing to rate, whatever overall.required says
    nothing = np.logical_and.reduce([(p == NOT_ASSESSED).to_numpy() for p in capping.values()])
    missing[nothing & (missing == "")] = _and(list(capping))
    overall = worst.where(missing == "", NOT_ASSESSED)
    card["overall"] = overall
    card["not_assessed"] = missing
    for code in card.index[overall == NOT_ASSESSED]:
        reasons[code].append(
            f"overall: {NOT_ASSESSED}: {missing[code]} not assessed, and an overall rating needs evidence "
            f"on {_and(list(rules.required))} (a missing part is never rated good or outstanding)"
        )
    card["intervene"] = overall.isin(RATINGS) & (
        overall.map(lambda r: RATINGS.index(r) if r in RATINGS else -1) >= RATINGS.index(rules.intervene_at)
    )
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
    """Current observations of every commissioner in the store, but those of a confidential indicator
    (``confidential: true``: people's experiences shared with the regulator, never published), which are
    no outcome a commissioner is assessed on in public."""
    obs, org = schema.observation, schema.organisation
    confidential = sorted(repository.confidential_indicators(connection))
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
        .where(
            org.c.kind == OrgKind.COMMISSIONER.value,
            obs.c.superseded_by.is_(None),
            obs.c.indicator_id.not_in(confidential),
        )
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
    decision and its reasons are the record. An ``assessment`` whose overall rating is
    :data:`NOT_ASSESSED` is refused: no intervention rests on an assessment without evidence.
    """
    if assessment is not None and assessment.get("overall") == NOT_ASSESSED:
        raise InputError(
            Problem(
                "intervention",
                None,
                "assessment",
                f"commissioner {commissioner_code!r} is {NOT_ASSESSED}: an intervention needs an assessment "
                "with evidence",
            )
        )
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


def record_assessments(engine: sa.Engine, scorecard: pd.DataFrame, year: int, user: str) -> list[int]:
    """Record each commissioner's assessment of a year (overall, outcomes and finance ratings, reasons),
    audited in one transaction: the evidence a commissioner intervention is closed on
    (:mod:`carelens.plan.regime`). Returns the new ids, in scorecard order."""
    if not (user or "").strip():
        raise InputError(Problem("assessment", None, "user", "who records the assessment must be named"))
    now = dt.datetime.now(dt.UTC)
    ids = []
    with engine.begin() as connection:
        for row in scorecard.to_dict("records"):
            values = dict(
                commissioner_code=row["commissioner_code"],
                year=year,
                overall=row["overall"],
                outcomes=row.get("outcomes_rating"),
                finance=row.get("finance_rating"),
                reasons=[str(r) for r in row["reasons"]],
                user_name=user,
                recorded_at=now,
            )
            new_id = int(
                connection.execute(
                    fund_commissioner_assessment.insert().values(**values)
                ).inserted_primary_key[0]
            )
            repository.audit(
                connection,
                user,
                "assessment.recorded",
                fund_commissioner_assessment.name,
                str(new_id),
                {k: values[k] for k in ("commissioner_code", "year", "overall", "outcomes", "finance")},
            )
            ids.append(new_id)
    return ids


def interventions(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as connection:
        rows = (
            connection.execute(sa.select(fund_intervention).order_by(fund_intervention.c.id)).mappings().all()
        )
    return pd.DataFrame(rows, columns=[c.name for c in fund_intervention.columns])
