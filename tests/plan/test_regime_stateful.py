"""The failure regime's invariants under random sequences (Hypothesis stateful testing): transitions of
a provider case and a commissioner case, ratings published (or left as drafts), re-inspections,
commissioner assessments and recovery actions, in any order. After every step: a case never left
special measures without a completed re-inspection since entry and published ratings, dated on or
after it began, no longer Inadequate overall or on any key question Inadequate at entry; an
intervention never closed while the latest assessment was inadequate or an action open; and the audit
log holds exactly one event per transition and per action change."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from carelens.errors import InputError
from carelens.plan import regime
from carelens.store import schema
from carelens.store.engine import create_engine
from carelens.store.migrate import ensure_schema

from .regime_store import add_org, assess, publish, reinspect

PROVIDER, COMMISSIONER = "1-000000042", "QXX"
START = dt.date(2024, 1, 1)
RATINGS = ["Inadequate", "Requires improvement", "Good"]
PROVIDER_EVENTS = sorted(regime.load_regimes()["provider"].transitions)
COMMISSIONER_EVENTS = sorted(regime.load_regimes()["commissioner"].transitions)


class RegimeMachine(RuleBasedStateMachine):
    """A fresh SQLite store per run; the machine's own record of what was published, inspected and
    assessed is the oracle the store's decisions are checked against."""

    def __init__(self) -> None:
        super().__init__()
        self.engine = create_engine("sqlite://")
        ensure_schema(self.engine)
        add_org(self.engine, PROVIDER)
        add_org(self.engine, COMMISSIONER, "commissioner", "commissioning")
        self.day = START
        self.published: dict[str, list[tuple[dt.date, str]]] = {}  # key question -> (date, rating)
        self.inspections: list[dt.date] = []
        self.assessments: list[tuple[int, str]] = []  # (year, overall), in recording order
        self.open_actions: set[int] = set()
        self.changes = 0  # transitions (opening included) and action changes that succeeded
        self.provider = self._open("provider", PROVIDER)
        self.commissioner = self._open("commissioner", COMMISSIONER)

    def _open(self, name: str, code: str) -> int:
        case_id = regime.open_case(self.engine, name, code, "chief-1", "opened", self.day)
        self.changes += 1
        return case_id

    def _tick(self, days: int) -> dt.date:
        self.day += dt.timedelta(days=days)
        return self.day

    def _current(self, key_question: str) -> tuple[dt.date, str] | None:
        rows = [r for r in self.published.get(key_question, []) if r[0] <= self.day]
        return max(rows, key=lambda r: r[0]) if rows else None

    @rule(
        days=st.integers(0, 40),
        overall=st.sampled_from(RATINGS),
        safe=st.sampled_from(RATINGS),
        draft=st.booleans(),
    )
    def rate(self, days, overall, safe, draft):
        day = self._tick(days)
        publish(self.engine, PROVIDER, day, overall, published=not draft, Safe=safe)
        if not draft:
            for key_question, rating in (("Overall", overall), ("Safe", safe)):
                self.published.setdefault(key_question, []).append((day, rating))

    @rule(days=st.integers(1, 40))
    def inspect(self, days):
        self.inspections.append(self._tick(days))
        reinspect(self.engine, PROVIDER, self.day, days=1)

    @rule(overall=st.sampled_from(["inadequate", "requires_improvement", "good"]))
    def assess(self, overall):
        assess(self.engine, COMMISSIONER, self.day.year, overall)
        self.assessments.append((self.day.year, overall))

    @rule()
    def add_action(self):
        case = regime.cases(self.engine, COMMISSIONER).iloc[-1]
        try:
            action = regime.add_action(self.engine, int(case["id"]), "plan", "owner", self.day, "board-1")
        except InputError:
            assert case["closed"]
            return
        self.open_actions.add(action)
        self.changes += 1

    @precondition(lambda self: self.open_actions)
    @rule(data=st.data())
    def complete_action(self, data):
        action = data.draw(st.sampled_from(sorted(self.open_actions)))
        regime.complete_action(self.engine, action, "board-1", "done", self.day)
        self.open_actions.discard(action)
        self.changes += 1

    def _move(self, case_id: int, event: str, days: int) -> dict | None:
        before = regime.cases(self.engine).set_index("id").loc[case_id]
        day = self._tick(days)
        try:
            case = regime.transition(self.engine, case_id, event, "chief-1", "step", day)
        except InputError as refused:
            assert all(p.reason for p in refused.problems)  # every refusal says why
            assert regime.cases(self.engine).set_index("id").loc[case_id]["state"] == before["state"]
            return None
        self.changes += 1
        return {"from": before["state"], **case}

    @rule(event=st.sampled_from(PROVIDER_EVENTS), days=st.integers(0, 30))
    def move_provider(self, event, days):
        moved = self._move(self.provider, event, days)
        if moved and event == "exit_special_measures":
            self._check_exit(self.provider)

    @rule(event=st.sampled_from(COMMISSIONER_EVENTS), days=st.integers(0, 30))
    def move_commissioner(self, event, days):
        open_before = set(self.open_actions)
        moved = self._move(self.commissioner, event, days)
        if moved and event == "exit_intervention":
            assert self.assessments and self.assessments[-1][1] != "inadequate"
            assert not open_before

    def _check_exit(self, case_id: int) -> None:
        history = regime.transitions(self.engine, case_id)
        entered = history[history["event"] == "enter_special_measures"]["effective_date"].max()
        visits = [d for d in self.inspections if entered <= d <= self.day]
        assert visits, "left special measures without a re-inspection since entry"
        failing = ["Overall"] + [
            kq
            for kq in ("Safe",)
            if max((r for r in self.published.get(kq, []) if r[0] <= entered), default=(None, None))[1]
            == "Inadequate"
        ]
        for key_question in failing:
            current = self._current(key_question)
            assert current is not None and current[1] != "Inadequate"
            assert current[0] >= min(visits)

    @rule()
    def reopen(self):
        """Open a new case once one is closed (so sequences go on after an exit)."""
        for name, code in (("provider", PROVIDER), ("commissioner", COMMISSIONER)):
            if regime.cases(self.engine, code, open_only=True).empty:
                case_id = self._open(name, code)
                if name == "provider":
                    self.provider = case_id
                else:
                    self.commissioner = case_id
                    self.open_actions.clear()

    @invariant()
    def audit_log_accounts_for_every_change(self):
        with self.engine.connect() as connection:
            regime_events = connection.execute(
                sa.select(sa.func.count())
                .select_from(schema.audit_event)
                .where(schema.audit_event.c.action.like("regime.%"))
            ).scalar()
        assert regime_events == self.changes

    def teardown(self):
        self.engine.dispose()


RegimeMachine.TestCase.settings = settings(
    max_examples=15,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_regime_invariants = RegimeMachine.TestCase
