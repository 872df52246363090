"""Downloads of the pages' tables: every row, not one page of them, as CSV or an Excel workbook
(:mod:`carelens.http.downloads`), streamed while the services read them.

Each download asks the same service as the page showing its table, so it holds what that page holds
for the actor and is refused as that page is (the monitoring flags and movers: 403 to the public, only
the organisations in reach to everyone else; an organisation's ratings and inspections: only published
ratings and completed inspections to those the plans and unpublished ratings do not reach; an
allocation, a scorecard, the inspection plan, the accountable care tables, the what-ifs or the places
ranked for review outside the actor's reach: as its page answers; an organisation's flagged indicators:
404 to those its monitoring results do not reach, who see no such table; a regime case's tables: as
the case's page). The pages link their downloads
beside their tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from carelens.http.downloads import FileFormat, download
from carelens.http.security import ActorDep
from carelens.model.access import Actor
from carelens.services import Invalid, NotFound, funding, planning
from carelens.services import inspections as inspection_service
from carelens.services import intel as intel_service
from carelens.services import monitoring as monitoring_service
from carelens.services import organisations as organisation_service
from carelens.services import ratings as rating_service
from carelens.services import systems as systems_service
from carelens.services.league import league_rows
from carelens.web.common import paged_rows, row_id
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


def listed(
    actor: Actor, rows: list[dict[str, Any]], name: str, file_format: FileFormat, columns: Iterable[str] = ()
):
    """A table a service gives as a list of rows (already whole), as a download: its columns those of
    its rows (``columns`` when there are none)."""
    return download(actor, list(rows[0]) if rows else list(columns), rows, name, file_format)


def visible_to(actor: Actor) -> bool:
    """Downloads have no header link: each answers as the page of its table does."""
    return True


@router.get("/search.{file_format}")
def search_results(
    request: Request, actor: ActorDep, file_format: FileFormat, q: Annotated[str, Query(max_length=200)] = ""
):
    """Every organisation a search finds, best match first, with why each matched (the directory is
    public: the same for every role)."""
    if not q.strip():
        raise Invalid("say what to search for (q)")
    columns, rows = paged_rows(organisation_service.search_organisations, db=store(request), actor=actor, q=q)
    return download(actor, columns, rows, "search-results", file_format)


@router.get("/monitoring/flags.{file_format}")
def monitoring_flags(request: Request, actor: ActorDep, file_format: FileFormat, risks_only: bool = False):
    """Every flag of the latest monitoring run for the organisations in reach (or only risks and
    control-chart alerts, as the overview lists them)."""
    run_id, table = monitoring_service.all_flags(store(request), actor, risks_only=risks_only)
    name = f"monitoring-run-{run_id}-{'risks' if risks_only else 'flags'}"
    return download(actor, table.columns, table.rows, name, file_format)


@router.get("/monitoring/movers.{file_format}")
def monitoring_movers(request: Request, actor: ActorDep, file_format: FileFormat):
    """Every organisation in reach whose band changed since the previous run (the overview lists the
    biggest few), in the overview's order."""
    movers = monitoring_service.biggest_movers(store(request), actor, limit=None)
    return listed(actor, movers, "monitoring-movers", file_format, monitoring_service.BAND_COLUMNS)


@router.get("/monitoring/{table}.{file_format}")
def monitoring_summary(
    request: Request, actor: ActorDep, table: Literal["bands", "indicators"], file_format: FileFormat
):
    """The overview's organisations by priority band and status, or the run's indicators with the
    period of their data and whether it is out of date (over the organisations and indicators in reach)."""
    summary = monitoring_service.run_summary(store(request), actor)
    return listed(actor, summary[table], f"monitoring-run-{summary['run']['id']}-{table}", file_format)


@router.get("/organisations/{code}/ratings.{file_format}")
def organisation_ratings(request: Request, actor: ActorDep, code: str, file_format: FileFormat):
    """Every rating of an organisation the actor may see, current and earlier (the profile shows the
    latest few earlier ones; unpublished ones only to those the unpublished-ratings rule reaches)."""
    db = store(request)
    organisation = organisation_service.get_organisation(db, actor, code)
    ratings = rating_service.visible_ratings(db, actor, code, organisation["sector"], history=True)
    return listed(actor, ratings, f"ratings-{code}", file_format, rating_service.RATING_COLUMNS)


@router.get("/organisations/{code}/flags.{file_format}")
def organisation_flags(request: Request, actor: ActorDep, code: str, file_format: FileFormat):
    """An organisation's flagged indicators with why, as its profile lists them (404 to those the
    monitoring results of the organisation do not reach, who see no such table)."""
    from carelens.web.pages.organisation import monitoring_flags

    panel = monitoring_flags(store(request), actor, code)
    name = f"monitoring-run-{panel['run_id']}-flags-{code}"
    return listed(actor, panel["flagged"], name, file_format, monitoring_service.FLAG_COLUMNS)


