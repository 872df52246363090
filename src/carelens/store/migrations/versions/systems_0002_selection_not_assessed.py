"""A place with no transition indicator compared is not assessed: its selection row has no rank (it is
not ranked last as if it were of least need; issue 14).

Revision ID: systems_0002
Revises: systems_0001
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "systems_0002"
down_revision = "systems_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("systems_selection", schema=None) as batch_op:
        batch_op.alter_column(
            "rank",
            existing_type=sa.Integer(),
            nullable=True,
            existing_comment="1 = highest selection score",
            comment="1 = highest selection score; null: not assessed (no score)",
        )


def downgrade() -> None:
    # a selection row not assessed has no rank: number those after the ranked places of their direction,
    # in place-code order
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT direction_id, place_code, rank FROM systems_selection ORDER BY direction_id, place_code"
        )
    ).all()
    ranked: dict[int, int] = {}
    for direction_id, _, rank in rows:
        if rank is not None:
            ranked[direction_id] = max(ranked.get(direction_id, 0), rank)
    for direction_id, place_code, rank in rows:
        if rank is None:
            ranked[direction_id] = ranked.get(direction_id, 0) + 1
            bind.execute(
                sa.text(
                    "UPDATE systems_selection SET rank = :rank "
                    "WHERE direction_id = :direction_id AND place_code = :place_code"
                ),
                {"rank": ranked[direction_id], "direction_id": direction_id, "place_code": place_code},
            )
    with op.batch_alter_table("systems_selection", schema=None) as batch_op:
        batch_op.alter_column(
            "rank",
            existing_type=sa.Integer(),
            nullable=False,
            existing_comment="1 = highest selection score; null: not assessed (no score)",
            comment="1 = highest selection score",
        )
