"""Which organisations an actor's role rule reaches (own organisations, area, sector or all).

The rule itself is data (:data:`carelens.model.access.ROLE_RULES`); this module turns a rule's
:class:`~carelens.model.access.Scope` into the organisations it covers, using the dated relationships
that hold today: a provider's own organisations include the sites it runs; a commissioner's area is
itself, its sub-areas, their practices and the providers they hold contracts with.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from carelens.model.access import Actor, Scope
from carelens.model.organisations import RelationshipKind
from carelens.store import schema


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
    if scope in (Scope.OWN, Scope.ASSIGNED):  # an inspector's assignments' organisations are its own
        sites = _current_links(connection, RelationshipKind.PROVIDER_LOCATION, "subject", own)
        return Reach(codes=own | sites)
    if scope is Scope.AREA:
        area = own | _current_links(connection, RelationshipKind.COMMISSIONER_PARENT, "object", own)
        members = _current_links(connection, RelationshipKind.PRACTICE_COMMISSIONER, "object", area)
        contracted = _current_links(connection, RelationshipKind.CONTRACT, "subject", area)
        return Reach(codes=frozenset(area | members | contracted))
    return NOWHERE
