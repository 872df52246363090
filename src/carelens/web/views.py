"""What the pages show, assembled from the access-checked services (never from the database).

An indicator's figure, its verdict against its peers and its funnel plot are what the default
monitoring run stored (:mod:`carelens.services.judgements`): the same on every page, in the API and in
the reports, never worked out again here. The control chart is drawn from the organisation's published
series with the XmR kernel (:func:`carelens.monitor.control_charts.spc_table`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from carelens.model.access import Actor
from carelens.services import judgements as judgement_service
from carelens.services import observations as observation_service
from carelens.services import organisations as organisation_service
from carelens.services import ratings as rating_service
from carelens.services._db import Db
from carelens.services.settings import get_settings
from carelens.web.charts import FunnelFigure, cached_funnel, funnel_chart, spc_chart
from carelens.web.settings import WebSettings

SPC_IMPROVEMENT = {"lower_is_better": "decrease", "higher_is_better": "increase"}
VALUE_FORMATS = {"proportion": "percent", "indirectly_standardised_ratio": "ratio", "rate": "number"}
"""How each value type's figures are written (a proportion as a percentage)."""
AXIS_TITLES = {
    "proportion": ("People or attendances (denominator)", "Proportion"),
    "indirectly_standardised_ratio": ("Expected count", "Observed / expected"),
    "rate": ("Population or exposure (denominator)", "Rate"),
}
"""Funnel axis titles (x, y) by value type."""

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
    ("organisation_icb", "to"): "Integrated care board",
    ("organisation_icb", "from"): "Provider in ICB",
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
    "as expected": "within the range expected compared with similar organisations",
    "higher": "higher than expected compared with similar organisations",
    "lower": "lower than expected compared with similar organisations",
    "not compared": "not compared with similar organisations",
    "suppressed": "not shown: small numbers are not published",
}
"""What each stored verdict means, in a sentence."""


@dataclass
class IndicatorPanel:
    """One indicator on a profile: the judged figure, its stored comparison with peers, two charts."""

    id: str
    title: str
    description: str
    period: str
    value: Any
    numerator: Any
    denominator: Any
    suppressed: bool
    polarity: str
    value_format: str
    comparison: dict[str, Any]
    """The stored judgement's ``comparison`` object (:func:`carelens.services.judgements.comparison`)."""
    latest_period: str | None = None
    comparison_text: str | None = None
    funnel_note: str | None = None
    funnel_svg: str | None = None
    spc_svg: str | None = None
    spc_note: str | None = None
    charts: dict[str, Any] = field(default_factory=dict)
    """The :class:`carelens.web.charts.Chart` objects (``funnel``, ``spc``) for the PDF report."""

    @property
    def verdict(self) -> str:
        return self.comparison.get("verdict") or "not compared"


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
    audience = judgement_service.funnel_audience(db, actor)
    panels = [
        indicator_panel(db, actor, organisation, row, audience, settings) for row in profile["indicators"]
    ]
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
        "monitoring_run": profile["monitoring_run"],
        "any_suppressed": any(p.suppressed for p in panels),
        "suppression_note": suppression_note(),
        "monitoring": monitoring_panel(db, actor, code) if profile["confidential"] else None,
        "inspections": [inspection_row(row) for row in profile["inspections"]],
        "inspections_confidential": any("window_start" in row for row in profile["inspections"]),
    }


def _definition(db: Db, actor: Actor, indicator_id: str) -> dict[str, Any]:
    return observation_service.indicator_definition(db, actor, indicator_id)


def indicator_panel(
    db: Db,
    actor: Actor,
    organisation: dict[str, Any],
    item: dict[str, Any],
    audience: str,
    settings: WebSettings,
) -> IndicatorPanel:
    """One indicator of a profile (an item of the organisation profile service): its judged figure and
    stored verdict, the run's funnel with this organisation marked, and its control chart."""
    definition = _definition(db, actor, item["indicator_id"])
    value_type = definition.get("value_type", "")
    comparison = item["comparison"]
    panel = IndicatorPanel(
        id=item["indicator_id"],
        title=item["title"],
        description=definition.get("description", ""),
        period=item["period"],
        value=item["value"],
        numerator=item["numerator"],
        denominator=item["denominator"] if item.get("expected") is None else item["expected"],
        suppressed=item["suppressed"],
        polarity=(definition.get("polarity") or "neutral").replace("_", " "),
        value_format=VALUE_FORMATS.get(value_type, "number"),
        comparison=comparison,
        latest_period=item.get("latest_period"),
    )
    panel.comparison_text = COMPARISON_TEXT.get(panel.verdict)
    _add_funnel(db, actor, organisation, item, value_type, panel, audience, settings)
    _add_spc(db, actor, organisation, definition, panel, settings)
    return panel


def _level_text(level: float | None) -> str:
    """95.0004 → '95%', 99.73 → '99.73%'."""
    if level is None:
        return "–"
    return f"{round(level, 1):g}%" if abs(level - round(level, 1)) < 1e-3 else f"{level:.4g}%"


