"""What the pages show, assembled from the access-checked services (never from the database).

The funnel plot and control chart of an indicator are drawn from the observations the actor may see
(suppressed figures are left out), with the same kernels the monitoring pass uses
(:func:`carelens.monitor.funnels.funnel_table`, :func:`carelens.monitor.control_charts.spc_table`)
and the indicator's own method, polarity and limits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from carelens.model.access import Actor
from carelens.services import observations as observation_service
from carelens.services import organisations as organisation_service
from carelens.services import ratings as rating_service
from carelens.services._db import Db
from carelens.services.settings import get_settings
from carelens.web.charts import funnel_chart, spc_chart
from carelens.web.settings import WebSettings

FUNNEL_KINDS = {"proportion": "pr", "indirectly_standardised_ratio": "sr", "rate": "rc"}
"""Indicator value types drawn as funnels, with the funnel kernel's data type for each."""
FUNNEL_POLARITY = {"lower_is_better": "lower-is-better", "higher_is_better": "higher-is-better"}
SPC_IMPROVEMENT = {"lower_is_better": "decrease", "higher_is_better": "increase"}
MIN_FUNNEL_UNITS = 3
"""Fewer comparable organisations than this: no funnel is drawn (no spread to estimate)."""

KIND_NAMES = {
    "nhs_trust": "NHS trust",
    "location": "hospital or clinic",
    "independent_provider": "independent provider",
    "care_home": "care home",
    "gp_practice": "GP practice",
    "pcn": "primary care network",
    "commissioner": "commissioner",
    "local_authority": "local authority",
    "region": "region",
    "place": "place",
    "aco": "accountable care organisation",
    "country": "country",
}
LINK_NAMES = {
    ("provider_location", "to"): "Runs",
    ("provider_location", "from"): "Run by",
    ("practice_pcn", "to"): "Primary care network",
    ("practice_pcn", "from"): "Member practice",
    ("practice_commissioner", "to"): "Commissioner",
    ("practice_commissioner", "from"): "Practice",
    ("commissioner_parent", "to"): "Part of",
    ("commissioner_parent", "from"): "Covers",
    ("commissioner_region", "to"): "Region",
    ("commissioner_region", "from"): "Commissioner",
    ("organisation_region", "to"): "Region",
    ("organisation_region", "from"): "Organisation in region",
    ("local_authority_area", "to"): "Local authority area",
    ("local_authority_area", "from"): "Organisation in area",
    ("contract", "to"): "Contract with",
    ("contract", "from"): "Commissioned by",
    ("succeeded_by", "to"): "Succeeded by",
    ("succeeded_by", "from"): "Succeeds",
}
COMPARISON_TEXT = {
    "worse": "worse than expected compared with similar organisations",
    "better": "better than expected compared with similar organisations",
    "within": "within the range expected compared with similar organisations",
    "higher": "higher than expected compared with similar organisations",
    "lower": "lower than expected compared with similar organisations",
}


@dataclass
class IndicatorPanel:
    """One indicator on a profile: latest figure, comparison with peers, and its two charts."""

    id: str
    title: str
    description: str
    period: str
    value: Any
    numerator: Any
    denominator: Any
    suppressed: bool
    polarity: str
    comparison: str | None = None
    comparison_text: str | None = None
    funnel_note: str | None = None
    funnel_svg: str | None = None
    spc_svg: str | None = None
    spc_note: str | None = None
    charts: dict[str, Any] = field(default_factory=dict)
    """The :class:`carelens.web.charts.Chart` objects (``funnel``, ``spc``) for the PDF report."""


def suppression_note() -> str:
    """The sentence every page with published figures carries."""
    threshold = get_settings().small_number_threshold
    return (
        f"Counts from 1 to {threshold - 1} are not published, nor the figures that would reveal them, "
        "to protect people's privacy. Such figures show as 'suppressed' and are left out of charts."
    )


def _all_pages(fetch, **kwargs) -> list[dict[str, Any]]:
    """Every item of a paged service call (pages of the largest size the services allow)."""
    size = get_settings().max_page_size
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        result = fetch(page=page, page_size=size, **kwargs)
        items += result.items
        if page >= result.pages:
            return items
        page += 1


