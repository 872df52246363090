"""An organisation's profile, its printable report and the report as PDF: open to everyone, with what
the actor's role adds (confidential figures, monitoring flags, planned inspections) as the services
decide.

An indicator's figure, its verdict against its peers and its funnel plot are what the default
monitoring run stored (:mod:`carelens.services.judgements`): the same on every page, in the API and in
the reports, never worked out again here. The control chart is drawn from the organisation's published
series, continued from the organisations it succeeded, with the months that failed a data-quality check
marked (:func:`carelens.services.series.series_chart`).

A profile shows its scored indicators (those with a better direction) in full, each with its charts;
the ones compared but not scored (neutral polarity: waiting times for each treatment function, A&E
activity) are a row each of one table, with the same stored verdict, and their charts on the indicator's
own page (``/organisations/{code}/indicators/{id}``): a trust has dozens of them, and drawing every chart
made its page a megabyte.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from carelens.http.security import ActorDep
from carelens.model.access import Actor
from carelens.services import NotFound
from carelens.services import judgements as judgement_service
from carelens.services import observations as observation_service
from carelens.services import organisations as organisation_service
from carelens.services import ratings as rating_service
from carelens.services import series as series_service
from carelens.services._db import Db
from carelens.services.monitoring import intelligence_profile
from carelens.web.charts import (
    CompareBar,
    FunnelFigure,
    Icon,
    SpineRow,
    assurance_icon,
    cached_distribution,
    cached_funnel,
    compare_chart,
    funnel_chart,
    rating_panel,
    spc_chart,
    spine_chart,
    spine_quantiles,
    variation_icon,
)
from carelens.web.common import KIND_NAMES, VALUE_FORMATS, indicator_names, inspection_row, suppression_note
from carelens.web.formatting import by_key_question, flag_reason, level, limits_note, month
from carelens.web.layout import render_page, store
from carelens.web.pages import OWN_ORGANISATION_LINKS, NavLink
from carelens.web.report import report_pdf
from carelens.web.settings import WebSettings, web_settings

router = APIRouter(include_in_schema=False)


def visible_to(actor: Actor) -> bool:
    """Profiles are published: for everyone."""
    return True


def nav_links(actor: Actor) -> list[NavLink]:
    """The actor's own organisations (after each one's scorecard, if it has one)."""
    own = organisation_service.own_organisations(actor)[:OWN_ORGANISATION_LINKS]
    return [
        NavLink(f"My organisation ({code})", f"/organisations/{code}", (10, n, 1))
        for n, code in enumerate(own)
    ]


@router.get("/organisations/{code}", response_class=HTMLResponse)
def organisation(request: Request, actor: ActorDep, code: str):
    view = profile_view(store(request), actor, code, web_settings())
    title = view["organisation"]["name"] or code
    return render_page(request, actor, "organisation.jinja", title=title, **view)


@router.get("/organisations/{code}/indicators/{indicator_id}", response_class=HTMLResponse)
def organisation_indicator(request: Request, actor: ActorDep, code: str, indicator_id: str):
    """One indicator of an organisation in full: its figure, stored verdict, funnel, compare-organisations
    chart and control chart."""
    db, settings = store(request), web_settings()
    profile = organisation_service.organisation_profile(db, actor, code)
    organisation = profile["organisation"]
    item = next((i for i in profile["indicators"] if i["indicator_id"] == indicator_id), None)
    if item is None:
        raise NotFound(f"no figures of {indicator_id} for {code}")
    audience = judgement_service.funnel_audience(db, actor)
    panel = indicator_panel(db, actor, organisation, item, audience, settings, charts=ALL_CHARTS)
    return render_page(
        request,
        actor,
        "indicator.jinja",
        title=f"{panel.title}: {organisation['name'] or code}",
        organisation=organisation,
        p=panel,
        monitoring_run=profile["monitoring_run"],
        suppression_note=suppression_note(),
    )


@router.get("/organisations/{code}/report", response_class=HTMLResponse)
def organisation_report(request: Request, actor: ActorDep, code: str):
    return _report_page(request, actor, code)[1]


@router.get("/organisations/{code}/report.pdf")
def organisation_report_pdf(request: Request, actor: ActorDep, code: str):
    """The printable report (the same page, so the same sections) printed to PDF."""
    view, page = _report_page(request, actor, code)
    headers = {"Content-Disposition": _pdf_disposition(view["organisation"]["code"])}
    if actor.signed_in:
        headers["Cache-Control"] = "no-store"
    pdf = report_pdf(page.body.decode("utf-8"), _report_title(view))
    return Response(pdf, media_type="application/pdf", headers=headers)


def _report_page(request: Request, actor: Actor, code: str) -> tuple[dict[str, Any], HTMLResponse]:
    """The printable report of an organisation as the actor may see it (and the view it shows)."""
    view = profile_view(store(request), actor, code, web_settings())
    title = _report_title(view)
    return view, render_page(request, actor, "report.jinja", title=title, made_on=dt.date.today(), **view)


def _report_title(view: dict[str, Any]) -> str:
    return f"Report: {view['organisation']['name'] or view['organisation']['code']}"


@router.get("/organisations/{code}/charts/spine.csv")
def spine_csv(request: Request, actor: ActorDep, code: str):
    """The figures of the organisation's spine chart, as CSV (the profile's panels, without drawing
    their charts)."""
    db, settings = store(request), web_settings()
    profile = organisation_service.organisation_profile(db, actor, code)
    organisation, audience = profile["organisation"], judgement_service.funnel_audience(db, actor)
    panels = [
        indicator_panel(db, actor, organisation, row, audience, settings, charts=())
        for row in profile["indicators"]
    ]
    return _csv(_spine(db, actor, organisation, panels, audience, settings), organisation["code"], "spine")


@router.get("/organisations/{code}/charts/{indicator_id}/{chart}.csv")
def chart_csv(request: Request, actor: ActorDep, code: str, indicator_id: str, chart: str):
    """The figures of one indicator's funnel plot (``funnel``), compare-organisations chart (``compare``)
    or control chart (``spc``), as CSV: what the page's table shows, every row, numbers unrounded (that
    indicator's panel of the profile only)."""
    db, settings = store(request), web_settings()
    profile = organisation_service.organisation_profile(db, actor, code)
    organisation = profile["organisation"]
    item = next((row for row in profile["indicators"] if row["indicator_id"] == indicator_id), None)
    found = None
    if item is not None and chart in ALL_CHARTS:
        audience = judgement_service.funnel_audience(db, actor)
        panel = indicator_panel(db, actor, organisation, item, audience, settings, charts=(chart,))
        found = panel.charts.get(chart)
    return _csv(found, organisation["code"], f"{indicator_id}-{chart}")


