"""NHS Oversight Framework segmentation and league tables (docs/methods/nhs-oversight.md,
``oversight.yaml``).

Four steps over all trusts at once (pandas/NumPy, no loop per trust):

1. metric scores 1 (best) to 4 (worst) are the input (one row per trust x metric);
2. the average metric score per trust, rounded half up to the published precision;
3. segments 1-4 by quartile of the average score within trust type (or fixed cut points), then the
   financial override (no better than segment 3), then segment 5 by NHS England decision;
4. league tables per trust type ranked by segment, then by average score; ties (same segment and score)
   share a rank (competition ranking "1, 2, 2, 4") and are listed by name, then code.

**No evidence, no segment.** A trust with no scored metric (every score blank, or -- given the list of
every trust to segment, ``trusts`` -- no row at all) is *not assessed*: it has no segment, no score
segment and no rank, is listed after the ranked trusts of its type with ``assessed`` false, and its
explanation says so; it is never placed in a quarter (or given a threshold segment) by default. Only an
NHS England segment 5 decision, which is not a score, places such a trust in a segment, and its
explanation says it is not assessed on metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from carelens.assess.config import config_file
from carelens.config import read_settings
from carelens.errors import InputError, Problem
from carelens.tables import Column, check_unique, validate

TRUE_WORDS = ("true", "yes", "y", "1")
FALSE_WORDS = ("false", "no", "n", "0", "")


@dataclass(frozen=True)
class OversightConfig:
    """Segmentation settings (see ``oversight.yaml``)."""

    best: float = 1.0
    worst: float = 4.0
    decimals: int = 2
    method: str = "quartile"
    within: str = "trust_type"
    fixed_cut_points: tuple[float, ...] = (1.75, 2.25, 2.75)
    financial_no_better_than: int = 3
    segment_5: int = 5


def load_oversight(path: str | Path | None = None) -> OversightConfig:
    """Read and check an oversight settings file (default: the packaged ``oversight.yaml``)."""
    r = read_settings(path, config_file("oversight.yaml"))
    method = r.get("segments.method", str, default="quartile", choices=("quartile", "fixed"))
    cuts = r.get("segments.fixed_cut_points", list, default=[], of=float) or []
    if method == "fixed" and (len(cuts) != 3 or cuts != sorted(cuts)):
        r.problem("segments.fixed_cut_points", "must be 3 increasing numbers")
    r.get("league_tables.by", str, default="trust_type", choices=("trust_type",))
    config = OversightConfig(
        best=r.get("scores.best", float, default=1.0),
        worst=r.get("scores.worst", float, default=4.0),
        decimals=r.get("average.decimals", int, default=2, minimum=0),
        method=method,
        within=r.get("segments.within", str, default="trust_type", choices=("trust_type", "all")),
        fixed_cut_points=tuple(cuts),
        financial_no_better_than=r.get(
            "financial_override.no_better_than", int, default=3, minimum=1, maximum=5
        ),
        segment_5=r.get("segment_5.segment", int, default=5, minimum=1, maximum=5),
    )
    r.raise_if_any()
    return config


def round_half_up(values: np.ndarray, decimals: int) -> np.ndarray:
    """Round half up (2.375 -> 2.38), guarding against binary representation (2.375 stored as 2.37499...)."""
    scale = 10.0**decimals
    return np.floor(np.asarray(values, dtype=float) * scale + 0.5 + 1e-9) / scale


def quartile_segments(scores: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Segment 1-4 by quarter of ascending score within each group; tied scores share their best rank.

    segment = 1 + floor(4 x (rank - 1) / n), where n is the number of scored units in the group. NaN
    scores get segment 0 (none).
    """
    scores = np.asarray(scores, dtype=float)
    groups = np.zeros(len(scores), dtype=np.int64) if groups is None else pd.factorize(groups)[0]
    frame = pd.DataFrame({"g": groups, "s": scores})
    rank = frame.groupby("g")["s"].rank(method="min").to_numpy()
    n = frame.groupby("g")["s"].transform("count").to_numpy()
    with np.errstate(invalid="ignore"):
        segment = 1 + np.floor(4 * (rank - 1) / np.maximum(n, 1))
    return np.where(np.isnan(scores), 0, segment).astype(np.int64)


