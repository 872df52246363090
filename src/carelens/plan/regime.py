"""The failure regime: explicit state machines (``config/plan/regime.yaml``) for providers (requirement
notice, warning notice, conditions, special measures, cancellation), NHS trusts (oversight segments and
the Recovery Support Programme) and commissioners (national-board intervention, adopting the open
interventions decided by ``carelens.fund``).

Every transition records who, when and why, with its audit event in the same transaction; a transition
the machine does not allow, or whose rating guard fails, is refused with an InputError saying what is
allowed, and nothing is written. Deadlines come from the machine; :func:`overdue` reports missed ones.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from carelens.errors import InputError, Problem
from carelens.plan.config import Regime, load_regimes
from carelens.store import repository
from carelens.store.engine import reading, writing
from carelens.store.schema_plan import plan_regime_case, plan_regime_transition

SOURCE = "regime"
OPENED = "(none)"
"""``from_state`` of the transition that opens a case."""


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
    """Open a case in its regime's initial state (one open case per organisation and regime)."""
    machine = _regime(regime, regimes)
    _require(user, reason)
    at = at or dt.date.today()
    with writing(bind) as connection:
        c = plan_regime_case
        existing = connection.execute(
            sa.select(c.c.id).where(c.c.regime == regime, c.c.org_code == org_code, c.c.closed.is_(False))
        ).first()
        if existing:
            raise InputError(
                Problem(SOURCE, None, "org_code", f"{org_code} already has open {regime} case {existing.id}")
            )
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
        allowed = sorted(e for e, t in machine.transitions.items() if state in t.sources)
        if case["closed"]:
            raise InputError(
                Problem(
                    SOURCE, None, "event", f"case {case_id} is closed ({state}): no transition is allowed"
                )
            )
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
            raise InputError(
                Problem(
                    SOURCE,
                    None,
                    "event",
                    f"illegal transition: {event!r} is not allowed from {state!r} (only from {', '.join(move.sources)}); allowed from {state}: {', '.join(allowed) or 'none'}",
                )
            )
        t = plan_regime_transition
        last = connection.execute(
            sa.select(sa.func.max(t.c.effective_date)).where(t.c.case_id == case_id)
        ).scalar()
        if last is not None and at < last:
            raise InputError(
                Problem(SOURCE, None, "at", f"{at} is before the case's last transition ({last})")
            )
        if move.rating_in or move.rating_not_in:
            rating, rated_on = _overall_rating(connection, case["org_code"], at)
            if (move.rating_in and rating not in move.rating_in) or (
                move.rating_not_in and rating in move.rating_not_in
            ):
                need = (
                    f"in {list(move.rating_in)}" if move.rating_in else f"not in {list(move.rating_not_in)}"
                )
                raise InputError(
                    Problem(
                        SOURCE,
                        None,
                        "event",
                        f"{event!r} needs an overall rating {need}; {case['org_code']}'s rating on {at} is {rating or 'none'}"
                        + (f" (since {rated_on})" if rated_on else ""),
                    )
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


def overdue(bind: sa.Engine | sa.Connection, as_of: dt.date) -> pd.DataFrame:
    """Open cases whose next action was due before ``as_of``, most overdue first, with days overdue."""
    c = plan_regime_case
    query = (
        sa.select(c)
        .where(c.c.closed.is_(False), c.c.deadline.is_not(None), c.c.deadline < as_of)
        .order_by(c.c.deadline, c.c.id)
    )
    frame = _frame(bind, query)
    frame["days_overdue"] = [(as_of - d).days for d in frame["deadline"]]
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
