"""An organisation's town and postcode, as the registry files give them (ODS, CQC, the GP files): people
find an organisation by where it is.

Revision ID: core_0004
Revises: core_0003
Create Date: 2026-12-05 03:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0004"
down_revision = "core_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("town", sa.String(100), nullable=True, comment="post town, as given"))
        batch_op.add_column(
            sa.Column("postcode", sa.String(10), nullable=True, comment="postcode, upper case, one space")
        )


def downgrade() -> None:
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.drop_column("postcode")
        batch_op.drop_column("town")
