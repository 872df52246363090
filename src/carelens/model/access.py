"""Who is asking, and what each role may see: the access rules of the user table in docs/design.md
(§Who uses carelens), as data.

An :class:`Actor` is the person (or program) behind a request: a user name, a :class:`Role` and the
organisations the role is tied to (a provider's own organisations, a commissioner's own code, an
inspector's assigned organisations). What a role may see is :data:`ROLE_RULES`, one
:class:`RoleRules` per role: change the rules there (or pass other rules to the services), never in
code that checks them. The services in :mod:`carelens.services` are the one place the rules are
enforced; the API and the web pages call them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum


class Role(StrEnum):
    """The kinds of user in the table of docs/design.md §Who uses carelens."""

    PUBLIC = "public"
    """Anyone, not signed in: published ratings, league tables, search."""
    PROVIDER = "provider"
    """A provider's staff: its own organisations' data, flags and ratings; never future inspection dates."""
    COMMISSIONER = "commissioner"
    """A commissioner (CCG / ICB): its own area's scorecard, allocation, providers' ratings and data."""
    INSPECTOR = "inspector"
    """An inspector: their own assignments (inspection plans, evidence, proposed ratings)."""
    ANALYST = "analyst"
    """A regulator analyst: monitors everything."""
    CHIEF_INSPECTOR = "chief_inspector"
    """A chief inspector / head of sector: approves ratings and enforcement in their sector."""
    NATIONAL_BOARD = "national_board"
    """The national board (NHS England): everything but inspection plans."""
    ADMIN = "admin"
    """Runs the service: everything, and manages users."""
    POLICY_MAKER = "policy_maker"
    """Policy maker: what-if analysis over everything."""


class Scope(StrEnum):
    """Which organisations a rule reaches."""

    NONE = "none"
    """No organisation."""
    OWN = "own"
    """The actor's own organisations (and the sites they run): a provider's, an inspector's assigned
    organisations. Never an inspection plan."""
    ASSIGNED = "assigned"
    """The actor's assignments (an inspector's): the organisations it is tied to, as OWN, and the
    inspections assigned to it or of an organisation it is itself tied to (not of the sites those run)."""
    AREA = "area"
    """The actor's commissioner area: itself, its practices, its sub-areas and contracted providers."""
    SECTOR = "sector"
    """Organisations in the actor's sector (hospitals, adult social care, primary care)."""
    ALL = "all"
    """Every organisation."""


@dataclass(frozen=True)
class RoleRules:
    """What one role may see and do. Published data (organisation directory, indicator definitions,
    published ratings, league tables, observations with small numbers suppressed) is open to all."""

    confidential_data: Scope = field(
        metadata={
            "doc": "Organisations whose confidential data (flags, unsuppressed small numbers) the role sees."
        }
    )
    unpublished_ratings: Scope = field(
        metadata={"doc": "Organisations whose unpublished (proposed, not yet published) ratings it sees."}
    )
    inspection_plans: Scope = field(
        metadata={"doc": "Organisations whose inspection plans (incl. unannounced windows) it sees."}
    )
    local_systems: Scope = field(
        default=Scope.NONE,
        metadata={
            "doc": "Places and ACOs whose review work it sees: selection ranking, unpublished reviews, action "
            "plans, ACO settlements and market concentration (a place or ACO is reached when it or one of "
            "its current members is). The review programme as a whole (directions, budgets, selection of "
            "every place, budget what-if) needs ALL. Published review reports are open to everyone."
        },
    )
    board_cases: Scope = field(
        default=Scope.NONE,
        metadata={
            "doc": "Organisations whose national-board failure-regime cases (NHS trust oversight, commissioner "
            "interventions) and their recovery actions it sees. The regulator's own cases (providers) follow "
            "inspection_plans."
        },
    )
    escalations: Scope = field(
        default=Scope.NONE,
        metadata={
            "doc": "Organisations whose overdue failure-regime cases, of every regime, are on its list of "
            "escalations due (besides the overdue cases it sees by the regimes' own rules)."
        },
    )
    regime_changes: bool = field(
        default=False,
        metadata={
            "doc": "May open, move and escalate failure-regime cases and record their recovery actions, for "
            "the organisations the regime's rule reaches (inspection_plans for the regulator's cases, "
            "board_cases for the national board's)."
        },
    )
    audit_log: bool = field(default=False, metadata={"doc": "May read the audit log."})
    manage_users: bool = field(default=False, metadata={"doc": "May create users and change their roles."})
    service_details: bool = field(
        default=False,
        metadata={
            "doc": "May see how the service is run: where the store is (a monitoring run's source: a file "
            "path, or a database's user, host and name; never a password)."
        },
    )


