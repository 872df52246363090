"""NHS trust ratings from their locations' ratings: the published rules (levels 5 and 6), recorded with the
rule and the location ratings they came from, published ones only, shown to the public only when published."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from carelens.assess.history import record_rating
from carelens.assess.providers import METHOD, RULE, record_trust_ratings, trust_ratings
from carelens.assess.rules import nhs_trust, trust_from_locations
from carelens.model.access import Actor, Role
from carelens.services.assessment import provider_ratings
from carelens.services.organisations import organisation_profile
from carelens.services.reach import reach
from carelens.store import schema
from carelens.store.schema_assess import assessed_rating
from carelens.store.testing import seed_import, seed_organisations, seed_ratings

QUESTIONS = ("Safe", "Effective", "Caring", "Responsive", "Well-led")


def _locations(ratings: dict[str, tuple[str, ...]], provider: str = "T1") -> pd.DataFrame:
    return pd.DataFrame(
        [
            (provider, location, question, rating)
            for location, row in ratings.items()
            for question, rating in zip(QUESTIONS, row, strict=True)
        ],
        columns=["provider_id", "location_id", "key_question", "rating"],
    )


def test_trust_key_questions_and_overall_follow_the_principles():
    locations = _locations(
        {
            "L1": ("Requires improvement", "Good", "Outstanding", "Requires improvement", "Good"),
            "L2": ("Good", "Good", "Outstanding", "Requires improvement", "Inadequate"),
        }
    )
    questions, overall = trust_from_locations(locations)
    rated = dict(zip(questions["key_question"], questions["rating"], strict=True))
    # 1-3 ratings: one RI among two stays Good, two RI is RI, one Outstanding is enough (x_table)
    assert rated == {
        "Safe": "Good",
        "Effective": "Good",
        "Caring": "Outstanding",
        "Responsive": "Requires improvement",
        "Well-led": "Not rated",  # the trust-level well-led assessment, never aggregated: none given
    }
    assert (
        "no trust-level well-led assessment"
        in questions.set_index("key_question").at["Well-led", "explanation"]
    )
    assert overall["rating"].item() == "Good"  # four key questions: one RI, one Outstanding
    with_well_led = trust_from_locations(
        locations, pd.DataFrame({"provider_id": ["T1"], "well_led": ["Inadequate"]})
    )
    assert with_well_led[1]["rating"].item() == "Requires improvement"  # any Inadequate -> at best RI


def test_same_levels_as_the_full_trust_rules():
    services = pd.DataFrame(
        [
            ("T1", location, service, question, rating)
            for location, service, ratings in (
                ("L1", "surgery", ("Good", "Good", "Good", "Requires improvement", "Good")),
                ("L1", "medicine", ("Requires improvement", "Good", "Outstanding", "Good", "Good")),
                ("L2", "surgery", ("Inadequate", "Requires improvement", "Good", "Good", "Good")),
            )
            for question, rating in zip(QUESTIONS, ratings, strict=True)
        ],
        columns=["provider_id", "location_id", "service", "key_question", "rating"],
    )
    full = nhs_trust(services)
    questions, overall = trust_from_locations(
        full.location_key_question[["provider_id", "location_id", "key_question", "rating"]]
    )
    assert questions["rating"].tolist() == full.trust_key_question["rating"].tolist()
    assert overall["rating"].tolist() == full.trust["rating"].tolist()


@pytest.fixture
def trust_store(engine):
    """Trust T1 with locations L1, L2 (published ratings) and L3 (only a proposal); trust T2 unrated."""
    on = dt.date(2020, 6, 1)
    with engine.begin() as c:
        import_id = seed_import(c)
        seed_organisations(
            c,
            [
                dict(code="T1", name="Trust one", kind="nhs_trust"),
                dict(code="T2", name="Trust two", kind="nhs_trust"),
                *(dict(code=f"L{i}", name=f"Hospital {i}", kind="location") for i in (1, 2, 3)),
            ],
            import_id,
        )
        c.execute(
            schema.org_relationship.insert(),
            [
                dict(kind="provider_location", subject_code="T1", object_code=f"L{i}", import_id=import_id)
                for i in (1, 2, 3)
            ],
        )
        ratings = {
            "L1": ("Requires improvement", "Good", "Outstanding", "Requires improvement", "Good"),
            "L2": ("Good", "Good", "Outstanding", "Requires improvement", "Good"),
        }
        seed_ratings(
            c,
            [
                dict(org_code=loc, key_question=q, rating=r, report_date=on - dt.timedelta(days=10 * i))
                for i, (loc, row) in enumerate(ratings.items())
                for q, r in zip(QUESTIONS, row, strict=True)
            ],
            import_id,
        )
        record_rating(  # a proposal: not a rating yet, so not aggregated
            c,
            org_code="L3",
            key_question="Safe",
            rating="Inadequate",
            rule_rating="Inadequate",
            method="rules:nhs-trust",
            effective_date=on,
            user="tester",
        )
    return engine, on


def test_recorded_with_rule_and_inputs_audited_and_idempotent(trust_store):
    engine, on = trust_store
    assert record_trust_ratings(engine, on, "tester") == 5  # Overall + four rated key questions
    with engine.connect() as c:
        rows = (
            c.execute(sa.select(assessed_rating).where(assessed_rating.c.level == "provider"))
            .mappings()
            .all()
        )
        audited = c.execute(
            sa.select(sa.func.count()).where(
                schema.audit_event.c.entity == "assessed_rating", schema.audit_event.c.user_name == "tester"
            )
        ).scalar()
    by_question = {r["key_question"]: r for r in rows}
    overall = by_question["Overall"]
    assert (overall["org_code"], overall["rating"], overall["method"]) == ("T1", "Good", METHOD)
    assert overall["published"] and not overall["departure"] and overall["rule_rating"] == "Good"
    assert overall["effective_date"] == on  # the newest location rating it came from
    assert overall["detail"]["rule"] == RULE and overall["detail"]["locations"] == 2
    assert overall["detail"]["ratings"] == 10
    assert {b["location_id"] for b in overall["detail"]["based_on"]} == {"L1", "L2"}  # not L3's proposal
    assert by_question["Responsive"]["rating"] == "Requires improvement"
    assert len(by_question["Safe"]["detail"]["based_on"]) == 2
    assert audited == 1 + 5  # the proposal, then the five trust ratings
    assert record_trust_ratings(engine, on, "tester") == 0  # nothing new
    assert record_trust_ratings(engine, on - dt.timedelta(days=400), "tester") == 0  # no ratings then


@pytest.mark.parametrize("role", list(Role))
def test_published_trust_ratings_are_on_everyone_s_profile_proposals_only_for_the_entitled(trust_store, role):
    engine, on = trust_store
    record_trust_ratings(engine, on, "tester")
    record_rating(  # a later proposal for the trust overall, e.g. after an inspection
        engine,
        org_code="T1",
        level="provider",
        key_question="Overall",
        rating="Requires improvement",
        rule_rating="Requires improvement",
        method="inspection:proposed",
        effective_date=on + dt.timedelta(days=30),
        user="tester",
    )
    actor = Actor(
        "someone", role, frozenset({"T1"}) if role in (Role.PROVIDER, Role.INSPECTOR) else frozenset()
    )
    profile = organisation_profile(engine, actor, "T1")
    overall = next(r for r in profile["provider_ratings"] if r["key_question"] == "Overall")
    with engine.connect() as c:
        entitled = reach(c, actor, actor.rules.unpublished_ratings).includes("T1", "hospitals")
    sees_proposal = overall["rating"] == "Requires improvement"
    assert sees_proposal == entitled and overall["published"] == (not entitled)
    if not sees_proposal:
        assert overall["rating"] == "Good" and overall["published"]
        assert "Trust one is rated Good overall" in profile["explanation"]
        assert "aggregated from 10 ratings of 2 of its locations" in profile["explanation"]
    assert overall["rule"] in (RULE, None)
    assert provider_ratings(engine, actor, "T2") == []


def test_no_location_ratings_no_trust_rating():
    assert trust_ratings(
        pd.DataFrame(columns=["provider_id", "location_id", "key_question", "rating", "date"])
    ).empty


def test_cli_rate_trusts_records_once_and_refuses_a_bad_date(trust_store):
    from typer.testing import CliRunner

    from carelens.cli import app

    engine, on = trust_store
    url = engine.url.render_as_string(hide_password=False)
    first = CliRunner().invoke(app, ["rate", "trusts", "--on", on.isoformat(), "--db", url])
    assert first.exit_code == 0, first.output
    assert f"recorded 5 trust ratings aggregated from location ratings in effect on {on}" in first.output
    again = CliRunner().invoke(app, ["rate", "trusts", "--on", on.isoformat(), "--db", url])
    assert "recorded 0 trust ratings" in again.output
    bad = CliRunner().invoke(app, ["rate", "trusts", "--on", "June", "--db", url])
    assert bad.exit_code == 2 and "--on" in bad.output


def test_a_trust_overall_without_the_well_led_assessment_is_never_presented_as_complete(trust_store):
    """Issue 14: a partial set of key questions is never rated as complete. T1's overall rests on four key
    questions (no trust-level well-led assessment): it is recorded, marked incomplete, and its
    explanation and the profile say so."""
    engine, on = trust_store
    record_trust_ratings(engine, on, "tester")
    profile = organisation_profile(engine, Actor("anyone", Role.PUBLIC), "T1")
    overall = next(r for r in profile["provider_ratings"] if r["key_question"] == "Overall")
    assert overall["rating"] == "Good" and overall["complete"] is False
    assert overall["explanation"].endswith(
        "Rated on four of five key questions (not rated: Well-led): not a complete rating, which needs "
        "at least five."
    )
    assert (
        "of its locations by the NHS trust rating principles (CQC), levels 5 and 6: each trust key question "
        "from its locations' ratings for that question, the trust overall from the trust key questions; "
        "Well-led from the trust-level well-led assessment. It is not a complete rating: it rests on 4 of "
        "the 5 key questions (well-led not rated)."
    ) in profile["explanation"]
    assert all(r["complete"] for r in profile["provider_ratings"] if r["key_question"] != "Overall")
