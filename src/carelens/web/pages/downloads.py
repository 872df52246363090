"""Downloads of the pages' tables: every row, not one page of them, as CSV or an Excel workbook
(:mod:`carelens.http.downloads`), streamed while the services read them.

Each download asks the same service as the page showing its table, so it holds what that page holds
for the actor and is refused as that page is (the monitoring flags: 403 to the public, only the
organisations in reach to everyone else; an allocation, a scorecard, the inspection plan or the places
ranked for review outside the actor's reach: as its page answers). The pages link their downloads
beside their tables.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request

from carelens.http.downloads import FileFormat, download
from carelens.http.security import ActorDep
from carelens.model.access import Actor
from carelens.services import funding, planning
from carelens.services import monitoring as monitoring_service
from carelens.services import systems as systems_service
from carelens.services.league import league_rows
from carelens.web.common import paged_rows
from carelens.web.layout import store

router = APIRouter(include_in_schema=False)

SCORECARD_COLUMNS = [
    "measure",
    "value",
    "peer_lower_quartile",
    "peer_median",
    "peer_upper_quartile",
    "peers",
]
"""Columns of a scorecard's comparison with its peers (one row a measure)."""


def visible_to(actor: Actor) -> bool:
    """Downloads have no header link: each answers as the page of its table does."""
    return True


@router.get("/monitoring/flags.{file_format}")
def monitoring_flags(request: Request, actor: ActorDep, file_format: FileFormat, risks_only: bool = False):
    """Every flag of the latest monitoring run for the organisations in reach (or only risks and
    control-chart alerts, as the overview lists them)."""
    run_id, table = monitoring_service.all_flags(store(request), actor, risks_only=risks_only)
    name = f"monitoring-run-{run_id}-{'risks' if risks_only else 'flags'}"
    return download(actor, table.columns, table.rows, name, file_format)


@router.get("/league-tables.{file_format}")
def league_table(
    request: Request,
    actor: ActorDep,
    file_format: FileFormat,
    indicator: Annotated[str, Query(max_length=80)],
    period: date | None = None,
    kind: Annotated[str | None, Query(max_length=30)] = None,
    region: Annotated[str | None, Query(max_length=40)] = None,
    sort: Annotated[str | None, Query(max_length=20)] = None,
    order: Annotated[str | None, Query(pattern="^(ascending|descending)$")] = None,
):
    """Every row of a league table, filtered, sorted and grouped by kind as the page lists it."""
    table = league_rows(
        store(request),
        actor,
        indicator,
        period=period,
        kind=kind or None,
        region=region or None,
        sort=sort or None,
        descending=order == "descending",
        by_kind=True,
    )
    name = "-".join(["league-table", indicator, *((period.isoformat(),) if period else ())])
    return download(actor, table.columns, table.rows, name, file_format)


@router.get("/allocations.{file_format}")
def allocations(request: Request, actor: ActorDep, file_format: FileFormat):
    """Every commissioner's target and allocation in the latest saved run, within reach."""
    run, table = funding.all_allocations(store(request), actor)
    return download(
        actor, table.columns, table.rows, f"allocations-{run['year']}-run-{run['id']}", file_format
    )


@router.get("/commissioners/{code}/scorecard.{file_format}")
def scorecard(request: Request, actor: ActorDep, code: str, file_format: FileFormat):
    """A commissioner's scorecard against its peers: one row a measure."""
    card = funding.commissioner_scorecard(store(request), actor, code)
    rows = [{"measure": measure, **figures} for measure, figures in card["peers"].items()]
    return download(actor, SCORECARD_COLUMNS, rows, f"scorecard-{code}", file_format)


@router.get("/plan.{file_format}")
def inspection_plan(
    request: Request,
    actor: ActorDep,
    file_format: FileFormat,
    status: Annotated[str | None, Query(max_length=20)] = None,
):
    """Every inspection of the latest schedule the actor may see (404 to roles the plans do not
    reach, as the plan page)."""
    db = store(request)
    schedule = planning.schedule_summary(db, actor)
    columns, rows = paged_rows(
        planning.inspection_plan, db=db, actor=actor, schedule_id=schedule["id"], status=status or None
    )
    return download(actor, columns, rows, f"inspection-plan-{schedule['id']}", file_format)


@router.get("/system-reviews/ranking.{file_format}")
def place_ranking(request: Request, actor: ActorDep, file_format: FileFormat, period: date | None = None):
    """Every place in reach ranked for review in a period (default the latest), with why."""
    columns, rows = paged_rows(systems_service.place_ranking, db=store(request), actor=actor, period=period)
    name = "places-ranked-for-review" + (f"-{period.isoformat()}" if period else "")
    return download(actor, columns, rows, name, file_format)