def _add_funnel(
    db,
    actor,
    organisation,
    item: dict,
    value_type: str,
    panel: IndicatorPanel,
    audience: str,
    settings: WebSettings,
) -> None:
    """The funnel the run stored for this indicator, period and peer group, this organisation marked."""
    c = panel.comparison
    if c.get("peer_group") is None or c.get("run_id") is None:
        panel.funnel_note = f"Not compared with similar organisations: {c.get('reason') or 'no judgement'}."
        return
    run_id, period, group = c["run_id"], c["period"], c["peer_group"]
    x_title, y_title = AXIS_TITLES.get(value_type, ("Denominator", "Value"))
    levels = (_level_text(c["level"]), _level_text(c["elevated_level"]))

    def figure() -> FunnelFigure | None:
        size_column = "expected" if value_type == "indirectly_standardised_ratio" else "denominator"
        rows = judgement_service.funnel_points(
            db, actor, run_id, panel.id, period, group, size=size_column, most=settings.chart_points
        )
        if not rows:
            return None
        frame = pd.DataFrame(rows)
        size = frame["expected"] if value_type == "indirectly_standardised_ratio" else frame["denominator"]
        frame = frame.assign(x=pd.to_numeric(size, errors="coerce"), y=pd.to_numeric(frame["value"]))
        return FunnelFigure(
            peers=frame[["x", "y", "direction"]],
            limits=frame[["x", "lower", "upper", "elevated_lower", "elevated_upper"]],
            target=float(frame["target"].iloc[0]),
            title=f"{panel.title}, {_month(period)}",
            x_title=x_title,
            y_title=y_title,
            value_format=panel.value_format,
            levels=levels,
            peer_count=int(c.get("peers") or len(frame)),
            width=settings.chart_width,
            height=settings.chart_height,
            max_points=settings.chart_points,
        )

    base = cached_funnel((str(getattr(db, "url", "")), run_id, panel.id, period, group, audience), figure)
    if base is None:
        panel.funnel_note = "No organisation in this comparison has published figures to draw."
        return
    shown = panel.verdict not in ("suppressed",) and panel.value is not None
    size = item.get("expected") if value_type == "indirectly_standardised_ratio" else item.get("denominator")
    highlight = (size, panel.value) if shown and size is not None else None
    chart = funnel_chart(base, highlight, panel.comparison_text or "")
    panel.charts["funnel"] = chart
    panel.funnel_svg = chart.svg()
    hidden = int(c.get("peers") or 0) - base.shown
    panel.funnel_note = (
        f"{c.get('peers') or base.shown:,} comparable organisations in {_month(period)}, from monitoring run "
        f"{run_id}; limits at {levels[0]} and {levels[1]} ({c.get('od_note') or 'no overdispersion note'}). "
        f"A point outside the {levels[0]} limits is unlikely to be chance alone."
        + (
            f" {base.shown:,} are drawn: those outside the limits first, then an even spread of the rest; "
            "organisations whose figures are suppressed are not drawn."
            if hidden > 0
            else ""
        )
    )


def _add_spc(db, actor, organisation, definition, panel: IndicatorPanel, settings: WebSettings) -> None:
    """The organisation's own series of the indicator as an XmR control chart (Making Data Count)."""
    from carelens.monitor.control_charts import series_chart

    rows = observation_service.series(
        db, actor, organisation["code"], organisation["sector"], panel.id, settings.spc_points
    )
    if len(rows) < 2:
        panel.spc_note = "Only one period of data: no control chart."
        return
    dates = np.array([period for period, _ in rows], dtype="datetime64[D]")
    values = np.array([np.nan if value is None else value for _, value in rows], dtype=float)
    points = series_chart(dates, values, SPC_IMPROVEMENT.get(definition.get("polarity", ""), "neutral"))
    chart = spc_chart(
        points,
        title=f"{panel.title}: {organisation['name'] or organisation['code']} over time",
        y_title=AXIS_TITLES.get(definition.get("value_type", ""), ("", "Value"))[1],
        value_format=panel.value_format,
        floor=0.0,
        width=settings.chart_width,
        height=settings.chart_height,
    )
    panel.charts["spc"] = chart
    panel.spc_svg = chart.svg()
    last = str(points["variation_icon"][0])
    short = bool(points["short_series"][-1])
    panel.spc_note = (
        f"XmR control chart of this organisation's own {len(rows)} periods (NHS 'Making Data Count'; "
        f"separate from the comparison with peers): the latest point shows "
        f"{last.replace('_', ' ') or 'no special cause'}."
        + (" Fewer than 12 points: limits are provisional." if short else "")
    )


def league_rows(table, value_format: str) -> list[list]:
    """The rows of a league table page: rank, organisation, type, value, numerator, size, and the stored
    verdict (marked with its figures for machines: :func:`carelens.web.templating.marked`)."""
    from carelens.web.templating import format_figure, marked, nhs_tag, org_link

    rows = []
    for r in table.items:
        c = r["comparison"]
        hidden = r["suppressed"]
        verdict = marked(
            nhs_tag(c["verdict"], VERDICT_COLOURS.get(c["verdict"], "grey")),
            org=r["org_code"],
            verdict=c["verdict"],
            lower=c["lower"],
            upper=c["upper"],
            peers=c["peers"],
            run=c["run_id"],
        )
        size = r["expected"] if r["expected"] is not None else r["denominator"]
        rows.append(
            [
                r["rank"] if r["rank"] is not None else "–",
                org_link(r["org_code"], r["name"]),
                KIND_NAMES.get(r["kind"], r["kind"]),
                "suppressed" if hidden else format_figure(r["value"], value_format),
                "suppressed" if hidden else r["numerator"],
                "suppressed" if hidden else size,
                verdict,
            ]
        )
    return rows


VERDICT_COLOURS = {
    "worse": "orange",
    "better": "blue",
    "as expected": "grey",
    "higher": "purple",
    "lower": "purple",
    "not compared": "white",
    "suppressed": "white",
}
"""Tag colours of the verdicts (as the design system's ``flag_tag``)."""


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
