"""CQC rating principles (KLOE era, docs/methods/ratings-aggregation.md) as vectorised rules over long
tables.

One kernel, :func:`decide`, turns counts of underlying ratings into an aggregated rating and the rule
that decided it; :func:`aggregate` counts ratings per group of a long table with ``np.bincount`` (no
Python loop per group) and applies it. On top of it:

- :func:`adult_social_care`: key questions -> location overall, with rating limiters (breach of
  regulations; registered manager absent and the other well-led limiters).
- :func:`nhs_trust`: the six levels of NHS trust ratings (key question x core service -> core service ->
  key question x location -> location -> trust key question -> trust overall), with enforcement limiters
  at key question x core service level, well-led from the trust-level assessment and Use of Resources.
- :func:`carry_forward`: ratings after a focused inspection (key questions not inspected carry forward).

The thresholds come from :class:`carelens.assess.config.RulesConfig` (``ratings.yaml``). The rules give
a *default*: departures by professional judgement are recorded with :mod:`carelens.assess.history`.

**A partial set of key questions is never rated as complete.** Every step that aggregates key questions
into an overall rating (adult social care location overall; NHS core service, location and trust
overall) has ``complete_with`` (key questions a complete rating needs: all five for adult social care
and the trust, four for a core service or location, as CQC rates outpatients and diagnostic imaging
without effective) and ``rate_with`` (the fewest for any rating; ``ratings.yaml``). With fewer than
``rate_with`` the overall is not rated (reason ``incomplete``) and its explanation says so: "rated on
three of five key questions (...; not rated: ...), and a complete rating needs at least five, so this
is not a complete rating (the rules on these three alone would give Good)"; between the two it is rated,
``complete`` is false and the explanation says "not a complete rating" (a trust without its trust-level
well-led assessment); a rating on fewer than five always says which are not rated. A limiter never
turns a result that is not rated into a rating. Steps that aggregate one key question across
core services or locations are not affected (a core service that does not rate a key question is
simply not counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from carelens.assess.config import Limiter, RulesConfig, XTable, load_rules
from carelens.assess.explain import REASONS, explain
from carelens.assess.scale import CODES, KEY_QUESTIONS, NOT_RATED, OVERALL, to_codes, to_labels
from carelens.errors import InputError, Problem

_REASON = {name: i for i, name in enumerate(REASONS)}
_KQ_ORDER = {question: i for i, question in enumerate(KEY_QUESTIONS)}
OUT, GOOD, RI, INAD = CODES["Outstanding"], CODES["Good"], CODES["Requires improvement"], CODES["Inadequate"]


def decide(
    n_outstanding: np.ndarray,
    n_good: np.ndarray,
    n_ri: np.ndarray,
    n_inadequate: np.ndarray,
    table: XTable,
) -> tuple[np.ndarray, np.ndarray]:
    """Aggregated rating codes and reason codes (index into ``REASONS``) from counts of each rating.

    Order (first that applies): >= X Inadequate -> Inadequate; any Inadequate -> Requires improvement;
    >= X Requires improvement -> Requires improvement; >= X Outstanding and the rest Good -> Outstanding;
    otherwise Good. X comes from ``table`` by the number of underlying ratings.
    """
    n_outstanding, n_good, n_ri, n_inadequate = (
        np.asarray(a, dtype=np.int64) for a in (n_outstanding, n_good, n_ri, n_inadequate)
    )
    n = n_outstanding + n_good + n_ri + n_inadequate
    x_out, x_ri, x_inad = table.lookup(n)
    conditions = [
        n == 0,
        n_inadequate >= x_inad,
        n_inadequate > 0,
        n_ri >= x_ri,
        (n_ri == 0) & (n_outstanding >= x_out),
    ]
    rating = np.select(conditions, [NOT_RATED, INAD, RI, RI, OUT], default=GOOD).astype(np.int8)
    reason = np.select(
        conditions,
        [_REASON[r] for r in REASONS[:5]],
        default=_REASON["good"],
    ).astype(np.int8)
    return rating, reason


def limit(codes: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Apply "no better than" caps (codes; 0 or above 4 = no cap); unrated items stay unrated."""
    codes = np.asarray(codes, dtype=np.int8)
    caps = np.where(np.asarray(caps) > 0, caps, 4).astype(np.int8)
    return np.where(codes > NOT_RATED, np.minimum(codes, caps), codes).astype(np.int8)


