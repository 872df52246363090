"""The services' store-free access predicates agree with what they enforce.

:func:`~carelens.services.reach.covers_any` decides whether a role's scope covers any organisation without
the store, and the areas refuse (Forbidden) an actor it is false for; it must say exactly what
:func:`~carelens.services.reach.reach` finds, for every scope and every kind of tie an actor can have.
"""

from __future__ import annotations

import pytest

from carelens.model.access import Actor, Role, Scope
from carelens.services.reach import covers_any, reach

TIES = {
    "none": {},
    "organisations": {"organisations": frozenset({"P1"})},
    "sector": {"sector": "hospitals"},
    "empty sector": {"sector": ""},
}


@pytest.mark.parametrize("ties", TIES, ids=list(TIES))
@pytest.mark.parametrize("scope", list(Scope), ids=[s.value for s in Scope])
def test_covers_any_is_whether_the_reach_is_empty(api_engine, scope, ties):
    actor = Actor("someone", Role.ANALYST, **TIES[ties])
    with api_engine.connect() as connection:
        assert covers_any(actor, scope) == (not reach(connection, actor, scope).empty)
