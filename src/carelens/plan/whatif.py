"""What-if on inspector capacity: with N more inspectors, how many high-risk locations can be inspected
within 3 months, and how many overdue inspections remain at the end of the horizon; the marginal value of
each extra inspector; the curve as an SVG chart.

Each figure is the best the capacity allows for that aim, solved exactly (HiGHS, gap 0) on the pooled
capacity of each sector x region (the scheduler's capacity rows, summed over the weeks concerned). Extra
inspectors are added one at a time to the sector x region with the most demand per unit of capacity, so
the inspectors of a larger N include those of a smaller one: capacity only grows, and so the curve is
monotone (more high-risk inspected, fewer overdue) by construction of an exact optimum.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from carelens.plan.config import PlanSettings, load_settings
from carelens.plan.inspectorate import availability, monday
from carelens.plan.schedule import _groups, _prepare, _skills


def extra_inspectors(
    demand: pd.DataFrame, inspectors: pd.DataFrame, weeks: int, n: int, weekdays: int = 5
) -> pd.DataFrame:
    """``n`` full-time inspectors added one by one to the sector x region with the highest ratio of
    demanded inspector-days to inspector-days; each holds every skill its sector's demand needs."""
    load = (
        demand.dropna(subset=["region"])
        .assign(l=lambda f: f["team"] * f["days"])
        .groupby(["sector", "region"])["l"]
        .sum()
    )
    if n <= 0 or load.empty:  # nothing to add, or no schedulable demand to add inspectors for
        return inspectors.iloc[0:0].copy()
    have = (
        inspectors.groupby(["sector", "region"])["days_per_week"].sum().reindex(load.index).fillna(0) * weeks
    )
    skills = demand.groupby("sector")["skill"].agg(lambda s: ";".join(sorted({x for x in s.fillna("") if x})))
    added = []
    capacity = have.to_numpy(dtype=float).copy()
    demand_days = load.to_numpy(dtype=float)
    for k in range(n):
        g = int(np.argmax(demand_days / np.maximum(capacity, 1.0)))
        capacity[g] += weekdays * weeks
        sector, region = load.index[g]
        added.append((f"X{k + 1:05d}", sector, region, skills.get(sector, ""), weekdays))
    return pd.DataFrame(added, columns=["inspector_id", "sector", "region", "skills", "days_per_week"])


def _best(values: np.ndarray, loads: list[np.ndarray], caps: list[float]) -> int:
    """Exact maximum of sum(values * x) over binary x with loads[r] @ x <= caps[r]."""
    keep = values > 0
    if not keep.any():
        return 0
    matrix = sp.csr_array(np.vstack([row[keep] for row in loads])) if loads else None
    result = milp(
        -values[keep].astype(float),
        integrality=np.ones(int(keep.sum())),
        bounds=Bounds(0, 1),
        constraints=LinearConstraint(matrix, -np.inf, np.array(caps)) if loads else None,
        options={"mip_rel_gap": 0.0, "disp": False},
    )
    return round(-result.fun)


def _pooled_rows(
    plan: pd.DataFrame,
    items: np.ndarray,
    staff: np.ndarray,
    free: np.ndarray,
    skills: pd.Series,
    weeks: range,
    weekdays: int,
) -> tuple[list[np.ndarray], list[float]]:
    """Capacity rows of the scheduler summed over ``weeks``: inspector-days, days per skill, team slots."""
    per_week = free[staff].reshape(len(staff), -1, weekdays).sum(axis=2)[:, list(weeks)]
    sub = plan.loc[items]
    team, days = sub["team"].to_numpy(float), sub["days"].to_numpy(float)
    need = sub["skill"].fillna("").to_numpy()
    loads, caps = [team * days], [float(per_week.sum())]
    for skill in sorted(set(need) - {""}):
        holders = np.array([skill in skills.iat[j] for j in staff])
        loads.append(days * (need == skill))
        caps.append(float(per_week[holders].sum()))
    for d in sorted(set(days.astype(int)) - {1}):
        loads.append(team * (days >= d))
        caps.append(float(np.floor(per_week / d).sum()))
    return loads, caps


