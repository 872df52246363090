"""The services' store-free access predicates agree with what they enforce.

:func:`~carelens.services.reach.covers_any` decides whether a role's scope covers any organisation without
the store, and the areas refuse (Forbidden) an actor it is false for; it must say exactly what
:func:`~carelens.services.reach.reach` finds, for every scope and every kind of tie an actor can have.
"""

from __future__ import annotations

import pytest

from carelens.model.access import Actor, Role, Scope
from carelens.services.reach import covers_any, inspections, reach

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


@pytest.mark.parametrize("scope", [Scope.NONE, Scope.OWN, Scope.AREA], ids=["none", "own", "area"])
def test_a_providers_or_commissioners_scope_reaches_no_inspection_plan(scope):
    """Whatever the actor is tied to, these scopes never reach a planned (perhaps unannounced) visit."""
    actor = Actor(
        "someone", Role.ANALYST, organisations=frozenset({"L1"}), sector="hospitals", inspector_id="i"
    )
    assert inspections(actor, scope) is None


def test_an_inspector_reaches_its_providers_sites_but_not_their_inspections(api_engine):
    """The inspector is tied to trust P1 (which runs L1) and assigned one of L1's visits: ASSIGNED reaches
    L1's data as OWN does, but of L1's inspections only the one assigned, never the completed one whose
    window stays secret."""
    import sqlalchemy as sa

    from carelens.store.schema_plan import plan_inspection

    from .conftest import INSPECTIONS, INSPECTOR_ID

    actor = Actor("inspector", Role.INSPECTOR, organisations=frozenset({"P1"}), inspector_id=INSPECTOR_ID)
    with api_engine.connect() as connection:
        assert reach(connection, actor, Scope.ASSIGNED) == reach(connection, actor, Scope.OWN)
        assert reach(connection, actor, Scope.ASSIGNED).includes("L1", "hospitals")
        query = sa.select(plan_inspection.c.id).where(inspections(actor, Scope.ASSIGNED))
        assert set(connection.execute(query).scalars()) == {INSPECTIONS["L1_unannounced"]}