ROLE_RULES: dict[Role, RoleRules] = {
    Role.PUBLIC: RoleRules(Scope.NONE, Scope.NONE, Scope.NONE),
    Role.PROVIDER: RoleRules(Scope.OWN, Scope.NONE, Scope.NONE),
    Role.COMMISSIONER: RoleRules(Scope.AREA, Scope.AREA, Scope.NONE, local_systems=Scope.AREA),
    Role.INSPECTOR: RoleRules(Scope.OWN, Scope.OWN, Scope.ASSIGNED),
    Role.ANALYST: RoleRules(
        Scope.ALL,
        Scope.ALL,
        Scope.ALL,
        local_systems=Scope.ALL,
        board_cases=Scope.ALL,
        escalations=Scope.ALL,
    ),
    Role.CHIEF_INSPECTOR: RoleRules(
        Scope.SECTOR,
        Scope.SECTOR,
        Scope.SECTOR,
        local_systems=Scope.ALL,
        escalations=Scope.SECTOR,
        regime_changes=True,
    ),
    Role.NATIONAL_BOARD: RoleRules(
        Scope.ALL,
        Scope.ALL,
        Scope.NONE,
        local_systems=Scope.ALL,
        board_cases=Scope.ALL,
        escalations=Scope.ALL,
        regime_changes=True,
    ),
    Role.ADMIN: RoleRules(
        Scope.ALL,
        Scope.ALL,
        Scope.ALL,
        local_systems=Scope.ALL,
        board_cases=Scope.ALL,
        escalations=Scope.ALL,
        regime_changes=True,
        audit_log=True,
        manage_users=True,
        service_details=True,
    ),
    Role.POLICY_MAKER: RoleRules(Scope.ALL, Scope.ALL, Scope.NONE, local_systems=Scope.ALL),
}
"""Default rules per role, after the user table in docs/design.md. Providers and the public never see
unpublished ratings or inspection plans (they get 404, as if the thing did not exist). Policy makers
see everything but inspection plans: what-if work on inspector capacity needs counts, not the
confidential dates of unannounced visits. Local system reviews (``local_systems``) are the regulator's
work directed by the Secretary of State: analysts and chief inspectors (reviews cross every sector),
administrators, the national board and policy makers (the review programme's budget what-if) see it
all; a commissioner the places and ACOs in its area; providers, inspectors and the public the
published review reports only. Failure-regime cases belong to the regulator (providers: its
``inspection_plans`` rule) or to the national board (NHS trust oversight and commissioner interventions:
``board_cases``); chief inspectors, the national board and administrators act on those in reach
(``regime_changes``); overdue cases of every regime are on the chief inspector's (its sector) and the
national board's lists (``escalations``)."""


@dataclass(frozen=True)
class Actor:
    """Who is making a request."""

    user_name: str
    role: Role
    organisations: frozenset[str] = frozenset()
    """Codes tied to the role: a provider's own organisations, a commissioner's own code (its area),
    an inspector's assigned organisations; empty for roles that see everything or only published data."""
    sector: str | None = None
    """A chief inspector's sector (``carelens.model.organisations.Sector`` value)."""
    inspector_id: str | None = None
    """An inspector's id in the inspection plans."""

    @property
    def rules(self) -> RoleRules:
        """This actor's role rules (the defaults in :data:`ROLE_RULES`)."""
        return ROLE_RULES[self.role]

    @property
    def signed_in(self) -> bool:
        return self.role is not Role.PUBLIC


ANONYMOUS = Actor(user_name="anonymous", role=Role.PUBLIC)
"""The actor behind a request with no credentials: sees published data only."""


def documented_rules() -> dict[str, str]:
    """Every role rule field with its documentation (a test checks nothing is undocumented)."""
    return {f.name: f.metadata.get("doc", "") for f in fields(RoleRules)}
