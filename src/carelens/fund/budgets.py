"""Delegated and pooled budgets, tracked per commissioner and year.

A *delegated* budget is money a predecessor or national body hands a commissioner to manage (e.g. NHS
England delegating primary medical care: £28.9bn of a £62.3bn budget); a *pooled* budget is shared
with a local authority (e.g. the Better Care Fund), with the commissioner's own contribution. Each
(commissioner, year, kind, counterparty, name) has one current row; recording a change adds a row that
supersedes the old one, and every change is in the audit log in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from carelens.errors import InputError, Problem
from carelens.fund.scenario import parse_year, year_label
from carelens.store import repository
from carelens.store.schema_fund import fund_budget

KINDS = ("delegated", "pooled")


@dataclass(frozen=True)
class Budget:
    """One budget line as entered by a user."""

    commissioner_code: str
    year: int
    kind: str
    counterparty: str
    name: str
    amount_gbp: float
    contribution_gbp: float | None = None


def _check(budget: Budget, source: str, row: int | None) -> list[Problem]:
    problems = []
    if budget.kind not in KINDS:
        problems.append(
            Problem(source, row, "kind", f"must be one of {', '.join(KINDS)}, got {budget.kind!r}")
        )
    for name in ("commissioner_code", "counterparty", "name"):
        if not str(getattr(budget, name) or "").strip():
            problems.append(Problem(source, row, name, "value is missing"))
    if not budget.amount_gbp >= 0:
        problems.append(Problem(source, row, "amount_gbp", f"must be >= 0, got {budget.amount_gbp!r}"))
    if budget.contribution_gbp is not None:
        if budget.kind != "pooled":
            problems.append(
                Problem(source, row, "contribution_gbp", "only pooled budgets have a contribution")
            )
        elif not 0 <= budget.contribution_gbp <= budget.amount_gbp:
            problems.append(
                Problem(source, row, "contribution_gbp", "must be between 0 and the budget's amount_gbp")
            )
    return problems


def record_budgets(
    engine: sa.Engine, budgets: list[Budget], user: str, source: str = "input"
) -> dict[str, int]:
    """Record budget lines (all or nothing); returns counts of inserted, superseded and unchanged rows."""
    problems = [p for i, b in enumerate(budgets, start=1) for p in _check(b, source, i)]
    if problems:
        raise InputError(problems)
    counts = {"inserted": 0, "superseded": 0, "unchanged": 0}
    now = dt.datetime.now(dt.UTC)
    table = fund_budget
    with engine.begin() as connection:
        for budget in budgets:
            key = (
                table.c.commissioner_code == budget.commissioner_code,
                table.c.year == budget.year,
                table.c.kind == budget.kind,
                table.c.counterparty == budget.counterparty,
                table.c.name == budget.name,
                table.c.superseded_by.is_(None),
            )
            current = connection.execute(sa.select(table).where(*key)).mappings().first()
            if current and (current["amount_gbp"], current["contribution_gbp"]) == (
                budget.amount_gbp,
                budget.contribution_gbp,
            ):
                counts["unchanged"] += 1
                continue
            values = dict(budget.__dict__, user_name=user, recorded_at=now)
            if current:
                # Free the key first (partial unique index), then point the old row at the new one.
                connection.execute(
                    table.update().where(table.c.id == current["id"]).values(superseded_by=current["id"])
                )
            new_id = connection.execute(table.insert().values(**values)).inserted_primary_key[0]
            if current:
                connection.execute(
                    table.update().where(table.c.id == current["id"]).values(superseded_by=new_id)
                )
                counts["superseded"] += 1
            counts["inserted"] += 1
            repository.audit(
                connection,
                user,
                "budget.recorded",
                "fund_budget",
                f"{budget.commissioner_code}/{year_label(budget.year)}/{budget.kind}/{budget.counterparty}/{budget.name}",
                {
                    "id": int(new_id),
                    "amount_gbp": budget.amount_gbp,
                    "contribution_gbp": budget.contribution_gbp,
                    "previous_amount_gbp": current["amount_gbp"] if current else None,
                    "superseded_id": int(current["id"]) if current else None,
                },
            )
    return counts


def budgets(engine: sa.Engine, year: int | None = None, history: bool = False) -> pd.DataFrame:
    """Current budget lines (or every version with ``history``), optionally for one year."""
    table = fund_budget
    query = sa.select(table).order_by(table.c.commissioner_code, table.c.year, table.c.kind, table.c.id)
    if year is not None:
        query = query.where(table.c.year == year)
    if not history:
        query = query.where(table.c.superseded_by.is_(None))
    with engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    return pd.DataFrame(rows, columns=[c.name for c in table.columns])


def budget_summary(engine: sa.Engine, year: int | None = None) -> pd.DataFrame:
    """Per commissioner and year: delegated £, pooled £ and own contribution to pools."""
    lines = budgets(engine, year)
    if lines.empty:
        return pd.DataFrame(
            columns=["commissioner_code", "year", "delegated_gbp", "pooled_gbp", "contribution_gbp"]
        )
    lines["delegated_gbp"] = lines["amount_gbp"].where(lines["kind"] == "delegated", 0.0)
    lines["pooled_gbp"] = lines["amount_gbp"].where(lines["kind"] == "pooled", 0.0)
    lines["contribution_gbp"] = lines["contribution_gbp"].fillna(0.0)
    return lines.groupby(["commissioner_code", "year"], as_index=False)[
        ["delegated_gbp", "pooled_gbp", "contribution_gbp"]
    ].sum()


def read_budgets(path) -> list[Budget]:
    """Budget lines from a CSV/Parquet file: commissioner_code, year (2024-25), kind, counterparty, name,
    amount_gbp, optional contribution_gbp. Every bad row is reported."""
    from carelens.tables import Column, read_table, validate

    source = str(path)
    frame = read_table(path)
    columns = [
        Column("commissioner_code", "text"),
        Column("year", "text"),
        Column("kind", "text"),  # checked with the other rules below, so all problems show at once
        Column("counterparty", "text"),
        Column("name", "text"),
        Column("amount_gbp", "number", min_value=0),
        Column("contribution_gbp", "number", min_value=0, required=False, allow_missing=True),
    ]
    values = validate(frame, columns, source)
    problems: list[Problem] = []
    years = []
    for i, text in enumerate(values["year"], start=1):
        try:
            years.append(parse_year(text, source, "year"))
        except InputError:
            problems.append(Problem(source, i, "year", f"not a financial year like 2024-25: {text!r}"))
            years.append(0)
    contribution = values.get("contribution_gbp")
    out = [
        Budget(
            commissioner_code=str(values["commissioner_code"][i]).strip(),
            year=years[i],
            kind=str(values["kind"][i]).strip(),
            counterparty=str(values["counterparty"][i]).strip(),
            name=str(values["name"][i]).strip(),
            amount_gbp=float(values["amount_gbp"][i]),
            contribution_gbp=None
            if contribution is None or pd.isna(contribution[i])
            else float(contribution[i]),
        )
        for i in range(len(frame))
    ]
    problems += [p for i, b in enumerate(out, start=1) for p in _check(b, source, i)]
    if problems:
        raise InputError(problems)
    return out
