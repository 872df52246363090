"""The failure regime: explicit state machines (``config/plan/regime.yaml``) for providers (requirement
notice, warning notice, conditions, special measures, cancellation), NHS trusts (oversight segments and
the Recovery Support Programme) and commissioners (national-board intervention, adopting the open
interventions decided by ``carelens.fund``).

Every transition records who, when and why, with its audit event in the same transaction; a transition
the machine does not allow, or whose guard fails, is refused (:class:`carelens.errors.Refused`) saying
in words why, and nothing is written. Guards rest on evidence the store holds, never on the caller's
word: leaving special measures needs a completed re-inspection and published ratings no longer
Inadequate (:func:`reinspection_refusals`); closing a commissioner intervention needs a later
assessment no longer inadequate and every recovery action done (:func:`recovery_refusals`). Cases are
opened only for organisations in the store. Deadlines come from the machine; :func:`overdue` reports
missed ones and :func:`escalate` takes an overdue case to its next step (``escalate:`` in the machine),
cancellation of registration being the last.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from carelens.assess.scale import KEY_QUESTIONS, OVERALL
from carelens.errors import InputError, Problem, Refused
from carelens.model.dates import date_in_words as _day
from carelens.plan.config import Regime, load_regimes
from carelens.store import repository, schema
from carelens.store.engine import reading, writing
from carelens.store.schema_assess import assessed_rating
from carelens.store.schema_fund import fund_commissioner_assessment
from carelens.store.schema_plan import (
    plan_inspection,
    plan_recovery_action,
    plan_regime_case,
    plan_regime_transition,
)

SOURCE = "regime"
OPENED = "(none)"
"""``from_state`` of the transition that opens a case."""
STILL_FAILING = ("inadequate", "not assessed")
"""Commissioner assessments (``carelens.fund``) that do not end an intervention."""
ACTION_STATUSES = ("open", "done")


def _regime(name: str, regimes: dict[str, Regime] | None) -> Regime:
    regimes = regimes or load_regimes()
    if name not in regimes:
        raise InputError(
            Problem(SOURCE, None, "regime", f"unknown regime {name!r}; one of: {', '.join(regimes)}")
        )
    return regimes[name]


def _require(user: str, reason: str) -> None:
    problems = []
    if not (user or "").strip():
        problems.append(Problem(SOURCE, None, "user", "who makes the change must be named"))
    if not (reason or "").strip():
        problems.append(Problem(SOURCE, None, "reason", "why must be given"))
    if problems:
        raise InputError(problems)


def _refused(field: str, reason: str) -> Refused:
    return Refused(Problem(SOURCE, None, field, reason))


def _overall_rating(connection: sa.Connection, org_code: str, on: dt.date) -> tuple[str | None, object]:
    """The organisation's overall rating in effect on ``on`` (carelens.assess), and its date."""
    from carelens.assess.history import ratings_at

    table = ratings_at(connection, on, [org_code])
    overall = table[(table["service"] == "Overall") & (table["key_question"] == "Overall")]
    if overall.empty:
        return None, None
    row = overall.sort_values("date").iloc[-1]
    return row["rating"], row["date"]


