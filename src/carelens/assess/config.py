"""Load the documented rules configuration (``carelens/config/assess/*.yaml``) into typed objects.

Every threshold used by :mod:`carelens.assess` comes from these files; a user may pass another file.
Problems are reported all at once as an :class:`~carelens.errors.InputError` naming the file and key.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from carelens.assess.scale import CODES, KEY_QUESTIONS, OVERALL
from carelens.config import packaged, read_mapping
from carelens.errors import InputError, Problem


def config_file(name: str) -> Path:
    """Path of a packaged configuration file in ``carelens/config/assess``."""
    return packaged("assess", name)


def read_yaml(path: str | Path | None, default: str) -> tuple[dict[str, Any], str]:
    """The settings file at ``path``, or the packaged ``default``, as a mapping and its source name."""
    return read_mapping(Path(path) if path else config_file(default))


@dataclass(frozen=True)
class Thresholds:
    """Counts of underlying ratings that trigger each outcome, for one range of underlying-rating counts."""

    outstanding: int
    requires_improvement: int
    inadequate: int


@dataclass(frozen=True)
class XTable:
    """The sliding "X" table: thresholds by number of underlying ratings (rows sorted by ``min_ratings``)."""

    min_ratings: tuple[int, ...]
    thresholds: tuple[Thresholds, ...]
    cap_at_count: bool = False

    @classmethod
    def fixed(cls, thresholds: Thresholds, cap_at_count: bool = False) -> XTable:
        """The same thresholds whatever the number of underlying ratings."""
        return cls((1,), (thresholds,), cap_at_count)

    def lookup(self, n: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Thresholds (outstanding, requires improvement, inadequate) for each count in ``n``."""
        n = np.asarray(n, dtype=np.int64)
        row = np.clip(np.searchsorted(np.asarray(self.min_ratings), n, side="right") - 1, 0, None)
        out = np.array([t.outstanding for t in self.thresholds])[row]
        ri = np.array([t.requires_improvement for t in self.thresholds])[row]
        inad = np.array([t.inadequate for t in self.thresholds])[row]
        if self.cap_at_count:
            floor = np.maximum(n, 1)
            out, ri, inad = np.minimum(out, floor), np.minimum(ri, floor), np.minimum(inad, floor)
        return out, ri, inad


@dataclass(frozen=True)
class Limiter:
    """A named rating limiter: the rating it limits and the best rating allowed while it applies."""

    name: str
    limits: str
    no_better_than: int
    text: str


@dataclass(frozen=True)
class RulesConfig:
    """Everything the ratings rules need (see ``ratings.yaml`` for meaning and sources)."""

    asc_overall: XTable
    asc_complete_with: int
    """Key questions an adult social care overall rating needs rated to be complete."""
    asc_rate_with: int
    """Fewest key questions rated for any adult social care overall rating (fewer: not rated)."""
    asc_limiters: dict[str, Limiter]
    no_raise_after_months: int | None
    nhs_table: XTable
    trust_overall_with_uor: XTable
    well_led_from_trust_assessment: bool
    single_site_well_led_from_trust: bool
    enforcement: dict[str, Limiter]
    nhs_complete_with: dict[str, int]
    """Key questions an NHS overall rating needs rated to be complete, by level (``COMPLETE_LEVELS``)."""
    nhs_rate_with: dict[str, int]
    """Fewest key questions rated for any NHS overall rating, by level (fewer: not rated)."""
    source: str = "ratings.yaml"


COMPLETE_LEVELS = ("service_overall", "location_overall", "trust_overall")
"""The NHS trust levels aggregated from key questions (``nhs_trust.complete_with`` in ``ratings.yaml``)."""


