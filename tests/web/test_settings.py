"""The web settings file: the packaged defaults load, and every bad field is named with its file."""

from __future__ import annotations

from dataclasses import replace

import pytest

from carelens.errors import InputError
from carelens.web.settings import DEFAULT_SETTINGS_FILE, load_web_settings

GOOD = """schema_version: 1
pages:
  search_results: 20
  league_table_rows: 50
  rating_history_rows: 30
  plan_rows: 50
  regime_case_rows: 50
  spc_points: 36
charts:
  width: 400
  height: 260
  points: 1000
  compare_bars: 60
"""


def test_packaged_settings_load():
    assert load_web_settings(DEFAULT_SETTINGS_FILE) == load_web_settings(None)
    assert load_web_settings().league_table_rows == 50


def test_another_file_overrides_the_defaults(tmp_path):
    path = tmp_path / "web.yaml"
    path.write_text(GOOD.replace("league_table_rows: 50", "league_table_rows: 100"))
    # a file without service names shows the codes as they are
    assert load_web_settings(path) == replace(load_web_settings(), league_table_rows=100, service_names={})


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (("plan_rows: 50", "plan_rows: 0"), "pages.plan_rows", "must be >= 1, got 0"),
        (("width: 400", "width: wide"), "charts.width", "must be a whole number, got 'wide'"),
        (("spc_points: 36", "spc_points: 3.5"), "pages.spc_points", "must be a whole number"),
        (("  spc_points: 36\n", ""), "pages.spc_points", "required field is missing"),
        (("  spc_points: 36\n", "  spc_points: 36\n  spc_dots: 4\n"), "pages.spc_dots", "unknown setting"),
        (("charts:", "colours: {}\ncharts:"), "colours", "unknown setting"),
        (("schema_version: 1", "schema_version: 2"), "schema_version", "must be 1"),
        (("charts:", "service_names:\n  urgent: [1]\ncharts:"), "service_names.urgent", "must be"),
    ],
)
def test_a_bad_field_is_named_with_its_file(tmp_path, change, field, reason):
    path = tmp_path / "web.yaml"
    path.write_text(GOOD.replace(*change))
    with pytest.raises(InputError) as raised:
        load_web_settings(path)
    (problem,) = raised.value.problems
    assert problem.source == str(path) and problem.field == field and reason in problem.reason


def test_every_problem_is_reported_at_once(tmp_path):
    path = tmp_path / "web.yaml"
    path.write_text(GOOD.replace("plan_rows: 50", "plan_rows: -1").replace("height: 260", "height: tall"))
    with pytest.raises(InputError) as raised:
        load_web_settings(path)
    assert {p.field for p in raised.value.problems} == {"pages.plan_rows", "charts.height"}


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        load_web_settings(tmp_path / "absent.yaml")
