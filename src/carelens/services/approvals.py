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
from carelens.services import Forbidden, NotFound, Unauthenticated
from carelens.services._db import Db, reading
from carelens.services.identity import account_of
from carelens.store import schema
from carelens.store.repository import audit
from carelens.store.schema_access import app_user

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


def confirm_identity(db: Db, user_name: str, password: str) -> Actor:
    """The actor of a stored user whose password is given now (an approver confirming at the command
    line, beside the signed-in proposer): one answer for an unknown user, a wrong password or a disabled
    account (:class:`Unauthenticated`), and every failure in the audit log."""
    from carelens.services._db import writing
    from carelens.services.auth import FAILED_SIGN_IN_ACTOR, _dummy_hash, actor_from_row, verify_password

    with reading(db) as connection:
        row = (
            connection.execute(sa.select(app_user).where(app_user.c.user_name == user_name))
            .mappings()
            .first()
        )
    stored = row["password_hash"] if row else None
    if not (verify_password(password, stored or _dummy_hash()) and row and stored and not row["disabled"]):
        with writing(db) as connection:
            audit(connection, FAILED_SIGN_IN_ACTOR, "approval.identity_failed", "app_user", user_name[:200])
        raise Unauthenticated("approver's user name or password is not right")
    return actor_from_row(row)
