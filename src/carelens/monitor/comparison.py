"""The one comparison specification: how an indicator is compared with its peers.

Every place that judges a figure against its peers (the monitoring pass and the judgements it stores,
system-review places, commissioner assessment) builds its :class:`Comparison` here, from the indicator
definition and the monitoring settings, and nothing else decides how an indicator is compared. Pages,
the API, league tables and reports read the judgements a monitoring run stored with it
(docs/methods/comparison.md).

What a definition's value type means for the funnel:

* ``proportion``: events / people at risk, a ``pr`` funnel on the arcsine scale, Winsorised z;
* ``indirectly_standardised_ratio``: observed / expected, an ``sr`` funnel, by the SHMI method (log
  scale, rank trim) when the definition's method ends in ``_trimmed``, else by the CQC method (square
  root scale, Winsorised z);
* ``rate``: events / exposure, compared as the ratio of observed to expected where expected = exposure
  x the peers' rate (an ``sr`` funnel as above), shown back on the rate scale.

Other value types have no comparison and are refused when a definition is loaded
(:data:`carelens.model.indicators.COMPARABLE_VALUE_TYPES`).

Verdicts are made at the *verdict level* (the definition's first ``levels`` entry, else the monitoring
setting ``flags.risk_z``) and the *elevated level* (its last entry, else ``flags.elevated_z``): a value
whose overdispersion-adjusted z lies beyond the verdict level's z is higher or lower than expected, and
worse or better by the indicator's polarity. The same thresholds make the monitoring pass's "risk" and
"elevated risk" flags, so a verdict and a flag can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from scipy import stats as sps

from carelens.model.indicators import COMPARABLE_VALUE_TYPES, CusumAlert
from carelens.monitor.settings import MonitorSettings
from carelens.stats.intervals import z_for_level

FUNNEL_KIND = {
    "proportion": "pr",
    "indirectly_standardised_ratio": "sr",
    "rate": "sr",
}
"""Funnel data type (:mod:`carelens.stats.funnel`) of each comparable value type."""
assert set(FUNNEL_KIND) == set(COMPARABLE_VALUE_TYPES), "every comparable value type needs a funnel"

ADVERSE_SIGN = {"lower_is_better": 1.0, "higher_is_better": -1.0, "neutral": 0.0}
"""Sign turning z into the adverse direction (high values are bad when lower is better)."""

VERDICTS = ("worse", "better", "as expected", "higher", "lower", "not compared", "not assessed")
"""Verdict texts: ``higher``/``lower`` are for neutral indicators (no better direction); ``not assessed``
is a figure that failed a data-quality check (docs/methods/data-quality.md)."""
DIRECTIONS = ("higher", "lower", "within")
"""Where a compared value lies against the verdict level's limits."""


@lru_cache(maxsize=256)  # SciPy's distribution function costs about 0.1 ms a call, the same z every time
def level_for_z(z: float) -> float:
    """Two-sided confidence level (%) whose limits sit at ±z: 1.96 → 95.0004, 3.0 → 99.73."""
    return float(100 * (2 * sps.norm.cdf(z) - 1))


