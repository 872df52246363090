"""An organisation's superseded observations found by organisation: the profile marks the months a later
release revised, and without this index finding them read every organisation's figures of each
indicator (docs/scale.md). Partial: only superseded rows, so imports of new figures do not pay for it.

Revision ID: core_0005_superseded
Revises: core_0004
Create Date: 2026-12-05 06:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0005_superseded"
down_revision = "core_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_observation_superseded",
        "observation",
        ["org_code", "indicator_id", "period"],
        unique=False,
        sqlite_where=sa.text("superseded_by IS NOT NULL"),
        postgresql_where=sa.text("superseded_by IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_observation_superseded", table_name="observation")
