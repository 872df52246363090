"""Single Assessment Framework (SAF) scoring: scores 1-4 -> quality statement -> key question -> overall.

docs/methods/single-assessment-framework.md; every band, limiter and method is in
``carelens/config/assess/saf.yaml``. Two methods, selectable per assessment (input column ``method``):

- ``evidence-categories`` (before December 2024): each evidence category of a quality statement is
  scored; the statement's % = sum / (4 x categories) is banded back to a statement score 1-4.
- ``quality-statements`` (from December 2024): each statement is scored directly.

Key question % = sum of statement scores / (4 x statements), banded to a rating, then limited (any
statement scored 1 in the Good band -> Requires improvement; any below 3 in the Outstanding band ->
Good). Overall: key question ratings as scores 1-4, summed and banded, limited by the legacy adult social
care rating principles. Everything is grouped with pandas/NumPy over all assessments at once.

A partial set of key questions is never rated as complete: with fewer key questions scored than
``overall.complete_with`` (all five), the overall is "Not rated" and its explanation says on how many it
was scored and what those alone would give (CQC carries forward the key questions an assessment does
not look at, so a complete overall always rests on five).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from carelens.assess.config import RulesConfig, config_file, load_rules
from carelens.assess.explain import join_names
from carelens.assess.rules import aggregate, limit
from carelens.assess.scale import CODES, KEY_QUESTIONS, NOT_RATED, OVERALL, RATINGS, to_labels
from carelens.config import read_settings
from carelens.errors import InputError, Problem
from carelens.tables import Column, check_unique, validate

METHODS = ("evidence-categories", "quality-statements")


@dataclass(frozen=True)
class SafLimiter:
    name: str
    applies_in: int
    when_score_below: int
    no_better_than: int
    text: str


@dataclass(frozen=True)
class SafConfig:
    """SAF settings (see ``saf.yaml``)."""

    default_method: str
    min_score: int
    max_score: int
    evidence_categories: tuple[str, ...]
    bands: dict[int, int]
    """Rating code -> lowest whole percentage of its band."""
    limiters: tuple[SafLimiter, ...]
    legacy_principles_limit: bool
    complete_with: int
    """Key questions an overall rating needs scored (fewer: not a complete rating, "Not rated")."""


def load_saf(path: str | Path | None = None) -> SafConfig:
    """Read and check a SAF settings file (default: the packaged ``saf.yaml``)."""
    r = read_settings(path, config_file("saf.yaml"))
    for method in r.sections("methods").values():
        method.get("description", str, optional=True)  # documentation
        method.get("source", str, optional=True)
    unknown = sorted(set(r.section("methods").document) - set(METHODS))
    if unknown:
        r.problem("methods", f"{', '.join(unknown)}: not a method carelens has ({', '.join(METHODS)})")
    r.get("percent.rounding", str, default="half_up", choices=("half_up",))
    r.get("band_position.rule", str, default="midpoint", choices=("midpoint",))
    codes = {CODES[name]: r.get(f"bands.{name}", int, minimum=0, maximum=100) or 0 for name in RATINGS}
    if [codes[c] for c in (4, 3, 2, 1)] != sorted((codes[c] for c in (4, 3, 2, 1)), reverse=True):
        r.problem("bands", "must decrease from Outstanding to Inadequate")
    limiters = []
    for name, spec in r.sections("limiters", optional=True).items():
        applies_in = spec.get("applies_in", str, choices=RATINGS)
        no_better_than = spec.get("no_better_than", str, choices=RATINGS)
        limiters.append(
            SafLimiter(
                name,
                CODES.get(applies_in, 0),
                spec.get("when_score_below", int, minimum=1) or 0,
                CODES.get(no_better_than, 0),
                spec.get("text", str, default=name),
            )
        )
    config = SafConfig(
        default_method=r.get("default_method", str, default="quality-statements", choices=METHODS),
        min_score=r.get("scores.min", int, default=1),
        max_score=r.get("scores.max", int, default=4),
        evidence_categories=tuple(r.get("evidence_categories", list, default=[], of=str) or ()),
        bands=codes,
        # highest band first, so a rating lowered by one limiter is checked by the next (order-free)
        limiters=tuple(sorted(limiters, key=lambda limiter: -limiter.applies_in)),
        legacy_principles_limit=r.get("overall.legacy_principles_limit", bool, default=True),
        complete_with=r.get("overall.complete_with", int, minimum=1, maximum=len(KEY_QUESTIONS)),
    )
    r.raise_if_any()
    return config


def whole_percent(points: np.ndarray, maximum: np.ndarray) -> np.ndarray:
    """100 x points / maximum, rounded half up to a whole number (exact for integer inputs)."""
    points = np.asarray(points, dtype=np.int64)
    maximum = np.asarray(maximum, dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        # floor((200 p + m) / (2 m)) == round-half-up of 100 p / m, in integers (no float error at .5)
        return np.where(maximum > 0, (200 * points + maximum) // np.where(maximum > 0, 2 * maximum, 1), -1)


def band(percent: np.ndarray, config: SafConfig) -> np.ndarray:
    """Rating codes (4..1) for whole percentages by the configured bands; 0 where percent < 0 (none)."""
    percent = np.asarray(percent)
    return np.select(
        [percent >= config.bands[4], percent >= config.bands[3], percent >= config.bands[2], percent >= 0],
        [4, 3, 2, 1],
        default=NOT_RATED,
    ).astype(np.int8)


def band_position(percent: np.ndarray, codes: np.ndarray, config: SafConfig) -> np.ndarray:
    """ "upper" or "lower" half of the rating's band (midpoint rule), "" where unrated."""
    lows = np.array([0, config.bands[1], config.bands[2], config.bands[3], config.bands[4]])
    highs = np.array([0, config.bands[2] - 1, config.bands[3] - 1, config.bands[4] - 1, 100])
    codes = np.asarray(codes, dtype=np.int64)
    mid = (lows[codes] + highs[codes]) / 2
    return np.where(codes > 0, np.where(np.asarray(percent) >= mid, "upper", "lower"), "").astype(object)