def capacity_curve(
    demand: pd.DataFrame,
    inspectors: pd.DataFrame,
    leave: pd.DataFrame,
    as_of: dt.date,
    weeks: int,
    extra: list[int],
    settings: PlanSettings | None = None,
) -> pd.DataFrame:
    """For each number of extra inspectors: high-risk locations inspected within ``whatif.within_weeks``
    weeks, overdue inspections remaining at the end of the horizon (deadline before the end, not
    inspected), and the marginal value of each extra inspector since the previous point."""
    settings = settings or load_settings()
    start = monday(as_of)
    plan = _prepare(demand, start, weeks)
    end = pd.Timestamp(start) + pd.Timedelta(weeks=weeks)
    due = (pd.to_datetime(plan["deadline"]) < end).to_numpy()
    high = plan["high_risk"].to_numpy()
    within = range(min(settings.within_weeks, weeks))
    rows = []
    largest = extra_inspectors(plan, inspectors, weeks, max(extra, default=0), settings.weekdays)
    unschedulable: pd.Series = pd.Series(dtype=object)
    for n in sorted(set(extra)):
        staff = pd.concat([inspectors, largest.iloc[:n]], ignore_index=True)
        free = availability(staff, leave, start, weeks, settings.weekdays)
        skills = _skills(staff)
        groups, reasons = _groups(plan, staff)
        unschedulable = reasons[high & reasons.notna().to_numpy()]
        high_done = due_done = 0
        for group in groups:
            items = group.items
            loads, caps = _pooled_rows(plan, items, group.inspectors, free, skills, within, settings.weekdays)
            high_done += _best(high[items].astype(float), loads, caps)
            loads, caps = _pooled_rows(
                plan, items, group.inspectors, free, skills, range(weeks), settings.weekdays
            )
            due_done += _best(due[items].astype(float), loads, caps)
        rows.append(
            {
                "extra_inspectors": n,
                "inspectors": len(staff),
                "high_risk_within": high_done,
                "overdue_remaining": int(due.sum()) - due_done,
            }
        )
    curve = pd.DataFrame(rows)
    step = curve["extra_inspectors"].diff()
    curve["high_risk_per_extra_inspector"] = (curve["high_risk_within"].diff() / step).round(3) + 0.0
    curve["overdue_cleared_per_extra_inspector"] = (curve["overdue_remaining"].diff() / -step).round(3) + 0.0
    curve.attrs |= {
        "high_risk_total": int(high.sum()),
        "due_total": int(due.sum()),
        "within_weeks": len(within),
        "high_risk_unschedulable": unschedulable.value_counts().to_dict(),
        "added_to": (largest["sector"] + " / " + largest["region"]).value_counts().to_dict(),
    }
    return curve


def why_flat(curve: pd.DataFrame) -> list[str]:
    """Plain-English reasons why extra inspectors do not inspect more high-risk organisations within the
    what-if's weeks, when the curve says so (empty when they do): what capacity already allows, what no
    number of inspectors can schedule (with the scheduler's reasons, at the largest number tried), and
    where the extra inspectors went."""
    if curve.empty or curve["high_risk_within"].iloc[-1] > curve["high_risk_within"].iloc[0]:
        return []
    attrs = curve.attrs
    total, weeks = attrs["high_risk_total"], attrs["within_weeks"]
    blocked = attrs.get("high_risk_unschedulable", {})
    done = int(curve["high_risk_within"].iloc[0])
    schedulable = total - sum(blocked.values())
    lines = [
        f"High-risk inspections within {weeks} weeks do not change with extra inspectors: {done} of the "
        f"{schedulable} that can be scheduled ({total} due) fit with none added."
    ]
    if done == schedulable:
        lines.append(
            "Capacity is not what holds back high-risk inspections: every schedulable one already fits."
        )
    for reason, count in blocked.items():
        lines.append(f"{count} cannot be scheduled however many inspectors are added: {reason}.")
    added = attrs.get("added_to", {})
    if added and done < schedulable:
        placed = ", ".join(f"{n} to {where}" for where, n in added.items())
        lines.append(
            f"Extra inspectors go where demand per unit of capacity is highest ({placed}), "
            "not where the remaining high-risk inspections are."
        )
    return lines


def curve_svg(curve: pd.DataFrame) -> str:
    """The what-if curve as an SVG line chart (Altair, rendered by vl-convert with no browser)."""
    import altair as alt
    import vl_convert

    long = curve.melt(
        id_vars="extra_inspectors",
        value_vars=["high_risk_within", "overdue_remaining"],
        var_name="measure",
        value_name="locations",
    ).replace(
        {
            "measure": {
                "high_risk_within": "high-risk inspected within 3 months",
                "overdue_remaining": "overdue inspections remaining",
            }
        }
    )
    chart = (
        alt.Chart(long, title="Inspector capacity what-if")
        .mark_line(point=True)
        .encode(
            x=alt.X("extra_inspectors:Q", title="extra inspectors"),
            y=alt.Y("locations:Q", title="locations"),
            color=alt.Color("measure:N", title=None),
        )
        .properties(width=480, height=280)
    )
    return vl_convert.vegalite_to_svg(chart.to_json())
