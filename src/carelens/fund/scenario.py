"""Allocation scenarios: every weight and rule of the capitation formula, as a versioned YAML file.

A scenario says how need is measured (the published weighted populations, or the component weighted
populations recombined with the scenario's weights and health-inequalities share), the national
quantum per funding stream, the market forces factor, and the pace-of-change rules. Packaged
scenarios are ``carelens/config/fund/scenario_<name>.yaml``; see ``docs/allocations.md`` for each field.
:func:`load_scenario` reports every problem in a file at once, naming the file and the field.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from carelens.config import FieldReader, read_settings
from carelens.errors import InputError, Problem

SCHEMA_VERSION = 1
"""The scenario file layout this loader reads."""

COMPONENTS = ("general_acute", "community", "mental_health", "maternity", "prescribing")
"""Core-services components (docs/methods/allocations.md), each a practice weighted population in the
store."""
STREAMS = ("core", "primary_medical_care")
"""Funding streams with their own formula and quantum."""
NEED_METHODS = ("published", "components")
"""``published``: use the published final weighted population; ``components``: recombine components."""

_YEAR = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class StreamNeed:
    """How one stream's weighted population is formed from the practice columns."""

    method: str
    component_weights: dict[str, float] = field(default_factory=dict)
    """Component -> weight (national spend share); normalised to sum to 1 when used."""
    health_inequalities: float = 0.0
    """Share of the stream's need given by the health inequalities / unmet need weighted population."""


@dataclass(frozen=True)
class PaceOfChange:
    """Rules moving each commissioner from its baseline towards its target (see ``engine.pace_of_change``)."""

    minimum_growth: float
    under_target_cap: float | None
    convergence_rate: float
    baseline_year: int | None
    baseline_quantum_gbp: float | None


@dataclass(frozen=True)
class Scenario:
    """A parsed, validated scenario file."""

    name: str
    version: int
    year: int
    """First calendar year of the financial year (2024 = 2024/25)."""
    description: str
    need: dict[str, StreamNeed]
    quantum_gbp: dict[str, float]
    market_forces_default: float
    market_forces: dict[str, float]
    pace: PaceOfChange
    source: str
    sha256: str
    illustrative: tuple[str, ...] = ()
    """Fields whose figures are illustrative (not the real published tables)."""

    @property
    def year_label(self) -> str:
        return year_label(self.year)

    @property
    def total_quantum_gbp(self) -> float:
        return float(sum(self.quantum_gbp.values()))


def year_label(year: int) -> str:
    """2024 -> '2024-25'."""
    return f"{year}-{(year + 1) % 100:02d}"


def parse_year(text: Any, source: str = "--year", field_name: str | None = None) -> int:
    """'2024-25' -> 2024; raises InputError naming ``source`` otherwise."""
    found = _YEAR.match(str(text).strip())
    if not found or (int(found.group(1)) + 1) % 100 != int(found.group(2)):
        raise InputError(Problem(source, None, field_name, f"not a financial year like 2024-25: {text!r}"))
    return int(found.group(1))


def packaged_scenarios() -> dict[str, Path]:
    """Scenario name (file stem) -> path, for the scenarios shipped with carelens."""
    folder = resources.files("carelens") / "config" / "fund"
    return {
        Path(str(p)).stem.removeprefix("scenario_"): Path(str(p))
        for p in folder.iterdir()
        if p.name.startswith("scenario_") and p.name.endswith(".yaml")
    }


def resolve_scenario_path(name_or_path: str | Path) -> Path:
    """A path as given if it exists, else a packaged scenario of that name."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    packaged = packaged_scenarios()
    if str(name_or_path) in packaged:
        return packaged[str(name_or_path)]
    raise InputError(
        Problem(
            str(name_or_path),
            None,
            None,
            f"no such scenario file; packaged scenarios: {', '.join(sorted(packaged))}",
        )
    )


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file (or a packaged scenario by name)."""
    path = resolve_scenario_path(name_or_path)
    reader = read_settings(path, version=SCHEMA_VERSION)
    source = reader.source
    description = reader.get("description", str, default="")
    name = reader.get("name", str)
    version = reader.get("version", int, minimum=1)
    year_text = reader.get("year", str)
    year = None
    if year_text is not None:
        try:
            year = parse_year(year_text, source, "year")
        except InputError as error:
            reader.problems += error.problems
    need = {}
    for stream in STREAMS:
        need[stream] = _stream_need(reader, stream)
    quantum = {
        stream: reader.get(f"quantum_gbp.{stream}", float, minimum=0.0, exclusive=True) for stream in STREAMS
    }
    mff_default = reader.get("market_forces.default", float, minimum=0.0, exclusive=True, default=1.0)
    factors = reader.numbers("market_forces.by_commissioner", optional=True, minimum=0.0, exclusive=True)
    cap = reader.get("pace_of_change.under_target_cap", float, minimum=0.0, default=None, optional=True)
    baseline_year_text = reader.get("pace_of_change.baseline.year", str, default=None, optional=True)
    baseline_year = None
    if baseline_year_text is not None:
        try:
            baseline_year = parse_year(baseline_year_text, source, "pace_of_change.baseline.year")
        except InputError as error:
            reader.problems += error.problems
    pace = PaceOfChange(
        minimum_growth=reader.get("pace_of_change.minimum_growth", float, minimum=-1.0, default=0.0),
        under_target_cap=cap,
        convergence_rate=reader.get(
            "pace_of_change.convergence_rate", float, minimum=0.0, maximum=1.0, default=0.0
        ),
        baseline_year=baseline_year,
        baseline_quantum_gbp=reader.get(
            "pace_of_change.baseline.quantum_gbp", float, minimum=0.0, exclusive=True, optional=True
        ),
    )
    if (pace.baseline_year is None) != (pace.baseline_quantum_gbp is None):
        reader.problem("pace_of_change.baseline", "give both year and quantum_gbp, or neither")
    illustrative = reader.get("illustrative", list, default=[], of=str) or []
    reader.raise_if_any()
    return Scenario(
        name=name,
        version=version,
        year=year,
        description=description.strip(),
        need=need,
        quantum_gbp=quantum,
        market_forces_default=mff_default,
        market_forces=factors,
        pace=pace,
        source=source,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        illustrative=tuple(illustrative),
    )


def _stream_need(reader: FieldReader, stream: str) -> StreamNeed:
    prefix = f"need.{stream}"
    method = reader.get(f"{prefix}.method", str)
    if method is not None and method not in NEED_METHODS:
        reader.problem(f"{prefix}.method", f"must be one of {', '.join(NEED_METHODS)}, got {method!r}")
    hi = reader.get(f"{prefix}.health_inequalities", float, minimum=0.0, maximum=1.0, default=0.0)
    weights: dict[str, float] = {}
    if stream == "core":
        weights = reader.numbers(f"{prefix}.components", optional=True, minimum=0.0)
        for name in [name for name in weights if name not in COMPONENTS]:
            reader.problem(
                f"{prefix}.components.{name}", f"unknown component; choose from {', '.join(COMPONENTS)}"
            )
            del weights[name]
        if method == "components" and not sum(weights.values()) > 0:
            reader.problem(
                f"{prefix}.components", "method 'components' needs weights that sum to more than 0"
            )
    if method == "published" and hi:
        reader.problem(
            f"{prefix}.health_inequalities",
            "the published weighted population already includes it: use method 'components' to change it",
        )
    return StreamNeed(method=method or "published", component_weights=weights, health_inequalities=hi)