@router.get("/organisations/{code}/other-indicators.{file_format}")
def organisation_other_indicators(request: Request, actor: ActorDep, code: str, file_format: FileFormat):
    """An organisation's figures compared but not scored, each with its stored comparison, as its
    profile's table lists them (confidential indicators only to those entitled)."""
    from carelens.web.pages.organisation import other_indicators

    rows = other_indicators(store(request), actor, code)
    return listed(actor, rows, f"other-indicators-{code}", file_format, OTHER_INDICATOR_COLUMNS)


OTHER_INDICATOR_COLUMNS = ["indicator_id", "title", "period", "value", "suppressed", "comparison"]
"""Columns of an organisation's figures compared but not scored when it has none."""


@router.get("/organisations/{code}/inspections.{file_format}")
def organisation_inspections(request: Request, actor: ActorDep, code: str, file_format: FileFormat):
    """An organisation's inspections as its profile lists them: the planned and unannounced ones only
    to those the inspection plans reach, completed ones to everyone else."""
    columns, rows = paged_rows(planning.organisation_inspections, db=store(request), actor=actor, code=code)
    return download(actor, columns, rows, f"inspections-{code}", file_format)


@router.get("/inspections/{inspection_id}/{table}.{file_format}")
def inspection_table(
    request: Request,
    actor: ActorDep,
    inspection_id: str,
    table: Literal["ratings", "findings", "challenges"],
    file_format: FileFormat,
):
    """An inspection's ratings (proposed, or published once published), findings or factual-accuracy
    challenges as its page lists them: what the report service shows the actor (404, never 403, to
    anyone who may not see the inspection, an unannounced one to providers and the public included)."""
    found = inspection_service.report(store(request), actor, row_id(inspection_id, "inspection"))
    name = f"inspection-{found['id']}-{table}"
    return listed(actor, found[table], name, file_format, inspection_service.REPORT_TABLE_COLUMNS[table])


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


WhatifTable = Literal["commissioners", "regions", "deciles"]
"""The tables of the allocation what-if (the page lists the first 60 commissioners)."""


@router.get("/allocations/whatif/{table}.{file_format}")
def allocation_whatif(
    request: Request,
    actor: ActorDep,
    table: WhatifTable,
    file_format: FileFormat,
    a: Annotated[str, Query(max_length=80)],
    b: Annotated[str, Query(max_length=80)],
):
    """One table of the what-if between two packaged scenarios, every row (commissioners in reach)."""
    if a == b:
        raise Invalid("compare two different scenarios")
    comparison = funding.whatif(store(request), actor, a, b)
    return listed(actor, comparison[table], f"whatif-{a}-to-{b}-{table}", file_format)


@router.get("/commissioners/{code}/scorecard.{file_format}")
def scorecard(request: Request, actor: ActorDep, code: str, file_format: FileFormat):
    """A commissioner's scorecard against its peers: one row a measure."""
    card = funding.commissioner_scorecard(store(request), actor, code)
    rows = [{"measure": measure, **figures} for measure, figures in card["peers"].items()]
    return download(actor, SCORECARD_COLUMNS, rows, f"scorecard-{code}", file_format)


@router.get("/commissioners/{code}/{table}.{file_format}")
def scorecard_table(
    request: Request,
    actor: ActorDep,
    code: str,
    table: Literal["interventions", "budgets"],
    file_format: FileFormat,
):
    """A commissioner's interventions or its delegated and pooled budgets, as its scorecard lists them."""
    card = funding.commissioner_scorecard(store(request), actor, code)
    return listed(actor, card[table], f"{table}-{code}", file_format, funding.SCORECARD_LISTS[table])


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


@router.get("/system-reviews/whatif.{file_format}")
def programme_whatif(
    request: Request,
    actor: ActorDep,
    file_format: FileFormat,
    budget: Annotated[float, Query(ge=0, lt=1e12)],
    period: date | None = None,
):
    """The places a budget would review, ranked, with why (roles that see the whole programme)."""
    plan = systems_service.programme_whatif(store(request), actor, budget, period=period)
    name = f"places-a-budget-of-{budget:.0f}-would-review-{plan['period']}"
    return listed(actor, plan["selected"], name, file_format, WHATIF_PLACE_COLUMNS)


@router.get("/system-reviews/overdue-actions.{file_format}")
def overdue_actions(request: Request, actor: ActorDep, file_format: FileFormat):
    """Every open action of the review action plans in reach past its deadline, most overdue first (the
    page lists the first page of them)."""
    columns, rows = paged_rows(systems_service.action_list, db=store(request), actor=actor, overdue_only=True)
    return download(actor, columns, rows, "overdue-review-actions", file_format)