INPUT_COLUMNS = [
    Column("assessment_id", "text"),
    Column("key_question", "text", allowed=KEY_QUESTIONS),
    Column("quality_statement", "text"),
    Column("score", "count"),
]


def check_scores(
    frame: pd.DataFrame, config: SafConfig, method: str | None = None, source: str | None = None
) -> pd.DataFrame:
    """Validate SAF scores (every problem at once) and return a clean copy with a ``method`` per row."""
    source = source or frame.attrs.get("source", "input")
    arrays = validate(frame, INPUT_COLUMNS, source)
    out = frame.copy()
    for column in ("assessment_id", "key_question", "quality_statement"):
        out[column] = out[column].astype("string").str.strip().astype(object)
    out["score"] = arrays["score"].astype(np.int64)
    problems: list[Problem] = []
    bad = np.flatnonzero((out["score"] < config.min_score) | (out["score"] > config.max_score))
    problems += [
        Problem(
            source,
            int(i) + 1,
            "score",
            f"{out['score'].iloc[i]} is not a score {config.min_score}-{config.max_score}",
        )
        for i in bad[:1000]
    ]
    if "method" in out:
        given = out["method"].astype("string").str.strip()
        out["method"] = given.fillna(method or config.default_method).astype(object)
    else:
        out["method"] = method or config.default_method
    unknown = np.flatnonzero(~out["method"].isin(METHODS).to_numpy())
    problems += [
        Problem(
            source, int(i) + 1, "method", f"{out['method'].iloc[i]!r} is not one of: {', '.join(METHODS)}"
        )
        for i in unknown[:1000]
    ]
    mixed = out.groupby("assessment_id")["method"].nunique()
    problems += [
        Problem(source, None, "method", f"assessment {a} mixes methods: one method per assessment")
        for a in mixed.index[mixed > 1]
    ]
    by_category = (out["method"] == "evidence-categories").to_numpy()
    if by_category.any():
        if "evidence_category" not in out:
            problems.append(
                Problem(source, None, "evidence_category", "required by the evidence-categories method")
            )
        else:
            category = out["evidence_category"].astype("string").str.strip()
            missing = by_category & category.isna().to_numpy()
            problems += [
                Problem(
                    source, int(i) + 1, "evidence_category", "value is missing (evidence-categories method)"
                )
                for i in np.flatnonzero(missing)[:1000]
            ]
            allowed = set(config.evidence_categories)
            unknown_category = (
                by_category & ~missing & ~category.isin(allowed).fillna(False).to_numpy(dtype=bool)
            )
            problems += [
                Problem(
                    source,
                    int(i) + 1,
                    "evidence_category",
                    f"{category.iloc[i]!r} is not one of: {', '.join(allowed)}",
                )
                for i in np.flatnonzero(unknown_category)[:1000]
            ]
            out["evidence_category"] = category.astype(object)
    if problems:
        raise InputError(problems)
    if "evidence_category" not in out:
        out["evidence_category"] = None
    out.loc[out["method"] == "quality-statements", "evidence_category"] = None
    check_unique(out, ["assessment_id", "key_question", "quality_statement", "evidence_category"], source)
    return out


