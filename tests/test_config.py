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
    with pytest.raises(InputError) as caught:
        reader.raise_if_any()
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
