"""From per-indicator flags to organisations: the proportion-of-possible-score risk score, priority
bands 1-6, counts by key question (CQC Intelligent Monitoring, docs/methods/intelligent-monitoring.md).

score = Σ points / (max points × applicable indicators), with risk = 1 point and elevated risk = 2
(configurable); an indicator is applicable when it has a flag (not "insufficient data", not a
neutral-polarity indicator) and is not out of date (:func:`out_of_date_kinds`; unless the settings'
``freshness.score_out_of_date`` says to score such indicators too). Bands: band 1 = highest risk; cut-points are quantiles of the scores of the
organisations being banded (among their own kind by default) or fixed scores. Organisations in special
measures are forced to band 1; recently inspected ones are shown as "recently inspected", not banded;
organisations with no applicable indicator have "insufficient data". A validated concern raised by an
organisation's staff (whistleblowing, triaged by an analyst) counts as one more applicable indicator at
elevated risk, as CQC's Intelligent Monitoring counted whistleblowing alerts: only for organisations
the pass monitors, and only when there is such a concern (a pass without any scores exactly as before).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from carelens.monitor.settings import MonitorSettings
from carelens.stats.groups import Groups

ORG_RESULT_COLUMNS = (
    "org_code",
    "kind",
    "indicators",
    "applicable",
    "risks",
    "elevated",
    "spc_alerts",
    "insufficient",
    "out_of_date",
    "score",
    "band",
    "status",
)


def months_between(earlier: np.ndarray, later: np.ndarray) -> np.ndarray:
    """Whole calendar months from ``earlier`` to ``later`` (dates as ``datetime64``): 2019-03 to 2012-10
    is -77; days within the month do not count."""
    a = np.asarray(earlier, dtype="datetime64[M]").astype(np.int64)
    b = np.asarray(later, dtype="datetime64[M]").astype(np.int64)
    return b - a


@dataclass(frozen=True)
class IndicatorKinds:
    """Each row's indicator and organisation kind as integer codes (kind ``unknown`` for an organisation
    not in the register), with the names behind the codes."""

    indicator: np.ndarray
    indicator_names: pd.Index
    kind: np.ndarray
    kind_names: np.ndarray

    @classmethod
    def of(cls, flags: pd.DataFrame, organisations: pd.DataFrame) -> IndicatorKinds:
        """Codes of ``flags``' rows, looking each distinct organisation up once (not once per row)."""
        kind_of = organisations.drop_duplicates("code").set_index("code")["kind"]
        ind_codes, ind_names = pd.factorize(flags["indicator_id"])
        org_codes, org_names = pd.factorize(flags["org_code"])
        org_names = np.asarray(org_names, dtype=object)  # text, also from a categorical column
        kinds = pd.Index(org_names).map(kind_of).fillna("unknown").to_numpy(dtype=object)
        kind_codes, kind_names = pd.factorize(kinds)
        return cls(
            ind_codes, pd.Index(ind_names), kind_codes[org_codes], np.asarray(kind_names, dtype=object)
        )


def out_of_date_kinds(
    flags: pd.DataFrame,
    organisations: pd.DataFrame,
    max_age_months: int | None,
    current_by_construction: Iterable[str] = (),
) -> dict[str, list[str]]:
    """For each indicator, the organisation kinds it is out of date for: its latest period is more than
    ``max_age_months`` before the newest latest period of any indicator assessed for organisations of
    that kind in the same pass (docs/methods/judgements.md). SHMI from 2012 beside A&E from 2019 is
    out of date for NHS trusts; nothing is out of date when ``max_age_months`` is None.
    ``current_by_construction``: indicators counted from what people send the regulator up to the day of
    the pass (confidential ones), which do not set the newest period, so a store of historical
    publications does not become out of date because someone shared an experience today (unless a kind
    has nothing else)."""
    if max_age_months is None or flags.empty:
        return {}
    coded = IndicatorKinds.of(flags, organisations)
    # The first row of each (indicator, kind), found on integer codes: a national pass has millions of
    # rows but only indicators x kinds pairs, and only those rows' periods are read.
    key = coded.indicator * len(coded.kind_names) + coded.kind
    first = np.full(len(coded.indicator_names) * len(coded.kind_names), len(key))
    np.minimum.at(first, key, np.arange(len(key)))
    rows = np.sort(first[first < len(key)])
    pairs = pd.DataFrame(
        {
            "indicator_id": np.asarray(coded.indicator_names, dtype=object)[coded.indicator[rows]],
            "kind": coded.kind_names[coded.kind[rows]],
            "period": pd.to_datetime(flags["period"].iloc[rows]).to_numpy(),
        }
    )
    newest = pairs.groupby("kind")["period"].transform("max")
    ageing = pairs["period"].where(~pairs["indicator_id"].isin(list(current_by_construction)))
    newest = ageing.groupby(pairs["kind"]).transform("max").fillna(newest).to_numpy()
    old = months_between(pairs["period"].to_numpy(), newest) > max_age_months
    stale: dict[str, list[str]] = {}
    for indicator_id, kind in pairs.loc[old, ["indicator_id", "kind"]].itertuples(index=False):
        stale.setdefault(str(indicator_id), []).append(str(kind))
    return {k: sorted(v) for k, v in sorted(stale.items())}


QUESTION_COLUMNS = ("org_code", "key_question", "indicators", "applicable", "risks", "elevated", "spc_alerts")