def profile_view(db: Db, actor: Actor, code: str, settings: WebSettings) -> dict[str, Any]:
    """Everything the organisation profile shows (raises the services' NotFound)."""
    profile = organisation_service.organisation_profile(db, actor, code)
    organisation = profile["organisation"]
    history = rating_service.visible_ratings(db, actor, code, organisation["sector"], history=True)
    current = profile["ratings"]
    overall = [r for r in current if r["level"] == "location" and r["service"] == "Overall"]
    services = [r for r in current if r["level"] == "service"]
    past = [r for r in history if not r["current"]][: settings.rating_history_rows]
    panels = [indicator_panel(db, actor, organisation, row, settings) for row in profile["indicators"]]
    links = [
        {**link, "label": LINK_NAMES.get((link["kind"], link["direction"]), link["kind"].replace("_", " "))}
        for link in profile["relationships"]
    ]
    return {
        "organisation": organisation,
        "kind_name": KIND_NAMES.get(organisation["kind"], organisation["kind"]),
        "confidential": profile["confidential"],
        "explanation": profile["explanation"],
        "provider_ratings": profile["provider_ratings"],
        "overall_ratings": sorted(overall, key=lambda r: (r["key_question"] != "Overall", r["key_question"])),
        "service_ratings": services,
        "rating_history": past,
        "links": links,
        "panels": panels,
        "any_suppressed": any(p.suppressed for p in panels),
        "suppression_note": suppression_note(),
        "monitoring": monitoring_panel(db, actor, code) if profile["confidential"] else None,
        "inspections": [inspection_row(row) for row in profile["inspections"]],
        "inspections_confidential": any("window_start" in row for row in profile["inspections"]),
    }


def _definition(db: Db, actor: Actor, indicator_id: str) -> dict[str, Any]:
    return observation_service.get_indicator(db, actor, indicator_id)["definition"] or {}


def indicator_panel(
    db: Db, actor: Actor, organisation: dict[str, Any], latest: dict[str, Any], settings: WebSettings
) -> IndicatorPanel:
    """The latest figure of one indicator with its funnel plot (peers, latest period) and control chart."""
    definition = _definition(db, actor, latest["indicator_id"])
    polarity = definition.get("polarity") or "neutral"
    panel = IndicatorPanel(
        id=latest["indicator_id"],
        title=latest["title"],
        description=definition.get("description", ""),
        period=latest["period"],
        value=latest["value"],
        numerator=latest["numerator"],
        denominator=latest["denominator"] if latest.get("expected") is None else latest["expected"],
        suppressed=latest["suppressed"],
        polarity=polarity.replace("_", " "),
    )
    _add_funnel(db, actor, organisation, definition, panel, settings)
    _add_spc(db, actor, organisation, definition, panel, settings)
    return panel


def _peer_codes(db: Db, actor: Actor, organisation: dict[str, Any]) -> set[str]:
    rows = _all_pages(
        organisation_service.search_organisations, db=db, actor=actor, kind=organisation["kind"]
    )
    return {r["code"] for r in rows}