@dataclass(frozen=True)
class Comparison:
    """How one indicator is compared: everything a judgement of it depends on, and nothing else."""

    indicator_id: str
    value_type: str
    polarity: str
    peer_group: str
    key_question: str
    kind: str
    """Funnel data type: ``pr`` or ``sr`` (rates are ``sr`` against the peers' rate)."""
    sr_method: str
    """``shmi`` (log scale, rank trim) or ``cqc`` (square-root scale, Winsorised); ``pr`` ignores it."""
    verdict_z: float
    elevated_z: float
    trim: float
    overdispersion: str | None
    min_size: float
    """Smallest denominator (proportions, rates) or expected count (ratios) a value is compared with."""
    min_units: int
    """Fewest comparable organisations a funnel needs; fewer and nobody in it is compared."""
    judged_periods: int | None = 1
    """How many of the indicator's latest periods are judged and stored (None: every period)."""
    chart: str = "xmr"
    """The control chart of each organisation's series (the definition's ``chart``; docs/methods/spc.md)."""
    cusum: CusumAlert | None = None
    """The definition's CUSUM alert, if any (docs/methods/cusum.md)."""
    implausible_zero_above: float | None = None
    """Data-quality check 'implausible zero': a numerator of 0 against a denominator above this is missing
    data, so the row is not assessed (None: no such rule; docs/methods/data-quality.md)."""

    @property
    def is_rate(self) -> bool:
        return self.value_type == "rate"

    @property
    def is_ratio(self) -> bool:
        return self.value_type == "indirectly_standardised_ratio"

    @property
    def size_column(self) -> str:
        """The observation column the funnel's x axis (and the small-number rule) uses."""
        return "expected" if self.is_ratio else "denominator"

    @property
    def adverse_sign(self) -> float:
        return ADVERSE_SIGN[self.polarity]

    @property
    def verdict_level(self) -> float:
        """Verdict level, % (95.0004 for z = 1.96)."""
        return level_for_z(self.verdict_z)

    @property
    def elevated_level(self) -> float:
        return level_for_z(self.elevated_z)

    def describe(self) -> str:
        """The method in one line: scale, trimming, overdispersion, thresholds."""
        if self.kind == "pr":
            scale = "proportion, arcsine scale, Winsorised"
        else:
            scale = "rate as ratio to the peers' rate" if self.is_rate else "ratio O/E"
            scale += (
                ", log scale, rank trim" if self.sr_method == "shmi" else ", square-root scale, Winsorised"
            )
        return (
            f"funnel ({scale} {self.trim:g} per tail; overdispersion {self.overdispersion or 'none'}); "
            f"limits at {_percent(self.verdict_level)}% (|z|>{self.verdict_z:.4g}) and "
            f"{_percent(self.elevated_level)}% (|z|>{self.elevated_z:.4g}); peers: {self.peer_group}"
        )


def _percent(level: float) -> str:
    return f"{level:.4g}" if abs(level - round(level, 1)) > 1e-3 else f"{round(level, 1):g}"


def comparison_for(indicator_id: str, definition, settings: MonitorSettings) -> Comparison:
    """The :class:`Comparison` of an indicator from its definition (the dataclass, or the JSON dict
    stored with observations) and the monitoring settings.

    Raises ``ValueError`` for a value type nothing can compare (a definition loaded with
    :func:`carelens.model.indicators.load_indicators` never has one).
    """
    get = definition.get if isinstance(definition, Mapping) else lambda k: getattr(definition, k, None)

    def text(name: str, default: str = "") -> str:
        value = get(name)
        return str(getattr(value, "value", value)) if value not in (None, "") else default

    value_type = text("value_type")
    if value_type not in FUNNEL_KIND:
        raise ValueError(
            f"indicator {indicator_id!r}: value type {value_type!r} cannot be compared "
            f"(comparable: {', '.join(COMPARABLE_VALUE_TYPES)})"
        )
    levels = tuple(get("levels") or ())
    verdict_z = z_for_level(levels[0]) if levels else settings.risk_z
    elevated_z = z_for_level(levels[-1]) if len(levels) > 1 else settings.elevated_z
    polarity = text("polarity", "neutral")
    return Comparison(
        indicator_id=indicator_id,
        value_type=value_type,
        polarity=polarity if polarity in ADVERSE_SIGN else "neutral",
        peer_group=text("peer_group", "national"),
        key_question=text("key_question") or text("domain"),
        kind=FUNNEL_KIND[value_type],
        sr_method="shmi" if text("method").endswith("_trimmed") else "cqc",
        verdict_z=verdict_z,
        elevated_z=max(elevated_z, verdict_z),
        trim=settings.trim,
        overdispersion=settings.overdispersion,
        min_size=settings.min_expected
        if value_type == "indirectly_standardised_ratio"
        else settings.min_denominator,
        min_units=settings.min_units,
        judged_periods=int(get("judged_periods") or 0) or settings.history_periods,
        chart=text("chart", "xmr"),
        cusum=_cusum_alert(get("cusum")),
        implausible_zero_above=settings.data_quality.implausible_zero.get(indicator_id),
    )


def _cusum_alert(value) -> CusumAlert | None:
    """A definition's CUSUM alert, from the dataclass or its stored JSON mapping."""
    if value is None or isinstance(value, CusumAlert):
        return value
    return CusumAlert(**value)


def comparisons_for(definitions: Mapping, settings: MonitorSettings) -> dict[str, Comparison]:
    """:func:`comparison_for` of every definition, keyed by indicator id."""
    return {str(k): comparison_for(str(k), v, settings) for k, v in definitions.items()}