def load_rules(path: str | Path | None = None) -> RulesConfig:
    """Read and check a ratings rules file (default: the packaged ``ratings.yaml``)."""
    data, source = read_yaml(path, "ratings.yaml")
    problems: list[Problem] = []

    def get(mapping: Any, *keys: str) -> Any:
        node = mapping
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                problems.append(Problem(source, None, ".".join(keys), "missing"))
                return None
            node = node[key]
        return node

    def count(mapping: Any, where: str, key: str) -> int:
        value = mapping.get(key) if isinstance(mapping, dict) else None
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append(
                Problem(source, None, f"{where}.{key}", f"must be a whole number >= 1, not {value!r}")
            )
            return 1
        return value

    def thresholds(mapping: Any, where: str) -> Thresholds:
        return Thresholds(
            count(mapping, where, "outstanding"),
            count(mapping, where, "requires_improvement"),
            count(mapping, where, "inadequate"),
        )

    def rating(value: Any, where: str) -> int:
        if value not in CODES:
            problems.append(Problem(source, None, where, f"{value!r} is not one of: {', '.join(CODES)}"))
            return CODES["Requires improvement"]
        return CODES[value]

    def limiters(mapping: Any, where: str, default_limits: str | None) -> dict[str, Limiter]:
        out = {}
        for name, spec in (mapping or {}).items():
            spec = spec if isinstance(spec, dict) else {}
            limits = spec.get("limits", default_limits)
            if limits not in (*KEY_QUESTIONS, OVERALL, None):
                problems.append(
                    Problem(source, None, f"{where}.{name}.limits", f"unknown key question {limits!r}")
                )
            out[name] = Limiter(
                name,
                limits or "",
                rating(spec.get("no_better_than"), f"{where}.{name}.no_better_than"),
                str(spec.get("text", name.replace("_", " "))),
            )
        return out

    asc = get(data, "adult_social_care") or {}
    kq = get(data, "adult_social_care", "key_questions_to_overall") or {}
    nhs = get(data, "nhs_trust") or {}
    rows = get(data, "nhs_trust", "x_table") or []
    starts, table = [], []
    for i, row in enumerate(rows):
        where = f"nhs_trust.x_table[{i}]"
        starts.append(count(row, where, "min_ratings"))
        table.append(thresholds(row, where))
    if starts and (starts[0] != 1 or any(b <= a for a, b in pairwise(starts))):
        problems.append(
            Problem(source, None, "nhs_trust.x_table", "min_ratings must start at 1 and increase")
        )

    def questions(value: Any, where: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= len(KEY_QUESTIONS):
            problems.append(
                Problem(source, None, where, f"must be a whole number of key questions 1-5, not {value!r}")
            )
            return len(KEY_QUESTIONS)
        return value

    def at_most(value: int, limit: int, where: str) -> int:
        if value > limit:
            problems.append(
                Problem(source, None, where, f"must be at most complete_with ({limit}), not {value}")
            )
        return min(value, limit)

    asc_where = "adult_social_care.key_questions_to_overall"
    asc_complete = questions(
        get(data, "adult_social_care", "key_questions_to_overall", "complete_with"),
        f"{asc_where}.complete_with",
    )
    asc_rate = at_most(
        questions(
            get(data, "adult_social_care", "key_questions_to_overall", "rate_with"), f"{asc_where}.rate_with"
        ),
        asc_complete,
        f"{asc_where}.rate_with",
    )
    nhs_complete, nhs_rate = {}, {}
    for key, out in (("complete_with", nhs_complete), ("rate_with", nhs_rate)):
        spec = get(data, "nhs_trust", key) or {}
        for level in COMPLETE_LEVELS:
            value = spec.get(level) if isinstance(spec, dict) else None
            out[level] = questions(value, f"nhs_trust.{key}.{level}")
    for level in COMPLETE_LEVELS:
        nhs_rate[level] = at_most(nhs_rate[level], nhs_complete[level], f"nhs_trust.rate_with.{level}")
    uor = get(data, "nhs_trust", "trust_overall_with_use_of_resources") or {}
    focused = asc.get("focused_inspection") or {}
    config = RulesConfig(
        asc_overall=XTable.fixed(
            thresholds(kq, "adult_social_care.key_questions_to_overall"), bool(kq.get("cap_at_count", False))
        ),
        asc_complete_with=asc_complete,
        asc_rate_with=asc_rate,
        asc_limiters=limiters(asc.get("limiters"), "adult_social_care.limiters", None),
        no_raise_after_months=focused.get("no_raise_after_months"),
        nhs_table=XTable(
            tuple(starts) or (1,), tuple(table) or (Thresholds(1, 1, 1),), bool(nhs.get("cap_at_count"))
        ),
        trust_overall_with_uor=XTable.fixed(
            thresholds(uor, "nhs_trust.trust_overall_with_use_of_resources"),
            bool(uor.get("cap_at_count", False)),
        ),
        well_led_from_trust_assessment=bool(nhs.get("well_led_from_trust_assessment", True)),
        single_site_well_led_from_trust=bool(nhs.get("single_site_well_led_from_trust", True)),
        enforcement=limiters(nhs.get("enforcement"), "nhs_trust.enforcement", None),
        nhs_complete_with=nhs_complete,
        nhs_rate_with=nhs_rate,
        source=source,
    )
    if problems:
        raise InputError(problems)
    return config
