"""Indicator definitions: what each indicator measures and how it should be compared.

Definitions live in versioned YAML files (``carelens/config/indicators/*.yaml``) so analysts add
indicators without code. Each file has ``schema_version`` (the layout of the file, currently 1) and
a list ``indicators``; each indicator has its own ``version``, raised whenever its meaning changes.
:func:`load_indicators` validates every file and reports every problem at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import MISSING, dataclass, field, fields
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

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

    Raises :class:`InputError` listing every problem: unreadable file, wrong schema version, unknown
    or missing field, bad value, duplicate id. Rows in problems number indicators within a file from 1.
    """
    import yaml

    problems: list[Problem] = []
    found: dict[str, IndicatorDefinition] = {}
    seen_in: dict[str, str] = {}
    for path in default_indicator_files() if paths is None else [Path(p) for p in paths]:
        source = str(path)
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            problems.append(Problem(source, None, None, f"cannot read indicator file: {exc}"))
            continue
        if not isinstance(document, dict) or not isinstance(document.get("indicators"), list):
            problems.append(
                Problem(source, None, "indicators", "file must be a mapping with a list 'indicators'")
            )
            continue
        if document.get("schema_version") != SCHEMA_VERSION:
            problems.append(
                Problem(
                    source,
                    None,
                    "schema_version",
                    f"must be {SCHEMA_VERSION}, got {document.get('schema_version')!r}",
                )
            )
            continue
        for number, entry in enumerate(document["indicators"], start=1):
            definition, entry_problems = _parse(entry, source, number)
            problems += entry_problems
            if definition is None:
                continue
            if definition.id in found:
                problems.append(
                    Problem(
                        source,
                        number,
                        "id",
                        f"duplicate indicator id {definition.id!r} (also in {seen_in[definition.id]})",
                    )
                )
                continue
            found[definition.id] = definition
            seen_in[definition.id] = source
    if problems:
        raise InputError(problems)
    return found


def _parse(entry: Any, source: str, number: int) -> tuple[IndicatorDefinition | None, list[Problem]]:
    if not isinstance(entry, dict):
        return None, [Problem(source, number, None, "an indicator must be a mapping of field: value")]
    problems = [Problem(source, number, str(k), "unknown field") for k in entry if k not in FIELD_DOCS]
    values: dict[str, Any] = {}
    for spec in fields(IndicatorDefinition):
        name = spec.name
        if name not in entry or entry[name] is None:
            if spec.default is not MISSING:
                continue
            problems.append(Problem(source, number, name, "required field is missing"))
            continue
        raw = entry[name]
        try:
            values[name] = _convert(name, raw)
        except ValueError as exc:
            problems.append(Problem(source, number, name, str(exc)))
    problems += _monitoring_problems(values, source, number)
    if problems:
        return None, problems
    return IndicatorDefinition(**values), []


def _monitoring_problems(values: dict[str, Any], source: str, number: int) -> list[Problem]:
    """A chart or CUSUM alert that does not suit the indicator's value type or polarity."""
    value_type, polarity = values.get("value_type"), values.get("polarity")
    problems = []
    chart, alert = values.get("chart"), values.get("cusum")
    if chart in ("p", "pp") and value_type not in (None, ValueType.PROPORTION):
        problems.append(Problem(source, number, "chart", f"a {chart} chart is for proportions"))
    if chart in ("u", "up") and value_type == ValueType.PROPORTION:
        problems.append(Problem(source, number, "chart", f"a {chart} chart is for rates and ratios"))
    if alert is not None:
        if value_type not in (None, ValueType.INDIRECTLY_STANDARDISED_RATIO):
            reason = "needs expected counts: only for indirectly_standardised_ratio indicators"
            problems.append(Problem(source, number, "cusum", reason))
        adverse = {
            Polarity.LOWER_IS_BETTER: alert.odds_ratio > 1,
            Polarity.HIGHER_IS_BETTER: alert.odds_ratio < 1,
        }
        if polarity is not None and not adverse.get(polarity, False):
            reason = "odds_ratio must look for the adverse change: above 1 when lower is better, below 1 when higher is better (not for neutral indicators)"
            problems.append(Problem(source, number, "cusum", reason))
    return problems


def _convert(name: str, raw: Any) -> Any:
    if name in _ENUMS:
        allowed = _ENUMS[name]
        if raw not in set(allowed):
            what = " (the value types carelens can compare with peers)" if name == "value_type" else ""
            raise ValueError(f"{raw!r} is not one of: {', '.join(allowed)}{what}")
        return allowed(raw)
    if name == "id":
        if not isinstance(raw, str) or not _ID.match(raw):
            raise ValueError(
                f"{raw!r} must be lower-case letters, digits and underscores, starting with a letter"
            )
        return raw
    if name in ("version", "judged_periods"):
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
            raise ValueError(f"{raw!r} must be a whole number ≥ 1")
        return raw
    if name == "levels":
        if not isinstance(raw, list) or not raw:
            raise ValueError("must be a non-empty list of numbers")
        if not all(isinstance(x, int | float) and not isinstance(x, bool) and 0 < x < 1 for x in raw):
            raise ValueError(f"{raw!r}: every level must be a number strictly between 0 and 1")
        if list(raw) != sorted(set(raw)):
            raise ValueError(f"{raw!r} must be ascending without repeats")
        return tuple(float(x) for x in raw)
    if name == "chart":
        if raw not in MONITORING_CHARTS:
            raise ValueError(f"{raw!r} is not one of: {', '.join(MONITORING_CHARTS)}")
        return raw
    if name == "cusum":
        return _cusum_alert(raw)
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError("must be non-empty text")
    return raw.strip()


def _cusum_alert(raw: Any) -> CusumAlert:
    if not isinstance(raw, dict):
        raise ValueError("must be a mapping of odds_ratio, false_alarm_rate and reset")
    names = [f.name for f in fields(CusumAlert)]
    unknown = sorted(str(k) for k in raw if k not in names)
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)} (known: {', '.join(names)})")
    alert = CusumAlert(**raw)
    number = (int, float)
    if (
        not isinstance(alert.odds_ratio, number)
        or isinstance(alert.odds_ratio, bool)
        or not 0 < alert.odds_ratio != 1
    ):
        raise ValueError(f"odds_ratio {alert.odds_ratio!r} must be a positive number other than 1")
    rate = alert.false_alarm_rate
    if not isinstance(rate, number) or isinstance(rate, bool) or not 0.001 <= rate < 1:
        raise ValueError(f"false_alarm_rate {rate!r} must be a number in [0.001, 1)")
    if not isinstance(alert.reset, bool):
        raise ValueError(f"reset {alert.reset!r} must be true or false")
    return CusumAlert(float(alert.odds_ratio), float(rate), alert.reset)
