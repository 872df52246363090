"""Every settings file is read by one reader: each bad variant of a packaged file (an unknown key, a
wrong type, a missing field, a single value where a section belongs, a ``.nan``) is an InputError naming
the file and the field, never a bare ValueError, TypeError or KeyError; the command line exits 2."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from carelens.assess.config import config_file
from carelens.assess.config import load_rules as load_ratings
from carelens.assess.saf import load_saf
from carelens.assess.segmentation import load_oversight
from carelens.config import packaged
from carelens.errors import InputError
from carelens.fund.assessment import load_rules as load_fund_assessment
from carelens.fund.running_costs import load_rules as load_running_costs
from carelens.fund.scenario import load_scenario
from carelens.model.data_quality import load_rules as load_data_quality
from carelens.model.indicators import load_indicators
from carelens.monitor.settings import load_settings as load_monitor
from carelens.plan.config import load_regimes
from carelens.plan.config import load_settings as load_planning
from carelens.systems.config import load_config as load_systems
from carelens.web.settings import DEFAULT_SETTINGS_FILE as WEB_SETTINGS
from carelens.web.settings import load_web_settings


@dataclass(frozen=True)
class SettingsFile:
    """A packaged settings file, its loader, and the fields its bad variants change."""

    path: Path
    load: Callable[[Path], Any]
    number: str
    """A required numeric field (made text, .nan)."""
    missing: str
    """A required field (removed)."""
    section: str
    """A section (given as a single value)."""
    within: str = ""
    """Where an unknown setting is added (default: ``section``)."""

    def unknown(self) -> str:
        return f"{self.within or self.section}.surplus_setting"


FILES = {
    "ratings": SettingsFile(
        config_file("ratings.yaml"),
        load_ratings,
        "adult_social_care.key_questions_to_overall.outstanding",
        "nhs_trust.x_table",
        "nhs_trust.trust_overall_with_use_of_resources",
    ),
    "saf": SettingsFile(config_file("saf.yaml"), load_saf, "bands.Good", "overall.complete_with", "overall"),
    "oversight": SettingsFile(
        config_file("oversight.yaml"), load_oversight, "scores.worst", "schema_version", "segments"
    ),
    "fund assessment": SettingsFile(
        packaged("fund", "assessment.yaml"),
        load_fund_assessment,
        "outcomes.inadequate_if_net_worse_at_least",
        "overall.intervene_at",
        "finance",
    ),
    "running costs": SettingsFile(
        packaged("fund", "running_costs.yaml"),
        load_running_costs,
        "small_population",
        "fixed_cost_model.fixed_cost_gbp",
        "fixed_cost_model",
    ),
    "scenario": SettingsFile(
        packaged("fund", "scenario_2024_25.yaml"), load_scenario, "quantum_gbp.core", "name", "pace_of_change"
    ),
    "indicators": SettingsFile(
        packaged("indicators", "mortality.yaml"),
        lambda path: load_indicators([path]),
        "indicators[0].version",
        "indicators[0].title",
        "indicators",
        "indicators[0]",
    ),
    "monitor": SettingsFile(
        packaged("monitor", "monitor.yaml"), load_monitor, "flags.risk_z", "flags.elevated_z", "flags"
    ),
    "data quality": SettingsFile(
        packaged("quality", "data_quality.yaml"),
        load_data_quality,
        "implausible_zero[0].above",
        "implausible_zero[0].indicator",
        "implausible_zero",
        "implausible_zero[0]",
    ),
    "planning": SettingsFile(
        packaged("plan", "planning.yaml"),
        load_planning,
        "demand.high_risk_min",
        "demand.new_registration_months",
        "scheduler",
    ),
    "regime": SettingsFile(
        packaged("plan", "regime.yaml"),
        load_regimes,
        "regimes.provider.transitions.requirement_notice.deadline_days",
        "regimes.provider.transitions.complied.to",
        "regimes.provider.transitions",
    ),
    "systems": SettingsFile(
        packaged("systems", "systems.yaml"), load_systems, "aco.savings_cap", "programme.power", "programme"
    ),
    "web": SettingsFile(WEB_SETTINGS, load_web_settings, "pages.plan_rows", "charts.width", "charts"),
}

_STEP = re.compile(r"([^.\[]+)(?:\[(\d+)\])?")


def _parent(document: dict, dotted: str) -> tuple[Any, str]:
    """The mapping holding field ``dotted`` (``a.b[0].c``: entry 0 of list ``a.b``), and its key."""
    *steps, last = dotted.split(".")
    node: Any = document
    for step in steps:
        name, index = _STEP.fullmatch(step).groups()
        node = node[name] if index is None else node[name][int(index)]
    return node, last


def _where(dotted: str) -> tuple[int | None, str]:
    """The (row, field) a problem names: an indicator (entry of the list ``indicators``) is a row."""
    found = re.fullmatch(r"indicators\[(\d+)\]\.(.+)", dotted)
    return (int(found[1]) + 1, found[2]) if found else (None, dotted)


def _variant(tmp_path: Path, settings: SettingsFile, change: Callable[[dict], None]) -> Path:
    document = yaml.safe_load(settings.path.read_text(encoding="utf-8"))
    change(document)
    path = tmp_path / settings.path.name
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def _set(dotted: str, value: Any) -> Callable[[dict], None]:
    def change(document: dict) -> None:
        parent, key = _parent(document, dotted)
        assert key in parent, dotted
        parent[key] = value

    return change


def _remove(dotted: str) -> Callable[[dict], None]:
    def change(document: dict) -> None:
        parent, key = _parent(document, dotted)
        del parent[key]

    return change


def _add_unknown(dotted: str) -> Callable[[dict], None]:
    def change(document: dict) -> None:
        parent, key = _parent(document, dotted)
        parent[key] = 1
        document["surplus_section"] = {"a": 1}

    return change


VARIANTS = {
    "unknown key": (
        lambda s: _add_unknown(s.unknown()),
        lambda s: [s.unknown(), "surplus_section"],
    ),
    "wrong type": (lambda s: _set(s.number, "many"), lambda s: [s.number]),
    "nan": (lambda s: _set(s.number, math.nan), lambda s: [s.number]),
    "missing field": (lambda s: _remove(s.missing), lambda s: [s.missing]),
    "section as a value": (lambda s: _set(s.section, 5), lambda s: [s.section]),
}
REASONS = {
    "unknown key": "unknown setting",
    "wrong type": "must be a",
    "nan": "number",
    "missing field": "",
    "section as a value": "must be a",
}


def test_the_packaged_files_load_unchanged(tmp_path):
    for name, settings in FILES.items():
        assert settings.load(_variant(tmp_path, settings, lambda document: None)) is not None, name


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("name", list(FILES))
def test_a_bad_variant_names_the_file_and_the_field(tmp_path, name, variant):
    settings = FILES[name]
    change, fields = VARIANTS[variant]
    path = _variant(tmp_path, settings, change(settings))
    with pytest.raises(InputError) as caught:
        settings.load(path)
    named = {(p.row, p.field) for p in caught.value.problems if p.source == str(path)}
    for field in fields(settings):
        assert _where(field) in named, (field, caught.value.problems)
    assert any(REASONS[variant] in p.reason for p in caught.value.problems), caught.value.problems


def test_a_bad_settings_file_exits_2_on_the_command_line(tmp_path):
    from carelens.cli import app

    scores = tmp_path / "saf.csv"
    pd.DataFrame(
        [{"assessment_id": "A", "key_question": "Safe", "quality_statement": "Safe1", "score": 3}]
    ).to_csv(scores, index=False)
    bad = _variant(tmp_path, FILES["saf"], _set("overall", 5))
    result = CliRunner().invoke(
        app, ["rate", "saf", str(scores), "--config", str(bad), "-o", str(tmp_path / "out.csv")]
    )
    assert result.exit_code == 2, result.output
    assert str(bad) in result.output and "'overall'" in result.output
