"""Configuration of system reviews and ACO settlement, read from ``config/systems/systems.yaml``.

Selection weights, the review programme's reference cost, minimum savings rates by population band,
sharing rates, the quality gate, HHI thresholds and the bundle rules are data with documented
defaults (the YAML file says where each comes from), never constants in code. How a transition
indicator is compared is not set here: its one comparison specification (definition plus monitoring
settings, :mod:`carelens.monitor.comparison`) decides, and the fields that used to
(``transitions.level``, ``transitions.indicators.*.funnel``, ``aco.quality.level``) are refused by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from carelens.config import packaged, read_settings

SCHEMA_VERSION = 1
RETIRED = "how an indicator is compared comes from its comparison specification (its definition and the monitoring settings, config/monitor/monitor.yaml)"


@dataclass(frozen=True)
class TransitionIndicator:
    """How one transition indicator is shown and weighted in the selection score."""

    id: str
    title: str
    multiplier: float
    weight: float


@dataclass(frozen=True)
class SystemsConfig:
    """Everything configurable about places, reviews and ACOs (see the packaged YAML for meanings)."""

    source: str
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
    reader = read_settings(path, default_config_file(), SCHEMA_VERSION)
    indicators = []
    for ident, sub in reader.sections("transitions.indicators").items():
        sub.retired("funnel", RETIRED)
        indicator = TransitionIndicator(
            id=ident,
            title=str(sub.get("title", str)),
            multiplier=sub.get("multiplier", float, minimum=0, exclusive=True),
            weight=sub.get("weight", float, minimum=0),
        )
        indicators.append(indicator)
    bands = reader.get("aco.msr_bands", list) or []
    parsed_bands: list[tuple[float, float]] = []
    for i, band in enumerate(bands, start=1):
        if (
            not isinstance(band, list)
            or len(band) != 2
            or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in band)
            or not 0 <= band[1] < 1
        ):
            reader.problem(f"aco.msr_bands[{i}]", "must be [population lower bound, rate in [0, 1)]")
            continue
        parsed_bands.append((float(band[0]), float(band[1])))
    if [b[0] for b in parsed_bands] != sorted({b[0] for b in parsed_bands}) or not parsed_bands:
        reader.problem("aco.msr_bands", "lower bounds must be ascending without repeats (at least one band)")
    share = {"minimum": 0, "maximum": 1}
    reader.retired("transitions.level", RETIRED)
    reader.retired("aco.quality.level", RETIRED)
    config = SystemsConfig(
        source=reader.source,
        z_cap=reader.get("transitions.z_cap", float, minimum=0, exclusive=True),
        indicators=tuple(indicators),
        previous_budget_gbp=reader.get("programme.previous_budget_gbp", float, minimum=0, exclusive=True),
        previous_reviews=reader.get("programme.previous_reviews", int, minimum=0, exclusive=True),
        fixed_cost_gbp=reader.get("programme.fixed_cost_gbp", float, minimum=0),
        power=str(reader.get("programme.power", str)),
        stages=tuple(reader.get("programme.stages", list, of=str) or ()),
        min_population=reader.get("aco.min_population", float, minimum=0),
        msr_bands=tuple(parsed_bands),
        min_loss_rate=reader.get("aco.min_loss_rate", float, minimum=0, optional=True),
        shared_savings_rate=reader.get("aco.shared_savings_rate", float, **share),
        shared_loss_rate=reader.get("aco.shared_loss_rate", float, **share),
        savings_cap=reader.get("aco.savings_cap", float, **share),
        loss_cap=reader.get("aco.loss_cap", float, **share),
        quality_max_worse=reader.get("aco.quality.max_worse", int, minimum=0),
        quality_min_assessed=reader.get("aco.quality.min_assessed", int, minimum=0),
        quality_indicators=tuple(reader.get("aco.quality.indicators", list, of=str) or ()),
        hhi_moderate_above=reader.get("aco.hhi.moderate_above", float, minimum=0),
        hhi_high_above=reader.get("aco.hhi.high_above", float, minimum=0),
        bundle_winsorise_percentile=reader.get(
            "aco.bundle.winsorise_percentile", float, minimum=0, exclusive=True
        ),
        bundle_discount=reader.get("aco.bundle.discount", float, **share),
    )
    known = {i.id for i in config.indicators}
    for ident in config.quality_indicators:
        if ident not in known:
            reader.problem("aco.quality.indicators", f"{ident!r} is not a transitions indicator")
    hhi = (config.hhi_moderate_above, config.hhi_high_above)
    if None not in hhi and hhi[1] < hhi[0]:
        reader.problem("aco.hhi.high_above", "must be at least moderate_above")
    if not config.stages:
        reader.problem("programme.stages", "at least one pathway stage is required")
    reader.raise_if_any()
    return config
