"""What several pages share: display names, the small-numbers sentence, an inspection as the pages
show it, and reading every page of a paged service."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from carelens.services import NotFound
from carelens.services.settings import get_settings
from carelens.web.formatting import KIND_NAMES, date, day, month  # noqa: F401  (pages import them from here)

VALUE_FORMATS = {"proportion": "percent", "indirectly_standardised_ratio": "ratio", "rate": "number"}
"""How each value type's figures are written (a proportion as a percentage)."""


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
"""Display names of the inspection statuses (:data:`carelens.services.planning.INSPECTION_STATUSES`)."""


def suppression_note() -> str:
    """The sentence every page with published figures carries."""
    threshold = get_settings().small_number_threshold
    return (
        f"Counts from 1 to {threshold - 1} are not published, nor the figures that would reveal them, "
        "to protect people's privacy. Such figures show as 'suppressed' and are left out of charts."
    )


def all_pages(fetch, **kwargs) -> list[dict[str, Any]]:
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


def row_id(text: str, what: str) -> int:
    """A row id from a page's path; anything else is a ``what`` that does not exist (NotFound)."""
    if not text.isdigit() or not 0 < int(text) < 2**62:
        raise NotFound(f"no {what} {text}")
    return int(text)


def paged_rows(fetch: Callable[..., Any], **kwargs) -> tuple[list[str], Iterator[dict[str, Any]]]:
    """Every row of a paged service call, for a download: (its columns, the rows). The first page is
    fetched now, so the service's refusal (403, 404) comes before the response starts; the others, of
    the largest size the services allow, as the rows are consumed."""
    size = get_settings().max_page_size
    first = fetch(page=1, page_size=size, **kwargs)

    def rows() -> Iterator[dict[str, Any]]:
        yield from first.items
        for page in range(2, first.pages + 1):
            yield from fetch(page=page, page_size=size, **kwargs).items

    return first.columns, rows()


def indicator_names(db: Any, actor: Any) -> dict[str, tuple[str, str]]:
    """Each indicator's title and how its figures are written (:data:`VALUE_FORMATS`), by id: pages name
    indicators by title, never by id."""
    from carelens.services.observations import list_indicators

    return {
        i["id"]: (i["title"] or i["id"], VALUE_FORMATS.get(i["value_type"] or "", "number"))
        for i in list_indicators(db, actor)
    }


def _span(start: str | None, end: str | None) -> str | None:
    """Dates from ``start`` to ``end`` in words ("18 January 2021 to 22 January 2021")."""
    if not start:
        return None
    return date(start) if end in (None, start) else f"{date(start)} to {date(end)}"


def _due(due_date: str | None, deadline: str | None) -> str:
    """When an inspection is due, and its statutory deadline when triggers brought it forward."""
    if not due_date:
        return f"deadline {date(deadline)}" if deadline else "–"
    return date(due_date) if deadline in (None, due_date) else f"{date(due_date)} (deadline {date(deadline)})"


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