def open_case(
    bind: sa.Engine | sa.Connection,
    regime: str,
    org_code: str,
    user: str,
    reason: str,
    at: dt.date | None = None,
    fund_intervention_id: int | None = None,
    regimes: dict[str, Regime] | None = None,
) -> int:
    """Open a case in its regime's initial state for an organisation in the store (one open case per
    organisation and regime)."""
    machine = _regime(regime, regimes)
    _require(user, reason)
    at = at or dt.date.today()
    with writing(bind) as connection:
        org = schema.organisation
        if connection.execute(sa.select(org.c.code).where(org.c.code == org_code)).first() is None:
            raise InputError(
                Problem(
                    SOURCE, None, "org_code", f"no organisation {org_code!r} in the store: no case opened"
                )
            )
        c = plan_regime_case
        existing = connection.execute(
            sa.select(c.c.id).where(c.c.regime == regime, c.c.org_code == org_code, c.c.closed.is_(False))
        ).first()
        if existing:
            raise _refused("org_code", f"{org_code} already has open {regime} case {existing.id}")
        now = dt.datetime.now(dt.UTC)
        case_id = int(
            connection.execute(
                c.insert().values(
                    regime=regime,
                    org_code=org_code,
                    state=machine.initial,
                    deadline=None,
                    deadline_action=None,
                    closed=False,
                    fund_intervention_id=fund_intervention_id,
                    opened_by=user,
                    opened_at=now,
                )
            ).inserted_primary_key[0]
        )
        connection.execute(
            plan_regime_transition.insert().values(
                case_id=case_id,
                event="open",
                from_state=OPENED,
                to_state=machine.initial,
                effective_date=at,
                deadline=None,
                reason=reason,
                user_name=user,
                recorded_at=now,
            )
        )
        repository.audit(
            connection,
            user,
            "regime.open",
            "plan_regime_case",
            str(case_id),
            {
                "regime": regime,
                "org_code": org_code,
                "state": machine.initial,
                "reason": reason,
                "effective_date": at,
                "fund_intervention_id": fund_intervention_id,
            },
        )
    return case_id


def _allowed(machine: Regime, state: str) -> list[str]:
    return sorted(e for e, t in machine.transitions.items() if state in t.sources)


def moves_from(
    regime: str, state: str, regimes: dict[str, Regime] | None = None
) -> tuple[list[str], str | None]:
    """The events ``regime``'s machine allows from ``state`` (their guards are checked when one is
    taken), and the event that escalates ``state`` when overdue (None: no step left)."""
    machine = _regime(regime, regimes)
    return _allowed(machine, state), escalation(machine, state)


def transition(
    bind: sa.Engine | sa.Connection,
    case_id: int,
    event: str,
    user: str,
    reason: str,
    at: dt.date | None = None,
    regimes: dict[str, Regime] | None = None,
) -> dict:
    """Apply ``event`` to a case if its machine allows it from the current state (and its rating guard
    holds on ``at``); record who, when and why; set the next deadline. Returns the case as it now is."""
    _require(user, reason)
    at = at or dt.date.today()
    with writing(bind) as connection:
        c = plan_regime_case
        # lock the case row (PostgreSQL) so two concurrent moves cannot both start from the same state
        case = connection.execute(sa.select(c).where(c.c.id == case_id).with_for_update()).mappings().first()
        if case is None:
            raise InputError(Problem(SOURCE, None, "case_id", f"no regime case {case_id}"))
        machine = _regime(case["regime"], regimes)
        state = case["state"]
        allowed = _allowed(machine, state)
        if case["closed"]:
            raise _refused("event", f"case {case_id} is closed ({state}): no transition is allowed")
        if event not in machine.transitions:
            raise InputError(
                Problem(
                    SOURCE,
                    None,
                    "event",
                    f"unknown event {event!r} for the {machine.name} regime; allowed from {state}: {', '.join(allowed) or 'none'}",
                )
            )
        move = machine.transitions[event]
        if state not in move.sources:
            raise _refused(
                "event",
                f"illegal transition: {event!r} is not allowed from {state!r} (only from {', '.join(move.sources)}); allowed from {state}: {', '.join(allowed) or 'none'}",
            )
        t = plan_regime_transition
        last = connection.execute(
            sa.select(sa.func.max(t.c.effective_date)).where(t.c.case_id == case_id)
        ).scalar()
        if last is not None and at < last:
            raise _refused("at", f"{_day(at)} is before the case's last transition ({_day(last)})")
        if move.rating_in or move.rating_not_in:
            rating, rated_on = _overall_rating(connection, case["org_code"], at)
            if (move.rating_in and rating not in move.rating_in) or (
                move.rating_not_in and rating in move.rating_not_in
            ):
                need = (
                    f"in {list(move.rating_in)}" if move.rating_in else f"not in {list(move.rating_not_in)}"
                )
                raise _refused(
                    "event",
                    f"{event!r} needs an overall rating {need}; {case['org_code']}'s rating on {_day(at)} is {rating or 'none'}"
                    + (f" (since {_day(rated_on)})" if rated_on else ""),
                )
        refusals = _guard_refusals(connection, dict(case), move.guard, at)
        if refusals:
            raise Refused(
                [
                    Problem(SOURCE, None, "event", f"{event!r} refused for case {case_id}: {why}")
                    for why in refusals
                ]
            )
        deadline = at + dt.timedelta(days=move.deadline_days) if move.deadline_days else None
        closed = move.target in machine.terminal
        connection.execute(
            c.update()
            .where(c.c.id == case_id)
            .values(
                state=move.target,
                deadline=deadline,
                deadline_action=move.deadline_action if deadline else None,
                closed=closed,
            )
        )
        connection.execute(
            t.insert().values(
                case_id=case_id,
                event=event,
                from_state=state,
                to_state=move.target,
                effective_date=at,
                deadline=deadline,
                reason=reason,
                user_name=user,
                recorded_at=dt.datetime.now(dt.UTC),
            )
        )
        repository.audit(
            connection,
            user,
            f"regime.{event}",
            "plan_regime_case",
            str(case_id),
            {
                "org_code": case["org_code"],
                "from": state,
                "to": move.target,
                "reason": reason,
                "effective_date": at,
                "deadline": deadline,
            },
        )
        return dict(connection.execute(sa.select(c).where(c.c.id == case_id)).mappings().first())


