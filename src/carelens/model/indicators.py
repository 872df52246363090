"""Indicator definitions: what each indicator measures and how it should be compared.

Definitions live in versioned YAML files (``carelens/config/indicators/*.yaml``) so analysts add
indicators without code. Each file has ``schema_version`` (the layout of the file, currently 1) and
a list ``indicators``; each indicator has its own ``version``, raised whenever its meaning changes.
:func:`load_indicators` validates every file and reports every problem at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import MISSING, asdict, dataclass, field, fields
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

from carelens.config import FieldReader, read_settings
from carelens.errors import InputError, Problem

SCHEMA_VERSION = 1
"""The indicator file layout this loader reads."""


class ValueType(StrEnum):
    """How ``value`` is formed from numerator, denominator and expected."""

    PROPORTION = "proportion"
    RATE = "rate"
    INDIRECTLY_STANDARDISED_RATIO = "indirectly_standardised_ratio"


COMPARABLE_VALUE_TYPES: tuple[str, ...] = tuple(t.value for t in ValueType)
"""Value types carelens can compare with peers (docs/methods/comparison.md): a definition of any other
is refused when it is loaded, rather than left uncompared later."""


class Polarity(StrEnum):
    """Which direction of ``value`` is better."""

    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"
    NEUTRAL = "neutral"


class PeerGroup(StrEnum):
    """Which organisations an organisation is compared with."""

    NATIONAL = "national"
    ORG_KIND = "org_kind"
    REGION = "region"
    COMMISSIONER = "commissioner"


class KeyQuestion(StrEnum):
    """CQC's five key questions."""

    SAFE = "safe"
    EFFECTIVE = "effective"
    CARING = "caring"
    RESPONSIVE = "responsive"
    WELL_LED = "well_led"


MONITORING_CHARTS = ("xmr", "run", "p", "pp", "u", "up")
"""Control charts the monitoring pass can draw of an indicator's series (docs/methods/spc.md)."""


@dataclass(frozen=True)
class CusumAlert:
    """A CUSUM alert on an indicator's observed against expected counts per period (docs/methods/cusum.md)."""

    odds_ratio: float = 2.0
    """The change in the rate of events to detect: above 1 when lower is better, below 1 when higher is."""
    false_alarm_rate: float = 0.05
    """Chance that an organisation performing as expected signals at all over its periods."""
    reset: bool = True
    """Restart the chart from 0 after a signal."""


@dataclass(frozen=True)
class IndicatorDefinition:
    """One indicator, as read from an indicator YAML file."""

    id: str = field(
        metadata={
            "doc": "Stable identifier: lower-case letters, digits and underscores; used in observations."
        }
    )
    version: int = field(
        metadata={"doc": "Version of this definition, raised whenever its meaning or method changes."}
    )
    title: str = field(metadata={"doc": "Plain-English title shown to users."})
    domain: str = field(
        metadata={"doc": "Outcomes-framework domain or oversight theme, e.g. 'urgent and emergency care'."}
    )
    value_type: ValueType = field(
        metadata={"doc": "How value is formed from numerator, denominator and expected (see ValueType)."}
    )
    polarity: Polarity = field(metadata={"doc": "Which direction of value is better (see Polarity)."})
    peer_group: PeerGroup = field(
        metadata={"doc": "Which organisations an organisation is compared with (see PeerGroup)."}
    )
    method: str = field(
        metadata={"doc": "Default comparison method id, e.g. 'funnel_overdispersed' or 'spc_xmr'."}
    )
    source: str = field(metadata={"doc": "Publisher and dataset the values come from."})
    description: str = field(
        default="", metadata={"doc": "What the numerator, denominator and expected are (optional)."}
    )
    key_question: KeyQuestion | None = field(
        default=None, metadata={"doc": "CQC key question the indicator informs (see KeyQuestion; optional)."}
    )
    levels: tuple[float, ...] = field(
        default=(),
        metadata={
            "doc": "Limits this indicator is judged at, ascending in (0, 1): the first decides 'worse/better "
            "than expected' (and the risk flag), the last 'elevated risk'. Set it where a publisher bands "
            "the indicator officially (SHMI: 0.95); otherwise leave it out and the monitoring settings' "
            "flags.risk_z and flags.elevated_z apply (optional)."
        },
    )
    judged_periods: int | None = field(
        default=None,
        metadata={
            "doc": "How many of the indicator's latest periods each monitoring run judges and stores, "
            "overriding the monitoring setting judgements.history_periods: e.g. every release a publisher "
            "bands that users may look up (optional)."
        },
    )
    chart: str | None = field(
        default=None,
        metadata={
            "doc": "Control chart the monitoring pass draws of each organisation's series: xmr (the default), "
            "run, p or pp (Laney p') for proportions, u or up (Laney u') for rates and ratios; p and u charts "
            "chart the counts themselves (optional)."
        },
    )
    cusum: CusumAlert | None = field(
        default=None,
        metadata={
            "doc": "A CUSUM alert on observed against expected counts per period (indirectly standardised "
            "ratios): a mapping of odds_ratio (default 2), false_alarm_rate (default 0.05) and reset "
            "(default true); a signal in the latest periods makes the flag an elevated risk (optional)."
        },
    )
    confidential: bool = field(
        default=False,
        metadata={
            "doc": "Its figures are never published: only the roles that handle people's submissions see "
            "them, each within its reach (carelens.services.confidential); monitoring compares it like any "
            "other, and segmentation and commissioner assessment leave it out (optional, default false)."
        },
    )


