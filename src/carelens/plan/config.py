"""Planning configuration read from YAML (``carelens/config/plan/``): intervals, brings-forward, team sizes
and days, scheduler settings, and the failure-regime state machines. Defaults and sources are in the files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carelens.config import packaged, read_mapping
from carelens.errors import InputError, Problem

RATINGS = ("Inadequate", "Requires improvement", "Good", "Outstanding")


def read_yaml(path: str | Path | None, default: str) -> tuple[dict[str, Any], str]:
    """Parse a settings file (``path`` or the packaged ``config/plan/<default>``) with
    :func:`carelens.config.read_mapping`; bad files are an InputError naming them."""
    return read_mapping(path if path is not None else packaged("plan", default))


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
    """Read and check ``planning.yaml``; every problem is reported with the file and field."""
    data, source = read_yaml(path, "planning.yaml")
    problems: list[Problem] = []

    def get(section: str, key: str, default: Any = ...) -> Any:
        block = data.get(section) or {}
        if key not in block:
            if default is not ...:
                return default
            problems.append(Problem(source, None, f"{section}.{key}", "missing"))
            return None
        return block[key]

    types: dict[str, InspectionType] = {}
    for name, spec in (get("inspections", "types") or {}).items():
        sizes = spec.get("sizes") or {}
        if "default" not in sizes:
            problems.append(
                Problem(source, None, f"inspections.types.{name}.sizes", "needs a 'default' size")
            )
        for size, team in sizes.items():
            days = team.get("days", 0)
            if not (1 <= int(team.get("team", 0)) and 1 <= int(days) <= 5):
                problems.append(
                    Problem(
                        source,
                        None,
                        f"inspections.types.{name}.sizes.{size}",
                        "team must be >= 1 and days between 1 and 5 (an inspection fits in one week)",
                    )
                )
        types[name] = InspectionType(
            name=name,
            sector=str(spec.get("sector", "")),
            unannounced=bool(spec.get("unannounced", False)),
            skill=str(spec.get("skill") or ""),
            sizes=sizes,
            size_measure=spec.get("size_measure"),
        )
    kinds = get("demand", "kinds") or {}
    for kind, type_name in kinds.items():
        if type_name not in types:
            problems.append(
                Problem(source, None, f"demand.kinds.{kind}", f"unknown inspection type {type_name!r}")
            )
    intervals = get("demand", "interval_months") or {}
    for key, table in intervals.items():
        missing = [r for r in RATINGS if r not in table] if key == "default" else []
        if missing:
            problems.append(Problem(source, None, f"demand.interval_months.{key}", f"missing {missing}"))
    bonus = get("scheduler", "deadline_bonus", "auto")
    settings = PlanSettings(
        kinds=kinds,
        interval_months=intervals,
        new_registration_months=int(get("demand", "new_registration_months") or 0),
        stale_rating_months=int(get("demand", "stale_rating_months") or 0),
        bring_forward_months=get("demand", "bring_forward_months") or {},
        risk_base=get("demand", "risk_base") or {},
        risk_points=get("demand", "risk_points") or {},
        high_risk_min=float(get("demand", "high_risk_min") or 0),
        types=types,
        unannounced_window_days=int(get("inspections", "unannounced_window_days") or 0),
        weekdays=int(get("capacity", "weekdays", 5)),
        earliness=float(get("scheduler", "earliness", 0.5)),
        deadline_bonus=None if bonus == "auto" else float(bonus),
        mip_rel_gap=float(get("scheduler", "mip_rel_gap", 0.01)),
        time_limit_seconds=float(get("scheduler", "time_limit_seconds", 60)),
        presolve=bool(get("scheduler", "presolve", True)),
        within_weeks=int(get("whatif", "within_weeks", 13)),
        source=source,
    )
    if problems:
        raise InputError(problems)
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


@dataclass(frozen=True)
class Regime:
    """A failure regime's state machine."""

    name: str
    initial: str
    terminal: frozenset[str]
    transitions: dict[str, Transition]

    @property
    def states(self) -> set[str]:
        out = {self.initial, *self.terminal}
        for t in self.transitions.values():
            out |= {*t.sources, t.target}
        return out


def load_regimes(path: str | Path | None = None) -> dict[str, Regime]:
    """Read ``regime.yaml`` into state machines."""
    data, source = read_yaml(path, "regime.yaml")
    regimes: dict[str, Regime] = {}
    problems: list[Problem] = []
    for name, spec in (data.get("regimes") or {}).items():
        transitions = {}
        for event, t in (spec.get("transitions") or {}).items():
            if not t.get("from") or not t.get("to"):
                problems.append(Problem(source, None, f"regimes.{name}.{event}", "needs 'from' and 'to'"))
                continue
            transitions[event] = Transition(
                event=event,
                sources=tuple(t["from"]),
                target=t["to"],
                deadline_days=t.get("deadline_days"),
                deadline_action=t.get("deadline_action"),
                rating_in=tuple(t.get("rating_in") or ()),
                rating_not_in=tuple(t.get("rating_not_in") or ()),
            )
        if not spec.get("initial"):
            problems.append(Problem(source, None, f"regimes.{name}.initial", "missing"))
            continue
        regimes[name] = Regime(
            name=name,
            initial=spec["initial"],
            terminal=frozenset(spec.get("terminal") or ()),
            transitions=transitions,
        )
    if problems:
        raise InputError(problems)
    return regimes
