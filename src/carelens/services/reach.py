"""What an actor's role rule reaches: the one place a :class:`~carelens.model.access.Scope` is interpreted.

The rule itself is data (:data:`carelens.model.access.ROLE_RULES`); this module turns a rule's scope
into the organisations it covers (:func:`reach`, using the dated relationships that hold today) and the
planned inspections it covers (:func:`inspections`). Each scope has one meaning:

- ``NONE``: nothing.
- ``OWN``: the organisations the actor is tied to and the sites they run. No inspection plan: an
  unannounced visit must never reach the provider it is to.
- ``ASSIGNED``: the actor's assignments: the organisations it is tied to (with the sites they run, as
  ``OWN``), and the inspections assigned to it (its inspector id) or of an organisation it is itself
  tied to. A site's inspection reaches it only through its own assignment or tie, never through its
  provider's, so an inspector sees no more of a plan than it is assigned.
- ``AREA``: a commissioner's area: itself, its sub-areas, their practices and the providers they hold
  contracts with. No inspection plan.
- ``SECTOR``: what is in the actor's sector (organisations by their sector, inspections by theirs).
- ``ALL``: every organisation and every inspection.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from carelens.model.access import Actor, Scope
from carelens.model.organisations import RelationshipKind
from carelens.store import schema
from carelens.store.schema_plan import plan_assignment, plan_inspection


@dataclass(frozen=True)
class Reach:
    """The organisations a rule covers: every one, or listed codes, and/or every one in a sector."""

    everything: bool = False
    codes: frozenset[str] = frozenset()
    sector: str | None = None

    def clause(self, code: sa.ColumnElement) -> sa.ColumnElement[bool]:
        """A SQL condition on an organisation-code column: true for organisations in reach."""
        if self.everything:
            return sa.true()
        parts = []
        if self.codes:
            parts.append(code.in_(sorted(self.codes)))
        if self.sector:
            org = schema.organisation
            parts.append(code.in_(sa.select(org.c.code).where(org.c.sector == self.sector)))
        return sa.or_(*parts) if parts else sa.false()

    def includes(self, code: str, sector: str | None) -> bool:
        """Whether one organisation (with its sector) is in reach."""
        return self.everything or code in self.codes or (self.sector is not None and sector == self.sector)

    @property
    def empty(self) -> bool:
        return not (self.everything or self.codes or self.sector)


NOWHERE = Reach()


def _current_links(
    connection: sa.Connection, kind: RelationshipKind, side: str, codes: frozenset[str]
) -> set[str]:
    """Codes on the other side of current ``kind`` links whose ``side`` ('subject'/'object') is in codes."""
    if not codes:
        return set()
    rel = schema.org_relationship
    here, there = (
        (rel.c.subject_code, rel.c.object_code)
        if side == "subject"
        else (
            rel.c.object_code,
            rel.c.subject_code,
        )
    )
    query = sa.select(there).where(rel.c.kind == kind, rel.c.valid_to.is_(None), here.in_(sorted(codes)))
    return set(connection.execute(query).scalars())


def covers_any(actor: Actor, scope: Scope) -> bool:
    """Whether ``scope`` covers any organisation for ``actor``, decided without the store: exactly when
    :func:`reach` is not empty (every organisation; a sector, when the actor has one; its own
    organisations or area, when it is tied to some). Areas that have nothing to show a role outside
    them refuse an actor it is false for (Forbidden); the pages ask it too."""
    if scope is Scope.ALL:
        return True
    if scope is Scope.SECTOR:
        return bool(actor.sector)
    if scope in (Scope.OWN, Scope.ASSIGNED, Scope.AREA):
        return bool(actor.organisations)
    return False


def reach(connection: sa.Connection, actor: Actor, scope: Scope) -> Reach:
    """The organisations ``scope`` covers for ``actor``."""
    if scope is Scope.ALL:
        return Reach(everything=True)
    if scope is Scope.SECTOR:
        return Reach(sector=actor.sector) if actor.sector else NOWHERE
    own = frozenset(actor.organisations)
    if scope in (Scope.OWN, Scope.ASSIGNED):  # an inspector's assigned organisations are its own
        sites = _current_links(connection, RelationshipKind.PROVIDER_LOCATION, "subject", own)
        return Reach(codes=own | sites)
    if scope is Scope.AREA:
        area = own | _current_links(connection, RelationshipKind.COMMISSIONER_PARENT, "object", own)
        members = _current_links(connection, RelationshipKind.PRACTICE_COMMISSIONER, "object", area)
        contracted = _current_links(connection, RelationshipKind.CONTRACT, "subject", area)
        return Reach(codes=frozenset(area | members | contracted))
    return NOWHERE


def inspections(actor: Actor, scope: Scope) -> sa.ColumnElement[bool] | None:
    """SQL on ``plan_inspection``: the planned inspections ``scope`` covers for ``actor`` (see the
    module's scopes); None when it covers none, so callers answer NotFound without asking the store."""
    i = plan_inspection
    if scope is Scope.ALL:
        return sa.true()
    if scope is Scope.SECTOR:
        return i.c.sector == actor.sector if actor.sector else None
    if scope is Scope.ASSIGNED:
        parts = []
        if actor.inspector_id:
            assigned = sa.select(plan_assignment.c.inspection_id).where(
                plan_assignment.c.inspector_id == actor.inspector_id
            )
            parts.append(i.c.id.in_(assigned))
        if actor.organisations:
            parts.append(i.c.org_code.in_(sorted(actor.organisations)))
        return sa.or_(*parts) if parts else None
    return None
