"""`carelens allocate ...` and `carelens assess commissioners` end to end."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from carelens.cli import app

runner = CliRunner()


def test_allocate_run_writes_commissioners_and_places(tmp_path):
    out, places = tmp_path / "alloc.csv", tmp_path / "places.csv"
    result = runner.invoke(
        app, ["allocate", "run", "--year", "2024-25", "-o", str(out), "--places", str(places)]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert len(table) == 42 and abs(table["allocation_gbp"].sum() - 110e9) < 1
    assert abs(pd.read_csv(places)["target_gbp"].sum() - table["target_gbp"].sum()) < 1


def test_allocate_run_rejects_a_year_the_scenario_is_not_for():
    result = runner.invoke(app, ["allocate", "run", "--year", "2023-24"])
    assert result.exit_code == 2 and "scenario is for 2024-25" in result.output


def test_bad_scenario_names_file_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 1\nname: x\nversion: 1\nyear: 2024-25\nneed: {core: {method: guess}}\n")
    result = runner.invoke(app, ["allocate", "run", "--year", "2024-25", "--scenario", str(bad)])
    assert result.exit_code == 2
    assert "need.core.method" in result.output and "quantum_gbp.core" in result.output


def test_allocate_compare_writes_table_and_chart(tmp_path):
    out, chart = tmp_path / "whatif.csv", tmp_path / "whatif.svg"
    result = runner.invoke(
        app,
        [
            "allocate",
            "compare",
            "deprivation_weighted",
            "age_weighted",
            "-o",
            str(out),
            "--chart",
            str(chart),
        ],
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out).set_index("commissioner_code")
    assert round(table.loc["QOP", "change_pct"], 2) == -6.56
    assert chart.read_text().startswith("<svg")


def test_assess_commissioners_from_files_and_intervene(tmp_path):
    db = f"sqlite:///{tmp_path / 'store.db'}"
    codes = ["QHM", "QUE", "QYG", "QRV", "QT6", "QOP", "QE1", "QWO"]
    obs = pd.DataFrame(
        {
            "indicator_id": "ae_4hr_breach_type1",
            "org_code": codes,
            "period": "2024-04-01",
            "numerator": [2000, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
            "denominator": 10000,
        }
    )
    obs.to_csv(tmp_path / "obs.csv", index=False)
    result = runner.invoke(
        app,
        [
            "assess",
            "commissioners",
            "--year",
            "2024-25",
            "--observations",
            str(tmp_path / "obs.csv"),
            "--db",
            db,
            "--intervene",
            "QHM",
            "-o",
            str(tmp_path / "card.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    card = pd.read_csv(tmp_path / "card.csv").set_index("commissioner_code")
    assert card.loc["QHM", "overall"] == "inadequate" and card.loc["QUE", "overall"] == "good"
    assert "recorded intervention #1 for QHM" in result.output


def test_allocate_with_year_is_short_for_allocate_run(tmp_path):
    short, long = tmp_path / "short.csv", tmp_path / "long.csv"
    first = runner.invoke(app, ["allocate", "--year", "2024-25", "--scenario", "2024_25", "-o", str(short)])
    second = runner.invoke(
        app, ["allocate", "run", "--year", "2024-25", "--scenario", "2024_25", "-o", str(long)]
    )
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert short.read_bytes() == long.read_bytes()
    assert len(pd.read_csv(short)) == 42  # every ICB
    assert runner.invoke(app, ["allocate", "--year", "2023-24"]).exit_code == 2  # scenario is for 2024/25