def aggregate(
    frame: pd.DataFrame,
    by: Sequence[str],
    table: XTable,
    *,
    codes: str = "code",
    name: str | None = None,
    complete_with: int | None = None,
    rate_with: int | None = None,
) -> pd.DataFrame:
    """Aggregate the rating codes in column ``codes`` of a long table over groups ``by``.

    Returns one row per group: the ``by`` columns, ``n_rated`` and a count per rating, ``x_outstanding``
    / ``x_requires_improvement`` / ``x_inadequate`` (thresholds used), ``code`` (the aggregated rating),
    ``reason`` (the rule that decided it) and, when ``name`` names a column, ``names_outstanding`` /
    ``names_requires_improvement`` / ``names_inadequate`` (lists of the underlying items, for explanations).

    ``complete_with``: the underlying items are key questions (``name``), and a complete rating needs at
    least this many of the five rated; ``rate_with`` (default the same, at most ``complete_with``): the
    fewest rated for any rating. A group with fewer than ``rate_with`` (but some) is not rated, reason
    ``incomplete``; one with at least ``rate_with`` but fewer than ``complete_with`` is rated and its
    explanation says it is not a complete rating. ``complete`` says whether a group's rating rests on
    enough key questions; ``partial_code`` keeps what the rules give on the key questions rated, and
    ``names_rated`` / ``names_not_rated`` list them, for the explanation.
    """
    by = list(by)
    if frame.empty:
        columns = [
            *by,
            "n_rated",
            "n_outstanding",
            "n_good",
            "n_requires_improvement",
            "n_inadequate",
            "code",
        ]
        return pd.DataFrame(columns=columns)
    grouped = frame.groupby(by, sort=True, dropna=False)
    ids = grouped.ngroup().to_numpy()
    out = grouped.size().index.to_frame(index=False)
    size = len(out)
    values = frame[codes].to_numpy(dtype=np.int64)
    counts = {c: np.bincount(ids[values == c], minlength=size) for c in (OUT, GOOD, RI, INAD)}
    rating, reason = decide(counts[OUT], counts[GOOD], counts[RI], counts[INAD], table)
    n = counts[OUT] + counts[GOOD] + counts[RI] + counts[INAD]
    x_out, x_ri, x_inad = table.lookup(n)
    out["n_rated"] = n
    out["n_outstanding"] = counts[OUT]
    out["n_good"] = counts[GOOD]
    out["n_requires_improvement"] = counts[RI]
    out["n_inadequate"] = counts[INAD]
    out["x_outstanding"], out["x_requires_improvement"], out["x_inadequate"] = x_out, x_ri, x_inad
    out["complete"] = n > 0
    if complete_with is not None:
        if name is None:
            raise ValueError("complete_with needs the name column of the key questions")
        is_question = frame[name].isin(KEY_QUESTIONS).to_numpy() & (values > NOT_RATED)
        questions = np.bincount(ids[is_question], minlength=size)
        rate_with = complete_with if rate_with is None else min(rate_with, complete_with)
        short = (questions < rate_with) & (n > 0)
        out["partial_code"] = rating
        out["complete"] = (n > 0) & (questions >= complete_with)
        rating = np.where(short, NOT_RATED, rating).astype(np.int8)
        reason = np.where(short, _REASON["incomplete"], reason).astype(np.int8)
        rated = pd.DataFrame({"id": ids[is_question], "name": frame.loc[is_question, name].to_numpy()})
        lists = rated.groupby("id")["name"].agg(lambda q: [k for k in KEY_QUESTIONS if k in set(q)])
        out["names_rated"] = [lists.get(i, []) for i in range(size)]
        out["names_not_rated"] = [[k for k in KEY_QUESTIONS if k not in r] for r in out["names_rated"]]
        out["required"] = complete_with
    out["code"] = rating
    out["reason"] = np.asarray(REASONS, dtype=object)[reason]
    if name is not None:
        order = frame[name].map(_KQ_ORDER).fillna(len(KEY_QUESTIONS)).to_numpy()
        for code, column in (
            (OUT, "names_outstanding"),
            (RI, "names_requires_improvement"),
            (INAD, "names_inadequate"),
        ):
            mask = values == code
            named = pd.DataFrame(
                {"id": ids[mask], "order": order[mask], "name": frame.loc[mask, name].to_numpy()}
            )
            named = named.sort_values(["id", "order", "name"], kind="stable")
            lists = named.groupby("id")["name"].agg(list)
            out[column] = [lists.get(i, []) for i in range(size)]
    return out


