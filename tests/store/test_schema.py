"""The migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from typer.testing import CliRunner

from carelens.cli import app
from carelens.store import schema
from carelens.store.engine import DB_ENV_VAR, create_engine, database_url
from carelens.store.migrate import current_revisions, ensure_schema, head_revisions

CORE_TABLES = {
    "alembic_version",
    "audit_event",
    "import_record",
    "indicator",
    "observation",
    "org_relationship",
    "organisation",
    "population",
    "rating",
}


def test_migrated_schema_matches_the_declared_schema(engine):
    tables = set(sa.inspect(engine).get_table_names())
    assert CORE_TABLES <= tables
    assert tables == set(schema.metadata.tables) | {"alembic_version"}  # every area's tables, no others
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), schema.metadata)
    assert differences == []
    assert current_revisions(engine) == head_revisions()


def test_only_one_current_row_per_observation_key(engine):
    """The partial unique index allows history rows but only one current row per key."""
    with engine.begin() as connection:
        connection.execute(
            schema.import_record.insert(),
            [
                dict(
                    id=i,
                    source="t",
                    file_name="f",
                    sha256=str(i),
                    rows=0,
                    inserted=0,
                    superseded=0,
                    unchanged=0,
                    user_name="u",
                    imported_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                    status="loaded",
                )
                for i in (1, 2)
            ],
        )
        connection.execute(schema.organisation.insert().values(code="RX1", kind="nhs_trust"))
        connection.execute(schema.indicator.insert().values(id="x", version=1, title="x", definition={}))
    row = dict(indicator_id="x", org_code="RX1", period=dt.date(2024, 4, 1), value=1.0)
    with engine.begin() as connection:
        connection.execute(schema.observation.insert().values(**row, import_id=1, superseded_by=2))
        connection.execute(schema.observation.insert().values(**row, import_id=2))
    try:
        with engine.begin() as connection:
            connection.execute(schema.observation.insert().values(**row, import_id=2))
    except sa.exc.IntegrityError:
        pass
    else:
        raise AssertionError("a second current row for the same key was accepted")
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(schema.observation)).scalar() == 2


def test_db_upgrade_command_creates_a_sqlite_store(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    result = CliRunner().invoke(app, ["db", "upgrade", "--db", url])
    assert result.exit_code == 0, result.output
    assert all(revision in result.output for revision in head_revisions())
    assert current_revisions(create_engine(url)) == head_revisions()
    again = CliRunner().invoke(app, ["db", "upgrade", "--db", url])
    assert again.exit_code == 0


def test_ensure_schema_creates_an_empty_database_but_refuses_an_old_one(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'a.db'}")
    ensure_schema(engine)
    assert current_revisions(engine) == head_revisions()
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM alembic_version"))
        connection.execute(sa.text("INSERT INTO alembic_version (version_num) VALUES ('old')"))
    try:
        ensure_schema(engine)
    except RuntimeError as error:
        assert "carelens db upgrade" in str(error)
    else:
        raise AssertionError("an out-of-date schema was accepted")


def test_database_url_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv(DB_ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert database_url() == f"sqlite:///{tmp_path / 'carelens' / 'carelens.db'}"
    monkeypatch.setenv(DB_ENV_VAR, "postgresql://me@db.example/carelens")
    assert database_url() == "postgresql+psycopg://me@db.example/carelens"
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_audit_detail_stores_nan_as_null_and_odd_values_as_text(engine):
    """An empty cell read by pandas (NaN) or a date in an audit detail is stored on every database."""
    import math

    from carelens.store.repository import audit

    with engine.begin() as connection:
        audit(connection, "tester", "test.nan", "thing", "1", {"owner": math.nan, "due": dt.date(2024, 5, 1)})
        stored = connection.execute(
            sa.select(schema.audit_event.c.detail).where(schema.audit_event.c.action == "test.nan")
        ).scalar_one()
    assert stored == {"owner": None, "due": "2024-05-01"}


def test_selection_rows_not_assessed_survive_a_downgrade_and_upgrade_of_the_systems_branch(engine):
    """systems_0002 lets a place not assessed have no rank; going back to systems_0001 (rank required)
    numbers those after the ranked places, in code order, and the upgrade brings the schema back."""
    from alembic import command

    from carelens.store.migrate import alembic_config, upgrade
    from carelens.store.schema_systems import systems_direction, systems_selection
    from carelens.store.testing import seed_import, seed_organisations

    now = dt.datetime(2017, 8, 1, tzinfo=dt.UTC)
    with engine.begin() as connection:
        seed_organisations(
            connection,
            [{"code": c, "name": c, "kind": "place"} for c in ("A", "B", "C", "D")],
            seed_import(connection),
        )
        connection.execute(
            systems_direction.insert().values(
                id=1,
                reference="R",
                directed_by="x",
                power="s48",
                scope="s",
                directed_on=dt.date(2017, 8, 1),
                budget_gbp=1,
                cost_per_review_gbp=1,
                fixed_cost_gbp=0,
                user_name="u",
                recorded_at=now,
            )
        )
        connection.execute(
            systems_selection.insert(),
            [
                {
                    "direction_id": 1,
                    "place_code": code,
                    "period": dt.date(2017, 4, 1),
                    "rank": rank,
                    "score": None if rank is None else 1.0 / rank,
                    "indicators_scored": 0 if rank is None else 5,
                    "selected": False,
                    "detail": {},
                }
                for code, rank in (("B", 1), ("D", 2), ("C", None), ("A", None))
            ],
        )
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "systems_0001")
    with engine.connect() as connection:
        ranks = connection.execute(
            sa.text("SELECT place_code, rank FROM systems_selection ORDER BY rank")
        ).all()
    assert [tuple(r) for r in ranks] == [("B", 1), ("D", 2), ("A", 3), ("C", 4)]
    assert upgrade(engine) == head_revisions()