def fixed_segments(scores: np.ndarray, cut_points: tuple[float, ...]) -> np.ndarray:
    """Segment k for a score at or below cut k (segment 4 above the last); NaN -> 0."""
    scores = np.asarray(scores, dtype=float)
    segment = 1 + np.searchsorted(np.asarray(cut_points, dtype=float), scores, side="left")
    return np.where(np.isnan(scores), 0, segment).astype(np.int64)


def _flag(frame: pd.DataFrame, column: str, source: str, problems: list[Problem]) -> np.ndarray:
    if column not in frame:
        return np.zeros(len(frame), dtype=bool)
    text = frame[column].astype("string").str.strip().str.lower().fillna("")
    bad = ~text.isin(TRUE_WORDS + FALSE_WORDS).to_numpy(dtype=bool)
    problems += [
        Problem(source, int(i) + 1, column, f"{frame[column].iloc[i]!r} is not yes/no (true/false, 1/0)")
        for i in np.flatnonzero(bad)[:1000]
    ]
    return text.isin(TRUE_WORDS).to_numpy(dtype=bool)


INPUT_COLUMNS = [
    Column("org_code", "text"),
    Column("trust_type", "text"),
    Column("metric", "text"),
    Column("score", "number", allow_missing=True),
]
OUTPUT_COLUMNS = [
    "trust_type",
    "rank",
    "org_code",
    "org_name",
    "segment",
    "assessed",
    "average_score",
    "metrics_scored",
    "metrics_available",
    "score_segment",
    "financial_override",
    "segment_5_decision",
    "tied",
    "explanation",
]