def score_organisations(
    flags: pd.DataFrame,
    organisations: pd.DataFrame,
    key_questions: dict[str, str],
    settings: MonitorSettings,
    special_measures: Iterable[str] = (),
    recently_inspected: Iterable[str] = (),
    staff_concerns: Iterable[str] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-organisation scores and bands, and per organisation x key question counts (both sorted);
    organisations in ``staff_concerns`` score one more indicator at elevated risk."""
    org_codes, org_names = pd.factorize(flags["org_code"], sort=True)
    groups = Groups(org_codes.astype(np.int64), len(org_names))
    code = flags["flag_code"].to_numpy(dtype=np.int64)
    alert = flags["spc_alert"].to_numpy(dtype=bool)
    stale = (
        flags["out_of_date"].to_numpy(dtype=bool) if "out_of_date" in flags else np.zeros(len(flags), bool)
    )
    if not settings.score_out_of_date:  # out of date: neither applicable nor scored
        code = np.where(stale & (code >= 0), -3, code)
    applicable = code >= 0
    points = np.where(code == 1, settings.points_risk, 0) + np.where(code == 2, settings.points_elevated, 0)
    n_applicable = groups.count(applicable)
    total = groups.sum(points)
    indicators, elevated = groups.count(), groups.count(code == 2)
    concerns = set(staff_concerns)
    if concerns:  # a validated staff concern: one more applicable indicator, at elevated risk
        raised = np.isin(np.asarray(org_names, dtype=object), sorted(concerns)).astype(np.int64)
        indicators, n_applicable, elevated = indicators + raised, n_applicable + raised, elevated + raised
        total = total + raised * settings.points_elevated
    max_points = max(settings.points_risk, settings.points_elevated)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(n_applicable > 0, total / (max_points * n_applicable), np.nan)

    kind_index = pd.Index(organisations["code"].astype(object))
    where = kind_index.get_indexer(np.asarray(org_names, dtype=object))
    kinds = np.where(
        where >= 0, organisations["kind"].to_numpy(dtype=object)[np.maximum(where, 0)], "unknown"
    )
    result = pd.DataFrame(
        {
            "org_code": np.asarray(org_names, dtype=object),
            "kind": kinds.astype(object),
            "indicators": indicators,
            "applicable": n_applicable,
            "risks": groups.count(code == 1),
            "elevated": elevated,
            "spc_alerts": groups.count(alert),
            "insufficient": groups.count(code == -1),
            "out_of_date": groups.count(stale),
            "score": score,
        }
    )
    result["band"], result["status"] = assign_bands(
        result, settings, set(special_measures), set(recently_inspected)
    )

    # Key question of each row, looked up once per indicator rather than once per row.
    ind_codes, ind_names = pd.factorize(flags["indicator_id"])
    kq_of_indicator = np.array([key_questions.get(i) or "unassigned" for i in ind_names], dtype=object)
    kq_codes, kq_names = pd.factorize(kq_of_indicator)
    kq = kq_of_indicator[ind_codes]
    q_groups = Groups.from_keys(org_codes.astype(np.int64) * max(len(kq_names), 1) + kq_codes[ind_codes])
    first = np.zeros(q_groups.n, dtype=np.int64)
    first[q_groups.codes[::-1]] = np.arange(len(code))[::-1]
    questions = pd.DataFrame(
        {
            "org_code": np.asarray(org_names, dtype=object)[org_codes[first]],
            "key_question": kq[first],
            "indicators": q_groups.count(),
            "applicable": q_groups.count(applicable),
            "risks": q_groups.count(code == 1),
            "elevated": q_groups.count(code == 2),
            "spc_alerts": q_groups.count(alert),
        }
    )
    questions = questions.sort_values(["org_code", "key_question"], kind="stable").reset_index(drop=True)
    return result, questions


def assign_bands(
    orgs: pd.DataFrame, settings: MonitorSettings, special_measures: set[str], recently_inspected: set[str]
) -> tuple[pd.Series, pd.Series]:
    """Band (1-6, or missing) and status of each organisation row (columns org_code, kind, score)."""
    score = orgs["score"].to_numpy(dtype=float)
    scored = np.isfinite(score)
    within = orgs["kind"].to_numpy(dtype=object) if settings.band_within == "kind" else np.zeros(len(orgs))
    groups = Groups.from_keys(within) if len(orgs) else Groups.single(0)
    cuts = np.asarray(settings.band_cut_points, dtype=float)
    if settings.band_method == "quantile":
        values = np.where(scored, score, np.nan)
        thresholds = groups.quantiles(values, cuts)[:, groups.codes]  # (5, rows)
    else:
        thresholds = np.repeat(cuts[:, None], len(orgs), axis=1)
    above = (score[None, :] > thresholds).sum(axis=0)
    band = 6 - above
    band = np.where(score == 0, np.maximum(band, settings.zero_score_band), band)
    codes = orgs["org_code"].to_numpy(dtype=object)
    special = np.isin(codes, list(special_measures))
    recent = np.isin(codes, list(recently_inspected)) & ~special
    status = np.where(scored, "banded", "insufficient data").astype(object)
    status[special] = "special measures"
    status[recent] = "recently inspected"
    band = np.where(special, 1, band)
    band_series = pd.Series(band, dtype="Int64")
    band_series[(~scored & ~special) | recent] = pd.NA
    return band_series, pd.Series(status, dtype=object)
