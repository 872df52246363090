"""Run the rating rules on CQC's long ratings layout and compare them with the published ratings.

Input: the long tidy layout of ``data/cqc_ratings`` (``location_id``, ``level`` location|service,
``service`` Overall|core-service id, ``key_question`` Overall|the five, ``rating``; optional
``provider_id``, ``location_name``, ``location_type``, ``care_home``). Output (:func:`compare_published`):
one row per location x key question that the rules compute, with the computed and published ratings and
whether they agree, so every disagreement can be listed.

- ``adult-social-care``: location key questions -> location overall (rows: ``Overall``).
- ``nhs-trust``: key question x core service -> key question x location (rows: the five key questions)
  -> location overall (row ``Overall``, from the computed key questions).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from carelens.assess.config import RulesConfig, load_rules
from carelens.assess.rules import adult_social_care, nhs_trust
from carelens.assess.scale import ALL_LABELS, KEY_QUESTIONS, OVERALL, RATINGS
from carelens.errors import InputError, Problem
from carelens.tables import Column, check_unique, validate

RuleSet = Literal["adult-social-care", "nhs-trust"]
RULE_SETS: tuple[str, ...] = ("adult-social-care", "nhs-trust")

INPUT_COLUMNS = [
    Column("location_id", "text"),
    Column("level", "text", allowed=("location", "service")),
    Column("service", "text"),
    Column("key_question", "text", allowed=(OVERALL, *KEY_QUESTIONS)),
    Column("rating", "text", allowed=ALL_LABELS),
]
OPTIONAL_COLUMNS = ("provider_id", "location_name", "location_type", "care_home", "source")
OUTPUT_COLUMNS = [
    "location_id",
    "location_name",
    "provider_id",
    "rules",
    "key_question",
    "computed",
    "published",
    "agree",
    "n_rated",
    "reason",
    "explanation",
]


def check_input(frame: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    """Validate the long ratings layout (every problem at once) and return it with text columns stripped."""
    source = source or frame.attrs.get("source", "input")
    validate(frame, INPUT_COLUMNS, source)
    check_unique(frame, ["location_id", "level", "service", "key_question"], source)
    out = frame.copy()
    for column in ("location_id", "level", "service", "key_question", "rating", *OPTIONAL_COLUMNS):
        if column in out:
            out[column] = out[column].astype("string").str.strip().astype(object)
    for column in ("provider_id", "location_name"):
        if column not in out:
            out[column] = None
    return out


def compare_published(
    frame: pd.DataFrame, rules: RuleSet, config: RulesConfig | None = None, source: str | None = None
) -> pd.DataFrame:
    """Computed vs published ratings per location x key question (see the module docstring)."""
    if rules not in RULE_SETS:
        raise InputError(Problem("--rules", None, None, f"{rules!r} is not one of: {', '.join(RULE_SETS)}"))
    config = config or load_rules()
    data = check_input(frame, source)
    names = data.drop_duplicates("location_id").set_index("location_id")[["location_name", "provider_id"]]
    location_rows = data[data["level"] == "location"]
    published = location_rows.set_index(["location_id", "key_question"])["rating"]
    if rules == "adult-social-care":
        kq = location_rows[location_rows["key_question"].isin(KEY_QUESTIONS)]
        result = adult_social_care(kq, config=config)
        out = result.assign(key_question=OVERALL, computed=result["rating"])
    else:
        services = data[(data["level"] == "service") & data["key_question"].isin(KEY_QUESTIONS)].copy()
        missing_provider = services["provider_id"].isna()
        if missing_provider.any():
            raise InputError(
                [
                    Problem(source or "input", int(i) + 1, "provider_id", "needed by the nhs-trust rules")
                    for i in np.flatnonzero(missing_provider.to_numpy())[:50]
                ]
            )
        levels = nhs_trust(services, config=config)
        kq = levels.location_key_question.assign(computed=levels.location_key_question["rating"])
        overall = levels.location.assign(key_question=OVERALL, computed=levels.location["rating"])
        out = pd.concat([kq, overall], ignore_index=True)
    out = out.drop(columns=["provider_id"], errors="ignore")
    out["location_name"] = out["location_id"].map(names["location_name"])
    out["provider_id"] = out["location_id"].map(names["provider_id"])
    out["rules"] = rules
    keys = pd.MultiIndex.from_arrays([out["location_id"], out["key_question"]])
    out["published"] = published.reindex(keys).to_numpy()
    comparable = out["published"].isin(RATINGS) & out["computed"].isin(RATINGS)
    out["agree"] = pd.array(np.where(comparable, out["computed"] == out["published"], pd.NA), dtype="boolean")
    order = {q: i for i, q in enumerate((*KEY_QUESTIONS, OVERALL))}
    out = out.assign(_order=out["key_question"].map(order)).sort_values(["location_id", "_order"])
    return out[OUTPUT_COLUMNS].reset_index(drop=True)


def agreement(table: pd.DataFrame) -> pd.DataFrame:
    """Per key question: cells compared (both ratings present), agreeing, disagreeing, and the share agreeing."""
    compared = table[table["agree"].notna()]
    summary = compared.groupby("key_question", sort=False)["agree"].agg(compared="size", agree="sum")
    total = pd.DataFrame(
        {"compared": [len(compared)], "agree": [int(compared["agree"].sum())]}, index=["all"]
    )
    summary = pd.concat([summary, total])
    summary["disagree"] = summary["compared"] - summary["agree"]
    summary["share"] = (summary["agree"] / summary["compared"].where(summary["compared"] > 0)).round(4)
    return summary.rename_axis("key_question").reset_index()


def disagreements(table: pd.DataFrame) -> pd.DataFrame:
    """Every compared cell where the rule outcome differs from the published rating."""
    return table[table["agree"].eq(False).fillna(False)].reset_index(drop=True)
