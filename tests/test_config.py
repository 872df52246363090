"""carelens.config.FieldReader: typed settings fields, every problem naming the file and the field."""

from __future__ import annotations

import pytest
import yaml

from carelens.config import FieldReader
from carelens.errors import InputError
from carelens.systems.config import default_config_file, load_config


def test_reader_checks_types_ranges_and_defaults():
    document = {"a": {"n": 2, "share": 1.5, "flag": True, "text": 7, "none": None}, "count": 2.5}
    reader = FieldReader("s.yaml", document)
    assert reader.get("a.n", float, minimum=0, exclusive=True) == 2.0
    assert reader.get("a.share", float, minimum=0, maximum=1) == 1.5  # out of range: kept, and reported
    assert reader.get("a.flag", float) is None
    assert reader.get("a.text", str) == "7"
    assert reader.get("a.none", float, default=3.0) == 3.0
    assert reader.get("a.absent", float, optional=True) is None
    assert reader.get("count", int) is None
    assert reader.get("a.absent", dict) is None
    sub = reader.within("a", document["a"])
    assert sub.get("n", int, minimum=3) == 2
    sub.problem(None, "whole section is wrong")
    with pytest.raises(InputError) as caught:
        reader.raise_if_any()
    assert [(p.source, p.field, p.reason) for p in caught.value.problems] == [
        ("s.yaml", "a.share", "must be <= 1, got 1.5"),
        ("s.yaml", "a.flag", "must be a number, got True"),
        ("s.yaml", "count", "must be a whole number, got 2.5"),
        ("s.yaml", "a.absent", "required field is missing"),
        ("s.yaml", "a.n", "must be >= 3, got 2"),
        ("s.yaml", "a", "whole section is wrong"),
    ]


def test_a_retired_field_still_present_is_named_with_what_decides_now():
    reader = FieldReader("s.yaml", {"outcomes": {"level": 99.8, "kept": 1}, "flat": None})
    reader.retired("outcomes.level", "the comparison specification decides")
    reader.retired("outcomes.absent", "never set")
    reader.retired("flat.deeper", "a null section has no fields")
    reader.get("outcomes.kept", int)
    reader.known("flat")
    with pytest.raises(InputError) as caught:
        reader.raise_if_any()  # a retired field is reported once, not again as unknown
    assert [(p.source, p.field, p.reason) for p in caught.value.problems] == [
        (
            "s.yaml",
            "outcomes.level",
            "is no longer a setting: the comparison specification decides; remove it",
        )
    ]


def test_bad_systems_config_names_file_and_fields(tmp_path):
    document = yaml.safe_load(default_config_file().read_text(encoding="utf-8"))
    document["aco"]["savings_cap"] = 1.5
    document["aco"]["hhi"]["high_above"] = "high"
    # the comparison specification decides how indicators are compared: the old fields are refused
    document["transitions"]["indicators"]["dtoc_total"]["funnel"] = "rate"
    document["transitions"]["level"] = 99.8
    document["aco"]["quality"]["level"] = 99.8
    bad = tmp_path / "systems.yaml"
    bad.write_text(yaml.safe_dump(document))
    with pytest.raises(InputError) as caught:
        load_config(bad)
    assert {(p.source, p.field) for p in caught.value.problems} == {
        (str(bad), "transitions.indicators.dtoc_total.funnel"),
        (str(bad), "transitions.level"),
        (str(bad), "aco.quality.level"),
        (str(bad), "aco.savings_cap"),
        (str(bad), "aco.hhi.high_above"),
    }
    retired = [p for p in caught.value.problems if p.field.endswith(("funnel", "level"))]
    assert all("no longer a setting" in p.reason and "comparison specification" in p.reason for p in retired)


def test_fields_no_reader_asked_for_are_refused_by_name():
    document = {
        "flags": {"risk_z": 3.0, "risk_zz": 2.0},
        "typo_section": {"a": 1},
        "whole": {"anything": {"goes": 1}},
        "nested": {"entry": {"known": 1, "stray": 2}},
        "schema_version": 1,
    }
    reader = FieldReader("s.yaml", document)
    reader.known("schema_version")
    assert reader.get("flags.risk_z", float) == 3.0
    assert reader.get("whole", dict) == document["whole"]  # read whole: everything beneath is the caller's
    assert reader.within("nested.entry", document["nested"]["entry"]).get("known", int) == 1
    assert reader.unknown_fields() == ["flags.risk_zz", "typo_section", "nested.entry.stray"]
    with pytest.raises(InputError) as caught:
        reader.raise_if_any()
    assert [(p.field, p.reason) for p in caught.value.problems] == [
        ("flags.risk_zz", "unknown setting"),
        ("typo_section", "unknown setting"),
        ("nested.entry.stray", "unknown setting"),
    ]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_numbers_must_be_finite(value):
    reader = FieldReader("s.yaml", {"flags": {"risk_z": value}})
    assert reader.get("flags.risk_z", float, minimum=0) is None
    with pytest.raises(InputError) as caught:
        reader.raise_if_any()
    (problem,) = caught.value.problems
    assert problem.field == "flags.risk_z" and problem.reason.startswith("must be a finite number")