def _csv(chart, code: str, name: str) -> Response:
    if chart is None or chart.data is None:
        raise NotFound(f"no chart {name} for {code}")
    plain = "".join(c for c in f"{code}-{name}" if c.isascii() and (c.isalnum() or c in "-_"))[:100]
    headers = {"Content-Disposition": f'attachment; filename="carelens-{plain}.csv"'}
    return Response(chart.data.csv(), media_type="text/csv; charset=utf-8", headers=headers)


def _pdf_disposition(code: str) -> str:
    """``inline`` with a file name made of the code's letters, digits, '-' and '_' only (an organisation
    code may hold any character: CR/LF or quotes must not reach a header), and the code in full,
    percent-encoded, as RFC 6266's ``filename*``."""
    plain = "".join(c for c in code if c.isascii() and (c.isalnum() or c in "-_"))[:60] or "organisation"
    return f"inline; filename=\"carelens-{plain}.pdf\"; filename*=UTF-8''carelens-{quote(code, safe='')}.pdf"


AXIS_TITLES = {
    "proportion": ("Size: people or attendances counted (denominator)", "Percentage (%)"),
    "indirectly_standardised_ratio": (
        "Size: expected number (count)",
        "Observed ÷ expected (ratio)",
    ),
    "rate": ("Size: people or attendances counted (denominator)", "Rate (per person or attendance)"),
}
"""Funnel axis titles (x, y) by value type, with their units; the control chart's y axis is the same."""
DEFAULT_AXIS_TITLES = ("Size (count)", "Value (as published)")
FUNNEL, COMPARE, SPC = "funnel", "compare", "spc"
ALL_CHARTS = (FUNNEL, COMPARE, SPC)
"""An indicator's charts, in the order its own page shows them."""


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
    "not assessed": "not assessed: the figure failed a data-quality check",
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
    headline: bool = True
    """Scored (a better direction): shown in full on the profile; else a row of its table."""
    latest_period: str | None = None
    data_quality: list[dict[str, Any]] = field(default_factory=list)
    """What the data-quality checks found in the series (:func:`carelens.services.series.quality_notes`)."""
    joins: list[dict[str, Any]] = field(default_factory=list)
    """Mergers whose predecessors' history the series continues."""
    comparison_text: str | None = None
    funnel_note: str | None = None
    spc_note: str | None = None
    compare_note: str | None = None
    compare_elsewhere: bool = False
    """The compare-organisations chart is on the indicator's own page (a profile links to it)."""
    charts: dict[str, Any] = field(default_factory=dict)
    """The :class:`carelens.web.charts.Chart` objects (``funnel``, ``compare``, ``spc``): the page's
    tables of their figures, their CSV and their drawings."""
    variation: Icon | None = None
    """The control chart's Making Data Count variation icon (and its sentence)."""
    assurance: Icon | None = None

    @property
    def verdict(self) -> str:
        return self.comparison.get("verdict") or "not compared"

    @property
    def verdict_rest(self) -> str | None:
        """What follows the verdict's tag: the sentence without the verdict it starts with ("than
        expected compared with similar organisations" after "worse"), never the word twice."""
        text = self.comparison_text
        if text and text.startswith(f"{self.verdict} "):
            return text[len(self.verdict) + 1 :]
        return f"({text})" if text else None