@router.get("/system-reviews/{table}.{file_format}")
def review_programme(
    request: Request, actor: ActorDep, table: Literal["reviews", "directions"], file_format: FileFormat
):
    """The reviews the actor may see (published reports to everyone), or the directions with what each
    budget buys (roles that see the whole programme; 403 to others), as the reviews page lists them."""
    fetch = {"reviews": systems_service.review_list, "directions": systems_service.directions}[table]
    columns, rows = paged_rows(fetch, db=store(request), actor=actor)
    return download(actor, columns, rows, f"local-system-{table}", file_format)


@router.get("/system-reviews/{review_id}/actions.{file_format}")
def review_actions(request: Request, actor: ActorDep, review_id: str, file_format: FileFormat):
    """One review's action plan, as its page lists it: to those who track it (404 to everyone else,
    whose page has no action plan, and for a review they may not see)."""
    found = systems_service.review(store(request), actor, row_id(review_id, "review"))
    if found["actions"] is None:
        raise NotFound(f"no action plan of review {review_id} to show")
    name = f"review-{found['review_id']}-actions"
    return listed(actor, found["actions"], name, file_format, systems_service.REVIEW_ACTION_COLUMNS)


WHATIF_PLACE_COLUMNS = ["rank", "place_code", "place_name", "score", "why"]
"""Columns of the places a budget would review."""


@router.get("/accountable-care/{table}.{file_format}")
def accountable_care(
    request: Request, actor: ActorDep, table: Literal["settlements", "concentration"], file_format: FileFormat
):
    """The current settlements or the market concentration of every service line of the ACOs in reach."""
    fetch = {
        "settlements": systems_service.aco_settlements,
        "concentration": systems_service.market_concentration,
    }[table]
    columns, rows = paged_rows(fetch, db=store(request), actor=actor)
    return download(actor, columns, rows, f"accountable-care-{table}", file_format)


@router.get("/regime/cases.{file_format}")
def regime_cases(
    request: Request,
    actor: ActorDep,
    file_format: FileFormat,
    regime: Annotated[str, Query(max_length=30)] = "",
    cases: Annotated[str, Query(max_length=10)] = "open",
):
    """Every failure-regime case the actor owns, open ones (or all), as the regime page lists them page
    by page (403 to roles no regime's rule reaches, then 400 for a choice not on its lists)."""
    from carelens.web.pages.regime import REGIME_NAMES

    columns, rows = paged_rows(
        planning.regime_cases,
        db=store(request),
        actor=actor,
        regime_name=regime or None,
        open_only=cases != "all",
    )
    if regime not in ("", *REGIME_NAMES) or cases not in ("open", "all"):
        raise Invalid("choose a regime and open or all cases from the lists")
    return download(actor, columns, rows, f"regime-cases-{regime or 'every-regime'}-{cases}", file_format)


@router.get("/regime/overdue.{file_format}")
def regime_overdue(request: Request, actor: ActorDep, file_format: FileFormat):
    """The open cases on the actor's list whose next action is overdue today, most overdue first, with the
    step that escalates each, as the regime page lists them (403 to roles no regime's rule reaches)."""
    today = date.today()
    columns, rows = paged_rows(planning.overdue_actions, db=store(request), actor=actor, as_of=today)
    return download(actor, columns, rows, f"regime-overdue-cases-{today.isoformat()}", file_format)


@router.get("/regime/cases/{case_id}/{table}.{file_format}")
def regime_case_table(
    request: Request,
    actor: ActorDep,
    case_id: str,
    table: Literal["history", "actions"],
    file_format: FileFormat,
):
    """One case's every change (oldest first) or its recovery actions, as its page lists them (as the
    case's page: 403 to roles no regime's rule reaches, 404 outside the reach)."""
    case = planning.regime_case(store(request), actor, row_id(case_id, "regime case"))
    key = "transitions" if table == "history" else "actions"
    name = f"regime-case-{case['id']}-{table}"
    return listed(actor, case[key], name, file_format, planning.CASE_TABLE_COLUMNS[key])


@router.get("/concerns/submissions.{file_format}")
def submissions(
    request: Request,
    actor: ActorDep,
    file_format: FileFormat,
    kind: Annotated[str, Query(max_length=20)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
):
    """Every experience and concern the actor handles, newest first, as the concerns page lists them
    page by page (404 to roles that handle none, then 400 for a choice not on its lists)."""
    from carelens.web.pages.concerns import STATUS_NAMES

    columns, rows = paged_rows(
        intel_service.submissions, db=store(request), actor=actor, kind=kind or None, status=status or None
    )
    if (kind and kind not in intel_service.KINDS) or (status and status not in STATUS_NAMES):
        raise Invalid("choose a kind and a status from the lists")
    return download(actor, columns, rows, "submissions", file_format)