UNDECLARED_LEFT_OUT = ("chart", "cusum", "confidential")
"""Optional fields left out of the stored form of a definition that does not declare them (None, or false),
so that definitions stored before these fields existed (and monitoring runs' inputs digests) read the same."""


def definition_json(definition: IndicatorDefinition) -> dict[str, Any]:
    """A definition as stored with its observations and digested by monitoring runs: text, numbers, lists."""
    out: dict[str, Any] = {}
    for name, value in asdict(definition).items():
        if (value is None or value is False) and name in UNDECLARED_LEFT_OUT:
            continue
        value = getattr(value, "value", value)
        out[name] = list(value) if isinstance(value, tuple) else value
    return out


FIELD_DOCS: dict[str, str] = {f.name: f.metadata["doc"] for f in fields(IndicatorDefinition)}
"""Documentation of every field of an indicator definition."""

_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_ENUMS: dict[str, type[StrEnum]] = {
    "value_type": ValueType,
    "polarity": Polarity,
    "peer_group": PeerGroup,
    "key_question": KeyQuestion,
}


def default_indicator_files() -> list[Path]:
    """The indicator YAML files shipped with carelens."""
    folder = resources.files("carelens") / "config" / "indicators"
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith((".yaml", ".yml")))


def load_indicators(paths: Iterable[str | Path] | None = None) -> dict[str, IndicatorDefinition]:
    """Read and validate indicator YAML files (the packaged ones by default), keyed by indicator id.

    Each file is read by :class:`carelens.config.FieldReader`. Raises :class:`InputError` listing every
    problem: unreadable file, wrong schema version, unknown or missing field, bad value, duplicate id.
    Rows in problems number indicators within a file from 1.
    """
    problems: list[Problem] = []
    found: dict[str, IndicatorDefinition] = {}
    seen_in: dict[str, str] = {}
    for path in default_indicator_files() if paths is None else [Path(p) for p in paths]:
        try:
            reader = read_settings(path, version=SCHEMA_VERSION)
        except InputError as error:
            problems += error.problems
            continue
        listed = reader.get("indicators", list) or []
        reader.check_unknown()
        problems += reader.problems
        for number, entry in enumerate(listed, start=1):
            definition = _parse(FieldReader(reader.source, entry, problems=problems, row=number), entry)
            if definition is None:
                continue
            if definition.id in found:
                problems.append(
                    Problem(
                        reader.source,
                        number,
                        "id",
                        f"duplicate indicator id {definition.id!r} (also in {seen_in[definition.id]})",
                    )
                )
                continue
            found[definition.id] = definition
            seen_in[definition.id] = reader.source
    if problems:
        raise InputError(problems)
    return found


