"""Planning configuration read from YAML (``carelens/config/plan/``): intervals, brings-forward, team sizes
and days, scheduler settings, and the failure-regime state machines. Defaults and sources are in the files."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carelens.config import FieldReader, packaged, read_settings

_MISSING: Any = object()

RATINGS = ("Inadequate", "Requires improvement", "Good", "Outstanding")


@dataclass(frozen=True)
class InspectionType:
    """Team and days for one kind of inspection (by size band), its sector, skill and notice."""

    name: str
    sector: str
    unannounced: bool
    skill: str
    sizes: dict[str, dict[str, float]]
    size_measure: str | None = None


@dataclass(frozen=True)
class PlanSettings:
    """The parsed ``planning.yaml``."""

    kinds: dict[str, str]
    interval_months: dict[str, dict[str, int]]
    new_registration_months: int
    stale_rating_months: int
    bring_forward_months: dict[str, int]
    risk_base: dict[str, float]
    risk_points: dict[str, float]
    high_risk_min: float
    types: dict[str, InspectionType]
    unannounced_window_days: int
    accuracy_challenge_days: int
    weekdays: int
    earliness: float
    deadline_bonus: float | None
    mip_rel_gap: float
    time_limit_seconds: float
    presolve: bool
    within_weeks: int
    source: str

    def intervals(self, key: str) -> dict[str, int]:
        """Interval months by rating for a sector or inspection type (falls back to 'default')."""
        return {**self.interval_months["default"], **self.interval_months.get(key, {})}


def load_settings(path: str | Path | None = None) -> PlanSettings:
    """Read and check ``planning.yaml``; every problem (a missing, unknown or mistyped field, a section
    given as a single value) is reported with the file and field
    (:class:`carelens.config.FieldReader`)."""
    r = read_settings(path, packaged("plan", "planning.yaml"))

    def mapping(dotted: str, default: Any = _MISSING) -> dict:
        """The mapping at ``dotted`` whose keys are the caller's to check (a problem if not a mapping)."""
        if default is _MISSING:
            return r.get(dotted, dict) or {}
        return r.get(dotted, dict, default=default) or {}

    def number(dotted: str, kind: type, default: Any = _MISSING, **bounds: Any) -> Any:
        if default is _MISSING:
            return r.get(dotted, kind, **bounds)
        return r.get(dotted, kind, default=default, **bounds)

    types: dict[str, InspectionType] = {}
    for name, spec in r.sections("inspections.types").items():
        sizes = spec.sections("sizes")
        if "default" not in sizes:
            spec.problem("sizes", "needs a 'default' size")
        for size in sizes.values():
            size.get("team", int, minimum=1)
            size.get("days", int, minimum=1, maximum=5)  # an inspection fits in one week
            size.get("min", float, minimum=0, optional=True)
        types[name] = InspectionType(
            name=name,
            sector=spec.get("sector", str, default=""),
            unannounced=spec.get("unannounced", bool, default=False),
            skill=spec.get("skill", str, default=""),
            sizes={size: dict(reader.document) for size, reader in sizes.items()},
            size_measure=spec.get("size_measure", str, optional=True),
        )
    kinds = mapping("demand.kinds")
    for kind, type_name in kinds.items():
        if not isinstance(type_name, str) or type_name not in types:
            r.problem(f"demand.kinds.{kind}", f"unknown inspection type {type_name!r}")
    intervals = {
        str(key): r.numbers(f"demand.interval_months.{key}", int, minimum=0)
        for key in r.section("demand.interval_months").document
    }
    if "default" not in intervals:
        intervals["default"] = r.numbers("demand.interval_months.default", int)  # missing: a problem
    for key, table in intervals.items():
        unknown = [rating for rating in table if rating not in RATINGS]
        missing = [rating for rating in RATINGS if rating not in table] if key == "default" else []
        if missing or unknown:
            r.problem(
                f"demand.interval_months.{key}", f"missing {missing}" if missing else f"unknown {unknown}"
            )
    bonus = r.get("scheduler.deadline_bonus", object, default="auto")
    if bonus != "auto" and (
        isinstance(bonus, bool) or not isinstance(bonus, int | float) or not math.isfinite(bonus)
    ):
        r.problem("scheduler.deadline_bonus", f"must be auto or a number, got {bonus!r}")
        bonus = "auto"
    settings = PlanSettings(
        kinds=kinds,
        interval_months=intervals,
        new_registration_months=number("demand.new_registration_months", int, minimum=0) or 0,
        stale_rating_months=number("demand.stale_rating_months", int, minimum=0) or 0,
        bring_forward_months=r.numbers("demand.bring_forward_months", int),
        risk_base=r.numbers("demand.risk_base"),
        risk_points=r.numbers("demand.risk_points"),
        high_risk_min=number("demand.high_risk_min", float) or 0.0,
        types=types,
        unannounced_window_days=number("inspections.unannounced_window_days", int, minimum=0) or 0,
        accuracy_challenge_days=number("inspections.accuracy_challenge_days", int, 14, minimum=0) or 0,
        weekdays=number("capacity.weekdays", int, 5, minimum=1, maximum=7) or 5,
        earliness=number("scheduler.earliness", float, 0.5) or 0.0,
        deadline_bonus=None if bonus == "auto" else float(bonus),
        mip_rel_gap=number("scheduler.mip_rel_gap", float, 0.01, minimum=0.0) or 0.0,
        time_limit_seconds=number("scheduler.time_limit_seconds", float, 60.0, minimum=0.0, exclusive=True)
        or 60.0,
        presolve=bool(r.get("scheduler.presolve", bool, default=True)),
        within_weeks=number("whatif.within_weeks", int, 13, minimum=1) or 13,
        source=r.source,
    )
    r.raise_if_any()
    return settings


