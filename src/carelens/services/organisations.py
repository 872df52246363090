"""Organisations: search by name, code or place, and the organisation profile.

The organisation directory is public; what a profile adds (ratings, latest figures) follows the role
rules through the ratings and observations services.

The profile's statements are built once (``functools.cache``) with the organisation as a bound
parameter: building and cache-keying a SQLAlchemy statement costs far more than running it on an
indexed lookup, and every profile request would otherwise pay for it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import sqlalchemy as sa

from carelens.model.access import Actor
from carelens.services import NotFound
from carelens.services._db import Db, Page, plain, reading
from carelens.services.judgements import COMPARISON_FIELDS, organisation_judgements, public_run
from carelens.services.observations import latest_by_indicator
from carelens.services.ratings import explain, visible_ratings
from carelens.services.reach import reach
from carelens.services.search import DIRECTORY_COLUMNS, search_directory
from carelens.services.series import quality_by_indicator, successions
from carelens.store import schema

ORG_COLUMNS = DIRECTORY_COLUMNS
"""A directory entry: the public facts about an organisation."""


def own_organisations(actor: Actor) -> list[str]:
    """The codes of the actor's own organisations, sorted: a provider's, a commissioner's. An inspector's
    organisations are the ones it is assigned to inspect, not its own (its inspection plan lists them)."""
    return [] if actor.inspector_id else sorted(actor.organisations)


def search_organisations(
    db: Db,
    actor: Actor,
    q: str | None = None,
    kind: str | None = None,
    sector: str | None = None,
    page: int = 1,
    page_size: int | None = None,
) -> Page:
    """Organisations ``q`` finds by name (words in any order, misspelt, current or former), code, postcode,
    town or place, best first, with why each matched (:mod:`carelens.services.search`). The directory is
    public: every role searches the same entries, and a result holds nothing but its directory entry."""
    return search_directory(db, q, kind, sector, page, page_size)


@cache
def _directory_entry() -> sa.Select:
    """One organisation's directory entry (bound parameter ``code``)."""
    org = schema.organisation
    return sa.select(*(org.c[c] for c in ORG_COLUMNS)).where(org.c.code == sa.bindparam("code"))


def get_organisation(db: Db, actor: Actor, code: str) -> dict[str, Any]:
    """One organisation's directory entry, or :class:`NotFound`."""
    with reading(db) as connection:
        row = connection.execute(_directory_entry(), {"code": code}).mappings().first()
    if row is None:
        raise NotFound(f"no organisation {code!r}")
    return plain(row)


@cache
def _links_queries() -> tuple[tuple[str, sa.Select], ...]:
    """(direction, statement) for an organisation's current relationships where it is the subject ('to')
    and the object ('from'), each with the other organisation's name (bound parameter ``code``)."""
    rel, org = schema.org_relationship, schema.organisation
    queries = []
    for here, there, direction in (
        (rel.c.subject_code, rel.c.object_code, "to"),
        (rel.c.object_code, rel.c.subject_code, "from"),
    ):
        query = (
            sa.select(
                rel.c.kind, there.label("code"), org.c.name, org.c.kind.label("org_kind"), rel.c.valid_from
            )
            .join(org, org.c.code == there)
            .where(here == sa.bindparam("code"), rel.c.valid_to.is_(None))
            .order_by(rel.c.kind, there)
            .limit(200)
        )
        queries.append((direction, query))
    return tuple(queries)


def _links(connection: sa.Connection, code: str) -> list[dict[str, Any]]:
    """Current relationships of an organisation, both ways, with the other organisation's name."""
    return [
        {"direction": direction, **plain(r)}
        for direction, query in _links_queries()
        for r in connection.execute(query, {"code": code}).mappings()
    ]


def organisation_profile(db: Db, actor: Actor, code: str) -> dict[str, Any]:
    """Everything the actor may see about one organisation: directory entry, links, ratings (its own, and
    provider ratings aggregated from its locations' ratings, with the rule) with a plain-English
    explanation, every indicator it has with the figure and verdict the default monitoring run judged
    (``comparison``; :mod:`carelens.services.judgements`) and what the data-quality checks found in its
    series (``data_quality``, ``joins``: :mod:`carelens.services.series`), the organisations it succeeded
    and that succeeded it (``successions``), and its inspections
    (completed ones only, unless the actor may see the inspection plan)."""
    from carelens.services.assessment import provider_ratings
    from carelens.services.planning import profile_inspections

    with reading(db) as connection:
        organisation = get_organisation(connection, actor, code)
        sector = organisation["sector"]
        within = reach(connection, actor, actor.rules.confidential_data)
        ratings = visible_ratings(connection, actor, code, sector)
        aggregated = provider_ratings(connection, actor, code)
        judged = organisation_judgements(connection, actor, organisation, within)
        latest = latest_by_indicator(connection, actor, code, sector, within)
        checked = quality_by_indicator(connection, code, [item["indicator_id"] for item in latest])
        for item in latest:  # what the data-quality checks found in its series (continued from predecessors)
            notes, joins = checked[item["indicator_id"]]
            item["data_quality"] = notes
            item["joins"] = [{"label": j.label, "date": j.date} for j in joins]
        return {
            "organisation": organisation,
            "confidential": within.includes(code, sector),
            "relationships": _links(connection, code),
            "successions": successions(connection, code),
            "ratings": ratings,
            "provider_ratings": aggregated,
            "explanation": explain(organisation, ratings, aggregated),
            "monitoring_run": public_run(judged["run"]),
            "indicators": [_indicator(row, judged) for row in latest],
            "inspections": profile_inspections(connection, actor, code),
        }


def _indicator(latest: dict[str, Any], judged: dict[str, Any]) -> dict[str, Any]:
    """One indicator of a profile: the figures the run judged (its most recent judged period for this
    organisation) with their ``comparison``; an indicator the run did not judge keeps its latest
    published figures and says why it is not compared. ``latest_period`` is the newest period with
    figures, which may be newer than the judged one until the next run."""
    item = {**latest, "latest_period": latest["period"]}
    found = judged["indicators"].get(latest["indicator_id"])
    if found is None:
        run = judged["run"]
        why = (
            "no complete monitoring run is stored yet"
            if run is None
            else f"monitoring run {run['id']} did not judge this organisation on this indicator "
            "(no figures for the periods it judged)"
        )
        comparison = dict.fromkeys(COMPARISON_FIELDS) | {"verdict": "not compared", "reason": why}
        if run is not None:
            comparison |= {"run_id": run["id"], "run_scope": run["scope"]}
        return item | {"comparison": comparison, "history": []}
    return item | found["figures"] | {"comparison": found["comparison"], "history": found["history"]}