def _add_funnel(db, actor, organisation, definition, panel: IndicatorPanel, settings: WebSettings) -> None:
    kind = FUNNEL_KINDS.get(definition.get("value_type", ""))
    if kind is None:
        panel.funnel_note = "This kind of figure is not compared on a funnel plot."
        return
    rows = _all_pages(
        observation_service.observations,
        db=db,
        actor=actor,
        indicator_id=panel.id,
        period_from=_date(panel.period),
        period_to=_date(panel.period),
    )
    frame = pd.DataFrame(rows)
    if definition.get("peer_group") == "org_kind" and not frame.empty:
        frame = frame[frame["org_code"].isin(_peer_codes(db, actor, organisation))]
    denominator = "expected" if kind == "sr" else "denominator"
    if frame.empty:
        usable = frame
    else:
        usable = frame[
            ~frame["suppressed"].astype(bool) & frame["numerator"].notna() & (frame[denominator] > 0)
        ].copy()
    hidden = len(frame) - len(usable)
    if len(usable) < MIN_FUNNEL_UNITS:
        panel.funnel_note = "Too few comparable organisations with published figures to draw a funnel plot."
        return
    from carelens.monitor.funnels import funnel_table
    from carelens.stats.intervals import level_label

    levels = tuple(float(level) for level in definition.get("levels") or (0.95, 0.998))
    table = funnel_table(
        usable.reset_index(drop=True),
        type=kind,
        numerator="numerator",
        denominator=denominator,
        unit="org_code",
        method="shmi" if "trimmed" in definition.get("method", "") or kind != "sr" else "cqc",
        levels=levels,
        polarity=FUNNEL_POLARITY.get(definition.get("polarity", ""), "neutral"),
    )
    mine = table[table["unit"] == organisation["code"]]
    if not mine.empty:
        panel.comparison = str(mine["assessment"].iloc[0])
        panel.comparison_text = COMPARISON_TEXT.get(panel.comparison)
    limit_labels = tuple(level_label(level) for level in levels)
    chart = funnel_chart(
        table,
        organisation["code"],
        title=f"{panel.title}, {_month(panel.period)}",
        x_title="Expected events" if kind == "sr" else "Denominator (people or attendances)",
        y_title="Observed / expected" if kind == "sr" else "Value",
        levels=limit_labels,
        width=settings.chart_width,
        height=settings.chart_height,
    )
    panel.charts["funnel"] = chart
    panel.funnel_svg = chart.svg()
    widest = limit_labels[-1].replace("_", ".")
    od = str(table["od_note"].iloc[0])
    panel.funnel_note = (
        f"{len(table)} comparable organisations in {_month(panel.period)}; limits at "
        f"{', '.join(x.replace('_', '.') for x in limit_labels)}% ({od}). A point outside the {widest}% "
        f"limits is unlikely to be chance alone."
        + (f" {hidden} organisations with suppressed or incomplete figures are not shown." if hidden else "")
    )


def _add_spc(db, actor, organisation, definition, panel: IndicatorPanel, settings: WebSettings) -> None:
    rows = _all_pages(
        observation_service.observations,
        db=db,
        actor=actor,
        indicator_id=panel.id,
        org_code=organisation["code"],
    )
    frame = pd.DataFrame(rows).tail(settings.spc_points)
    if len(frame) < 2:
        panel.spc_note = "Only one period of data: no control chart."
        return
    from carelens.monitor.control_charts import spc_table

    series = pd.DataFrame(
        {
            "period": pd.to_datetime(frame["period"]).to_numpy(),
            "value": pd.to_numeric(frame["value"], errors="coerce").to_numpy(dtype=float, na_value=np.nan),
        }
    )
    points = spc_table(
        series,
        value="value",
        date="period",
        improvement=SPC_IMPROVEMENT.get(definition.get("polarity", ""), "neutral"),
    )
    chart = spc_chart(
        points,
        title=f"{panel.title}: {organisation['name'] or organisation['code']} over time",
        y_title="Value",
        width=settings.chart_width,
        height=settings.chart_height,
    )
    panel.charts["spc"] = chart
    panel.spc_svg = chart.svg()
    last = str(points["variation_icon"].iloc[-1])
    short = bool(points["short_series"].iloc[-1])
    panel.spc_note = (
        f"XmR control chart of {len(points)} periods (NHS 'Making Data Count'): the latest point shows "
        f"{last.replace('_', ' ') or 'no special cause'}."
        + (" Fewer than 12 points: limits are provisional." if short else "")
    )


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(str(text)[:10])


def _month(text: str) -> str:
    return f"{_date(text):%B %Y}"


# --- monitoring, commissioners and allocations --------------------------------------------------

FLAG_SHOWN = ("elevated risk", "risk")
"""Flags listed on a profile and the monitoring overview (with control-chart alerts); the rest are counted."""


def monitoring_panel(db: Db, actor: Actor, code: str) -> dict[str, Any] | None:
    """The monitoring part of a profile: band, score, and each flagged indicator with why; None when
    the actor may not see it (the service says 404) or no run covers the organisation."""
    from carelens.services import NotFound
    from carelens.services.monitoring import intelligence_profile

    try:
        data = intelligence_profile(db, actor, code)
    except NotFound:
        return None
    flagged = [r for r in data["indicators"] if r["flag"] in FLAG_SHOWN or r["spc_alert"]]
    return {"run_id": data["run_id"], "organisation": data["organisation"], "flagged": flagged}


