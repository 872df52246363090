"""Load the documented rules configuration (``carelens/config/assess/*.yaml``) into typed objects.

Every threshold used by :mod:`carelens.assess` comes from these files; a user may pass another file.
Each file is read by :class:`carelens.config.FieldReader`: problems are reported all at once as an
:class:`~carelens.errors.InputError` naming the file and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

from carelens.assess.scale import CODES, KEY_QUESTIONS, OVERALL
from carelens.config import FieldReader, packaged, read_settings


def config_file(name: str) -> Path:
    """Path of a packaged configuration file in ``carelens/config/assess``."""
    return packaged("assess", name)


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
    r = read_settings(path, config_file("ratings.yaml"))
    asc = r.section("adult_social_care")
    asc.get("source", str, optional=True)  # documentation
    kq = asc.section("key_questions_to_overall")
    asc_complete = _questions(kq, "complete_with")
    asc_rate = _at_most(kq, "rate_with", asc_complete)
    focused = asc.section("focused_inspection", optional=True)

    nhs = r.section("nhs_trust")
    nhs.get("source", str, optional=True)
    starts, ends, table = [], [], []
    for row in nhs.entries("x_table"):
        starts.append(row.get("min_ratings", int, minimum=1) or 1)
        ends.append(row.get("max_ratings", int, minimum=1, optional=True))
        table.append(_thresholds(row))
    if starts and (starts[0] != 1 or any(b <= a for a, b in pairwise(starts))):
        nhs.problem("x_table", "min_ratings must start at 1 and increase")
    elif [*(b - 1 for b in starts[1:]), None] != ends:
        nhs.problem("x_table", "each max_ratings must be one less than the next min_ratings (the last null)")
    nhs_complete = {level: _questions(nhs, f"complete_with.{level}") for level in COMPLETE_LEVELS}
    nhs_rate = {level: _at_most(nhs, f"rate_with.{level}", nhs_complete[level]) for level in COMPLETE_LEVELS}
    uor = nhs.section("trust_overall_with_use_of_resources")
    uor.get("source", str, optional=True)
    config = RulesConfig(
        asc_overall=XTable.fixed(_thresholds(kq), kq.get("cap_at_count", bool, default=False)),
        asc_complete_with=asc_complete,
        asc_rate_with=asc_rate,
        asc_limiters=_limiters(asc, "limiters"),
        no_raise_after_months=focused.get("no_raise_after_months", int, minimum=0, optional=True),
        nhs_table=XTable(
            tuple(starts) or (1,),
            tuple(table) or (Thresholds(1, 1, 1),),
            nhs.get("cap_at_count", bool, default=False),
        ),
        trust_overall_with_uor=XTable.fixed(_thresholds(uor), uor.get("cap_at_count", bool, default=False)),
        well_led_from_trust_assessment=nhs.get("well_led_from_trust_assessment", bool, default=True),
        single_site_well_led_from_trust=nhs.get("single_site_well_led_from_trust", bool, default=True),
        enforcement=_limiters(nhs, "enforcement"),
        nhs_complete_with=nhs_complete,
        nhs_rate_with=nhs_rate,
        source=r.source,
    )
    r.raise_if_any()
    return config


def _thresholds(r: FieldReader) -> Thresholds:
    """The three count thresholds of a section (each a whole number >= 1)."""
    counts = [r.get(name, int, minimum=1) for name in ("outstanding", "requires_improvement", "inadequate")]
    return Thresholds(*(count or 1 for count in counts))


def _questions(r: FieldReader, dotted: str) -> int:
    """A number of key questions, 1-5 (all five when it is bad, so that it adds no further problem)."""
    value = r.get(dotted, int, minimum=1, maximum=len(KEY_QUESTIONS))
    return value if value is not None and 1 <= value <= len(KEY_QUESTIONS) else len(KEY_QUESTIONS)


def _at_most(r: FieldReader, dotted: str, complete_with: int) -> int:
    """A number of key questions for any rating (``rate_with``), at most ``complete_with``."""
    value = _questions(r, dotted)
    if value > complete_with:
        r.problem(dotted, f"must be at most complete_with ({complete_with}), not {value}")
    return min(value, complete_with)


def _limiters(r: FieldReader, dotted: str) -> dict[str, Limiter]:
    """The named limiters of section ``dotted``: what each limits, and the best rating it allows."""
    out = {}
    for name, spec in r.sections(dotted, optional=True).items():
        spec.get("source", str, optional=True)  # documentation
        out[name] = Limiter(
            name,
            spec.get("limits", str, default="", choices=(*KEY_QUESTIONS, OVERALL)) or "",
            CODES.get(spec.get("no_better_than", str, choices=tuple(CODES)), CODES["Requires improvement"]),
            spec.get("text", str, default=name.replace("_", " ")),
        )
    return out
