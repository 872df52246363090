"""Approvals by a second person: the one check every approval uses (rating departures, rating
approvals, regime decisions), so "four eyes" means the same thing everywhere.

An approval is valid only when the approver is signed in, holds one of the roles that may approve it,
reaches the organisation (a chief inspector its own sector) and is a different *account* from the
proposer: two operating-system users acting as the store's local administrator are one account
(:func:`carelens.services.identity.account_of`). Each refusal says why in words.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from carelens.model.access import Actor, Role
from carelens.services import Forbidden, NotFound
from carelens.services._db import Db, reading
from carelens.services.identity import account_of
from carelens.store import schema

APPROVER_ROLES = (Role.CHIEF_INSPECTOR, Role.ADMIN)
"""Who approves ratings and departures by default: a chief inspector (head of sector) or an
administrator."""


def require_second_person(
    db: Db,
    approver: Actor,
    proposer: str,
    *,
    roles: Iterable[Role] = APPROVER_ROLES,
    org_code: str | None = None,
    what: str = "this",
) -> str:
    """Check that ``approver`` may approve ``what`` proposed by ``proposer`` (a recorded actor name) for
    ``org_code``: signed in, in one of ``roles``, a chief inspector of the organisation's sector, and a
    different account from the proposer. Returns the name the approval is recorded under; raises
    :class:`Forbidden` saying why otherwise (:class:`NotFound` for an organisation that does not exist)."""
    allowed = tuple(Role(r) for r in roles)
    if not approver.signed_in:
        raise Forbidden(f"{what} needs the approval of a signed-in user")
    if approver.role not in allowed:
        names = ", ".join(r.value.replace("_", " ") for r in allowed)
        raise Forbidden(
            f"{what} must be approved by a {names}, not a {approver.role.value.replace('_', ' ')}"
        )
    if account_of(approver.user_name) == account_of(proposer):
        raise Forbidden(f"{what} must be approved by a second person: {proposer!r} cannot approve their own")
    if org_code is not None:
        org = schema.organisation
        with reading(db) as connection:
            sector = connection.execute(sa.select(org.c.sector).where(org.c.code == org_code)).scalar()
            known = (
                sector is not None
                or connection.execute(sa.select(org.c.code).where(org.c.code == org_code)).first()
            )
        if not known:
            raise NotFound(f"organisation {org_code!r} not found")
        if approver.role is Role.CHIEF_INSPECTOR and approver.sector != sector:
            raise Forbidden(
                f"{what} for {org_code} (sector {sector}) must be approved by a chief inspector of that "
                f"sector, not of {approver.sector or 'no sector'}"
            )
    return approver.user_name
