"""Monitoring settings: thresholds, small-number rules, SPC options, scoring and banding cut-points.

The defaults and their sources are in ``carelens/config/monitor/monitor.yaml``; an analyst may pass
another file. :func:`load_settings` validates it and reports every problem at once.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from carelens.config import packaged, read_mapping
from carelens.errors import InputError, Problem

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class MonitorSettings:
    """Every setting of a monitoring pass (see ``monitor.yaml`` for meaning and sources)."""

    risk_z: float = 1.96
    elevated_z: float = 3.0
    trim: float = 0.1
    overdispersion: str | None = "additive"
    min_denominator: float = 20.0
    min_expected: float = 5.0
    min_units: int = 10
    benchmark_level: float = 95.0
    spc_measure: str = "relative"
    spc_min_points: int = 12
    spc_latest_points: int = 3
    spc_fix_after: int | None = None
    spc_run_length: int = 7
    points_risk: int = 1
    points_elevated: int = 2
    band_method: str = "quantile"
    band_cut_points: tuple[float, ...] = (0.50, 0.70, 0.85, 0.95, 0.99)
    band_within: str = "kind"
    zero_score_band: int = 6
    indicators_per_batch: int = 1

    def as_json(self) -> str:
        """The settings as canonical JSON (sorted keys): stored with each run and part of its digest."""
        data = asdict(self)
        data["band_cut_points"] = list(self.band_cut_points)
        return json.dumps(data, sort_keys=True)


def default_settings_file() -> Path:
    return packaged("monitor", "monitor.yaml")


_PATHS: dict[str, tuple[str, ...]] = {
    "risk_z": ("flags", "risk_z"),
    "elevated_z": ("flags", "elevated_z"),
    "trim": ("funnel", "trim"),
    "overdispersion": ("funnel", "overdispersion"),
    "min_denominator": ("small_numbers", "min_denominator"),
    "min_expected": ("small_numbers", "min_expected"),
    "min_units": ("small_numbers", "min_units"),
    "benchmark_level": ("benchmark", "level"),
    "spc_measure": ("spc", "measure"),
    "spc_min_points": ("spc", "min_points"),
    "spc_latest_points": ("spc", "latest_points"),
    "spc_fix_after": ("spc", "fix_after"),
    "spc_run_length": ("spc", "run_length"),
    "points_risk": ("score", "points", "risk"),
    "points_elevated": ("score", "points", "elevated_risk"),
    "band_method": ("bands", "method"),
    "band_cut_points": ("bands", "cut_points"),
    "band_within": ("bands", "within"),
    "zero_score_band": ("bands", "zero_score_band"),
    "indicators_per_batch": ("batch", "indicators_per_batch"),
}


def load_settings(path: str | Path | None = None) -> MonitorSettings:
    """Read and validate a monitoring settings file (the packaged defaults when ``path`` is None)."""
    document, source = read_mapping(Path(path) if path is not None else default_settings_file())
    if document.get("schema_version") != SCHEMA_VERSION:
        raise InputError(Problem(source, None, "schema_version", f"must be {SCHEMA_VERSION}"))
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, keys in _PATHS.items():
        node: Any = document
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        if node is None and name not in ("overdispersion", "spc_fix_after"):
            problems.append(Problem(source, None, ".".join(keys), "setting is missing"))
            continue
        values[name] = node
    if not problems:
        problems += _check(values, source)
    if problems:
        raise InputError(problems)
    values["band_cut_points"] = tuple(float(x) for x in values["band_cut_points"])
    return MonitorSettings(**values)


def _check(values: dict[str, Any], source: str) -> list[Problem]:
    problems = []

    def bad(name: str, reason: str) -> None:
        problems.append(Problem(source, None, ".".join(_PATHS[name]), reason))

    for name in ("risk_z", "elevated_z", "min_denominator", "min_expected", "benchmark_level"):
        if not isinstance(values[name], int | float) or values[name] <= 0:
            bad(name, f"must be a positive number, got {values[name]!r}")
    if not problems and values["elevated_z"] <= values["risk_z"]:
        bad("elevated_z", "must exceed risk_z")
    for name in (
        "min_units",
        "spc_min_points",
        "spc_latest_points",
        "spc_run_length",
        "indicators_per_batch",
    ):
        if not isinstance(values[name], int) or values[name] < 1:
            bad(name, f"must be a whole number >= 1, got {values[name]!r}")
    if values["overdispersion"] not in ("additive", "multiplicative", None):
        bad("overdispersion", "must be additive, multiplicative or null")
    if values["spc_measure"] not in ("relative", "value"):
        bad("spc_measure", "must be relative or value")
    if values["band_method"] not in ("quantile", "fixed"):
        bad("band_method", "must be quantile or fixed")
    if values["band_within"] not in ("kind", "all"):
        bad("band_within", "must be kind or all")
    cuts = values["band_cut_points"]
    if not isinstance(cuts, list) or len(cuts) != 5 or list(cuts) != sorted(cuts):
        bad("band_cut_points", "must be 5 ascending numbers (6 bands)")
    elif values["band_method"] == "quantile" and not all(0 <= c <= 1 for c in cuts):
        bad("band_cut_points", "quantiles must lie in [0, 1]")
    if values["zero_score_band"] not in range(1, 7):
        bad("zero_score_band", "must be a band 1-6")
    return problems