def test_a_section_given_as_a_single_value_is_named():
    reader = FieldReader("s.yaml", {"flags": 5, "listed": [1, 2]})
    assert reader.get("flags.risk_z", float) is None and reader.get("flags.elevated_z", float) is None
    assert reader.get("listed.deep.er", int) is None
    reader.within("listed", [1, 2]).get("x", int, optional=True)
    with pytest.raises(InputError) as caught:
        reader.raise_if_any()
    assert [(p.field, p.reason) for p in caught.value.problems] == [
        ("flags", "must be a mapping (key: value), got 5"),  # once, not once per field
        ("listed", "must be a mapping (key: value), got [1, 2]"),
    ]


def _monitor_file(tmp_path, change):
    from carelens.monitor.settings import default_settings_file

    text = default_settings_file().read_text(encoding="utf-8")
    old, new = change
    assert old in text
    path = tmp_path / "monitor.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (("risk_z:", "risk_zz: 3\n  risk_z:"), "flags.risk_zz", "unknown setting"),
        (("flags:", "flagz:\n  x: 1\nflags:"), "flagz", "unknown setting"),
        (("risk_z: ", "risk_z: .nan #"), "flags.risk_z", "must be a finite number"),
        (("risk_z: ", "risk_z: .inf #"), "flags.risk_z", "must be a finite number"),
        (("trim: ", "trim: -.inf #"), "funnel.trim", "must be a finite number"),
    ],
)
def test_monitoring_settings_refuse_unknown_fields_and_non_finite_numbers(tmp_path, change, field, reason):
    from typer.testing import CliRunner

    from carelens import cli
    from carelens.monitor.settings import load_settings

    path = _monitor_file(tmp_path, change)
    with pytest.raises(InputError) as caught:
        load_settings(path)
    assert any(
        p.source == str(path) and p.field == field and reason in p.reason for p in caught.value.problems
    )
    result = CliRunner().invoke(
        cli.app, ["monitor", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--settings", str(path)]
    )
    assert result.exit_code == 2 and field in result.output


@pytest.mark.parametrize(
    ("section", "value"),
    [("demand", "5"), ("inspections", "[1, 2]"), ("scheduler", "fast"), ("capacity", "7")],
)
def test_a_planning_section_given_as_a_single_value_is_named(tmp_path, section, value):
    import re

    from carelens.plan.config import load_settings

    text = load_settings().source
    original = open(text, encoding="utf-8").read()
    replaced = re.sub(
        rf"^{section}:\n(?:(?:  .*|\s*#.*|)\n)*", f"{section}: {value}\n", original, flags=re.MULTILINE
    )
    assert replaced != original
    path = tmp_path / "planning.yaml"
    path.write_text(replaced, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_settings(path)
    assert any(
        p.source == str(path) and p.field == section and "must be a mapping" in p.reason
        for p in caught.value.problems
    )


def test_planning_settings_refuse_unknown_fields_and_non_finite_numbers(tmp_path):
    from carelens.plan.config import load_settings

    original = open(load_settings().source, encoding="utf-8").read()
    path = tmp_path / "planning.yaml"
    path.write_text(
        original.replace("  earliness: 0.5", "  earliness: .nan\n  earlyness: 0.5").replace(
            "    band_1: 1\n", "    band_1: .inf\n", 1
        ),
        encoding="utf-8",
    )
    with pytest.raises(InputError) as caught:
        load_settings(path)
    assert {(p.field, p.reason.split(",")[0]) for p in caught.value.problems} == {
        ("scheduler.earliness", "must be a finite number"),
        ("scheduler.earlyness", "unknown setting"),
        ("demand.bring_forward_months.band_1", "must be a whole number"),
    }


def test_every_packaged_file_reads_as_the_pure_python_safe_loader_reads_it(tmp_path):
    # libyaml's loader where there is one: the same documents, and bad YAML still refused by name.
    from pathlib import Path

    from carelens.config import packaged, read_mapping

    files = sorted(Path(packaged("monitor", "monitor.yaml")).parent.parent.rglob("*.yaml"))
    assert len(files) >= 5
    for path in files:
        assert read_mapping(path)[0] == yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    for number, text in enumerate(["a: [1, 2\nb: 3\n", "a: !!python/object/apply:os.getcwd []\n"]):
        bad = tmp_path / f"bad{number}.yaml"  # broken, and a tag only an unsafe loader would run
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(InputError) as caught:
            read_mapping(bad)
        assert caught.value.problems[0].source == str(bad)
        assert caught.value.problems[0].reason.startswith("not a readable YAML file")