def score(
    frame: pd.DataFrame,
    config: SafConfig | None = None,
    rules: RulesConfig | None = None,
    *,
    method: str | None = None,
    source: str | None = None,
) -> pd.DataFrame:
    """Score every assessment: one row per quality statement, key question and overall (column ``level``).

    ``frame``: ``assessment_id``, ``key_question``, ``quality_statement``, ``score`` (1-4), and for the
    evidence-categories method ``evidence_category``; optional ``method`` per row (else ``method`` or the
    configured default).
    """
    config = config or load_saf()
    rules = rules or load_rules()
    data = check_scores(frame, config, method, source)
    top = config.max_score

    # quality statements
    qs_keys = ["assessment_id", "key_question", "quality_statement"]
    qs = (
        data.groupby(qs_keys, sort=True)
        .agg(
            method=("method", "first"),
            points=("score", "sum"),
            n=("score", "size"),
            direct=("score", "first"),
        )
        .reset_index()
    )
    qs_percent = whole_percent(qs["points"], top * qs["n"])
    by_category = (qs["method"] == "evidence-categories").to_numpy()
    qs["percent"] = np.where(by_category, qs_percent, -1)
    qs["statement_score"] = np.where(by_category, band(qs_percent, config), qs["direct"]).astype(np.int64)

    # key questions
    kq_keys = ["assessment_id", "key_question"]
    grouped = qs.groupby(kq_keys, sort=True)
    kq = grouped.agg(
        method=("method", "first"),
        points=("statement_score", "sum"),
        n=("statement_score", "size"),
        lowest=("statement_score", "min"),
    ).reset_index()
    kq["percent"] = whole_percent(kq["points"], top * kq["n"])
    kq["score_rating"] = band(kq["percent"], config)
    codes = kq["score_rating"].to_numpy(dtype=np.int8)
    limited_by: list[list[str]] = [[] for _ in range(len(kq))]
    for limiter in config.limiters:
        hit = (codes == limiter.applies_in) & (kq["lowest"].to_numpy() < limiter.when_score_below)
        for i in np.flatnonzero(hit):
            limited_by[i].append(limiter.text)
        codes = np.where(hit, np.minimum(codes, limiter.no_better_than), codes).astype(np.int8)
    kq["code"] = codes
    kq["limited_by"] = limited_by

    # overall: key question ratings as scores, banded, limited by the legacy principles
    overall = (
        kq.groupby("assessment_id", sort=True)
        .agg(method=("method", "first"), points=("code", "sum"), n=("code", "size"))
        .reset_index()
    )
    overall["percent"] = whole_percent(overall["points"], top * overall["n"])
    overall["score_rating"] = band(overall["percent"], config)
    legacy = aggregate(
        kq.rename(columns={"code": "rating_code"}), ["assessment_id"], rules.asc_overall, codes="rating_code"
    )
    legacy_codes = legacy.set_index("assessment_id")["code"].reindex(overall["assessment_id"]).to_numpy()
    if config.legacy_principles_limit:
        overall["code"] = limit(overall["score_rating"].to_numpy(), legacy_codes)
    else:
        overall["code"] = overall["score_rating"].astype(np.int8)
    overall["limited_by"] = [
        ["the rating principles give " + to_labels([lc])[0]] if c < s else []
        for c, s, lc in zip(overall["code"], overall["score_rating"], legacy_codes, strict=True)
    ]
    # a partial set of key questions is never rated as complete
    scored = kq.groupby("assessment_id", sort=True)["key_question"].agg(set)
    overall["rated"] = [[k for k in KEY_QUESTIONS if k in scored[a]] for a in overall["assessment_id"]]
    overall["complete"] = overall["n"] >= config.complete_with
    overall["partial"] = np.where(overall["complete"], "", to_labels(overall["code"]))
    overall["code"] = np.where(overall["complete"], overall["code"], NOT_RATED).astype(np.int8)
    overall["limited_by"] = [
        limits if complete else []
        for limits, complete in zip(overall["limited_by"], overall["complete"], strict=True)
    ]

    rows = [
        pd.DataFrame(
            {
                "assessment_id": qs["assessment_id"],
                "level": "quality_statement",
                "key_question": qs["key_question"],
                "quality_statement": qs["quality_statement"],
                "method": qs["method"],
                "n_scored": qs["n"],
                "points": qs["points"],
                "max_points": top * qs["n"],
                "percent": qs["percent"].where(qs["percent"] >= 0),
                "score": qs["statement_score"],
                "rating": None,
                "band_position": "",
                "limited_by": "",
            }
        ),
        _summary_rows(kq, "key_question", kq["key_question"], config, top),
        _summary_rows(overall, "overall", pd.Series(OVERALL, index=overall.index), config, top),
    ]
    incomplete = overall.loc[~overall["complete"]].set_index("assessment_id")
    out = pd.concat(rows, ignore_index=True)
    out["percent"] = out["percent"].astype("Int64")
    out["explanation"] = [_explain(r, incomplete, config) for r in out.itertuples(index=False)]
    order = {"quality_statement": 0, "key_question": 1, "overall": 2}
    kq_order = {q: i for i, q in enumerate((*KEY_QUESTIONS, OVERALL))}
    out = out.assign(_a=out["level"].map(order), _k=out["key_question"].map(kq_order))
    return (
        out.sort_values(["assessment_id", "_k", "_a", "quality_statement"], na_position="last")
        .drop(columns=["_a", "_k"])
        .reset_index(drop=True)
    )