def _parse(r: FieldReader, entry: Any) -> IndicatorDefinition | None:
    """One indicator definition (``None`` after recording its problems in ``r``)."""
    if not isinstance(entry, dict):
        r.problem(None, "an indicator must be a mapping of field: value")
        return None
    before = len(r.problems)
    values: dict[str, Any] = {}
    for spec in fields(IndicatorDefinition):
        value = _read(r, spec.name, optional=spec.default is not MISSING)
        if value is not None:
            values[spec.name] = value
    r.check_unknown()
    _check_monitoring(r, values)
    return IndicatorDefinition(**values) if len(r.problems) == before else None


def _check_monitoring(r: FieldReader, values: dict[str, Any]) -> None:
    """Record a chart or CUSUM alert that does not suit the indicator's value type or polarity."""
    value_type, polarity = values.get("value_type"), values.get("polarity")
    chart, alert = values.get("chart"), values.get("cusum")
    if chart in ("p", "pp") and value_type not in (None, ValueType.PROPORTION):
        r.problem("chart", f"a {chart} chart is for proportions")
    if chart in ("u", "up") and value_type == ValueType.PROPORTION:
        r.problem("chart", f"a {chart} chart is for rates and ratios")
    if alert is not None:
        if value_type not in (None, ValueType.INDIRECTLY_STANDARDISED_RATIO):
            r.problem("cusum", "needs expected counts: only for indirectly_standardised_ratio indicators")
        adverse = {
            Polarity.LOWER_IS_BETTER: alert.odds_ratio > 1,
            Polarity.HIGHER_IS_BETTER: alert.odds_ratio < 1,
        }
        if polarity is not None and not adverse.get(polarity, False):
            r.problem(
                "cusum",
                "odds_ratio must look for the adverse change: above 1 when lower is better, below 1 when "
                "higher is better (not for neutral indicators)",
            )


def _read(r: FieldReader, name: str, optional: bool) -> Any:
    """Field ``name`` of an indicator, checked and converted (``None``: absent, or a problem recorded)."""
    if name in _ENUMS:
        allowed = _ENUMS[name]
        raw = r.get(name, str, optional=optional)
        if raw is not None and raw not in set(allowed):
            what = " (the value types carelens can compare with peers)" if name == "value_type" else ""
            r.problem(name, f"{raw!r} is not one of: {', '.join(allowed)}{what}")
            return None
        return None if raw is None else allowed(raw)
    if name in ("version", "judged_periods"):
        return r.get(name, int, minimum=1, optional=optional)
    if name == "levels":
        levels = r.get(name, list, of=float, optional=optional)
        if levels is None:
            return None
        if not levels or not all(0 < x < 1 for x in levels) or levels != sorted(set(levels)):
            r.problem(
                name, f"{levels!r}: must be numbers strictly between 0 and 1, ascending without repeats"
            )
            return None
        return tuple(levels)
    if name == "chart":
        return r.get(name, str, optional=optional, choices=MONITORING_CHARTS)
    if name == "cusum":
        return _cusum_alert(r, optional)
    if name == "confidential":
        return r.get(name, bool, optional=optional)
    text = r.get(name, str, optional=optional)
    if text is not None and not text.strip():
        r.problem(name, "must be non-empty text")
        return None
    if name == "id" and text is not None and not _ID.match(text):
        r.problem(
            name, f"{text!r} must be lower-case letters, digits and underscores, starting with a letter"
        )
        return None
    return None if text is None else text.strip()


def _cusum_alert(r: FieldReader, optional: bool) -> CusumAlert | None:
    """The ``cusum`` section of an indicator (``None``: absent, or a problem recorded)."""
    if r.document.get("cusum") is None:  # absent, or null
        r.known("cusum")
        return None
    before = len(r.problems)
    alert = r.section("cusum", optional)
    odds_ratio = alert.get("odds_ratio", float, minimum=0.0, exclusive=True, default=CusumAlert.odds_ratio)
    if odds_ratio == 1:
        alert.problem("odds_ratio", "must be a positive number other than 1")
    rate = alert.get(
        "false_alarm_rate", float, minimum=0.001, maximum=0.999, default=CusumAlert.false_alarm_rate
    )
    reset = alert.get("reset", bool, default=CusumAlert.reset)
    return CusumAlert(odds_ratio, rate, reset) if len(r.problems) == before else None
