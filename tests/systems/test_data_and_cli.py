"""The packaged synthetic data set is what the documented generator writes, loads through the same
importers as real data, and drives the CLI: systems rank, systems review ..., aco settle (exit codes)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from carelens.cli import app
from carelens.systems.synth import write


def test_packaged_data_set_is_reproduced_by_the_generator(data_dir, tmp_path):
    for path in write(tmp_path):
        assert path.read_bytes() == (data_dir / "systems" / path.name).read_bytes(), path.name


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """A SQLite store with the synthetic data set loaded through the ingest command."""
    from pathlib import Path

    import carelens

    folder = Path(carelens.__file__).parent / "data" / "systems"
    db = f"sqlite:///{tmp_path_factory.mktemp('systems') / 'store.db'}"
    runner = CliRunner()
    for source, name in (
        ("organisations", "organisations.csv"),
        ("relationships", "relationships.csv"),
        ("place-transitions", "place_transitions.csv"),
    ):
        result = runner.invoke(app, ["ingest", source, str(folder / name), "--db", db])
        assert result.exit_code == 0, result.output
    return db, folder


def run(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "300"})


def test_cli_programme_and_settlement(loaded, tmp_path):
    db, folder = loaded
    ranked = run("systems", "rank", "--period", "2017-04-01", "--db", db, "-o", str(tmp_path / "rank.csv"))
    assert ranked.exit_code == 0, ranked.output
    assert "PL026" in ranked.output and (tmp_path / "rank.csv").exists()
    plan = run("systems", "review", "plan", "--budget", "2000000", "--period", "2017-04-01", "--db", db)
    assert plan.exit_code == 0 and "buys 23 review(s); planned 23 costing £1,999,999.96" in plan.output
    direct = [
        "systems",
        "review",
        "direct",
        "LSR-2017",
        "--by",
        "Secretaries of State",
        "--scope",
        "65+ transitions",
        "--on",
        "2017-08-01",
        "--budget",
        "2000000",
        "--db",
        db,
    ]
    assert run(*direct).exit_code == 0
    assert run(*direct).exit_code == 2  # the reference exists
    selected = run("systems", "review", "select", "LSR-2017", "--period", "2017-04-01", "--db", db)
    assert selected.exit_code == 0 and "planned 23" in selected.output
    findings = tmp_path / "findings.csv"
    findings.write_text("stage,finding\ncrisis_and_step_up,No single point of access\n")
    recorded = run(
        "systems",
        "review",
        "record",
        "LSR-2017",
        "PL026",
        "--findings",
        str(findings),
        "--board",
        "PL026 Health and Wellbeing Board",
        "--reported-on",
        "2018-01-10",
        "--db",
        db,
    )
    assert recorded.exit_code == 0, recorded.output
    actions = tmp_path / "actions.csv"
    actions.write_text(
        "number,action,owner,deadline\n1,Single point of access,Director of adult services,2018-06-30\n"
    )
    tracked = run(
        "systems",
        "review",
        "actions",
        "LSR-2017",
        "--place",
        "PL026",
        "--file",
        str(actions),
        "--as-of",
        "2018-07-01",
        "--db",
        db,
    )
    assert tracked.exit_code == 0 and "1 overdue of 1 open actions" in tracked.output
    settled = run(
        "aco",
        "settle",
        "--year",
        "2024-25",
        "--finance",
        str(folder / "aco_finance_2024_25.csv"),
        "--market",
        str(folder / "aco_market_2024_25.csv"),
        "--db",
        db,
    )
    assert settled.exit_code == 0, settled.output
    assert "shared savings paid" in settled.output and "highly concentrated" in settled.output
    bundle = run("aco", "bundle", str(folder / "bundle_episodes.csv"))
    assert bundle.exit_code == 0 and "hip replacement" in bundle.output


def test_cli_bad_input_exits_2(loaded, tmp_path):
    db, _ = loaded
    bad = tmp_path / "finance.csv"
    bad.write_text("aco_code,population\nACO01,lots\n")
    result = run("aco", "settle", "--year", "2024-25", "--finance", str(bad), "--db", db)
    assert result.exit_code == 2 and "benchmark_per_capita_gbp" in result.output
    assert run("aco", "settle", "--year", "2024", "--finance", str(bad), "--db", db).exit_code == 2
    assert run("systems", "review", "select", "NO-SUCH", "--db", db).exit_code == 2
