"""Configuration of system reviews and ACO settlement, read from ``config/systems/systems.yaml``.

Selection weights, the review programme's reference cost, minimum savings rates by population band,
sharing rates, the quality gate, HHI thresholds and the bundle rules are data with documented
defaults (the YAML file says where each comes from), never constants in code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carelens.config import packaged, read_mapping
from carelens.errors import InputError, Problem

SCHEMA_VERSION = 1
FUNNELS = ("pr", "rate")


@dataclass(frozen=True)
class TransitionIndicator:
    """How one transition indicator is shown, compared and weighted in the selection score."""

    id: str
    title: str
    multiplier: float
    funnel: str
    weight: float


@dataclass(frozen=True)
class SystemsConfig:
    """Everything configurable about places, reviews and ACOs (see the packaged YAML for meanings)."""

    source: str
    level: float
    z_cap: float
    indicators: tuple[TransitionIndicator, ...]
    previous_budget_gbp: float
    previous_reviews: int
    fixed_cost_gbp: float
    power: str
    stages: tuple[str, ...]
    min_population: float
    msr_bands: tuple[tuple[float, float], ...]
    min_loss_rate: float | None
    shared_savings_rate: float
    shared_loss_rate: float
    savings_cap: float
    loss_cap: float
    quality_level: float
    quality_max_worse: int
    quality_min_assessed: int
    quality_indicators: tuple[str, ...]
    hhi_moderate_above: float
    hhi_high_above: float
    bundle_winsorise_percentile: float
    bundle_discount: float

    @property
    def cost_per_review_gbp(self) -> float:
        """Default cost of one review: the previous programme's budget over its number of reviews."""
        return round(self.previous_budget_gbp / self.previous_reviews, 2)

    def indicator(self, indicator_id: str) -> TransitionIndicator:
        return next(i for i in self.indicators if i.id == indicator_id)


def default_config_file() -> Path:
    return packaged("systems", "systems.yaml")


def load_config(path: str | Path | None = None) -> SystemsConfig:
    """Read and check the systems configuration (packaged defaults unless ``path`` is given)."""
    doc, source = read_mapping(Path(path) if path else default_config_file())
    reader = _Reader(source, doc)
    if reader.get("schema_version", int) != SCHEMA_VERSION:
        reader.fail("schema_version", f"must be {SCHEMA_VERSION}")
    indicators = []
    for ident, entry in (reader.get("transitions.indicators", dict) or {}).items():
        entry = entry if isinstance(entry, dict) else {}
        sub = _Reader(source, entry, f"transitions.indicators.{ident}.")
        indicator = TransitionIndicator(
            id=str(ident),
            title=str(sub.get("title", str)),
            multiplier=sub.number("multiplier", positive=True),
            funnel=str(sub.get("funnel", str)),
            weight=sub.number("weight", minimum=0),
        )
        if indicator.funnel not in FUNNELS:
            sub.fail("funnel", f"must be one of {', '.join(FUNNELS)}")
        indicators.append(indicator)
        reader.problems += sub.problems
    bands = reader.get("aco.msr_bands", list) or []
    parsed_bands: list[tuple[float, float]] = []
    for i, band in enumerate(bands, start=1):
        if (
            not isinstance(band, list)
            or len(band) != 2
            or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in band)
            or not 0 <= band[1] < 1
        ):
            reader.fail(f"aco.msr_bands[{i}]", "must be [population lower bound, rate in [0, 1)]")
            continue
        parsed_bands.append((float(band[0]), float(band[1])))
    if [b[0] for b in parsed_bands] != sorted({b[0] for b in parsed_bands}) or not parsed_bands:
        reader.fail("aco.msr_bands", "lower bounds must be ascending without repeats (at least one band)")
    min_loss = (doc or {}).get("aco", {}).get("min_loss_rate") if isinstance(doc, dict) else None
    config = SystemsConfig(
        source=source,
        level=reader.number("transitions.level", positive=True),
        z_cap=reader.number("transitions.z_cap", positive=True),
        indicators=tuple(indicators),
        previous_budget_gbp=reader.number("programme.previous_budget_gbp", positive=True),
        previous_reviews=int(reader.number("programme.previous_reviews", positive=True)),
        fixed_cost_gbp=reader.number("programme.fixed_cost_gbp", minimum=0),
        power=str(reader.get("programme.power", str)),
        stages=tuple(str(s) for s in reader.get("programme.stages", list) or []),
        min_population=reader.number("aco.min_population", minimum=0),
        msr_bands=tuple(parsed_bands),
        min_loss_rate=None if min_loss is None else reader.number("aco.min_loss_rate", minimum=0),
        shared_savings_rate=reader.rate("aco.shared_savings_rate"),
        shared_loss_rate=reader.rate("aco.shared_loss_rate"),
        savings_cap=reader.rate("aco.savings_cap"),
        loss_cap=reader.rate("aco.loss_cap"),
        quality_level=reader.number("aco.quality.level", positive=True),
        quality_max_worse=int(reader.number("aco.quality.max_worse", minimum=0)),
        quality_min_assessed=int(reader.number("aco.quality.min_assessed", minimum=0)),
        quality_indicators=tuple(str(s) for s in reader.get("aco.quality.indicators", list) or []),
        hhi_moderate_above=reader.number("aco.hhi.moderate_above", minimum=0),
        hhi_high_above=reader.number("aco.hhi.high_above", minimum=0),
        bundle_winsorise_percentile=reader.number("aco.bundle.winsorise_percentile", positive=True),
        bundle_discount=reader.rate("aco.bundle.discount"),
    )
    known = {i.id for i in config.indicators}
    for ident in config.quality_indicators:
        if ident not in known:
            reader.fail("aco.quality.indicators", f"{ident!r} is not a transitions indicator")
    if config.hhi_high_above < config.hhi_moderate_above:
        reader.fail("aco.hhi.high_above", "must be at least moderate_above")
    if not config.stages:
        reader.fail("programme.stages", "at least one pathway stage is required")
    if reader.problems:
        raise InputError(reader.problems)
    return config


class _Reader:
    """Reads dotted paths from a YAML mapping, collecting every problem."""

    def __init__(self, source: str, doc: dict, prefix: str = "") -> None:
        self.source, self.doc, self.prefix = source, doc, prefix
        self.problems: list[Problem] = []

    def fail(self, name: str, reason: str) -> None:
        self.problems.append(Problem(self.source, None, self.prefix + name, reason))

    def get(self, name: str, kind: type | tuple[type, ...]) -> Any:
        value: Any = self.doc
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None or not isinstance(value, kind) or isinstance(value, bool):
            label = kind.__name__ if isinstance(kind, type) else "number"
            self.fail(name, f"required, must be a {label}")
            return None
        return value

    def number(self, name: str, positive: bool = False, minimum: float | None = None) -> float:
        value = self.get(name, (int, float))
        if value is None:
            return 0.0
        if (positive and value <= 0) or (minimum is not None and value < minimum):
            self.fail(name, f"must be {'> 0' if positive else f'>= {minimum:g}'}, got {value}")
        return float(value)

    def rate(self, name: str) -> float:
        value = self.number(name, minimum=0)
        if value > 1:
            self.fail(name, f"must be a share between 0 and 1, got {value}")
        return value
