"""Judgements: every organisation's verdict on every indicator in each judged period of a run, how each
indicator was compared, which runs are complete, and out-of-date indicators (issue 14).

Revision ID: monitor_0002
Revises: monitor_0001
Create Date: 2026-12-04 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "monitor_0002"
down_revision = "monitor_0001"
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("monitor_run", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "scope",
                sa.String(length=20),
                nullable=False,
                server_default="complete",
                comment="complete (every indicator, organisation and period), partial or what-if",
            )
        )
        batch_op.add_column(
            sa.Column(
                "scope_note",
                sa.String(length=500),
                nullable=False,
                server_default="",
                comment="why not complete",
            )
        )
    with op.batch_alter_table("monitor_flag", schema=None) as batch_op:
        # An organisation's flags in order of indicator, from the index alone: with (org_code, run_id)
        # only, SQLite preferred the primary key and read every flag of the run.
        batch_op.drop_index("ix_monitor_flag_org")
        batch_op.create_index("ix_monitor_flag_org", ["org_code", "run_id", "indicator_id"], unique=False)
        batch_op.add_column(
            sa.Column(
                "out_of_date",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
                comment="not counted in the score",
            )
        )
    with op.batch_alter_table("monitor_org", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "out_of_date",
                sa.Integer(),
                nullable=False,
                server_default="0",
                comment="indicators out of date",
            )
        )
    op.create_table(
        "monitor_indicator",
        sa.Column("run_id", RowId, nullable=False),
        sa.Column("indicator_id", sa.String(length=80), nullable=False),
        sa.Column(
            "latest_period", sa.Date(), nullable=False, comment="the indicator's latest period in the run"
        ),
        sa.Column(
            "first_judged", sa.Date(), nullable=False, comment="earliest period with stored judgements"
        ),
        sa.Column("judged_periods", sa.Integer(), nullable=False),
        sa.Column("value_type", sa.String(length=40), nullable=False),
        sa.Column("polarity", sa.String(length=20), nullable=False),
        sa.Column("peer_group", sa.String(length=20), nullable=False, comment="the peer-group rule"),
        sa.Column("verdict_level", sa.Double(), nullable=False, comment="% level deciding worse/better"),
        sa.Column("elevated_level", sa.Double(), nullable=False),
        sa.Column(
            "method", sa.String(length=400), nullable=False, comment="how it was compared, in one line"
        ),
        sa.Column(
            "out_of_date_kinds",
            sa.String(length=400),
            nullable=False,
            comment="organisation kinds it is out of date for",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["monitor_run.id"], name=op.f("fk_monitor_indicator_run_id_monitor_run")
        ),
        sa.PrimaryKeyConstraint("run_id", "indicator_id", name=op.f("pk_monitor_indicator")),
    )
    op.create_table(
        "monitor_judgement",
        sa.Column("run_id", RowId, nullable=False),
        sa.Column("indicator_id", sa.String(length=80), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("org_code", sa.String(length=40), nullable=False),
        sa.Column("peer_group", sa.String(length=200), nullable=False),
        sa.Column("numerator", sa.Double(), nullable=True),
        sa.Column("denominator", sa.Double(), nullable=True),
        sa.Column("expected", sa.Double(), nullable=True),
        sa.Column("value", sa.Double(), nullable=True, comment="the compared value: O/n or O/E"),
        sa.Column("target", sa.Double(), nullable=True, comment="the peers' value (funnel centre)"),
        sa.Column("z", sa.Double(), nullable=True),
        sa.Column("z_adjusted", sa.Double(), nullable=True),
        sa.Column("lower", sa.Double(), nullable=True, comment="limits at the verdict level"),
        sa.Column("upper", sa.Double(), nullable=True),
        sa.Column("elevated_lower", sa.Double(), nullable=True),
        sa.Column("elevated_upper", sa.Double(), nullable=True),
        sa.Column("phi", sa.Double(), nullable=True),
        sa.Column("tau2", sa.Double(), nullable=True),
        sa.Column("peers", sa.Integer(), nullable=False, comment="organisations in the funnel"),
        sa.Column("od_adjusted", sa.Boolean(), nullable=False),
        sa.Column("od_note", sa.String(length=200), nullable=False),
        sa.Column(
            "direction",
            sa.String(length=10),
            nullable=False,
            comment="higher, lower, within; empty: not compared",
        ),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False, comment="why not compared"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["monitor_run.id"], name=op.f("fk_monitor_judgement_run_id_monitor_run")
        ),
        sa.PrimaryKeyConstraint(
            "run_id", "indicator_id", "period", "org_code", name=op.f("pk_monitor_judgement")
        ),
    )
    with op.batch_alter_table("monitor_judgement", schema=None) as batch_op:
        batch_op.create_index(
            "ix_monitor_judgement_org", ["org_code", "run_id", "indicator_id", "period"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("monitor_judgement", schema=None) as batch_op:
        batch_op.drop_index("ix_monitor_judgement_org")
    op.drop_table("monitor_judgement")
    op.drop_table("monitor_indicator")
    with op.batch_alter_table("monitor_org", schema=None) as batch_op:
        batch_op.drop_column("out_of_date")
    with op.batch_alter_table("monitor_flag", schema=None) as batch_op:
        batch_op.drop_column("out_of_date")
        batch_op.drop_index("ix_monitor_flag_org")
        batch_op.create_index("ix_monitor_flag_org", ["org_code", "run_id"], unique=False)
    with op.batch_alter_table("monitor_run", schema=None) as batch_op:
        batch_op.drop_column("scope_note")
        batch_op.drop_column("scope")