def _explain_rows(
    result: pd.DataFrame, subject: pd.Series | str, noun: str, nouns: str, limits: pd.Series | None = None
) -> list[str]:
    """The explanation of every row of an :func:`aggregate` result (after limiters, if any)."""
    subjects = subject if isinstance(subject, pd.Series) else pd.Series(subject, index=result.index)
    rule = result["rule_code"] if "rule_code" in result else result["code"]
    limit_texts = limits if limits is not None else pd.Series([()] * len(result), index=result.index)
    if "partial_code" in result:
        partial = list(
            zip(
                result["names_rated"],
                result["names_not_rated"],
                result["required"],
                result["partial_code"],
                result["complete"],
                strict=True,
            )
        )
    else:
        partial = [None] * len(result)
    return [
        explain(
            int(code),
            reason,
            {OUT: o, RI: r, INAD: i},
            (int(xo), int(xr), int(xi)),
            subject=str(s),
            noun=noun,
            nouns=nouns,
            rule_rating=int(rc),
            limits=tuple(lt),
            incomplete=(p[0], p[1], int(p[2]), int(p[3]), bool(p[4])) if p is not None else None,
        )
        for code, rc, reason, o, r, i, xo, xr, xi, s, lt, p in zip(
            result["code"],
            rule,
            result["reason"],
            result["names_outstanding"],
            result["names_requires_improvement"],
            result["names_inadequate"],
            result["x_outstanding"],
            result["x_requires_improvement"],
            result["x_inadequate"],
            subjects,
            limit_texts,
            partial,
            strict=True,
        )
    ]


def _check_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        source = frame.attrs.get("source", what)
        raise InputError([Problem(source, None, c, "required column is missing") for c in missing])


def _limiter_caps(
    frame: pd.DataFrame,
    limiters: pd.DataFrame | None,
    known: dict[str, Limiter],
    keys: Sequence[str],
    what: str,
) -> pd.DataFrame:
    """Join limiters (``keys`` + ``limiter`` name) with their definitions; unknown names are an InputError."""
    columns = [*keys, "limiter", "limits", "cap", "text"]
    if limiters is None or limiters.empty:
        return pd.DataFrame(columns=columns)
    _check_columns(limiters, [*keys, "limiter"], what)
    names = limiters["limiter"].astype("string").str.strip()
    unknown = ~names.isin(list(known)).fillna(False).to_numpy(dtype=bool)
    if unknown.any():
        source = limiters.attrs.get("source", what)
        raise InputError(
            [
                Problem(source, int(i) + 1, "limiter", f"{names.iloc[i]!r} is not one of: {', '.join(known)}")
                for i in np.flatnonzero(unknown)
            ]
        )
    out = limiters[list(keys)].copy()
    out["limiter"] = names.to_numpy(dtype=object)
    out["limits"] = [known[n].limits for n in out["limiter"]]
    out["cap"] = [known[n].no_better_than for n in out["limiter"]]
    out["text"] = [known[n].text for n in out["limiter"]]
    return out