def profile_view(db: Db, actor: Actor, code: str, settings: WebSettings) -> dict[str, Any]:
    """Everything the organisation profile shows (raises the services' NotFound); charts of the headline
    indicators only (the others' are on each indicator's own page)."""
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
    overall_panel = overall or [
        {"key_question": r["key_question"], "rating": r["rating"], "report_date": r["effective_date"]}
        for r in profile["provider_ratings"] or []
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
        "provider_ratings": by_key_question(profile["provider_ratings"]),
        "overall_ratings": by_key_question(overall),
        "service_ratings": by_key_question(services, "service"),
        "rating_history": past,
        "links": links,
        "successions": profile["successions"],
        "panels": panels,
        "rating_panel": rating_panel(overall_panel, services, _report_href(organisation, current)),
        "spine": _spine(db, actor, organisation, panels, audience, settings),
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
    charts: tuple[str, ...] | None = None,
) -> IndicatorPanel:
    """One indicator of a profile (an item of the organisation profile service): its judged figure and
    stored verdict, and the charts named in ``charts`` of the run's funnel with this organisation marked,
    the organisations it was compared with as bars (:data:`COMPARE`) and its control chart. None: the
    funnel and control chart when it is a headline indicator, the compare-organisations chart being on
    the indicator's own page (a trust has several headline indicators: sixty bars and their table each
    would double its page)."""
    definition = _definition(db, actor, item["indicator_id"])
    value_type = definition.get("value_type", "")
    polarity = definition.get("polarity") or "neutral"
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
        polarity=polarity.replace("_", " "),
        value_format=VALUE_FORMATS.get(value_type, "number"),
        comparison=comparison,
        latest_period=item.get("latest_period"),
        data_quality=item.get("data_quality", []),
        joins=item.get("joins", []),
        headline=scored(definition),
    )
    panel.comparison_text = COMPARISON_TEXT.get(panel.verdict)
    if charts is None:
        charts = (FUNNEL, SPC) if panel.headline else ()
        panel.compare_elsewhere = panel.headline and comparison.get("peer_group") is not None
    if "funnel" in charts:
        _add_funnel(db, actor, organisation, item, value_type, panel, audience, settings)
    if COMPARE in charts:
        _add_compare(db, actor, organisation, value_type, panel, settings.compare_bars)
    if "spc" in charts:
        _add_spc(db, actor, organisation, definition, panel, settings)
    return panel


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
    x_title, y_title = AXIS_TITLES.get(value_type, DEFAULT_AXIS_TITLES)
    levels = (level(c["level"]), level(c["elevated_level"]))

    def figure() -> FunnelFigure | None:
        size_column = "expected" if value_type == "indirectly_standardised_ratio" else "denominator"
        rows = judgement_service.funnel_points(
            db, actor, run_id, panel.id, period, group, size=size_column, most=settings.chart_points
        )
        if not rows:
            return None
        frame = pd.DataFrame(rows)
        size = frame["expected"] if value_type == "indirectly_standardised_ratio" else frame["denominator"]
        frame = frame.assign(
            x=pd.to_numeric(size, errors="coerce"), y=pd.to_numeric(frame["value"]), code=frame["org_code"]
        )
        return FunnelFigure(
            peers=frame[["x", "y", "direction", "code"]],
            limits=frame[["x", "lower", "upper", "elevated_lower", "elevated_upper"]],
            target=float(frame["target"].iloc[0]),
            title=f"{panel.title}, {month(period)}",
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
    chart = funnel_chart(base, highlight, panel.comparison_text or "", organisation["code"])
    panel.charts["funnel"] = chart
    hidden = int(c.get("peers") or 0) - base.shown
    panel.funnel_note = (
        f"{c.get('peers') or base.shown:,} comparable organisations in {month(period)}, from monitoring run "
        f"{run_id}; limits at {levels[0]} and {levels[1]}, {limits_note(c.get('od_note'))}. "
        f"A point outside the {levels[0]} limits is unlikely to be chance alone."
        + (
            f" {base.shown:,} are drawn: those outside the limits first, then an even spread of the rest; "
            "organisations whose figures are suppressed are not drawn."
            if hidden > 0
            else ""
        )
    )


def _add_compare(db, actor, organisation, value_type: str, panel: IndicatorPanel, most: int) -> None:
    """The organisations this one was compared with in the stored judgement, highest value first, each
    with its 95% confidence interval and coloured by its stored verdict (OHID Fingertips' "compare
    areas"): all of them up to ``most``, else the ``most`` nearest in rank."""
    c = panel.comparison
    if c.get("peer_group") is None or c.get("run_id") is None:
        return  # the funnel's note already says why it was not compared
    code = organisation["code"]
    found = judgement_service.compared_organisations(
        db, actor, c["run_id"], panel.id, c["period"], c["peer_group"], code, value_type, most
    )
    if not found or not found["rows"]:
        panel.compare_note = "No organisation in this comparison has published figures to draw."
        return
    first, total = found["first"], found["total"]
    bars = [
        CompareBar(
            code=r["org_code"],
            name=r["name"] or r["org_code"],
            value=float(r["value"]),
            lower=r["interval_lower"],
            upper=r["interval_upper"],
            verdict=r["verdict"] or "not compared",
            rank=first + k,
            numerator=r["numerator"],
            size=r["size"],
        )
        for k, r in enumerate(found["rows"])
    ]
    interval_level = level(found["level"])
    target = c.get("target")
    panel.charts[COMPARE] = compare_chart(
        bars,
        code=code,
        title=f"{panel.title}, {month(c['period'])}: {organisation['name'] or code} and similar organisations",
        value_title=AXIS_TITLES.get(value_type, DEFAULT_AXIS_TITLES)[1],
        value_format=panel.value_format,
        benchmark=float(target) if target is not None else None,
        level=interval_level,
        total=total,
        width=web_settings().chart_width,
    )
    shown = (
        f"all {total:,} organisations it was compared with that have published figures"
        if len(bars) == total
        else f"the {len(bars)} nearest in rank of the {total:,} organisations it was compared with"
        f" (ranks {first} to {first + len(bars) - 1})"
    )
    panel.compare_note = (
        f"{organisation['name'] or code} and {shown}, highest value first, each with its {interval_level} confidence "
        f"interval ({INTERVAL_METHODS.get(value_type, 'from its counts')}). The colour and the mark before "
        "each name are the verdict of the stored comparison (the funnel plot's limits), which an interval "
        "alone does not decide."
        + ("" if found["rank"] is not None else " This organisation's figure is not shown.")
    )


INTERVAL_METHODS = {
    "proportion": "Wilson score interval",
    "rate": "exact Poisson interval of the count below 10, Byar's approximation from 10, divided by the "
    "denominator",
    "indirectly_standardised_ratio": "exact Poisson interval of the observed count below 10, Byar's "
    "approximation from 10, divided by the expected count",
}
"""How each value type's confidence interval is computed, in words (as the charts' notes say)."""


def _add_spc(db, actor, organisation, definition, panel: IndicatorPanel, settings: WebSettings) -> None:
    """The organisation's own series of the indicator as an XmR control chart (Making Data Count)."""
    points = series_service.series_chart(
        db, actor, organisation["code"], organisation["sector"], panel.id, definition, settings.spc_points
    )
    if points is None:
        panel.spc_note = "Only one period of data: no control chart."
        return
    chart = spc_chart(
        points,
        title=f"{panel.title}: {organisation['name'] or organisation['code']} over time",
        y_title=AXIS_TITLES.get(definition.get("value_type", ""), DEFAULT_AXIS_TITLES)[1],
        value_format=panel.value_format,
        floor=0.0,
        width=settings.chart_width,
        height=settings.chart_height,
    )
    panel.charts["spc"] = chart
    value_type = definition.get("value_type", "")
    excluded = int((points["not_assessed"] != "").sum())
    last = str(points["variation_icon"][0])
    values, means = points["value"], points["mean"]
    latest = [k for k in range(len(values)) if values[k] == values[k]][-1:]  # the last point with a value
    high = bool(values[latest[0]] >= means[latest[0]]) if latest else None
    panel.variation = variation_icon(
        last, series_service.IMPROVEMENT.get(definition.get("polarity"), "neutral"), high
    )
    panel.assurance = assurance_icon("")  # no indicator has a target yet: the sentence says so
    short = bool(points["short_series"][-1])
    panel.spc_note = (
        f"XmR control chart of this organisation's own {len(points['value'])} periods (NHS 'Making Data Count'; "
        f"separate from the comparison with peers): the latest point shows "
        f"{last.replace('_', ' ') or 'no special cause'}."
        + (
            f" The shaded band is each month's {level(points['interval_level'])} confidence interval "
            f"({INTERVAL_METHODS[value_type]}): how far chance alone could move that month's value."
            if value_type in INTERVAL_METHODS
            else ""
        )
        + (" Fewer than 12 points: limits are provisional." if short else "")
        + (
            f" {excluded} months failed a data-quality check: marked with a cross on the axis, not plotted "
            "and not in the limits."
            if excluded
            else ""
        )
        + "".join(f" The series continues across a merger: {j['label']} (marked)." for j in points["joins"])
    )


def _report_href(organisation: dict[str, Any], ratings: list[dict[str, Any]]) -> str | None:
    """The regulator's page of the organisation's inspection reports, when a current rating came with
    a published report (the ratings files give its id)."""
    if not any(r.get("report_link_id") for r in ratings):
        return None
    level = "provider" if organisation["kind"] in ("nhs_trust", "independent_provider") else "location"
    return f"https://www.cqc.org.uk/{level}/{quote(organisation['code'], safe='')}/reports"


def _spine(
    db: Db,
    actor: Actor,
    organisation: dict[str, Any],
    panels: list[IndicatorPanel],
    audience: str,
    settings: WebSettings,
):
    """The spine chart of the organisation's compared indicators: per indicator the stored comparison
    (its verdict and the similar organisations' value it was judged against) and the spread of the
    similar organisations' stored values; None when no indicator was compared."""
    rows = []
    for panel in panels:
        c = panel.comparison
        if c.get("run_id") is None or c.get("peer_group") is None or c.get("target") is None:
            continue
        key = (str(getattr(db, "url", "")), c["run_id"], panel.id, c["period"], c["peer_group"], audience)

        def values(c=c, panel=panel):
            found = judgement_service.funnel_points(
                db, actor, c["run_id"], panel.id, c["period"], c["peer_group"]
            )
            return tuple(float(r["value"]) for r in found if r["value"] is not None) or None

        peers = cached_distribution(key, values)
        if not peers:
            continue
        polarity = panel.polarity.replace(" ", "_")
        worst, q25, median, q75, best = spine_quantiles(peers, polarity)
        shown = panel.value is not None and not panel.suppressed
        rows.append(
            SpineRow(
                title=panel.title,
                period=month(c["period"]),
                value=float(panel.value) if shown else None,
                verdict=panel.verdict,
                centre=float(c["target"]),
                worst=worst,
                q25=q25,
                median=median,
                q75=q75,
                best=best,
                value_format=panel.value_format,
                polarity=polarity,
                peers=len(peers),
            )
        )
    if not rows:
        return None
    name = organisation["name"] or organisation["code"]
    return spine_chart(
        rows, title=f"{name} compared with similar organisations", width=web_settings().chart_width
    )


FLAG_SHOWN = ("elevated risk", "risk")
"""Flags listed on a profile and the monitoring overview (with control-chart alerts); the rest are counted."""


def monitoring_panel(db: Db, actor: Actor, code: str) -> dict[str, Any] | None:
    """The monitoring part of a profile: band, score, and each flagged indicator with why; None when
    the actor may not see it (the service says 404) or no run covers the organisation."""
    try:
        return monitoring_flags(db, actor, code)
    except NotFound:
        return None


def monitoring_flags(db: Db, actor: Actor, code: str) -> dict[str, Any]:
    """The run's band and score of an organisation and its flagged indicators with why, as the profile
    and its download list them (NotFound, from the service, to those it does not reach)."""
    data = intelligence_profile(db, actor, code)
    names = indicator_names(db, actor)
    flagged = [
        r | {"why": flag_reason(r, names.get(r["indicator_id"], ("", "number"))[1])}
        for r in data["indicators"]
        if r["flag"] in FLAG_SHOWN or r["spc_alert"]
    ]
    return {"run_id": data["run_id"], "organisation": data["organisation"], "flagged": flagged}


def other_indicators(db: Db, actor: Actor, code: str) -> list[dict[str, Any]]:
    """The organisation's indicators compared but not scored (neutral polarity), as the profile's table
    lists them: the profile service's items, so confidential figures only to those entitled."""
    profile = organisation_service.organisation_profile(db, actor, code)
    return [
        item for item in profile["indicators"] if not scored(_definition(db, actor, item["indicator_id"]))
    ]


def scored(definition: dict[str, Any]) -> bool:
    """An indicator with a better direction: shown in full on a profile (the others are rows of a table)."""
    return (definition.get("polarity") or "neutral") != "neutral"
