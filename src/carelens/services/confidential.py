"""Confidential indicators: figures made from what people tell the regulator, never published.

An indicator whose definition says ``confidential: true`` (``config/indicators/experiences.yaml``: the
share of experiences of care shared that were negative) is monitored like any other, but its figures,
judgements and flags are seen only by the roles that handle people's submissions
(:func:`carelens.services.intel.may_handle`: analysts and administrators everything, a chief inspector
its sector, an inspector its assigned organisations), each within its reach of confidential data. To
everyone else (the public, providers, commissioners, the national board, policy makers) such an
indicator does not exist: it is left out of every list and answer, and asked for by name it is not
found, so a provider cannot learn what people have said about it. Which indicators are confidential is
read from the stored definitions, so the rule follows the configuration, not code.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from carelens.model.access import Actor
from carelens.services.intel import may_handle
from carelens.services.reach import Reach, reach
from carelens.store.repository import confidential_indicators


@dataclass(frozen=True)
class Shown:
    """Which figures of confidential indicators one actor sees: those of the organisations in its reach
    when it handles submissions, none otherwise. Other indicators are untouched."""

    confidential: frozenset[str]
    handles: bool
    within: Reach

    def hidden(self, indicator_id: str) -> bool:
        """Whether the indicator does not exist for the actor at all."""
        return indicator_id in self.confidential and not self.handles

    def shows(self, indicator_id: str, code: str, sector: str | None) -> bool:
        """Whether the actor sees this indicator's figures for this organisation (with its sector)."""
        return indicator_id not in self.confidential or (self.handles and self.within.includes(code, sector))

    def clause(self, indicator: sa.ColumnElement, code: sa.ColumnElement) -> sa.ColumnElement[bool]:
        """SQL on a table's indicator and organisation-code columns: true for the rows the actor sees."""
        if not self.confidential:
            return sa.true()
        others = indicator.not_in(sorted(self.confidential))
        return sa.or_(others, self.within.clause(code)) if self.handles else others


def shown(connection: sa.Connection, actor: Actor, within: Reach | None = None) -> Shown:
    """What ``actor`` sees of the confidential indicators (``within``: its confidential-data reach, if
    the caller has it already)."""
    handles = may_handle(actor)
    if within is None:
        within = reach(connection, actor, actor.rules.confidential_data) if handles else Reach()
    return Shown(confidential_indicators(connection), handles, within)