def _apply_caps(frame: pd.DataFrame, caps: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Cap ``frame['code']`` by the strictest cap per key; keep ``rule_code`` and ``limited_by`` texts."""
    frame = frame.copy()
    frame["rule_code"] = frame["code"]
    if caps.empty:
        frame["limited_by"] = [()] * len(frame)
        return frame
    per_key = (
        caps.groupby(list(keys), sort=False).agg(cap=("cap", "min"), limited_by=("text", tuple)).reset_index()
    )
    merged = frame.merge(per_key, on=list(keys), how="left")
    merged["code"] = limit(merged["code"].to_numpy(), merged["cap"].fillna(0).to_numpy(dtype=np.int8))
    merged["limited_by"] = [t if isinstance(t, tuple) else () for t in merged["limited_by"]]
    return merged.drop(columns="cap")


# --- adult social care -------------------------------------------------------------------------------


def adult_social_care(
    key_questions: pd.DataFrame,
    limiters: pd.DataFrame | None = None,
    config: RulesConfig | None = None,
    *,
    location: str = "location_id",
) -> pd.DataFrame:
    """Location overall ratings from key-question ratings by the adult social care rating principles.

    ``key_questions``: long table with ``location`` (default ``location_id``), ``key_question`` (the five)
    and ``rating`` (labels; anything not one of the four ratings is not counted). ``limiters``: optional
    table of ``location`` + ``limiter`` (names in ``ratings.yaml``: breach_of_regulations,
    registered_manager_absent, ...). Limiters on a key question (well-led) apply before aggregation,
    limiters on ``Overall`` after it.

    Returns one row per location: the five key-question ratings (after limiters), counts, ``rule_rating``
    (before overall limiters), ``rating``, ``reason``, ``limited_by`` and ``explanation``.
    """
    config = config or load_rules()
    _check_columns(key_questions, [location, "key_question", "rating"], "key questions")
    kq = key_questions[[location, "key_question", "rating"]].copy()
    kq["key_question"] = kq["key_question"].astype("string").str.strip().astype(object)
    kq = kq[kq["key_question"].isin(KEY_QUESTIONS)]
    kq["code"] = to_codes(kq["rating"])
    caps = _limiter_caps(kq, limiters, config.asc_limiters, [location], "limiters")
    kq_caps = caps[caps["limits"] != OVERALL].rename(columns={"limits": "key_question"})
    kq = _apply_caps(kq, kq_caps, [location, "key_question"])
    result = aggregate(
        kq,
        [location],
        config.asc_overall,
        name="key_question",
        complete_with=config.asc_complete_with,
        rate_with=config.asc_rate_with,
    )
    overall_caps = caps[caps["limits"] == OVERALL]
    result = _apply_caps(result, overall_caps, [location])
    kq_limited = (
        kq[kq["limited_by"].map(len) > 0]
        .groupby(location)["limited_by"]
        .agg(lambda t: tuple(x for tup in t for x in tup))
    )
    result["limited_by"] = [
        tuple(kq_limited.get(loc, ())) + tuple(own)
        for loc, own in zip(result[location], result["limited_by"], strict=True)
    ]
    wide = kq.pivot_table(index=location, columns="key_question", values="code", aggfunc="min")
    for question in KEY_QUESTIONS:
        codes = (
            wide[question].reindex(result[location]).fillna(0) if question in wide else np.zeros(len(result))
        )
        result[question] = to_labels(np.asarray(codes, dtype=np.int64))
    result["explanation"] = _explain_rows(
        result, "overall", "key question", "key questions", result["limited_by"]
    )
    result["rule_rating"] = to_labels(result["rule_code"])
    result["rating"] = to_labels(result["code"])
    result["limited_by"] = ["; ".join(t) for t in result["limited_by"]]
    columns = [
        location,
        *KEY_QUESTIONS,
        "n_rated",
        "n_outstanding",
        "n_good",
        "n_requires_improvement",
        "n_inadequate",
        "rule_rating",
        "rating",
        "reason",
        "limited_by",
        "explanation",
    ]
    return result[columns]


def carry_forward(
    previous: pd.DataFrame,
    focused: pd.DataFrame,
    *,
    keys: Sequence[str] = ("location_id", "key_question"),
    comprehensive_date: pd.Series | None = None,
    no_raise_after_months: int | None = None,
) -> pd.DataFrame:
    """Ratings after a focused inspection: inspected key questions take the new rating, the rest carry forward.

    ``previous`` and ``focused``: long tables with ``keys``, ``rating`` and ``date``. When
    ``no_raise_after_months`` is set (``ratings.yaml``: 6), a focused rating dated more than that many
    months after the location's last comprehensive inspection (``comprehensive_date``, a Series indexed by
    the first key; default: the latest ``previous`` date of the location) cannot be better than the
    previous rating. Returns ``keys``, ``rating``, ``date``, ``carried_forward`` (bool) and
    ``not_raised`` (the focused rating was held down).
    """
    keys = list(keys)
    _check_columns(previous, [*keys, "rating", "date"], "previous ratings")
    _check_columns(focused, [*keys, "rating", "date"], "focused inspection ratings")
    old = previous[[*keys, "rating", "date"]].copy()
    new = focused[[*keys, "rating", "date"]].copy()
    old["date"], new["date"] = pd.to_datetime(old["date"]), pd.to_datetime(new["date"])
    merged = old.merge(new, on=keys, how="outer", suffixes=("_old", "_new"))
    inspected = merged["rating_new"].notna().to_numpy()
    new_codes = to_codes(merged["rating_new"])
    old_codes = to_codes(merged["rating_old"])
    not_raised = np.zeros(len(merged), dtype=bool)
    if no_raise_after_months is not None:
        if comprehensive_date is None:
            comprehensive_date = old.groupby(keys[0])["date"].max()
        base = pd.to_datetime(merged[keys[0]].map(comprehensive_date))
        late = (
            (merged["date_new"] > base + pd.DateOffset(months=no_raise_after_months))
            .fillna(False)
            .to_numpy(bool)
        )
        not_raised = inspected & late & (old_codes > NOT_RATED) & (new_codes > old_codes)
        new_codes = np.where(not_raised, old_codes, new_codes)
    rating = np.where(inspected, to_labels(new_codes), merged["rating_old"].astype(object))
    rating = np.where(inspected & (new_codes == NOT_RATED), merged["rating_new"].astype(object), rating)
    out = merged[keys].copy()
    out["rating"] = rating
    out["date"] = np.where(inspected, merged["date_new"], merged["date_old"])
    out["date"] = pd.to_datetime(out["date"])
    out["carried_forward"] = ~inspected
    out["not_raised"] = not_raised
    return out.sort_values(keys, ignore_index=True)


# --- NHS trusts --------------------------------------------------------------------------------------


@dataclass
class TrustRatings:
    """The six levels of NHS trust ratings (acute trusts; others skip the location levels)."""

    service_key_question: pd.DataFrame
    """L1: key question x core service, after enforcement limiters."""
    service: pd.DataFrame
    """L2: core service overall."""
    location_key_question: pd.DataFrame
    """L3: key question x location (empty for trusts without a location level)."""
    location: pd.DataFrame
    """L4: location overall."""
    trust_key_question: pd.DataFrame
    """L5: trust key question (well-led from the trust-level assessment)."""
    trust: pd.DataFrame
    """L6: trust overall (with Use of Resources where given)."""


def _labelled(result: pd.DataFrame, subject: pd.Series | str, noun: str, nouns: str) -> pd.DataFrame:
    if "rule_code" not in result:
        result = result.assign(rule_code=result["code"], limited_by=[()] * len(result))
    result = result.copy()
    result["explanation"] = _explain_rows(result, subject, noun, nouns, result["limited_by"])
    result["rule_rating"] = to_labels(result["rule_code"])
    result["rating"] = to_labels(result["code"])
    result["limited_by"] = ["; ".join(t) for t in result["limited_by"]]
    return result


def _set_from_assessment(
    result: pd.DataFrame, mask: np.ndarray, codes: np.ndarray, text: str
) -> pd.DataFrame:
    """Replace the aggregated rating on ``mask`` rows by a separately assessed one (well-led)."""
    result = result.copy()
    result.loc[mask, "code"] = codes[mask]
    result.loc[mask, "reason"] = "assessed"
    result.loc[mask, "explanation"] = text
    return result


def nhs_trust(
    services: pd.DataFrame,
    enforcement: pd.DataFrame | None = None,
    trust_assessments: pd.DataFrame | None = None,
    config: RulesConfig | None = None,
    *,
    has_locations: bool = True,
) -> TrustRatings:
    """All levels of NHS trust ratings from key question x core service ratings
    (docs/methods/ratings-aggregation.md).

    ``services``: long table with ``provider_id``, ``location_id``, ``service``, ``key_question`` (the five)
    and ``rating``. ``enforcement``: optional ``location_id``, ``service``, ``key_question``, ``action``
    (requirement_notice, warning_notice, condition_imposed): the linked rating is capped. ``trust_assessments``:
    optional ``provider_id`` with ``well_led`` (the trust-level well-led assessment) and ``use_of_resources``.
    ``has_locations=False`` (mental health, community, ambulance trusts): core services aggregate straight to
    trust key questions.
    """
    config = config or load_rules()
    table = config.nhs_table
    _check_columns(services, ["provider_id", "location_id", "service", "key_question", "rating"], "services")
    l1 = services[["provider_id", "location_id", "service", "key_question", "rating"]].copy()
    for column in ("provider_id", "location_id", "service", "key_question"):
        l1[column] = l1[column].astype("string").str.strip().astype(object)
    l1 = l1[l1["key_question"].isin(KEY_QUESTIONS)].reset_index(drop=True)
    l1["code"] = to_codes(l1["rating"])
    keys = ["location_id", "service", "key_question"]
    if enforcement is not None and not enforcement.empty:
        renamed = enforcement.rename(columns={"action": "limiter"})
        caps = _limiter_caps(l1, renamed, config.enforcement, keys, "enforcement")
    else:
        caps = pd.DataFrame(columns=[*keys, "cap", "text"])
    l1 = _apply_caps(l1, caps, keys)
    l1["rule_rating"] = to_labels(l1["rule_code"])
    l1["rating"] = to_labels(l1["code"])

    complete = config.nhs_complete_with
    l2 = aggregate(
        l1,
        ["provider_id", "location_id", "service"],
        table,
        name="key_question",
        complete_with=complete["service_overall"],
        rate_with=config.nhs_rate_with["service_overall"],
    )
    l2 = _labelled(l2, l2["service"].map(lambda s: f"overall for {s}"), "key question", "key questions")

    trust = _trust_assessments(trust_assessments)
    if has_locations:
        l3 = aggregate(l1, ["provider_id", "location_id", "key_question"], table, name="service")
        l3 = _labelled(l3, "for " + l3["key_question"], "core service", "core services")
        if config.single_site_well_led_from_trust and not trust.empty:
            sites = l3.groupby("provider_id")["location_id"].nunique()
            single = l3["provider_id"].map(sites).eq(1).to_numpy()
            assessed = to_codes(l3["provider_id"].map(trust["well_led"]))
            mask = single & (l3["key_question"] == "Well-led").to_numpy() & (assessed > NOT_RATED)
            l3 = _set_from_assessment(
                l3, mask, assessed, "Well-led is the trust-level well-led assessment (single-location trust)."
            )
            l3["rating"] = to_labels(l3["code"])
        l4 = aggregate(
            l3,
            ["provider_id", "location_id"],
            table,
            name="key_question",
            complete_with=complete["location_overall"],
            rate_with=config.nhs_rate_with["location_overall"],
        )
        l4 = _labelled(l4, "overall", "key question", "key questions")
        l5, l6 = _trust_levels(l3, trust, config, name="location_id", noun="location", nouns="locations")
    else:
        l3 = l4 = pd.DataFrame()
        l5, l6 = _trust_levels(l1, trust, config, name="service", noun="core service", nouns="core services")
    return TrustRatings(l1, l2, l3, l4, l5, l6)


def trust_from_locations(
    location_key_questions: pd.DataFrame,
    trust_assessments: pd.DataFrame | None = None,
    config: RulesConfig | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Trust key questions and trust overall (levels 5 and 6 of :func:`nhs_trust`) from the key-question
    ratings of the trust's locations, for trusts whose location ratings are known but not the core-service
    ratings behind them (e.g. the regulator's published location ratings).

    ``location_key_questions``: long table with ``provider_id``, ``location_id``, ``key_question`` (the
    five; other rows are ignored) and ``rating``; ``trust_assessments`` as for :func:`nhs_trust`. Returns
    (trust key questions, trust overall), each with counts, thresholds, ``reason``, ``rating`` and
    ``explanation``; Well-led is the trust-level assessment when the rules say so (not rated without one).
    """
    config = config or load_rules()
    _check_columns(
        location_key_questions, ["provider_id", "location_id", "key_question", "rating"], "locations"
    )
    l3 = location_key_questions[["provider_id", "location_id", "key_question", "rating"]].copy()
    for column in ("provider_id", "location_id", "key_question"):
        l3[column] = l3[column].astype("string").str.strip().astype(object)
    l3 = l3[l3["key_question"].isin(KEY_QUESTIONS)].reset_index(drop=True)
    l3["code"] = to_codes(l3["rating"])
    return _trust_levels(
        l3,
        _trust_assessments(trust_assessments),
        config,
        name="location_id",
        noun="location",
        nouns="locations",
    )