def _guard_refusals(connection: sa.Connection, case: dict, guard: str | None, at: dt.date) -> list[str]:
    """Why the evidence in the store does not allow a guarded move on ``at`` (empty: it does)."""
    if guard == "reinspected":
        return reinspection_refusals(connection, case, at)
    if guard == "recovered":
        return recovery_refusals(connection, case)
    return []


def published_ratings(connection: sa.Connection, org_code: str, on: dt.date) -> dict[str, dict]:
    """The organisation's current published rating of each key question (and Overall) on ``on``, by key
    question: the latest dated of the ratings the regulator published (core ``rating``) and those
    decided here and published (``assessed_rating`` with ``published``); on the same date a rating
    decided here wins, then the later row. Drafts never count. Each value has ``rating`` and ``date``."""
    a, p = assessed_rating, schema.rating
    rows = [
        (r.key_question, r.date, 1, r.id, r.rating)
        for r in connection.execute(
            sa.select(a.c.key_question, a.c.effective_date.label("date"), a.c.id, a.c.rating).where(
                a.c.org_code == org_code,
                a.c.service == OVERALL,
                a.c.published.is_(True),
                a.c.effective_date <= on,
            )
        )
    ]
    rows += [
        (r.key_question, r.date, 0, r.id, r.rating)
        for r in connection.execute(
            sa.select(p.c.key_question, p.c.report_date.label("date"), p.c.id, p.c.rating).where(
                p.c.org_code == org_code, p.c.service == OVERALL, p.c.report_date <= on
            )
        )
    ]
    current: dict[str, dict] = {}
    for key_question, day, _, _, rating in sorted(rows, key=lambda r: (r[1], r[2], r[3])):
        current[key_question] = {"rating": rating, "date": day}
    return current


def _entered_special_measures(connection: sa.Connection, case_id: int) -> dt.date | None:
    t = plan_regime_transition
    return connection.execute(
        sa.select(sa.func.max(t.c.effective_date)).where(
            t.c.case_id == case_id, t.c.event == "enter_special_measures"
        )
    ).scalar()