@dataclass(frozen=True)
class Transition:
    """One allowed move of a failure-regime case."""

    event: str
    sources: tuple[str, ...]
    target: str
    deadline_days: int | None = None
    deadline_action: str | None = None
    rating_in: tuple[str, ...] = ()
    rating_not_in: tuple[str, ...] = ()
    guard: str | None = None
    """The evidence the move needs (one of :data:`GUARDS`), checked by :mod:`carelens.plan.regime`."""


GUARDS = {
    "reinspected": "a completed re-inspection since the case entered special measures, and published "
    "ratings dated after entry that are no longer Inadequate overall or on any key question that was",
    "recovered": "a commissioner assessment recorded since the case opened that is no longer inadequate, "
    "and every recovery action of the case complete",
}
"""The evidence guards a transition may name (``guard:`` in ``regime.yaml``), with what each needs."""


@dataclass(frozen=True)
class Regime:
    """A failure regime's state machine."""

    name: str
    initial: str
    terminal: frozenset[str]
    transitions: dict[str, Transition]
    escalate: dict[str, str]
    """For a state whose deadline has passed, the event that escalates the case (the next step)."""

    @property
    def states(self) -> set[str]:
        out = {self.initial, *self.terminal}
        for t in self.transitions.values():
            out |= {*t.sources, t.target}
        return out


def load_regimes(path: str | Path | None = None) -> dict[str, Regime]:
    """Read ``regime.yaml`` into state machines; every problem is reported with the file and field."""
    r = read_settings(path, packaged("plan", "regime.yaml"))
    regimes: dict[str, Regime] = {}
    for name, spec in r.sections("regimes").items():
        transitions = {}
        for event, t in spec.sections("transitions").items():
            sources = t.get("from", list, of=str)
            if sources == []:
                t.problem("from", "must name at least one state")
            transitions[event] = Transition(
                event=event,
                sources=tuple(sources or ()),
                target=t.get("to", str),
                deadline_days=t.get("deadline_days", int, minimum=1, optional=True),
                deadline_action=t.get("deadline_action", str, optional=True),
                rating_in=_ratings(t, "rating_in"),
                rating_not_in=_ratings(t, "rating_not_in"),
                guard=t.get("guard", str, optional=True),
            )
            if transitions[event].guard not in (None, *GUARDS):
                t.problem("guard", f"unknown guard; one of: {', '.join(GUARDS)}")
        escalate = spec.get("escalate", dict, default={}) or {}
        for state, event in escalate.items():
            move = transitions.get(event) if isinstance(event, str) else None
            if move is None or state not in move.sources:
                spec.problem(f"escalate.{state}", f"{event!r} is not a transition from {state!r}")
        regimes[name] = Regime(
            name=name,
            initial=spec.get("initial", str),
            terminal=frozenset(spec.get("terminal", list, default=[], of=str)),
            transitions=transitions,
            escalate={str(state): str(event) for state, event in escalate.items()},
        )
    r.raise_if_any()
    return regimes


def _ratings(r: FieldReader, dotted: str) -> tuple[str, ...]:
    """The ratings listed at ``dotted`` (none if absent), each one of the four."""
    listed = r.get(dotted, list, default=[], of=str) or []
    for rating in listed:
        if rating not in RATINGS:
            r.problem(dotted, f"{rating!r} is not one of: {', '.join(RATINGS)}")
    return tuple(listed)