def _trust_levels(
    rows: pd.DataFrame, trust: pd.DataFrame, config: RulesConfig, *, name: str, noun: str, nouns: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """L5 (trust key question, aggregated over ``name``: locations, or core services for trusts without a
    location level) and L6 (trust overall, with Use of Resources where given) from rating codes in ``rows``."""
    table = config.nhs_table
    l5 = aggregate(rows, ["provider_id", "key_question"], table, name=name)
    l5 = _labelled(l5, "for " + l5["key_question"], noun, nouns)
    if config.well_led_from_trust_assessment:
        assessed = (
            to_codes(l5["provider_id"].map(trust["well_led"]))
            if not trust.empty
            else np.zeros(len(l5), np.int8)
        )
        mask = (l5["key_question"] == "Well-led").to_numpy()
        l5 = _set_from_assessment(
            l5, mask, assessed, "Well-led is the trust-level well-led assessment, not aggregated."
        )
        l5.loc[mask & (assessed == NOT_RATED), "explanation"] = (
            "Well-led: no trust-level well-led assessment given."
        )
        l5["rating"] = to_labels(l5["code"])
    l6_input = l5[["provider_id", "key_question", "code"]]
    if not trust.empty and "use_of_resources" in trust:
        uor = trust["use_of_resources"].dropna()
        uor_rows = pd.DataFrame(
            {"provider_id": uor.index, "key_question": "Use of resources", "code": to_codes(uor.to_numpy())}
        )
        uor_rows = uor_rows[uor_rows["code"] > NOT_RATED]
    else:
        uor_rows = pd.DataFrame(columns=["provider_id", "key_question", "code"])
    with_uor = l6_input["provider_id"].isin(uor_rows["provider_id"])
    trust_complete = config.nhs_complete_with["trust_overall"]
    trust_rate = config.nhs_rate_with["trust_overall"]
    parts = [
        aggregate(
            l6_input[~with_uor],
            ["provider_id"],
            table,
            name="key_question",
            complete_with=trust_complete,
            rate_with=trust_rate,
        )
    ]
    if with_uor.any():
        combined = pd.concat([l6_input[with_uor], uor_rows], ignore_index=True)
        parts.append(
            aggregate(
                combined,
                ["provider_id"],
                config.trust_overall_with_uor,
                name="key_question",
                complete_with=trust_complete,
                rate_with=trust_rate,
            )
        )
    l6 = pd.concat([p for p in parts if not p.empty], ignore_index=True).sort_values(
        "provider_id", ignore_index=True
    )
    l6 = _labelled(l6, "overall", "rating", "ratings")
    return l5, l6


def _trust_assessments(frame: pd.DataFrame | None) -> pd.DataFrame:
    if frame is None or frame.empty:
        return pd.DataFrame()
    _check_columns(frame, ["provider_id"], "trust assessments")
    out = frame.copy()
    out["provider_id"] = out["provider_id"].astype("string").str.strip().astype(object)
    if "well_led" not in out:
        out["well_led"] = None
    return out.set_index("provider_id")


def overall_from_key_questions(
    ratings: dict[str, str], sector: str | None, config: RulesConfig | None = None
) -> tuple[str | None, str]:
    """What the rules give as the overall rating of one location from its key-question ratings
    (``ratings``: key question -> label), and why: the adult social care principles for that sector,
    the NHS location principles otherwise. ``None`` when the key questions are too few for any rating
    (the explanation says which are missing)."""
    config = config or load_rules()
    if not any(question in KEY_QUESTIONS for question in ratings):
        return None, "Not rated overall: no key question is rated."
    frame = pd.DataFrame(
        {"location_id": "x", "key_question": list(ratings), "rating": list(ratings.values())}
    )
    if sector == "adult_social_care":
        row = adult_social_care(frame, config=config).iloc[0]
        rating, explanation = row["rule_rating"], row["explanation"]
    else:
        frame = frame[frame["key_question"].isin(KEY_QUESTIONS)].assign(code=lambda f: to_codes(f["rating"]))
        result = aggregate(
            frame,
            ["location_id"],
            config.nhs_table,
            name="key_question",
            complete_with=config.nhs_complete_with["location_overall"],
            rate_with=config.nhs_rate_with["location_overall"],
        )
        result = _labelled(result, "overall", "key question", "key questions")
        rating, explanation = result["rating"].iloc[0], result["explanation"].iloc[0]
    return (None if rating not in CODES else str(rating)), str(explanation)