def reinspection_refusals(connection: sa.Connection, case: dict, at: dt.date) -> list[str]:
    """Why a case may not leave special measures on ``at`` (empty: it may). It needs a completed
    re-inspection that started on or after the day the case entered special measures, and current
    published ratings dated on or after that re-inspection began that are no longer Inadequate
    overall, nor on any key question that was Inadequate (published) when the case entered."""
    code = case["org_code"]
    entered = _entered_special_measures(connection, int(case["id"]))
    if entered is None:
        return [f"case {case['id']} never entered special measures"]
    i = plan_inspection
    visit = connection.execute(
        sa.select(i.c.id, i.c.start_date, i.c.end_date)
        .where(
            i.c.org_code == code,
            i.c.status == "completed",
            i.c.start_date >= entered,
            i.c.end_date <= at,
        )
        .order_by(i.c.end_date.desc(), i.c.id.desc())
        .limit(1)
    ).first()
    if visit is None:
        return [
            f"no completed re-inspection of {code} since it entered special measures on {_day(entered)}"
            f" (needed on or before {_day(at)})"
        ]
    at_entry = published_ratings(connection, code, entered)
    failing = [OVERALL] + [k for k in KEY_QUESTIONS if at_entry.get(k, {}).get("rating") == "Inadequate"]
    now = published_ratings(connection, code, at)
    reasons = []
    for key_question in failing:
        found = now.get(key_question)
        if found is not None and found["rating"] == "Inadequate":
            reasons.append(f"{code} is still rated Inadequate on {key_question} (published {_day(found['date'])})")
        elif found is None or found["date"] < visit.start_date:
            reasons.append(
                f"no {key_question} rating of {code} published since re-inspection {visit.id} began on"
                f" {_day(visit.start_date)}"
            )
    return reasons


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    """A stored timestamp comparable on every database (SQLite returns it without its time zone)."""
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment


