"""Reading the audit log (who did what, before and after, when): administrators only."""

from __future__ import annotations

import sqlalchemy as sa

from carelens.model.access import Actor
from carelens.services import Forbidden
from carelens.services._db import Db, Page, page_query, reading
from carelens.store import schema

AUDIT_COLUMNS = ["id", "at", "user_name", "action", "entity", "entity_key", "detail", "import_id"]


def audit_events(
    db: Db,
    actor: Actor,
    user_name: str | None = None,
    action: str | None = None,
    page: int = 1,
    page_size: int | None = None,
) -> Page:
    """Audit events, newest first."""
    if not actor.rules.audit_log:
        raise Forbidden("only administrators read the audit log")
    event = schema.audit_event
    query = sa.select(*(event.c[c] for c in AUDIT_COLUMNS))
    if user_name:
        query = query.where(event.c.user_name == user_name)
    if action:
        query = query.where(event.c.action == action)
    with reading(db) as connection:
        return page_query(connection, query, [event.c.id.desc()], page, page_size, AUDIT_COLUMNS)
