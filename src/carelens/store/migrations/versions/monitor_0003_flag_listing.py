"""Flags listed at national scale: each flag's place in its run's listing (``position``, risks first),
indexes that find a page of the listing as a range of places, and each run's counts of flags by
indicator, flag and control-chart alert (``monitor_flag_count``), so a listing of millions of flags is
neither sorted nor counted per request (docs/scale.md).

Runs stored before this revision are numbered and counted here, in the order their listing had.

Revision ID: monitor_0003
Revises: monitor_0002
Create Date: 2026-12-05 06:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "monitor_0003"
down_revision = "monitor_0002"
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

NUMBER_STORED_FLAGS = """
UPDATE monitor_flag SET position = numbered.place
FROM (
    SELECT run_id, indicator_id, org_code,
           ROW_NUMBER() OVER (
               PARTITION BY run_id
               ORDER BY CASE flag WHEN 'elevated risk' THEN 0 WHEN 'risk' THEN 1 ELSE 2 END,
                        spc_alert DESC, org_code, indicator_id
           ) AS place
    FROM monitor_flag
) AS numbered
WHERE monitor_flag.run_id = numbered.run_id
  AND monitor_flag.indicator_id = numbered.indicator_id
  AND monitor_flag.org_code = numbered.org_code
"""
COUNT_STORED_FLAGS = """
INSERT INTO monitor_flag_count (run_id, indicator_id, flag, spc_alert, flags)
SELECT run_id, indicator_id, flag, spc_alert, COUNT(*) FROM monitor_flag
GROUP BY run_id, indicator_id, flag, spc_alert
"""


def upgrade() -> None:
    op.create_table(
        "monitor_flag_count",
        sa.Column("run_id", RowId, nullable=False),
        sa.Column("indicator_id", sa.String(length=80), nullable=False),
        sa.Column("flag", sa.String(length=30), nullable=False),
        sa.Column("spc_alert", sa.Boolean(), nullable=False),
        sa.Column("flags", sa.Integer(), nullable=False, comment="rows in monitor_flag with these values"),
        sa.ForeignKeyConstraint(["run_id"], ["monitor_run.id"]),
        sa.PrimaryKeyConstraint("run_id", "indicator_id", "flag", "spc_alert"),
    )
    with op.batch_alter_table("monitor_flag", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "position",
                sa.Integer(),
                nullable=False,
                server_default="0",
                comment="place in the run's flags listing: risks first, then control-chart alerts, "
                "by organisation",
            )
        )
    op.execute(NUMBER_STORED_FLAGS)
    op.execute(COUNT_STORED_FLAGS)
    with op.batch_alter_table("monitor_flag", schema=None) as batch_op:
        batch_op.create_index("ix_monitor_flag_position", ["run_id", "position"], unique=True)
        batch_op.create_index("ix_monitor_flag_flag_position", ["run_id", "flag", "position"], unique=False)
        batch_op.create_index(
            "ix_monitor_flag_indicator_position", ["run_id", "indicator_id", "position"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("monitor_flag", schema=None) as batch_op:
        batch_op.drop_index("ix_monitor_flag_indicator_position")
        batch_op.drop_index("ix_monitor_flag_flag_position")
        batch_op.drop_index("ix_monitor_flag_position")
        batch_op.drop_column("position")
    op.drop_table("monitor_flag_count")