def recovery_refusals(connection: sa.Connection, case: dict) -> list[str]:
    """Why a commissioner intervention may not close (empty: it may): it needs the latest recorded
    assessment of the commissioner (``carelens.fund``), recorded since the case opened, no longer
    inadequate (nor not assessed), and every recovery action of the case done."""
    code = case["org_code"]
    f = fund_commissioner_assessment
    latest = (
        connection.execute(
            sa.select(f)
            .where(f.c.commissioner_code == code)
            .order_by(f.c.year.desc(), f.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    reasons = []
    if latest is None or _naive_utc(latest["recorded_at"]) < _naive_utc(case["opened_at"]):
        reasons.append(
            f"no assessment of {code} recorded since the case opened ({case['opened_at']:%Y-%m-%d})"
        )
    elif latest["overall"] in STILL_FAILING:
        reasons.append(
            f"{code}'s latest assessment ({latest['year']}/{(latest['year'] + 1) % 100:02d}) is still"
            f" {latest['overall']}"
        )
    r = plan_recovery_action
    still_open = connection.execute(
        sa.select(r.c.id, r.c.action, r.c.owner, r.c.due_date)
        .where(r.c.case_id == case["id"], r.c.status == "open")
        .order_by(r.c.due_date, r.c.id)
    ).all()
    if still_open:
        listed = "; ".join(f"#{a.id} {a.action} ({a.owner}, due {_day(a.due_date)})" for a in still_open)
        reasons.append(f"{len(still_open)} recovery action(s) still open: {listed}")
    return reasons


def escalation(machine: Regime, state: str) -> str | None:
    """The event that escalates a case overdue in ``state`` (None: nothing further)."""
    return machine.escalate.get(state)


def escalate(
    bind: sa.Engine | sa.Connection,
    case_id: int,
    user: str,
    reason: str,
    at: dt.date | None = None,
    regimes: dict[str, Regime] | None = None,
) -> dict:
    """Take a case whose deadline passed before ``at`` to its next step (the machine's ``escalate``
    event for its state, with that event's own guards): enforcement first, cancellation of registration
    last. Refused, saying why, for a case not overdue or with no step left."""
    _require(user, reason)
    at = at or dt.date.today()
    with writing(bind) as connection:
        c = plan_regime_case
        case = connection.execute(sa.select(c).where(c.c.id == case_id)).mappings().first()
        if case is None:
            raise InputError(Problem(SOURCE, None, "case_id", f"no regime case {case_id}"))
        machine = _regime(case["regime"], regimes)
        if case["closed"]:
            raise _refused("case_id", f"case {case_id} is closed ({case['state']}): nothing to escalate")
        if case["deadline"] is None or case["deadline"] >= at:
            due = (
                f"its next action is due by {_day(case['deadline'])}" if case["deadline"] else "it has no deadline"
            )
            raise _refused("at", f"case {case_id} is not overdue on {_day(at)}: {due}")
        event = escalation(machine, case["state"])
        if event is None:
            raise _refused("case_id", f"case {case_id} is in {case['state']}: the regime has no further step")
        return transition(
            connection,
            case_id,
            event,
            user,
            f"escalated: {case['deadline_action']} was due by {_day(case['deadline'])}; {reason}",
            at,
            regimes,
        )


def add_action(
    bind: sa.Engine | sa.Connection, case_id: int, action: str, owner: str, due_date: dt.date, user: str
) -> int:
    """Add a recovery action (what, whose, by when) to an open case, audited; returns its id."""
    problems = [
        Problem(SOURCE, None, name, "value is missing")
        for name, value in (("action", action), ("owner", owner), ("user", user))
        if not (value or "").strip()
    ]
    if problems:
        raise InputError(problems)
    with writing(bind) as connection:
        c = plan_regime_case
        case = connection.execute(sa.select(c).where(c.c.id == case_id)).mappings().first()
        if case is None:
            raise InputError(Problem(SOURCE, None, "case_id", f"no regime case {case_id}"))
        if case["closed"]:
            raise _refused("case_id", f"case {case_id} is closed: no recovery action can be added")
        values = dict(
            case_id=case_id,
            action=action.strip(),
            owner=owner.strip(),
            due_date=due_date,
            status="open",
            created_by=user,
            created_at=dt.datetime.now(dt.UTC),
        )
        new_id = int(
            connection.execute(plan_recovery_action.insert().values(**values)).inserted_primary_key[0]
        )
        repository.audit(
            connection,
            user,
            "regime.action.added",
            plan_recovery_action.name,
            str(new_id),
            {k: values[k] for k in ("case_id", "action", "owner", "due_date")},
        )
    return new_id


def complete_action(
    bind: sa.Engine | sa.Connection, action_id: int, user: str, note: str, on: dt.date | None = None
) -> dict:
    """Mark a recovery action done on ``on`` (default today) with the evidence (``note``), audited."""
    _require(user, note)
    on = on or dt.date.today()
    r = plan_recovery_action
    with writing(bind) as connection:
        row = connection.execute(sa.select(r).where(r.c.id == action_id)).mappings().first()
        if row is None:
            raise InputError(Problem(SOURCE, None, "action_id", f"no recovery action {action_id}"))
        if row["status"] == "done":
            raise _refused("action_id", f"recovery action {action_id} was done on {_day(row['done_on'])} already")
        t = plan_regime_transition
        opened = connection.execute(
            sa.select(sa.func.min(t.c.effective_date)).where(t.c.case_id == row["case_id"])
        ).scalar()
        if opened is not None and on < opened:
            raise _refused("on", f"{_day(on)} is before case {row['case_id']} opened ({_day(opened)})")
        connection.execute(
            r.update().where(r.c.id == action_id).values(status="done", done_on=on, done_by=user, note=note)
        )
        repository.audit(
            connection,
            user,
            "regime.action.done",
            r.name,
            str(action_id),
            {"case_id": row["case_id"], "done_on": on, "note": note},
        )
        return dict(connection.execute(sa.select(r).where(r.c.id == action_id)).mappings().first())


def actions(bind: sa.Engine | sa.Connection, case_id: int | None = None) -> pd.DataFrame:
    """Recovery actions (of one case, or all), by due date."""
    r = plan_recovery_action
    query = sa.select(r).order_by(r.c.due_date, r.c.id)
    if case_id is not None:
        query = query.where(r.c.case_id == case_id)
    return _frame(bind, query)


def _frame(bind, query: sa.Select) -> pd.DataFrame:
    with reading(bind) as connection:
        return pd.DataFrame(
            connection.execute(query).mappings().all(), columns=list(query.selected_columns.keys())
        )


def cases(
    bind: sa.Engine | sa.Connection, org_code: str | None = None, open_only: bool = False
) -> pd.DataFrame:
    """Regime cases (optionally one organisation's, optionally only open ones), by id."""
    c = plan_regime_case
    query = sa.select(c).order_by(c.c.id)
    if org_code is not None:
        query = query.where(c.c.org_code == org_code)
    if open_only:
        query = query.where(c.c.closed.is_(False))
    return _frame(bind, query)


def transitions(bind: sa.Engine | sa.Connection, case_id: int) -> pd.DataFrame:
    """A case's history: every transition with who, when and why, oldest first."""
    t = plan_regime_transition
    return _frame(bind, sa.select(t).where(t.c.case_id == case_id).order_by(t.c.id))


def overdue(
    bind: sa.Engine | sa.Connection, as_of: dt.date, regimes: dict[str, Regime] | None = None
) -> pd.DataFrame:
    """Open cases whose next action was due before ``as_of``, most overdue first, with days overdue and
    the step that escalates each (``escalate_to``; empty when the regime has none left)."""
    c = plan_regime_case
    query = (
        sa.select(c)
        .where(c.c.closed.is_(False), c.c.deadline.is_not(None), c.c.deadline < as_of)
        .order_by(c.c.deadline, c.c.id)
    )
    frame = _frame(bind, query)
    machines = regimes or load_regimes()
    frame["days_overdue"] = [(as_of - d).days for d in frame["deadline"]]
    frame["escalate_to"] = [
        (escalation(machines[r], s) if r in machines else None) or ""
        for r, s in zip(frame["regime"], frame["state"], strict=True)
    ]
    return frame


SPECIAL_MEASURES_STATES = ("special_measures", "cancellation_proposed")


def special_measures(bind: sa.Engine | sa.Connection) -> list[str]:
    """Organisations in special measures now (open provider cases in special measures or facing
    cancellation): the list ``carelens.monitor`` forces to priority band 1."""
    c = plan_regime_case
    query = sa.select(c.c.org_code).where(
        c.c.regime == "provider", c.c.closed.is_(False), c.c.state.in_(SPECIAL_MEASURES_STATES)
    )
    return sorted(set(_frame(bind, query)["org_code"]))


def inadequate_without_special_measures(bind: sa.Engine | sa.Connection, on: dt.date) -> pd.DataFrame:
    """Organisations rated Inadequate overall on ``on`` that are not in special measures: actions due
    (special measures is entered on an Inadequate overall rating), so the regime cannot be ducked."""
    from carelens.assess.history import ratings_at

    with reading(bind) as connection:
        table = ratings_at(connection, on)
    overall = table[
        (table["service"] == "Overall")
        & (table["key_question"] == "Overall")
        & (table["rating"] == "Inadequate")
    ]
    out = overall[~overall["org_code"].isin(special_measures(bind))]
    return (
        out[["org_code", "level", "rating", "date", "source"]]
        .drop_duplicates("org_code")
        .reset_index(drop=True)
    )


def adopt_fund_interventions(
    bind: sa.Engine | sa.Connection,
    user: str,
    at: dt.date | None = None,
    regimes: dict[str, Regime] | None = None,
) -> list[int]:
    """Take over every open commissioner intervention decided by ``carelens.fund``: open a commissioner
    case for it (event 'intervene' with the decision's reasons) and mark the decision 'regime'."""
    from carelens.store.schema_fund import fund_intervention as f

    at = at or dt.date.today()
    adopted = []
    with writing(bind) as connection:
        rows = connection.execute(sa.select(f).where(f.c.status == "open").order_by(f.c.id)).mappings().all()
        for row in rows:
            why = f"national-board decision {row['id']} ({row['decision']}): " + "; ".join(
                map(str, row["reasons"])
            )
            case_id = open_case(
                connection,
                "commissioner",
                row["commissioner_code"],
                user,
                why,
                at,
                fund_intervention_id=int(row["id"]),
                regimes=regimes,
            )
            transition(connection, case_id, "intervene", user, why, at, regimes=regimes)
            connection.execute(f.update().where(f.c.id == row["id"]).values(status="regime"))
            adopted.append(case_id)
    return adopted
