"""Random sequences of an inspection's steps and of rating proposals and approvals, by random actors
(Hypothesis stateful testing, on SQLite), asserting after every step:

- no published rating without an approver different from its proposer;
- no draft visible to a role that may not see it, neither directly nor by its effect on "current"
  (what the public and the provider see is exactly the published ratings);
- the audit log accounts for every change: each rating row, finding, challenge and report move has its
  audit event, and a refused step writes nothing.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from carelens.errors import InputError
from carelens.services import ServiceError
from carelens.services import inspections as life
from carelens.services.assessment import approve_rating, assessed_ratings, ratings_at_date, record_rating
from carelens.store import schema
from carelens.store.schema_assess import assessed_rating
from carelens.store.schema_plan import plan_accuracy_challenge, plan_finding
from carelens.store.testing import Stores

from .seed import ADMIN, CHIEF, HOME, INSPECTOR, OTHER_CHIEF, PROVIDER_STAFF, PUBLIC, SECOND, seed

ACTORS = st.sampled_from([INSPECTOR, SECOND, CHIEF, OTHER_CHIEF, PROVIDER_STAFF, PUBLIC, ADMIN])
RATINGS = st.sampled_from(["Outstanding", "Good", "Requires improvement", "Inadequate"])
QUESTIONS = st.sampled_from(["Safe", "Effective", "Caring", "Responsive", "Well-led", "Overall"])
DAYS = st.integers(min_value=0, max_value=3)


@pytest.fixture(scope="module")
def sqlite_stores(tmp_path_factory):
    factory = Stores("sqlite", tmp_path_factory.mktemp("states"))
    yield factory
    factory.close()


def count(connection, table) -> int:
    return connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


class LifeCycle(RuleBasedStateMachine):
    stores: Stores

    @initialize()
    def store(self):
        self.engine = self.stores.new()
        self.inspection_id = seed(self.engine)
        self.base = dt.date.today()

    def teardown(self):
        self.engine.dispose()

    def attempt(self, step, *args) -> None:
        """Take a step; a refusal must leave the store as it was."""
        with self.engine.connect() as connection:
            before = self.snapshot(connection)
        try:
            step(self.engine, *args)
        except (ServiceError, InputError):
            with self.engine.connect() as connection:
                assert self.snapshot(connection) == before

    @staticmethod
    def snapshot(connection) -> tuple:
        return tuple(
            count(connection, t)
            for t in (assessed_rating, plan_finding, plan_accuracy_challenge, schema.audit_event)
        )

    @rule()
    def advance(self):
        """The next step by the one whose step it is (so that sequences reach publication often)."""
        stage = self.stage()
        if stage is None:
            self.attempt(life.approve_plan, CHIEF, 1)
            self.attempt(life.start, INSPECTOR, self.inspection_id)
        elif stage == "open":
            for question in ("Safe", "Effective", "Caring", "Responsive", "Well-led"):
                self.attempt(life.record_finding, SECOND, self.inspection_id, question, "Good", "seen", [])
            self.attempt(life.propose, INSPECTOR, self.inspection_id, None, None)
        elif stage == "proposed":
            self.attempt(life.approve, CHIEF, self.inspection_id)
        elif stage == "approved":
            self.attempt(life.send_draft, SECOND, self.inspection_id)
        elif stage == "sent":
            self.attempt(life.challenge, PROVIDER_STAFF, self.inspection_id, "inaccurate", "Safe")
            for item in life.report(self.engine, CHIEF, self.inspection_id)["challenges"]:
                if item["decision"] is None:
                    self.attempt(
                        life.decide_challenge, CHIEF, self.inspection_id, item["id"], "rejected", "no"
                    )
            self.attempt(life.publish, CHIEF, self.inspection_id)

    def stage(self) -> str | None:
        return (life.report(self.engine, ADMIN, self.inspection_id)["report"] or {}).get("stage")

    @rule(actor=ACTORS)
    def approve_plan(self, actor):
        self.attempt(life.approve_plan, actor, 1)

    @rule(actor=ACTORS)
    def start(self, actor):
        self.attempt(life.start, actor, self.inspection_id)

    @rule(actor=ACTORS, question=QUESTIONS, rating=RATINGS)
    def finding(self, actor, question, rating):
        self.attempt(life.record_finding, actor, self.inspection_id, question, rating, "seen", ["notes"])

    @rule(actor=ACTORS, overall=st.none() | RATINGS, rationale=st.none() | st.just("judgement"))
    def propose(self, actor, overall, rationale):
        self.attempt(life.propose, actor, self.inspection_id, overall, rationale)

    @rule(actor=ACTORS)
    def approve(self, actor):
        self.attempt(life.approve, actor, self.inspection_id)

    @rule(actor=ACTORS)
    def send(self, actor):
        self.attempt(life.send_draft, actor, self.inspection_id)

    @rule(actor=ACTORS)
    def challenge(self, actor):
        self.attempt(life.challenge, actor, self.inspection_id, "inaccurate", None)

    @rule(actor=ACTORS, decision=st.sampled_from(["accepted", "rejected"]), which=st.integers(1, 3))
    def decide(self, actor, decision, which):
        self.attempt(life.decide_challenge, actor, self.inspection_id, which, decision, "because")

    @rule(actor=ACTORS)
    def publish(self, actor):
        self.attempt(life.publish, actor, self.inspection_id)

    @rule(actor=ACTORS, question=QUESTIONS, rating=RATINGS, days=DAYS, rationale=st.none() | st.just("why"))
    def record(self, actor, question, rating, days, rationale):
        on = self.base + dt.timedelta(days=days)
        self.attempt(
            lambda db, a: record_rating(
                db, a, HOME, key_question=question, rating=rating, effective_date=on, rationale=rationale
            ),
            actor,
        )

    @rule(actor=ACTORS, rating_id=st.integers(1, 30))
    def approve_rating(self, actor, rating_id):
        self.attempt(approve_rating, actor, rating_id)

    @invariant()
    def published_ratings_have_a_second_person(self):
        t = assessed_rating
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(t).where(t.c.published.is_(True))).mappings().all()
        for row in rows:
            assert row["approved_by"] and row["approved_by"] != (row["proposed_by"] or row["recorded_by"]), (
                dict(row)
            )

    @invariant()
    def no_draft_reaches_the_public_or_the_provider(self):
        t = assessed_rating
        with self.engine.connect() as connection:
            published = (
                connection.execute(sa.select(t).where(t.c.published.is_(True), t.c.org_code == HOME))
                .mappings()
                .all()
            )
        expected = {}
        for row in sorted(published, key=lambda r: (r["effective_date"], r["id"])):
            expected[row["key_question"]] = (row["rating"], row["effective_date"].isoformat())
        far = self.base + dt.timedelta(days=10)
        for actor in (PUBLIC, PROVIDER_STAFF):
            shown = assessed_ratings(self.engine, actor, HOME, page_size=1000).items
            assert all(r["published"] for r in shown)
            assert {r["key_question"]: (r["rating"], r["effective_date"]) for r in shown} == expected
            for history in assessed_ratings(self.engine, actor, HOME, history=True, page_size=1000).items:
                assert history["published"]
            at = {
                r["key_question"]: (r["rating"], r["date"])
                for r in ratings_at_date(self.engine, actor, HOME, far)
            }
            assert at == expected

    @invariant()
    def the_audit_log_accounts_for_every_change(self):
        event = schema.audit_event
        with self.engine.connect() as connection:
            actions = [r.action for r in connection.execute(sa.select(event.c.action))]
            ratings = count(connection, assessed_rating)
            findings = count(connection, plan_finding)
            challenges = count(connection, plan_accuracy_challenge)
        assert sum(a.startswith("rating.") for a in actions) == ratings
        assert actions.count("inspection.finding") == findings
        assert actions.count("inspection.challenged") == challenges


def test_inspection_and_rating_life_cycle_invariants(sqlite_stores):
    LifeCycle.stores = sqlite_stores
    machine = LifeCycle.TestCase
    machine.settings = settings(
        max_examples=25, stateful_step_count=30, deadline=None, suppress_health_check=list(HealthCheck)
    )
    machine().runTest()
