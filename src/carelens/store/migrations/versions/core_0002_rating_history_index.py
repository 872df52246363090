"""An index on an organisation's ratings, superseded ones included: a profile's rating history read
every rating of a national store (the unique index on current ratings is partial).

Revision ID: core_0002
Revises: 0001
Create Date: 2026-12-04 20:00:00
"""

from __future__ import annotations

from alembic import op

revision = "core_0002"
down_revision = "0001"
branch_labels = ("core",)
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rating", schema=None) as batch_op:
        batch_op.create_index("ix_rating_org", ["org_code", "level", "service", "key_question"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rating", schema=None) as batch_op:
        batch_op.drop_index("ix_rating_org")
