"""League tables: organisations ranked on an indicator with their stored verdicts (published figures,
open to everyone)."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from carelens.http.security import ActorDep
from carelens.model.access import Actor
from carelens.services.league import BAND_ORDER, league_options, league_table
from carelens.services.observations import list_indicators
from carelens.web.common import KIND_NAMES, VALUE_FORMATS, suppression_note
from carelens.web.formatting import count_labels, figure
from carelens.web.layout import PageNumber, PageSize, download_links, pager_links, render_page, store
from carelens.web.pages import NavLink
from carelens.web.settings import web_settings
from carelens.web.templating import SortAs, marked, nhs_tag, org_link

router = APIRouter(include_in_schema=False)

VERDICT_COLOURS = {
    "worse": "orange",
    "better": "blue",
    "as expected": "grey",
    "higher": "purple",
    "lower": "purple",
    "not compared": "white",
    "not assessed": "white",
    "suppressed": "white",
}
"""Tag colours of the verdicts (as the design system's ``flag_tag``)."""


def visible_to(actor: Actor) -> bool:
    """League tables are published: for everyone."""
    return True


def nav_links(actor: Actor) -> list[NavLink]:
    return [NavLink("League tables", "/league-tables", (30,))]


SORTABLE = {
    "Rank": "rank",
    "Band": "band",
    "Organisation": "name",
    "Type": "type",
    "Region": "region",
    "Value": "value",
}
"""The columns a reader may sort the table by (heading -> the service's sort)."""


@router.get("/league-tables", response_class=HTMLResponse)
def league_tables(
    request: Request,
    actor: ActorDep,
    indicator: Annotated[str | None, Query(max_length=80)] = None,
    period: Annotated[date | None, Query(description="A period the monitoring run judged.")] = None,
    kind: Annotated[str | None, Query(max_length=30)] = None,
    region: Annotated[str | None, Query(max_length=40)] = None,
    sort: Annotated[str | None, Query(max_length=20)] = None,
    order: Annotated[str | None, Query(pattern="^(ascending|descending)$")] = None,
    page_number: PageNumber = 1,
    size: PageSize = None,
):
    engine = store(request)
    rankable = [
        i for i in list_indicators(engine, actor) if i["polarity"] in ("higher_is_better", "lower_is_better")
    ]
    chosen = next((i for i in rankable if i["id"] == indicator), rankable[0] if rankable else None)
    table, options = None, {"kinds": [], "regions": {}, "banded": False}
    kind, region = kind or None, region or None
    filters = {"indicator": chosen["id"] if chosen else ""} | (
        {"period": period.isoformat()} if period else {}
    )
    filters |= {name: value for name, value in (("kind", kind), ("region", region)) if value}
    ordering = {name: value for name, value in (("sort", sort), ("order", order)) if value}
    if chosen is not None:
        options = league_options(engine, actor, chosen["id"], period=period)
        table = league_table(
            engine,
            actor,
            chosen["id"],
            period=period,
            kind=kind,
            page=page_number,
            page_size=size or web_settings().league_table_rows,
            region=region,
            sort=sort or None,
            descending=order == "descending",
            by_kind=True,
        )
    sizes = {"size": str(size)} if size else {}
    grouped = kind is None and len(options["kinds"]) > 1
    value_format = VALUE_FORMATS.get(chosen["value_type"], "number") if chosen else "number"
    return render_page(
        request,
        actor,
        "league.jinja",
        title="League tables",
        indicators=rankable,
        options=[(i["id"], i["title"]) for i in rankable],
        kind_options=[("", "All types")] + [(k, KIND_NAMES.get(k, k)) for k in options["kinds"]],
        region_options=[("", "All regions")] + [(c, n or c) for c, n in options["regions"].items()],
        kind=kind or "",
        region=region or "",
        banded=options["banded"],
        chosen=chosen,
        table=table,
        grouped=grouped,
        groups=_groups(table, grouped),
        value_format=value_format,
        league_rows=league_rows,
        league_head=league_head(options["banded"], value_format),
        sortable=lambda head: _sort_links("/league-tables", head, filters, sort, order, options["banded"]),
        kind_names=KIND_NAMES,
        downloads=download_links("/league-tables", filters | ordering),
        suppression_note=suppression_note(),
        **pager_links("/league-tables", filters | ordering | sizes, table),
    )


def _groups(table, grouped: bool) -> list[tuple[str | None, list[dict]]]:
    """The rows of a page by kind of organisation, as the service grouped them when ``grouped`` (one
    group, without a name, otherwise)."""
    if table is None:
        return []
    if not grouped:
        return [(None, table.items)]
    groups: list[tuple[str | None, list[dict]]] = []
    for row in table.items:
        if not groups or groups[-1][0] != row["kind"]:
            groups.append((row["kind"], []))
        groups[-1][1].append(row)
    return groups


def _sort_links(
    path: str, head: list[str], filters: dict, sort: str | None, order: str | None, banded: bool
) -> dict[int, tuple[str, str]]:
    """For each sortable column of ``head``: the link that sorts by it (ascending first, then the other
    way when it is already sorted ascending) and its ``aria-sort`` state."""
    current = sort or ("band" if banded else "rank")
    links = {}
    for n, heading in enumerate(head):
        key = SORTABLE.get(heading)
        if key is None:
            continue
        state = "none"
        if key == current:
            state = "descending" if order == "descending" else "ascending"
        flip = "descending" if state == "ascending" else "ascending"
        links[n] = (f"{path}?{urlencode(filters | {'sort': key, 'order': flip})}", state)
    return links


def league_head(banded: bool, value_format: str) -> list[str]:
    """The headings of a league table: a banded indicator's band in place of the rank; its counts named
    as the indicator's kind of figure counts them (:func:`carelens.web.formatting.count_labels`)."""
    count_label, size_label = count_labels(value_format)
    return [
        "Band" if banded else "Rank",
        "Organisation",
        "Type",
        "Region",
        "Value",
        count_label,
        size_label,
        "Compared with similar organisations",
    ]


def league_rows(items: list[dict], value_format: str, banded: bool) -> list[list]:
    """The rows of a league table page: rank (or, for a banded indicator, its significance band: the
    stored judgement, as the publisher bands it), organisation, type, region, value, numerator, size,
    and the stored verdict (marked with its figures for machines:
    :func:`carelens.web.templating.marked`). A band sorts in the browser as the server sorts it (worse
    first), a value by its raw figure; suppressed figures sort last."""
    rows = []
    for r in items:
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
        if banded:
            place = SortAs(
                nhs_tag(r["band"], VERDICT_COLOURS.get(c["verdict"], "grey")) if r["band"] else "–",
                BAND_ORDER.get(c["verdict"]) if r["band"] else None,
            )
        else:
            place = r["rank"] if r["rank"] is not None else "–"
        size = r["expected"] if r["expected"] is not None else r["denominator"]
        rows.append(
            [
                place,
                org_link(r["org_code"], r["name"]),
                KIND_NAMES.get(r["kind"], r["kind"]),
                r["region"] or "–",
                SortAs("suppressed", None)
                if hidden
                else SortAs(figure(r["value"], value_format), r["value"]),
                "suppressed" if hidden else r["numerator"],
                "suppressed" if hidden else size,
                verdict,
            ]
        )
    return rows
