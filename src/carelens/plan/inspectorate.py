"""Inspector capacity: the inspectorate (inspectors with sector, base region, skills, working days) and
leave, read from files or generated synthetically, turned into a day-by-day availability matrix.

Files (CSV): inspectors ``inspector_id, sector, region, skills, days_per_week`` (skills separated by
``;``, may be empty) and leave ``inspector_id, start, end`` (inclusive dates). The packaged synthetic
inspectorate (``carelens/data/inspectorate``) is made by :func:`carelens.demo.inspectorate.write_demo_inspectorate`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from carelens.errors import InputError, Problem
from carelens.packaged import DATA_DIR

PACKAGED_INSPECTORATE = DATA_DIR / "inspectorate"
INSPECTOR_COLUMNS = ("inspector_id", "sector", "region", "skills", "days_per_week")
LEAVE_COLUMNS = ("inspector_id", "start", "end")
SECTOR_SKILLS = {
    "hospitals": {"acute": 0.6, "well_led": 0.4},
    "primary_care": {"gp": 0.5},
    "adult_social_care": {},
}
"""Share of a sector's synthetic inspectors holding each specialist skill (documented in the README)."""


def read_inspectorate(
    inspectors: str | Path, leave: str | Path | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read and validate the inspectors and leave files; every problem names the file, row and column."""
    from carelens.tables import Column, check_unique, read_table, validate

    source = str(inspectors)
    frame = read_table(inspectors, list(INSPECTOR_COLUMNS))
    frame["skills"] = frame["skills"].fillna("").astype(str)
    values = validate(
        frame,
        [
            Column("inspector_id", "text"),
            Column("sector", "text"),
            Column("region", "text"),
            Column("days_per_week", "count", min_value=1),
        ],
        source,
    )
    check_unique(frame, ["inspector_id"], source)
    frame["days_per_week"] = values["days_per_week"].astype(int)
    too_many = np.flatnonzero(frame["days_per_week"].to_numpy() > 5)
    if len(too_many):
        raise InputError(
            [Problem(source, int(i) + 1, "days_per_week", "at most 5 days a week") for i in too_many]
        )
    frame["inspector_id"] = frame["inspector_id"].astype(str)
    if leave is None:
        return frame, pd.DataFrame(columns=list(LEAVE_COLUMNS))
    away = read_table(leave, list(LEAVE_COLUMNS))
    validate(
        away, [Column("inspector_id", "text"), Column("start", "date"), Column("end", "date")], str(leave)
    )
    away["inspector_id"] = away["inspector_id"].astype(str)
    problems = [
        Problem(str(leave), int(i) + 1, "inspector_id", f"unknown inspector {code!r}")
        for i, code in enumerate(away["inspector_id"])
        if code not in set(frame["inspector_id"])
    ]
    bad = pd.to_datetime(away["end"]) < pd.to_datetime(away["start"])
    problems += [Problem(str(leave), int(i) + 1, "end", "ends before it starts") for i in np.flatnonzero(bad)]
    if problems:
        raise InputError(problems)
    return frame, away


def monday(day: dt.date) -> dt.date:
    """The Monday of ``day``'s week (week 0 of a plan)."""
    return day - dt.timedelta(days=day.weekday())


def plan_days(start: dt.date, weeks: int, weekdays: int = 5) -> np.ndarray:
    """The working dates of a plan: ``weekdays`` days (Monday first) of each of ``weeks`` weeks."""
    first = np.datetime64(monday(start), "D")
    offsets = (np.arange(weeks)[:, None] * 7 + np.arange(weekdays)[None, :]).ravel()
    return first + offsets.astype("timedelta64[D]")


def availability(
    inspectors: pd.DataFrame, leave: pd.DataFrame, start: dt.date, weeks: int, weekdays: int = 5
) -> np.ndarray:
    """Boolean matrix [inspector, plan day]: works that day (first ``days_per_week`` weekdays) and not on leave."""
    days = plan_days(start, weeks, weekdays)
    day_in_week = np.tile(np.arange(weekdays), weeks)
    free = day_in_week[None, :] < inspectors["days_per_week"].to_numpy()[:, None]
    if len(leave):
        index = pd.Series(np.arange(len(inspectors)), index=inspectors["inspector_id"].to_numpy())
        rows = index.reindex(leave["inspector_id"].to_numpy()).to_numpy()
        begin = np.array(pd.to_datetime(leave["start"]).to_numpy(), dtype="datetime64[D]")
        end = np.array(pd.to_datetime(leave["end"]).to_numpy(), dtype="datetime64[D]")
        away = (days[None, :] >= begin[:, None]) & (days[None, :] <= end[:, None])
        hit_rows, hit_days = np.nonzero(away)
        keep = ~np.isnan(rows[hit_rows].astype(float))
        free[rows[hit_rows[keep]].astype(int), hit_days[keep]] = False
    return free


def synthetic_inspectorate(
    counts: pd.DataFrame, start: dt.date, weeks: int, seed: int = 1, leave_weeks_per_year: float = 6.0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic inspectors (``counts``: sector, region, inspectors) with skills drawn by
    :data:`SECTOR_SKILLS`, 80% full time (else 3 or 4 days a week), and whole weeks of leave at the
    rate of ``leave_weeks_per_year`` (6 weeks: 27 days' annual leave plus bank holidays)."""
    rng = np.random.default_rng(seed)
    sector = np.repeat(counts["sector"].to_numpy(), counts["inspectors"].to_numpy())
    region = np.repeat(counts["region"].to_numpy(), counts["inspectors"].to_numpy())
    n = len(sector)
    skills = np.full(n, "", dtype=object)
    for name, table in SECTOR_SKILLS.items():
        mine = sector == name
        for skill, share in table.items():
            has = mine & (rng.random(n) < share)
            skills[has] = np.where(skills[has] == "", skill, skills[has] + ";" + skill)
    days = rng.choice([5, 4, 3], size=n, p=[0.8, 0.1, 0.1])
    inspectors = pd.DataFrame(
        {
            "inspector_id": [f"I{i:05d}" for i in range(1, n + 1)],
            "sector": sector,
            "region": region,
            "skills": skills,
            "days_per_week": days,
        }
    )
    away = rng.random((n, weeks)) < leave_weeks_per_year / 52.0
    who, week = np.nonzero(away)
    first = np.datetime64(monday(start), "D") + (week * 7).astype("timedelta64[D]")
    leave = pd.DataFrame(
        {
            "inspector_id": inspectors["inspector_id"].to_numpy()[who],
            "start": pd.to_datetime(first).date,
            "end": pd.to_datetime(first + np.timedelta64(4, "D")).date,
        }
    )
    return inspectors, leave


def counts_for(
    demand: pd.DataFrame, weeks: int, coverage: float, days_per_inspector_week: float = 4.2
) -> pd.DataFrame:
    """Inspectors per (sector, region) to cover ``coverage`` of the inspector-days ``demand`` needs over
    ``weeks`` (an inspector gives about 4.2 days a week after part-time working and leave)."""
    need = demand.dropna(subset=["region"]).assign(load=lambda f: f["team"] * f["days"])
    table = need.groupby(["sector", "region"], as_index=False)["load"].sum()
    table["inspectors"] = np.maximum(
        np.ceil(coverage * table["load"] / (weeks * days_per_inspector_week)).astype(int),
        need.groupby(["sector", "region"])["team"].max().to_numpy() + 1,
    )
    return table[["sector", "region", "inspectors"]]
