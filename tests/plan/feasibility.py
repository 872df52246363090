"""An independent check that a schedule is feasible: written from the rules, not from the scheduler."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd


def violations(
    inspections: pd.DataFrame,
    teams: pd.DataFrame,
    inspectors: pd.DataFrame,
    leave: pd.DataFrame,
    start: dt.date,
    weeks: int,
) -> list[str]:
    """Every broken rule: double-booking, leave, working days, team size, skill, sector, region, horizon."""
    problems: list[str] = []
    staff = inspectors.set_index("inspector_id")
    visits = inspections.set_index("org_code")
    t = teams.reset_index(drop=True)
    length = (pd.to_datetime(t["end_date"]) - pd.to_datetime(t["start_date"])).dt.days + 1
    days = t.loc[t.index.repeat(length)].copy()
    days["day"] = pd.to_datetime(days["start_date"]) + pd.to_timedelta(
        days.groupby(level=0).cumcount(), unit="D"
    )
    double = days[days.duplicated(["inspector_id", "day"], keep=False)]
    problems += [
        f"{r.inspector_id} double-booked on {r.day.date()} ({r.org_code})" for r in double.itertuples()
    ]
    works = days["inspector_id"].map(staff["days_per_week"]).to_numpy()
    off = days[days["day"].dt.day_of_week.to_numpy() >= works]
    problems += [f"{r.inspector_id} does not work on {r.day.date()}" for r in off.itertuples()]
    if len(leave):
        away = days.merge(leave, on="inspector_id")
        away = away[
            (away["day"] >= pd.to_datetime(away["start"])) & (away["day"] <= pd.to_datetime(away["end"]))
        ]
        problems += [f"{r.inspector_id} is on leave on {r.day.date()}" for r in away.itertuples()]
    where = t["org_code"].map(visits["sector"]) + "/" + t["org_code"].map(visits["region"])
    home = t["inspector_id"].map(staff["sector"]) + "/" + t["inspector_id"].map(staff["region"])
    problems += [
        f"{i} ({h}) sent to {o} ({w})"
        for i, h, o, w in zip(t["inspector_id"], home, t["org_code"], where, strict=True)
        if h != w
    ]
    scheduled = inspections[inspections["start_date"].notna()]
    size = t.groupby("org_code").size().reindex(scheduled["org_code"]).fillna(0).to_numpy()
    problems += [
        f"{o} needs {n} inspectors, has {s}"
        for o, n, s in zip(scheduled["org_code"], scheduled["team"], size, strict=True)
        if n != s
    ]
    span = (pd.to_datetime(scheduled["end_date"]) - pd.to_datetime(scheduled["start_date"])).dt.days + 1
    problems += [
        f"{o} lasts the wrong number of days" for o in scheduled.loc[span != scheduled["days"], "org_code"]
    ]
    first, end = pd.Timestamp(start), pd.Timestamp(start) + pd.Timedelta(weeks=weeks)
    outside = (pd.to_datetime(scheduled["start_date"]) < first) | (
        pd.to_datetime(scheduled["end_date"]) >= end
    )
    problems += [f"{o} is outside the horizon" for o in scheduled.loc[outside, "org_code"]]
    skilled = t.assign(
        need=t["org_code"].map(visits["skill"]).fillna("").astype(str),
        held=t["inspector_id"].map(staff["skills"]).fillna("").astype(str),
    )
    skilled["ok"] = [
        n == "" or n in h.split(";") for n, h in zip(skilled["need"], skilled["held"], strict=True)
    ]
    lacking = skilled.groupby("org_code")["ok"].any()
    problems += [f"{o} has no inspector with the skill it needs" for o in lacking[~lacking].index]
    assert np.isfinite(size).all()
    return problems
