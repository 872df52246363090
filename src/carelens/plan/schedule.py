"""The inspection scheduler: a MILP solved by HiGHS (``scipy.optimize.milp``) chooses the week of each
inspection, per sector x region (inspectors work in their base region, so the problem splits exactly);
then teams are formed day by day from the inspectors free on those days, with the skill each inspection
needs, and any time left is filled. A greedy baseline (statutory deadlines first, then highest risk
first, each in the earliest week with a free team) uses the same team formation: equal capacity.

Model (one per sector x region; x[i, w] = 1 if inspection i starts in week w):
  maximise  sum v[i, w] x[i, w],  v = risk_i (1 - earliness w / W) + bonus [deadline of i in week >= w]
  subject to  sum_w x[i, w] <= 1                                   (each inspection at most once)
  and for each week w:
              sum_i team_i days_i x[i, w] <= inspector-days free
              sum_(i needing skill k) days_i x[i, w] <= days free of inspectors with skill k
              sum_(i lasting >= d days) team_i x[i, w] <= sum_j floor(free days of j / d)
              sum_(i with team >= k) days_i x[i, w] <= sum_day floor(inspectors free that day / k)
Inspections already overdue carry extra risk points (``planning.yaml``), so they come early by risk.
Why a MILP with HiGHS rather than CP-SAT: see docs/planning.md.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from carelens.plan.config import PlanSettings, load_settings
from carelens.plan.demand import NO_REGION
from carelens.plan.inspectorate import availability, monday, plan_days


@dataclass
class Schedule:
    """A schedule: every demanded inspection (scheduled or with the reason it is not), the team members,
    and a summary (objective, the solver's bound and gap, deadlines met, risk covered, timings)."""

    inspections: pd.DataFrame
    assignments: pd.DataFrame
    summary: dict = field(default_factory=dict)


@dataclass
class _Group:
    """One sector x region: its inspections (rows of the plan) and inspectors (rows of the matrix)."""

    sector: str
    region: str
    items: np.ndarray
    inspectors: np.ndarray


def _skills(inspectors: pd.DataFrame) -> pd.Series:
    return (
        inspectors["skills"]
        .fillna("")
        .astype(str)
        .str.split(";")
        .map(lambda s: {x.strip() for x in s if x.strip()})
    )


def _prepare(demand: pd.DataFrame, start: dt.date, weeks: int) -> pd.DataFrame:
    plan = demand.reset_index(drop=True).copy()
    first = pd.Timestamp(start)
    offset = (pd.to_datetime(plan["deadline"]) - first).dt.days
    last_week = np.floor((offset.to_numpy(dtype=float) + 1) / 7) - 1  # whole week ends by the deadline
    plan["deadline_week"] = np.where(np.isnan(last_week), -1, last_week).astype(int)
    plan["deadline_in_horizon"] = (offset >= 0).to_numpy() & (plan["deadline_week"].to_numpy() < weeks)
    plan["deadline_in_horizon"] &= plan["deadline_week"].to_numpy() >= 0
    plan["statutory"] = plan["deadline_in_horizon"] | plan["overdue"].astype(bool)
    return plan


def _values(plan: pd.DataFrame, weeks: int, settings: PlanSettings, bonus: float | np.ndarray) -> np.ndarray:
    """v[i, w] for every inspection and week."""
    w = np.arange(weeks)[None, :]
    risk = plan["risk"].to_numpy(dtype=float)[:, None]
    value = risk * (1 - settings.earliness * w / weeks)
    meets = plan["deadline_in_horizon"].to_numpy()[:, None] & (w <= plan["deadline_week"].to_numpy()[:, None])
    return value + bonus * meets


def _groups(plan: pd.DataFrame, inspectors: pd.DataFrame) -> tuple[list[_Group], pd.Series]:
    """Split into sector x region; say why inspections no group can do are unschedulable."""
    reason = pd.Series(None, index=plan.index, dtype=object)
    missing = plan["region"].isna()
    why = plan["no_region"] if "no_region" in plan else pd.Series(None, index=plan.index, dtype=object)
    reason[missing] = why[missing].fillna(NO_REGION["other"])
    skills = _skills(inspectors)
    groups = []
    by_group = inspectors.groupby(["sector", "region"]).indices
    for (sector, region), rows in plan[plan["region"].notna()].groupby(["sector", "region"]).groups.items():
        staff = by_group.get((sector, region), np.array([], dtype=int))
        items = np.asarray(rows)
        if len(staff) == 0:
            reason[items] = f"no {sector} inspectors based in region {region}"
            continue
        team = plan.loc[items, "team"].to_numpy()
        too_big = team > len(staff)
        reason[items[too_big]] = (
            f"needs a team of more inspectors than the {len(staff)} {sector} inspectors in {region}"
        )
        held = set().union(*skills.iloc[staff]) if len(staff) else set()
        needed = plan.loc[items, "skill"].fillna("").to_numpy()
        no_skill = np.array([s != "" and s not in held for s in needed], dtype=bool)
        for i in items[no_skill]:
            reason[i] = f"no inspector in {region} has the skill {plan.at[i, 'skill']!r}"
        ok = items[~too_big & ~no_skill]
        if len(ok):
            groups.append(_Group(sector, region, ok, np.asarray(staff)))
    return groups, reason


def _solve_group(
    group: _Group,
    plan: pd.DataFrame,
    free: np.ndarray,
    skills: pd.Series,
    weeks: int,
    weekdays: int,
    settings: PlanSettings,
    gap: float | None = None,
) -> tuple[np.ndarray, float, float]:
    """The MILP for one group: the week chosen for each item (-1 none), the objective and the bound."""
    items = plan.loc[group.items]
    n = len(items)
    bonus = (
        settings.deadline_bonus if settings.deadline_bonus is not None else float(items["risk"].sum()) + 1.0
    )
    value = _values(items, weeks, settings, bonus).ravel()
    staff_free = free[group.inspectors].reshape(len(group.inspectors), weeks, weekdays).sum(axis=2)
    cap = staff_free.sum(axis=0).astype(float)
    load = (items["team"] * items["days"]).to_numpy(dtype=float)
    cols = np.arange(n * weeks)
    item_of = cols // weeks
    week_of = cols % weeks
    rows = [item_of, n + week_of]
    data = [np.ones(n * weeks), load[item_of]]
    upper = [np.ones(n), cap]
    next_row = n + weeks
    needed = items["skill"].fillna("").to_numpy()
    for skill in sorted(set(needed) - {""}):
        holders = np.array([skill in skills.iat[j] for j in group.inspectors])
        skill_cap = staff_free[holders].sum(axis=0).astype(float)
        mine = needed[item_of] == skill
        rows.append(next_row + week_of[mine])
        data.append(items["days"].to_numpy(dtype=float)[item_of[mine]])
        upper.append(skill_cap)
        next_row += weeks
    lengths = items["days"].to_numpy()
    extra_cols = []
    for d in sorted(set(lengths) - {1}):
        slots = np.floor(staff_free / d).sum(axis=0).astype(float)
        mine = lengths[item_of] >= d
        rows.append(next_row + week_of[mine])
        data.append(items["team"].to_numpy(dtype=float)[item_of[mine]])
        upper.append(slots)
        extra_cols.append(cols[mine])
        next_row += weeks
    # on any day, at most floor(free inspectors / k) inspections with a team of k or more run at once
    per_day = free[group.inspectors].reshape(len(group.inspectors), weeks, weekdays).sum(axis=0)
    sizes = items["team"].to_numpy()
    for k in sorted(set(sizes) - {1}):
        mine = sizes[item_of] >= k
        rows.append(next_row + week_of[mine])
        data.append(items["days"].to_numpy(dtype=float)[item_of[mine]])
        upper.append(np.floor(per_day / k).sum(axis=1).astype(float))
        extra_cols.append(cols[mine])
        next_row += weeks
    cols_all = np.concatenate(
        [cols, cols] + [cols[needed[item_of] == k] for k in sorted(set(needed) - {""})] + extra_cols
    )
    matrix = sp.csr_array(
        (np.concatenate(data), (np.concatenate(rows), cols_all)), shape=(next_row, n * weeks)
    )
    result = milp(
        -value,
        constraints=LinearConstraint(matrix, -np.inf, np.concatenate(upper)),
        integrality=np.ones(n * weeks),
        bounds=Bounds(0, 1),
        options={
            "mip_rel_gap": settings.mip_rel_gap if gap is None else gap,
            "time_limit": settings.time_limit_seconds,
            "disp": False,
            "presolve": settings.presolve,
        },
    )
    if result.x is None:
        return np.full(n, -1), 0.0, float(value.reshape(n, weeks).max(axis=1).sum())
    chosen = result.x.reshape(n, weeks) > 0.5
    week = np.where(chosen.any(axis=1), chosen.argmax(axis=1), -1)
    bound = (
        -float(result.mip_dual_bound) if getattr(result, "mip_dual_bound", None) is not None else -result.fun
    )
    return week, float(-result.fun), bound


class _Staffing:
    """Forms teams from inspectors' free days, marking the days used (no one is double-booked)."""

    def __init__(self, free: np.ndarray, skills: pd.Series, weekdays: int) -> None:
        self.free = free.copy()
        self.weekdays = weekdays
        names = sorted(set().union(*skills)) if len(skills) else []
        self.has = {k: np.array([k in held for held in skills], dtype=bool) for k in names}
        self.earliest: dict[tuple, int] = {}
        """(group, team, days, skill) -> first week that may still fit it (free time only shrinks)."""

    def try_week(
        self, staff: np.ndarray, week: int, team: int, days: int, skill: str
    ) -> tuple[int, np.ndarray] | None:
        """Start day (index in the plan) and inspectors (lead first) for one inspection, or None."""
        base = week * self.weekdays
        block = self.free[staff, base : base + self.weekdays]
        left = block.sum(axis=1)
        has = self.has.get(skill) if skill else None
        for s in range(self.weekdays - days + 1):
            ok = block[:, s : s + days].all(axis=1)
            if ok.sum() < team:
                continue
            candidates = np.flatnonzero(ok)
            candidates = candidates[np.argsort(left[candidates], kind="stable")]  # best fit first
            if has is not None:
                skilled = has[staff[candidates]]
                if not skilled.any():
                    continue
                at = int(np.argmax(skilled))
                rows = np.concatenate([candidates[at : at + 1], np.delete(candidates, at)[: team - 1]])
            else:
                rows = candidates[:team]
            chosen = staff[rows]
            self.free[chosen, base + s : base + s + days] = False
            return base + s, chosen
        return None

    def first_fit(self, key: tuple, staff: np.ndarray, weeks: range, need: tuple[int, int, str]):
        """The first of ``weeks`` a team fits (skipping weeks where the same need already failed)."""
        floor = self.earliest.get((key, need), 0)
        for week in weeks:
            if week < floor:
                continue
            got = self.try_week(staff, week, *need)
            if got is not None:
                return got
            if week == floor:
                floor += 1
                self.earliest[(key, need)] = floor
        return None


def _staff(
    plan: pd.DataFrame,
    groups: list[_Group],
    weeks_chosen: dict[int, int],
    staffing: _Staffing,
    weeks: int,
) -> dict[int, tuple[int, np.ndarray]]:
    """Staff the inspections in their chosen weeks: those with a deadline in the horizon first (all of
    them, before any other takes a team), then overdue ones, then the rest; one that cannot be staffed
    in its week takes the earliest week a team is free."""
    placed: dict[int, tuple[int, np.ndarray]] = {}
    need = _needs(plan)
    tier = np.where(plan["deadline_in_horizon"], 0, np.where(plan["overdue"].astype(bool), 1, 2))
    risk = plan["risk"].to_numpy()
    chosen = np.full(len(plan), -1)
    for i, w in weeks_chosen.items():
        chosen[i] = w
    skilled = (plan["skill"].fillna("") != "").to_numpy()
    load = (plan["team"] * plan["days"]).to_numpy()
    for level in (0, 1, 2):
        for group in groups:
            mine = group.items[(chosen[group.items] >= 0) & (tier[group.items] == level)]
            mine = mine[np.lexsort((-load[mine], ~skilled[mine], chosen[mine]))]
            failed = []
            for i in mine:
                got = staffing.try_week(group.inspectors, int(chosen[i]), *need[i])
                if got is None:
                    failed.append(i)
                else:
                    placed[int(i)] = got
            for i in sorted(failed, key=lambda i: -risk[i]):
                got = staffing.first_fit(
                    (group.sector, group.region), group.inspectors, range(weeks), need[i]
                )
                if got is not None:
                    placed[int(i)] = got
    return placed


def _needs(plan: pd.DataFrame) -> list[tuple[int, int, str]]:
    """(team, days, skill) of every inspection."""
    return list(
        zip(
            plan["team"].astype(int).tolist(),
            plan["days"].astype(int).tolist(),
            plan["skill"].fillna("").astype(str).tolist(),
            strict=True,
        )
    )


def make_schedule(
    demand: pd.DataFrame,
    inspectors: pd.DataFrame,
    leave: pd.DataFrame,
    as_of: dt.date,
    weeks: int,
    settings: PlanSettings | None = None,
    method: str = "milp",
) -> Schedule:
    """Schedule the demanded inspections over ``weeks`` weeks from ``as_of``'s Monday.

    ``method`` 'milp' (the optimiser) or 'greedy' (the baseline). Every inspection comes back: with a
    start date and team, or with ``unscheduled_reason``.
    """
    settings = settings or load_settings()
    start = monday(as_of)
    plan = _prepare(demand, start, weeks)
    inspectors = inspectors.reset_index(drop=True)
    skills = _skills(inspectors)
    free = availability(inspectors, leave, start, weeks, settings.weekdays)
    groups, reason = _groups(plan, inspectors)
    plan["bonus"] = 0.0
    for group in groups:  # lexicographic: one deadline outweighs all the risk in its sector x region
        auto = float(plan.loc[group.items, "risk"].sum()) + 1.0
        plan.loc[group.items, "bonus"] = (
            settings.deadline_bonus if settings.deadline_bonus is not None else auto
        )
    staffing = _Staffing(free, skills, settings.weekdays)
    started = time.perf_counter()
    objective_model = bound = 0.0
    chosen: dict[int, int] = {}
    solve_times = []
    if method == "milp":
        for group in groups:
            t0 = time.perf_counter()
            week, objective, group_bound = _solve_group(
                group, plan, free, skills, weeks, settings.weekdays, settings
            )
            solve_times.append(time.perf_counter() - t0)
            objective_model += objective
            bound += group_bound
            chosen.update({int(i): int(w) for i, w in zip(group.items, week, strict=True)})
        placed = _staff(plan, groups, chosen, staffing, weeks)
        placed |= _fill(plan, groups, placed, staffing, weeks)
    elif method == "greedy":
        placed = _greedy(plan, groups, staffing, weeks)
    else:
        raise ValueError(f"unknown method {method!r}")
    seconds = time.perf_counter() - started
    return _result(
        plan, placed, reason, start, weeks, settings, method, seconds, objective_model, bound, solve_times
    )


def _fill(plan: pd.DataFrame, groups: list[_Group], placed: dict, staffing: _Staffing, weeks: int) -> dict:
    """Put inspections the model left out (within its gap tolerance, or unstaffable in the week it chose)
    into any time still free: deadlines first, then by risk."""
    need = _needs(plan)
    added = {}
    for group in groups:
        left = plan.loc[[i for i in group.items if i not in placed]]
        left = left.sort_values(["deadline_in_horizon", "overdue", "risk"], ascending=[False, False, False])
        for i in left.index:
            got = staffing.first_fit((group.sector, group.region), group.inspectors, range(weeks), need[i])
            if got is not None:
                added[int(i)] = got
    return added


def _greedy(plan: pd.DataFrame, groups: list[_Group], staffing: _Staffing, weeks: int) -> dict:
    """Statutory deadlines in the horizon first (earliest deadline first), then highest risk first
    (overdue inspections carry extra risk points); each in the earliest week a team is free."""
    placed = {}
    need = _needs(plan)
    for group in groups:
        items = plan.loc[group.items].sort_values(
            ["deadline_in_horizon", "deadline_week", "risk"], ascending=[False, True, False]
        )
        for i in items.index:
            got = staffing.first_fit((group.sector, group.region), group.inspectors, range(weeks), need[i])
            if got is not None:
                placed[i] = got
    return placed


def _result(
    plan, placed, reason, start, weeks, settings, method, seconds, objective_model, bound, solve_times
) -> Schedule:
    days = plan_days(start, weeks, settings.weekdays)
    index = np.array(sorted(placed), dtype=int)
    day_index = np.array([placed[i][0] for i in index], dtype=int)
    start_dates = pd.Series(pd.NaT, index=plan.index, dtype="datetime64[s]")
    if len(index):
        start_dates.iloc[index] = pd.to_datetime(days[day_index])
    plan["start_date"] = start_dates
    plan["end_date"] = plan["start_date"] + pd.to_timedelta(plan["days"] - 1, unit="D")
    plan["week"] = ((plan["start_date"] - pd.Timestamp(start)).dt.days // 7).astype("Int64")
    scheduled = plan["start_date"].notna()
    window = pd.to_timedelta(settings.unannounced_window_days, unit="D")
    plan["window_start"] = (plan["start_date"] - window).where(plan["unannounced"])
    plan["window_end"] = (plan["end_date"] + window).where(plan["unannounced"])
    plan["meets_deadline"] = scheduled & (plan["end_date"] <= plan["deadline"])
    unscheduled = reason.copy()
    capacity = (
        "not enough free inspector time in "
        + plan["sector"].astype(str)
        + " / "
        + plan["region"].astype(str)
        + " within the horizon: higher-value inspections took it"
    )
    unscheduled = unscheduled.where(unscheduled.notna() | scheduled, capacity)
    plan["unscheduled_reason"] = unscheduled.where(~scheduled, None)
    plan["status"] = np.where(scheduled, "planned", "unscheduled")
    rows = [(i, inspector, n == 0) for i in index for n, inspector in enumerate(placed[i][1])]
    assignments = pd.DataFrame(rows, columns=["row", "inspector_index", "lead"])
    bonus = settings.deadline_bonus if settings.deadline_bonus is not None else None
    week = plan["week"].fillna(0).astype(int).to_numpy()
    risk = plan["risk"].to_numpy(dtype=float)
    value_risk = np.where(scheduled, risk * (1 - settings.earliness * week / weeks), 0.0)
    credited = (
        scheduled.to_numpy()
        & plan["deadline_in_horizon"].to_numpy()
        & (week <= plan["deadline_week"].to_numpy())
    )
    objective = float(value_risk.sum() + (plan["bonus"].to_numpy() * credited).sum())
    due_in = plan["deadline_in_horizon"]
    summary = {
        "method": method,
        "weeks": weeks,
        "start": str(start),
        "inspections_demanded": len(plan),
        "inspections_scheduled": int(scheduled.sum()),
        "risk_demanded": float(risk.sum()),
        "risk_covered": float(risk[scheduled.to_numpy()].sum()),
        "risk_value": float(value_risk.sum()),
        "deadlines_in_horizon": int(due_in.sum()),
        "deadlines_met": int((plan["meets_deadline"] & due_in).sum()),
        "overdue_at_start": int(plan["overdue"].sum()),
        "overdue_inspected": int((plan["overdue"] & scheduled).sum()),
        "high_risk_within": int(
            (plan["high_risk"] & scheduled & (plan["week"] < settings.within_weeks)).sum()
        ),
        "objective": objective,
        "seconds": round(seconds, 3),
        "deadline_bonus": "auto" if bonus is None else bonus,
    }
    if method == "milp":
        summary |= {
            "model_objective": objective_model,
            "model_bound": bound,
            "model_gap": (bound - objective_model) / bound if bound > 0 else 0.0,
            "gap": (bound - objective) / bound if bound > 0 else 0.0,
            "groups": len(solve_times),
            "slowest_group_seconds": round(max(solve_times, default=0.0), 3),
        }
    return Schedule(plan, assignments, summary)


def with_inspector_ids(schedule: Schedule, inspectors: pd.DataFrame) -> pd.DataFrame:
    """The assignments with inspector ids and the inspection's org code and dates."""
    a = schedule.assignments
    ids = inspectors.reset_index(drop=True)["inspector_id"].to_numpy()
    plan = schedule.inspections
    return pd.DataFrame(
        {
            "row": a["row"].to_numpy(),
            "org_code": plan["org_code"].to_numpy()[a["row"].to_numpy()],
            "inspector_id": ids[a["inspector_index"].to_numpy(dtype=int)] if len(a) else [],
            "lead": a["lead"].to_numpy(),
            "start_date": plan["start_date"].to_numpy()[a["row"].to_numpy()],
            "end_date": plan["end_date"].to_numpy()[a["row"].to_numpy()],
        }
    )
