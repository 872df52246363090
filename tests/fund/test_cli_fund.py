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


def _commissioners_2024() -> list[str]:
    from carelens.fund.service import practice_loader

    return sorted(practice_loader(None)(2024)["commissioner_code"].unique())


def test_assess_commissioners_from_files_and_intervene(tmp_path):
    db = f"sqlite:///{tmp_path / 'store.db'}"
    codes = _commissioners_2024()[:12]
    obs = pd.DataFrame(
        {
            "indicator_id": "ae_4hr_breach_type1",
            "org_code": codes,
            "period": "2024-04-01",
            "numerator": [2000] + [1000] * (len(codes) - 1),
            "denominator": 10000,
        }
    )
    obs.to_csv(tmp_path / "obs.csv", index=False)
    finance = pd.DataFrame({"commissioner_code": codes, "allocation_gbp": 1e9, "spend_gbp": 0.999e9})
    finance.to_csv(tmp_path / "finance.csv", index=False)
    result = runner.invoke(
        app,
        [
            "assess",
            "commissioners",
            "--year",
            "2024-25",
            "--observations",
            str(tmp_path / "obs.csv"),
            "--finance",
            str(tmp_path / "finance.csv"),
            "--db",
            db,
            "--intervene",
            codes[0],
            "-o",
            str(tmp_path / "card.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    card = pd.read_csv(tmp_path / "card.csv").set_index("commissioner_code")
    assert card.loc[codes[0], "overall"] == "inadequate" and card.loc[codes[1], "overall"] == "good"
    assert f"recorded intervention #1 for {codes[0]}" in result.output
    others = card.drop(index=codes)  # the 30 with neither observations nor a finance return
    assert len(others) == 30 and set(others["overall"]) == {"not assessed"}
    assert "30 of 42 commissioners not assessed" in result.output


def test_no_evidence_is_not_assessed_and_no_intervention_is_recorded(tmp_path):
    """The reproduction of issue 14: a store with no commissioner indicator and no finance return rated
    every ICB's outcomes good and its finance outstanding; now each is not assessed, and --intervene on
    one is refused (exit 2) before anything is written."""
    import sqlalchemy as sa

    from carelens.store import schema
    from carelens.store.engine import create_engine
    from carelens.store.schema_fund import fund_intervention

    db = f"sqlite:///{tmp_path / 'store.db'}"
    out = tmp_path / "card.csv"
    result = runner.invoke(app, ["assess", "commissioners", "--year", "2024-25", "--db", db, "-o", str(out)])
    assert result.exit_code == 0, result.output
    card = pd.read_csv(out)
    assert len(card) == 42 and set(card["overall"]) == {"not assessed"}
    assert set(card["outcomes_rating"]) == {"not assessed"} == set(card["finance_rating"])
    assert card["reasons"].str.contains("finance: not assessed: no finance return for 2024-25").all()
    assert "42 of 42 commissioners not assessed" in result.output
    out.unlink()
    refused = runner.invoke(
        app,
        ["assess", "commissioners", "--year", "2024-25", "--db", db, "-o", str(out), "--intervene", "QOP"],
    )
    assert refused.exit_code == 2
    assert "'QOP' is not assessed" in refused.output and "outcomes and finance" in refused.output
    assert not out.exists()
    engine = create_engine(db)
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(fund_intervention)).scalar() == 0
        audit = schema.audit_event  # nothing but the store's local administrator, made at its first use
        changes = sa.select(sa.func.count()).select_from(audit).where(audit.c.entity != "app_user")
        assert connection.execute(changes).scalar() == 0
    engine.dispose()


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