def _summary_rows(
    part: pd.DataFrame, level: str, key_question: pd.Series, config: SafConfig, top: int
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "assessment_id": part["assessment_id"],
            "level": level,
            "key_question": key_question,
            "quality_statement": None,
            "method": part["method"],
            "n_scored": part["n"],
            "points": part["points"],
            "max_points": top * part["n"],
            "percent": part["percent"],
            "score": None,
            "rating": to_labels(part["code"]),
            "band_position": np.where(
                part["code"].to_numpy() == NOT_RATED,
                "",  # not a complete rating: no position in a band
                np.where(
                    part["code"].to_numpy() == part["score_rating"].to_numpy(),
                    band_position(part["percent"], part["code"], config),
                    "limited",
                ),
            ),
            "limited_by": ["; ".join(x) for x in part["limited_by"]],
        }
    )


def _explain(row, incomplete: pd.DataFrame, config: SafConfig) -> str:
    if row.level == "overall" and row.assessment_id in incomplete.index:
        part = incomplete.loc[row.assessment_id]
        rated = list(part["rated"])
        missing = [k for k in KEY_QUESTIONS if k not in rated]
        return (
            f"Overall: Not rated: scored on {len(rated)} of {len(KEY_QUESTIONS)} key questions "
            f"({join_names(rated)}; not scored: {join_names(missing)}), and an overall rating needs "
            f"{config.complete_with}, so this is not a complete rating (the {len(rated)} key question "
            f"ratings alone would give {part['partial']}, {row.points} of {row.max_points} points, "
            f"{row.percent}%)."
        )
    if row.level == "quality_statement":
        if row.method == "evidence-categories":
            return f"Score {row.score}: {row.points} of {row.max_points} points ({row.percent}%) across {row.n_scored} evidence categories."
        return f"Score {row.score}, scored directly."
    what = "quality statements" if row.level == "key_question" else "key question ratings"
    subject = row.key_question if row.level == "key_question" else "Overall"
    position = f" ({row.band_position} half of the band)" if row.band_position in ("upper", "lower") else ""
    text = (
        f"{subject}: {row.rating}{position} with {row.points} of {row.max_points} "
        f"points ({row.percent}%) from {row.n_scored} {what}"
    )
    if row.limited_by:
        text += f"; limited because {join_names(row.limited_by.split('; '))}"
    return text + "."