def monitoring_view(db: Db, actor: Actor, flag_rows: int = 50, movers: int = 20) -> dict[str, Any]:
    """The monitoring overview: bands of the latest run, biggest movers, flags and why."""
    from carelens.services import monitoring as monitoring_service

    summary = monitoring_service.run_summary(db, actor)
    return {
        "summary": summary,
        "movers": monitoring_service.biggest_movers(db, actor, limit=movers),
        "flags": monitoring_service.flags(db, actor, risks_only=True, page_size=flag_rows),
    }


MEASURE_NAMES = {
    "distance_from_target": "Distance from target (allocation above (+) or below (−) target)",
    "need_index_core": "Need index (core services; 1 = national average)",
    "allocation_per_head_gbp": "Allocation per head (£)",
}
RATING_NAMES = {
    "outstanding": "Outstanding",
    "good": "Good",
    "requires_improvement": "Requires improvement",
    "inadequate": "Inadequate",
}


# --- inspection planning and the failure regime -----------------------------------------------------

INSPECTION_TYPE_NAMES = {
    "care_home": "Care home",
    "hospital_location": "Hospital location (core services)",
    "trust_well_led": "NHS trust well-led review",
    "gp_practice": "GP practice",
}
"""Display names of the inspection types of ``config/plan/planning.yaml``."""
PLAN_STATUS_NAMES = {
    "planned": "Planned",
    "in_progress": "In progress",
    "completed": "Completed",
    "cancelled": "Cancelled",
    "unscheduled": "Not scheduled",
}
"""Display names of the inspection statuses (:data:`carelens.plan.service.STATUS_MOVES`)."""


def _span(start: str | None, end: str | None) -> str | None:
    if not start:
        return None
    return start if end in (None, start) else f"{start} to {end}"


def _due(due_date: str | None, deadline: str | None) -> str:
    """When an inspection is due, and its statutory deadline when triggers brought it forward."""
    if not due_date:
        return f"deadline {deadline}" if deadline else "–"
    return due_date if deadline in (None, due_date) else f"{due_date} (deadline {deadline})"


def inspection_row(row: dict[str, Any], inspector_id: str | None = None) -> dict[str, Any]:
    """An inspection as the pages show it: the service's row with display texts added (in the team, the
    lead comes first and the asking inspector is "you"). Rows without a window (what the services give
    roles that may not see the plan) stay without one."""
    team = ["you" if member == inspector_id else member for member in row.get("team") or []]
    members = [f"{member} (lead)" if n == 0 else member for n, member in enumerate(team)]
    return {
        **row,
        "type_name": INSPECTION_TYPE_NAMES.get(
            row["inspection_type"], row["inspection_type"].replace("_", " ")
        ),
        "status_name": PLAN_STATUS_NAMES.get(row["status"], row["status"]),
        "dates": _span(row.get("start_date"), row.get("end_date"))
        or f"not scheduled: {row.get('unscheduled_reason') or 'no reason recorded'}",
        "window": _span(row.get("window_start"), row.get("window_end")),
        "due": _due(row.get("due_date"), row.get("deadline")),
        "team_text": ", ".join(members),
    }


def plan_view(
    db: Db, actor: Actor, status: str | None, page: int, page_size: int, regime_rows: int
) -> dict[str, Any]:
    """The inspection plan page: the latest schedule's summary, the inspections in it ``actor`` may see
    (the services raise NotFound for roles without the inspection-plans right) and the failure-regime
    cases in its reach."""
    from carelens.services import planning

    schedule = planning.schedule_summary(db, actor)
    table = planning.inspection_plan(db, actor, schedule["id"], page=page, page_size=page_size, status=status)
    return {
        "schedule": schedule,
        "table": table,
        "rows": [inspection_row(row, actor.inspector_id) for row in table.items],
        "regime": regime_panel(db, actor, regime_rows, _date(schedule["as_of"])),
    }