def segment(
    frame: pd.DataFrame,
    config: OversightConfig | None = None,
    source: str | None = None,
    trusts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Segments and league-table ranks for every trust (see the module docstring).

    ``frame``: long table ``org_code``, ``trust_type``, ``metric``, ``score`` (1-4; empty = not scored);
    optional ``org_name``, ``financial_override`` and ``segment_5`` (yes/no, the same on every row of a
    trust). ``trusts``: optionally every trust to list (``org_code``, ``trust_type``, ``org_name``);
    one with no row in ``frame`` is listed as not assessed. Returns one row per trust, sorted as the
    league tables are (``segment``, ``score_segment`` and ``rank`` null when not assessed).
    """
    config = config or load_oversight()
    source = source or frame.attrs.get("source", "input")
    arrays = validate(frame, INPUT_COLUMNS, source)
    check_unique(frame, ["org_code", "metric"], source)
    problems: list[Problem] = []
    data = pd.DataFrame(
        {
            "org_code": pd.Series(arrays["org_code"]).str.strip(),
            "trust_type": pd.Series(arrays["trust_type"]).str.strip(),
            "score": arrays["score"],
            "org_name": frame["org_name"].astype("string").str.strip().to_numpy(dtype=object)
            if "org_name" in frame
            else None,
        }
    )
    score = data["score"].to_numpy()
    out_of_range = ~np.isnan(score) & ((score < config.best) | (score > config.worst))
    problems += [
        Problem(source, int(i) + 1, "score", f"{score[i]:g} is outside {config.best:g}-{config.worst:g}")
        for i in np.flatnonzero(out_of_range)[:1000]
    ]
    data["financial_override"] = _flag(frame, "financial_override", source, problems)
    data["segment_5"] = _flag(frame, "segment_5", source, problems)
    for column in ("trust_type", "org_name", "financial_override", "segment_5"):
        varies = data.groupby("org_code")[column].nunique(dropna=False)
        problems += [
            Problem(source, None, column, f"trust {code} has more than one value: one per trust")
            for code in varies.index[varies > 1]
        ]
    if problems:
        raise InputError(problems)

    listed = trusts
    trusts = data.groupby("org_code", sort=True).agg(
        trust_type=("trust_type", "first"),
        org_name=("org_name", "first"),
        metrics_scored=("score", "count"),
        total=("score", "sum"),
        financial_override=("financial_override", "first"),
        segment_5_decision=("segment_5", "first"),
    )
    trusts = trusts.reset_index()
    if listed is not None:  # every trust to list: those with no metric row are not assessed
        absent = listed[~listed["org_code"].isin(trusts["org_code"])]
        extra = pd.DataFrame(
            {
                "org_code": absent["org_code"].astype(object),
                "trust_type": absent["trust_type"].astype(object),
                "org_name": absent["org_name"].astype(object) if "org_name" in absent else None,
                "metrics_scored": 0,
                "total": 0.0,
                "financial_override": False,
                "segment_5_decision": False,
            }
        )
        trusts = pd.concat([trusts, extra], ignore_index=True) if not extra.empty else trusts
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(trusts["metrics_scored"] > 0, trusts["total"] / trusts["metrics_scored"], np.nan)
    trusts["average_score"] = round_half_up(mean, config.decimals)
    avg = trusts["average_score"].to_numpy()
    if config.method == "quartile":
        groups = trusts["trust_type"].to_numpy() if config.within == "trust_type" else None
        by_score = quartile_segments(avg, groups)
    else:
        by_score = fixed_segments(avg, config.fixed_cut_points)
    trusts["score_segment"] = by_score
    final = np.where(
        trusts["financial_override"] & (by_score > 0),
        np.maximum(by_score, config.financial_no_better_than),
        by_score,
    )
    final = np.where(trusts["segment_5_decision"], config.segment_5, final)
    trusts["segment"] = final.astype(np.int64)
    trusts["assessed"] = trusts["metrics_scored"] > 0
    # metrics scored for any trust of the type: a trust scored on fewer is segmented on part of them
    # (its explanation says how many of how many)
    scored_rows = data.assign(metric=frame["metric"].to_numpy())[data["score"].notna()]
    available = scored_rows.groupby("trust_type")["metric"].nunique()
    trusts["metrics_available"] = trusts["trust_type"].map(available).fillna(0).astype(np.int64)

    # league tables: by segment then score; ties share a rank (competition ranking)
    trusts["_sort_name"] = trusts["org_name"].fillna("").str.lower()
    trusts["_seg"] = np.where(trusts["segment"] > 0, trusts["segment"], 99)
    trusts["_score"] = np.where(np.isnan(avg), np.inf, avg)
    trusts = trusts.sort_values(["trust_type", "_seg", "_score", "_sort_name", "org_code"], ignore_index=True)
    key = (
        trusts["trust_type"].astype(str)
        + "|"
        + trusts["_seg"].astype(str)
        + "|"
        + trusts["_score"].astype(str)
    )
    position = trusts.groupby("trust_type").cumcount() + 1
    trusts["rank"] = position.groupby(key).transform("min").to_numpy()
    trusts["tied"] = key.map(key.value_counts()).to_numpy() > 1
    trusts.loc[trusts["segment"] == 0, ["rank", "tied"]] = [pd.NA, False]
    trusts["rank"] = trusts["rank"].astype("Int64")
    trusts["explanation"] = [_explain(r, config) for r in trusts.itertuples(index=False)]
    for column in ("segment", "score_segment"):  # 0 is no segment: null, never a number to read as one
        trusts[column] = trusts[column].astype("Int64").mask(trusts[column] == 0)
    return trusts[OUTPUT_COLUMNS].reset_index(drop=True)


NOT_ASSESSED = (
    "Not assessed: no metric is scored, so it is not segmented (never placed in a quarter by default)."
)
"""The explanation of a trust with nothing to score."""


def _explain(row, config: OversightConfig) -> str:
    if not row.assessed:
        if row.segment_5_decision:
            return (
                f"Segment {row.segment} by NHS England decision (intensive support); not assessed on "
                "metrics: no metric is scored."
            )
        return NOT_ASSESSED
    basis = (
        f"average metric score {row.average_score:.{config.decimals}f} over {row.metrics_scored} of "
        f"{row.metrics_available} metrics puts it in "
        f"segment {row.score_segment} ({'quarter' if config.method == 'quartile' else 'fixed thresholds'})"
    )
    if row.segment_5_decision:
        return f"Segment {row.segment} by NHS England decision (intensive support); its {basis}."
    if row.segment != row.score_segment:
        return (
            f"Segment {row.segment}: its {basis}, but the financial override (deficit or deficit support) "
            f"means no better than segment {config.financial_no_better_than}."
        )
    return f"Segment {row.segment}: its {basis}."
