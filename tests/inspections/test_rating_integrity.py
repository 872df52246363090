"""Rating integrity, on SQLite and PostgreSQL (issue 18's reproductions): the rules' rating is computed
by carelens, a departure is published only with the approval of a chief inspector of the sector who did
not propose it, "current" is the published rating with the latest effective date, a draft never hides
the published rating, and an organisation not in the store is named as bad input."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from carelens.errors import InputError
from carelens.services import Forbidden, NotFound
from carelens.services.assessment import approve_rating, assessed_ratings, ratings_at_date, record_rating
from carelens.store import schema

from .seed import CHIEF, FINDINGS, HOME, INSPECTOR, OTHER_CHIEF, PROVIDER_STAFF, PUBLIC, SECTOR, seed

D1, D2 = dt.date(2024, 3, 1), dt.date(2024, 9, 1)


def publish(engine, question: str, rating: str, on: dt.date, rationale: str | None = None) -> int:
    draft = record_rating(
        engine, INSPECTOR, HOME, key_question=question, rating=rating, effective_date=on, rationale=rationale
    )
    return approve_rating(engine, CHIEF, draft)


def publish_all(engine, on: dt.date) -> None:
    for question, rating in FINDINGS.items():
        publish(engine, question, rating, on)


def current(engine, actor, question="Overall"):
    rows = assessed_ratings(engine, actor, HOME, question).items
    return [(r["rating"], r["effective_date"], r["published"]) for r in rows]


def test_an_earlier_effective_date_never_displaces_a_later_published_rating(engine):
    """Reproduction: a rating recorded with an earlier effective date displaced a later one as current."""
    seed(engine)
    publish_all(engine, D2)
    publish(engine, "Overall", "Good", D2)
    with pytest.raises(
        InputError, match=r"2024-03-01 is before the published Overall rating of 1-HOME effective 2024-09-01"
    ):
        record_rating(engine, INSPECTOR, HOME, rating="Good", effective_date=D1)
    assert current(engine, PUBLIC) == [("Good", D2.isoformat(), True)]


def test_a_draft_never_hides_the_published_rating(engine):
    """Reproduction: a draft made the published rating vanish for the public and providers."""
    seed(engine)
    publish_all(engine, D1)
    publish(engine, "Overall", "Good", D1)
    draft = record_rating(
        engine, INSPECTOR, HOME, key_question="Safe", rating="Inadequate", effective_date=D2
    )
    for actor in (PUBLIC, PROVIDER_STAFF):
        assert current(engine, actor, "Safe") == [("Requires improvement", D1.isoformat(), True)]
        at = {r["key_question"]: r["rating"] for r in ratings_at_date(engine, actor, HOME, D2)}
        assert at["Safe"] == "Requires improvement"
    # those who may see drafts see the published rating and the pending draft beside it
    assert current(engine, CHIEF, "Safe") == [
        ("Inadequate", D2.isoformat(), False),
        ("Requires improvement", D1.isoformat(), True),
    ]
    approve_rating(engine, CHIEF, draft)
    assert current(engine, PUBLIC, "Safe") == [("Inadequate", D2.isoformat(), True)]


def test_the_rules_rating_is_computed_and_a_departure_needs_a_different_chief_inspector(engine):
    """Reproduction: a departure was accepted with any free-text approver; the rules' rating came from
    the caller. Now the rules are applied to the key-question ratings held, and only a chief inspector of
    the sector who did not propose it can publish a departure."""
    seed(engine)
    publish_all(engine, D1)  # Safe RI, the rest Good: the rules give Good overall
    with pytest.raises(InputError, match="rationale"):
        record_rating(engine, INSPECTOR, HOME, rating="Outstanding", effective_date=D1)
    with pytest.raises(InputError, match="the rules give Good"):
        record_rating(
            engine, INSPECTOR, HOME, rating="Good", effective_date=D1, expected_rule_rating="Outstanding"
        )
    draft = record_rating(
        engine, INSPECTOR, HOME, rating="Outstanding", effective_date=D1, rationale="exceptional care"
    )
    with pytest.raises(NotFound):
        approve_rating(engine, OTHER_CHIEF, draft)  # another sector's chief inspector: not even in reach
    with pytest.raises(Forbidden):
        approve_rating(engine, INSPECTOR, draft)
    own = record_rating(engine, CHIEF, HOME, rating="Outstanding", effective_date=D1, rationale="mine")
    with pytest.raises(Forbidden, match="second person"):
        approve_rating(engine, CHIEF, own)
    published = approve_rating(
        engine,
        CHIEF,
        record_rating(
            engine, INSPECTOR, HOME, rating="Outstanding", effective_date=D1, rationale="exceptional care"
        ),
    )
    with engine.connect() as connection:
        row = (
            connection.execute(sa.text(f"select * from assessed_rating where id = {published}"))
            .mappings()
            .one()
        )
    assert (row["rule_rating"], row["departure"], row["proposed_by"], row["approved_by"]) == (
        "Good",
        True,
        "ann",
        "chief",
    )
    with pytest.raises(InputError, match="cannot rate it overall"):
        record_rating(engine, CHIEF, "1-OTHER", rating="Good", effective_date=D1)  # no key questions held


def test_cli_rate_record_names_an_organisation_not_in_the_store(stores, tmp_path):
    """Reproduction: `rate record NOSUCH --rating Good` exited 1 with a raw IntegrityError."""
    from carelens.cli import app

    engine = stores.new()
    seed(engine)
    url = engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        app, ["rate", "record", "NOSUCH", "--rating", "Good", "--date", "2024-01-01", "--db", url]
    )
    assert result.exit_code == 2, result.output
    assert "no organisation 'NOSUCH' in the store" in result.output
    assert "IntegrityError" not in result.output
    # and the removed free-text approver is refused by the command line itself
    result = CliRunner().invoke(
        app,
        [
            "rate",
            "record",
            HOME,
            "--rating",
            "Good",
            "--date",
            "2024-01-01",
            "--approved-by",
            "x",
            "--db",
            url,
        ],
    )
    assert result.exit_code == 2
    audit = schema.audit_event
    with engine.connect() as connection:  # nothing rated (the store's local administrator was made, audited)
        rated = sa.select(sa.func.count()).select_from(audit).where(audit.c.entity != "app_user")
        assert connection.execute(rated).scalar_one() == 0
    engine.dispose()
    assert SECTOR
