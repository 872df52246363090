"""Rating history on SQLite and PostgreSQL: departures need a rationale and an approver, every write is
audited in the same transaction, and the rating of anything at any date can be asked for."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from carelens.assess.history import history, rating_at, ratings_at, record_rating
from carelens.errors import InputError
from carelens.store import schema
from carelens.store.schema_assess import assessed_rating
from carelens.store.testing import seed_import, seed_organisations, seed_ratings

G, R, O = "Good", "Requires improvement", "Outstanding"  # noqa: E741


def setup_org(engine) -> None:
    """A care home with a published Outstanding overall rating reported on 1 May 2019."""
    with engine.begin() as connection:
        import_id = seed_import(connection, "cqc-ratings", "loader")
        seed_organisations(connection, [dict(code="1-HOME", kind="care_home", name="Home")], import_id)
        seed_ratings(connection, [dict(org_code="1-HOME", rating=O)], import_id, dt.date(2019, 5, 1))


def count(engine, table) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_departures_refused_without_rationale_and_stored_attributed_audited_with_one(engine):
    setup_org(engine)
    common = dict(
        org_code="1-HOME",
        key_question="Overall",
        rule_rating=R,
        method="rules:adult-social-care",
        effective_date=dt.date(2020, 9, 30),
        user="inspector.ann",
        published=True,
    )
    with pytest.raises(
        InputError, match=r"departure from the rules .* refused: a written rationale is required"
    ):
        record_rating(engine, rating=G, approved_by="chief.bob", **common)
    with pytest.raises(InputError, match="an approver is required"):
        record_rating(engine, rating=G, rationale="Effective and Responsive RI are historic", **common)
    with pytest.raises(InputError, match="someone other than its author"):
        record_rating(engine, rating=G, rationale="why", approved_by="inspector.ann", **common)
    with pytest.raises(InputError, match="rationale"):
        record_rating(engine, rating=G, rationale="   ", approved_by="chief.bob", **common)
    assert count(engine, assessed_rating) == 0 and count(engine, schema.audit_event) == 0  # nothing written

    rationale = "Effective and Responsive RI date from 2019; the focused inspection found them resolved"
    new_id = record_rating(engine, rating=G, rationale=rationale, approved_by="chief.bob", **common)
    with engine.connect() as connection:
        row = (
            connection.execute(sa.select(assessed_rating).where(assessed_rating.c.id == new_id))
            .mappings()
            .one()
        )
        event = connection.execute(sa.select(schema.audit_event)).mappings().one()
    assert (row["rating"], row["rule_rating"], row["departure"]) == (G, R, True)
    assert (row["rationale"], row["approved_by"], row["recorded_by"]) == (
        rationale,
        "chief.bob",
        "inspector.ann",
    )
    assert (event["action"], event["entity"], event["entity_key"], event["user_name"]) == (
        "rating.departure",
        "assessed_rating",
        str(new_id),
        "inspector.ann",
    )
    assert event["detail"]["rationale"] == rationale and event["detail"]["approved_by"] == "chief.bob"

    follows = record_rating(engine, rating=R, **{**common, "effective_date": dt.date(2021, 3, 1)})
    with engine.connect() as connection:
        row = (
            connection.execute(sa.select(assessed_rating).where(assessed_rating.c.id == follows))
            .mappings()
            .one()
        )
        actions = connection.execute(
            sa.select(schema.audit_event.c.action).order_by(schema.audit_event.c.id)
        ).scalars()
        assert list(actions) == ["rating.departure", "rating.published"]
    assert row["departure"] is False and row["supersedes_id"] == new_id


def test_the_database_refuses_a_departure_without_rationale(engine):
    setup_org(engine)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(
            assessed_rating.insert().values(
                org_code="1-HOME",
                level="location",
                service="Overall",
                key_question="Overall",
                rating=G,
                rule_rating=R,
                method="judgement",
                effective_date=dt.date(2020, 1, 1),
                departure=True,
                published=False,
                recorded_by="x",
                recorded_at=dt.datetime.now(dt.UTC),
            )
        )


def test_rating_at_any_date_from_history_and_published(engine):
    setup_org(engine)
    for rating, day in ((G, dt.date(2020, 1, 15)), (R, dt.date(2021, 6, 1))):
        record_rating(
            engine,
            org_code="1-HOME",
            key_question="Overall",
            rating=rating,
            rule_rating=rating,
            method="rules:adult-social-care",
            effective_date=day,
            user="inspector.ann",
        )
    record_rating(
        engine,
        org_code="1-HOME",
        key_question="Safe",
        rating=R,
        rule_rating=None,
        method="judgement",
        effective_date=dt.date(2021, 6, 1),
        user="inspector.ann",
    )
    assert rating_at(engine, "1-HOME", dt.date(2019, 1, 1)) is None
    published = rating_at(engine, "1-HOME", dt.date(2019, 12, 31))
    assert (published["rating"], published["source"]) == (O, "published")
    assert rating_at(engine, "1-HOME", dt.date(2019, 12, 31), include_published=False) is None
    assert rating_at(engine, "1-HOME", dt.date(2020, 1, 15))["rating"] == G
    assert rating_at(engine, "1-HOME", dt.date(2021, 5, 31))["rating"] == G
    assert rating_at(engine, "1-HOME", dt.date(2021, 6, 1))["rating"] == R
    assert rating_at(engine, "1-HOME", dt.date(2021, 6, 1), key_question="Safe")["rating"] == R
    everything = ratings_at(engine, dt.date(2022, 1, 1))
    assert sorted(everything["key_question"]) == ["Overall", "Safe"]
    assert list(history(engine, "1-HOME")["rating"]) == [G, R, R]


def test_assess_migration_builds_the_declared_table(engine):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    assert "assessed_rating" in sa.inspect(engine).get_table_names()
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), schema.metadata)
    assert [d for d in differences if "assessed_rating" in repr(d)] == []
