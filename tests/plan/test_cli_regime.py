"""The regime commands: transitions recorded, illegal ones refused with exit code 2, overdue reported."""

from __future__ import annotations

from typer.testing import CliRunner

from carelens.cli import app
from carelens.services.database import open_store
from carelens.store import schema


def test_regime_commands(tmp_path):
    db = f"sqlite:///{tmp_path / 'store.db'}"
    run = CliRunner().invoke
    nope = run(app, ["regime", "open", "provider", "1-42", "--reason", "x", "--db", db])
    assert nope.exit_code == 2 and "no organisation '1-42' in the store" in " ".join(nope.output.split())
    engine = open_store(db)
    with engine.begin() as connection:
        connection.execute(
            schema.organisation.insert().values(
                code="1-42", name="A care home", kind="care_home", sector="adult_social_care"
            )
        )
    engine.dispose()
    opened = run(
        app,
        [
            "regime",
            "open",
            "provider",
            "1-42",
            "--reason",
            "concerns",
            "--at",
            "2024-01-01",
            "--db",
            db,
        ],
    )
    assert opened.exit_code == 0, opened.output
    assert "opened provider case 1 for 1-42" in opened.output
    illegal = run(app, ["regime", "move", "1", "cancel_registration", "--reason", "x", "--db", db])
    assert illegal.exit_code == 2
    text = " ".join(illegal.output.split())  # the console wraps long lines
    assert "illegal transition: 'cancel_registration' is not allowed from 'open'" in text
    assert "allowed from open: enter_special_measures, requirement_notice, warning_notice" in text
    moved = run(
        app,
        [
            "regime",
            "move",
            "1",
            "warning_notice",
            "--reason",
            "breach of reg 12",
            "--at",
            "2024-01-02",
            "--db",
            db,
        ],
    )
    assert moved.exit_code == 0 and "now warning_notice" in moved.output and "by 2024-04-01" in moved.output
    late = run(app, ["regime", "overdue", "--as-of", "2024-06-01", "--db", db])
    assert late.exit_code == 0 and "1-42" in late.output
    adopted = run(app, ["regime", "adopt-interventions", "--db", db])
    assert adopted.exit_code == 0 and "adopted 0 intervention(s)" in adopted.output


def test_bad_dates_are_bad_input(tmp_path):
    db = f"sqlite:///{tmp_path / 'store.db'}"
    result = CliRunner().invoke(app, ["regime", "overdue", "--as-of", "01/02/2024", "--db", db])
    assert result.exit_code == 2 and "--as-of: not a date (YYYY-MM-DD)" in result.output