def regime_panel(db: Db, actor: Actor, rows: int, as_of: dt.date) -> dict[str, Any] | None:
    """Open failure-regime cases in the actor's reach, the earliest deadline first, with days overdue on
    ``as_of`` (the plan page uses the plan's date: the enforcement a plan serves is judged on the same
    day); None when the role may not see the regime (the service says 403)."""
    from carelens.services import Forbidden, planning

    try:
        cases = _all_pages(planning.regime_cases, db=db, actor=actor, open_only=True)
    except Forbidden:
        return None
    late = _all_pages(planning.overdue_actions, db=db, actor=actor, as_of=as_of)
    overdue = {r["id"]: r["days_overdue"] for r in late}
    cases.sort(key=lambda c: (c["deadline"] is None, c["deadline"] or "", c["id"]))
    return {
        "total": len(cases),
        "overdue": len(overdue),
        "as_of": as_of.isoformat(),
        "cases": [{**c, "days_overdue": overdue.get(c["id"])} for c in cases[:rows]],
    }


# --- local system reviews and accountable care organisations ----------------------------------------


def system_reviews_view(
    db: Db, actor: Actor, period: str | None, budget: str | None, page: int, rows: int
) -> dict[str, Any]:
    """The local system reviews page: the reviews the actor may see (published reports to everyone);
    for roles that see review work, places ranked for review with why and overdue actions; for roles
    that see the whole programme, its directions and the budget what-if. ``errors`` name bad input."""
    from carelens.model.access import Scope
    from carelens.services import systems as systems_service

    view: dict[str, Any] = {
        "reviews": _all_pages(systems_service.review_list, db=db, actor=actor),
        "periods": [],
        "period_options": [],
        "period": None,
        "ranking": None,
        "overdue": None,
        "directions": None,
        "budget": budget or "",
        "whatif": None,
        "errors": [],
        "review_work": actor.rules.local_systems is not Scope.NONE,
    }
    rule = actor.rules.local_systems
    if not view["review_work"]:
        return view
    view["periods"] = systems_service.place_periods(db, actor)
    view["period_options"] = [(p, f"Period from {_date(p):%-d %B %Y}") for p in view["periods"]]
    if period and period not in view["periods"]:
        view["errors"].append({"text": "Choose a period from the list", "href": "#period"})
    view["period"] = period if period in view["periods"] else next(iter(view["periods"]), None)
    if view["period"]:
        chosen = _date(view["period"])
        view["ranking"] = systems_service.place_ranking(db, actor, chosen, page=page, page_size=rows)
    view["overdue"] = systems_service.action_list(db, actor, overdue_only=True, page_size=rows)
    if rule is not Scope.ALL:
        return view
    view["directions"] = _all_pages(systems_service.directions, db=db, actor=actor)
    if budget:
        amount = _pounds(budget)
        if amount is None:
            view["errors"].append(
                {"text": "Enter the budget in pounds, for example 2000000", "href": "#budget"}
            )
        elif view["period"]:
            view["whatif"] = systems_service.programme_whatif(db, actor, amount, period=_date(view["period"]))
    return view


def _pounds(text: str) -> float | None:
    """An amount of pounds typed into a form ('£2,000,000' or '2000000'); None when it is not one."""
    try:
        amount = float(text.replace("£", "").replace(",", "").strip())
    except ValueError:
        return None
    return amount if 0 <= amount < 1e12 else None


REVIEW_STATUS_TAGS = {"planned": ("Planned, not yet reported", "grey"), "reported": ("Reported", "green")}
"""How a review's status shows on the pages (text, tag colour)."""
CONCENTRATION_TAGS = {
    "highly concentrated": "red",
    "moderately concentrated": "orange",
    "unconcentrated": "green",
}
"""Tag colours of the market-concentration bands (flagged = highly concentrated)."""


def accountable_care_view(db: Db, actor: Actor) -> dict[str, Any]:
    """The ACO page: current settlements and market concentration of the ACOs in reach, with the
    configured thresholds the page explains them by (the services say Forbidden to roles without)."""
    from carelens.services import systems as systems_service

    config = systems_service.method()[0]
    return {
        "settlements": _all_pages(systems_service.aco_settlements, db=db, actor=actor),
        "concentration": _all_pages(systems_service.market_concentration, db=db, actor=actor),
        "hhi_moderate_above": config.hhi_moderate_above,
        "hhi_high_above": config.hhi_high_above,
        "shared_savings_rate": config.shared_savings_rate,
    }
