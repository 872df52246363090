"""Data-quality checks: the named checks a figure must pass before it is judged, and their rules.

A figure that fails a check is *not assessed* for its organisation and period, with the check's reason:
never a good result, never a peer in anyone's funnel, never part of a control chart's baseline, a CUSUM
or a benchmark (docs/methods/data-quality.md). The same functions serve the import (which names the
organisations whose rows fail), the monitoring kernel (which leaves the rows out, with the reason) and the
services (which mark the months on an organisation's page and chart), so the rule is applied one way.

The rules are data: ``carelens/config/quality/data_quality.yaml`` (documented in docs/settings.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from carelens.config import packaged, read_settings

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Check:
    """One named data-quality check: what it looks for and what happens to a figure that fails it."""

    name: str
    title: str
    reason: str
    """The reason shown with a figure that fails it (monitoring results, pages, charts)."""


IMPLAUSIBLE_ZERO = Check(
    "implausible_zero",
    "implausible zero",
    "not assessed: data-quality check 'implausible zero' (no events reported against more people at risk "
    "than the check allows: missing data, not a perfect result)",
)
GAP = Check(
    "gap",
    "gap in the series",
    "not assessed: data-quality check 'gap' (no figure published for this period)",
)
REVISED = Check(
    "revised",
    "revised figure",
    "revised: a later release replaced the first figure published for this period (the latest is judged)",
)
UNRECONCILED = Check(
    "unreconciled_totals",
    "totals do not reconcile",
    "refused at import: data-quality check 'totals' (the organisations' rows do not sum to the file's "
    "total row)",
)
CHECKS = {c.name: c for c in (IMPLAUSIBLE_ZERO, GAP, REVISED, UNRECONCILED)}
"""Every check by name: the vocabulary of data-quality reasons."""


@dataclass(frozen=True)
class DataQualityRules:
    """The configurable rules (values and sources in ``data_quality.yaml``: no defaults here)."""

    implausible_zero: Mapping[str, float]
    """Indicator id -> the denominator above which a numerator of zero is implausible."""

    def as_json_data(self) -> dict:
        """The rules as plain data, sorted (stored with a monitoring run's settings)."""
        return {"implausible_zero": {k: self.implausible_zero[k] for k in sorted(self.implausible_zero)}}


def default_rules_file() -> Path:
    return packaged("quality", "data_quality.yaml")


def load_rules(path: str | Path | None = None) -> DataQualityRules:
    """Read and validate a data-quality rules file (the packaged one when ``path`` is None); every problem
    is reported at once, naming the file and the field."""
    r = read_settings(path, default_rules_file(), SCHEMA_VERSION)
    zero: dict[str, float] = {}
    for entry in r.entries("implausible_zero"):
        indicator = entry.get("indicator", str)
        above = entry.get("above", float, minimum=0.0)
        if indicator in zero:
            entry.problem("indicator", f"{indicator} has a rule already")
        elif indicator is not None and above is not None:
            zero[indicator] = above
    r.raise_if_any()
    return DataQualityRules(zero)


@cache
def packaged_rules() -> DataQualityRules:
    """The packaged rules, read once."""
    return load_rules()


def implausible_zero(numerator: np.ndarray, denominator: np.ndarray, above: float | None) -> np.ndarray:
    """Check 'implausible zero', vectorised: rows with no events against more than ``above`` people at
    risk (None: the indicator has no such rule, so no row fails)."""
    numerator = np.asarray(numerator, dtype=float)
    if above is None:
        return np.zeros(len(numerator), dtype=bool)
    with np.errstate(invalid="ignore"):
        return (numerator == 0) & (np.asarray(denominator, dtype=float) > above)


def failing(
    indicator_ids: Iterable[str], numerator: np.ndarray, denominator: np.ndarray, rules: DataQualityRules
) -> np.ndarray:
    """Which rows (of any indicators) fail a row check: for now 'implausible zero'."""
    ids = np.asarray(list(indicator_ids), dtype=object)
    out = np.zeros(len(ids), dtype=bool)
    for indicator, above in rules.implausible_zero.items():
        mine = ids == indicator
        out[mine] = implausible_zero(np.asarray(numerator)[mine], np.asarray(denominator)[mine], above)
    return out


def missing_months(periods: Iterable[dt.date]) -> list[dt.date]:
    """Check 'gap': the months between a monthly series' first and last period with no figure."""
    have = sorted({dt.date(p.year, p.month, 1) for p in periods})
    if len(have) < 2:
        return []
    first, last = have[0], have[-1]
    every = [
        dt.date(first.year + (first.month - 1 + k) // 12, (first.month - 1 + k) % 12 + 1, 1)
        for k in range((last.year - first.year) * 12 + last.month - first.month + 1)
    ]
    present = set(have)
    return [m for m in every if m not in present]
