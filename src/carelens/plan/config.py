"""Planning configuration read from YAML (``carelens/config/plan/``): intervals, brings-forward, team sizes
and days, scheduler settings, and the failure-regime state machines. Defaults and sources are in the files."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carelens.config import FieldReader, packaged, read_mapping
from carelens.errors import InputError, Problem

_MISSING: Any = object()

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
    """Read and check ``planning.yaml``; every problem (a missing, unknown or mistyped field, a section
    given as a single value) is reported with the file and field
    (:class:`carelens.config.FieldReader`)."""
    data, source = read_yaml(path, "planning.yaml")
    r = FieldReader(source, data)
    r.known("schema_version")

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
    for name, spec in mapping("inspections.types").items():
        where = f"inspections.types.{name}"
        if not isinstance(spec, Mapping):
            r.problem(where, f"must be a mapping (key: value), got {spec!r}")
            continue
        sizes = spec.get("sizes") or {}
        if not isinstance(sizes, Mapping) or "default" not in sizes:
            r.problem(f"{where}.sizes", "needs a 'default' size")
            sizes = sizes if isinstance(sizes, Mapping) else {}
        for size, team in sizes.items():
            if not (
                isinstance(team, Mapping)
                and all(
                    isinstance(team.get(k), int) and not isinstance(team.get(k), bool)
                    for k in ("team", "days")
                )
                and 1 <= team["team"]
                and 1 <= team["days"] <= 5
            ):
                r.problem(
                    f"{where}.sizes.{size}",
                    "team must be >= 1 and days between 1 and 5 (an inspection fits in one week)",
                )
        types[name] = InspectionType(
            name=name,
            sector=str(spec.get("sector", "")),
            unannounced=bool(spec.get("unannounced", False)),
            skill=str(spec.get("skill") or ""),
            sizes=dict(sizes),
            size_measure=spec.get("size_measure"),
        )
    kinds = mapping("demand.kinds")
    for kind, type_name in kinds.items():
        if not isinstance(type_name, str) or type_name not in types:
            r.problem(f"demand.kinds.{kind}", f"unknown inspection type {type_name!r}")
    intervals = mapping("demand.interval_months")
    for key, table in intervals.items():
        if not isinstance(table, Mapping):
            r.problem(f"demand.interval_months.{key}", f"must be a mapping of rating: months, got {table!r}")
            continue
        missing = [rating for rating in RATINGS if rating not in table] if key == "default" else []
        if missing:
            r.problem(f"demand.interval_months.{key}", f"missing {missing}")
    if not isinstance(intervals.get("default"), Mapping):
        intervals = {**intervals, "default": {}}
        r.problem("demand.interval_months.default", "required field is missing")
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
        bring_forward_months=_numbers(r, "demand.bring_forward_months"),
        risk_base=_numbers(r, "demand.risk_base"),
        risk_points=_numbers(r, "demand.risk_points"),
        high_risk_min=number("demand.high_risk_min", float) or 0.0,
        types=types,
        unannounced_window_days=number("inspections.unannounced_window_days", int, minimum=0) or 0,
        weekdays=number("capacity.weekdays", int, 5, minimum=1, maximum=7) or 5,
        earliness=number("scheduler.earliness", float, 0.5) or 0.0,
        deadline_bonus=None if bonus == "auto" else float(bonus),
        mip_rel_gap=number("scheduler.mip_rel_gap", float, 0.01, minimum=0.0) or 0.0,
        time_limit_seconds=number("scheduler.time_limit_seconds", float, 60.0, minimum=0.0, exclusive=True)
        or 60.0,
        presolve=bool(r.get("scheduler.presolve", bool, default=True)),
        within_weeks=number("whatif.within_weeks", int, 13, minimum=1) or 13,
        source=source,
    )
    r.raise_if_any()
    return settings


def _numbers(r: FieldReader, dotted: str) -> dict[str, Any]:
    """A mapping of names to finite numbers (each bad one a problem naming its field)."""
    out = {}
    for key, value in (r.get(dotted, dict) or {}).items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            r.problem(f"{dotted}.{key}", f"must be a number, got {value!r}")
        else:
            out[key] = value
    return out


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
    declared = data.get("regimes") or {}
    if not isinstance(declared, Mapping):
        raise InputError(
            Problem(source, None, "regimes", f"must be a mapping (key: value), got {declared!r}")
        )
    for name, spec in declared.items():
        transitions = {}
        if not isinstance(spec, Mapping) or not isinstance(spec.get("transitions") or {}, Mapping):
            problems.append(Problem(source, None, f"regimes.{name}", "must be a mapping with transitions"))
            continue
        for event, t in (spec.get("transitions") or {}).items():
            if not isinstance(t, Mapping) or not t.get("from") or not t.get("to"):
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
