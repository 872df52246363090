"""Published verdicts: a publisher's own banding of an observation (NHS England's SHMI banding and the
limits that set it), with carelens's recomputation from the published counts beside it.

Revision ID: core_0003
Revises: core_0002
Create Date: 2026-12-05 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0003"
down_revision = "core_0002"
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "published_verdict",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("indicator_id", sa.String(length=80), nullable=False),
        sa.Column("org_code", sa.String(length=40), nullable=False),
        sa.Column("period", sa.Date(), nullable=False, comment="first day of the period (release month)"),
        sa.Column("value", sa.Double(), nullable=False, comment="the value as published"),
        sa.Column(
            "band", sa.Integer(), nullable=False, comment="published band: 1 higher, 2 as expected, 3 lower"
        ),
        sa.Column(
            "level", sa.Double(), nullable=False, comment="% level of the published limits that set the band"
        ),
        sa.Column("lower", sa.Double(), nullable=False, comment="published limits that set the band"),
        sa.Column("upper", sa.Double(), nullable=False),
        sa.Column(
            "poisson_lower", sa.Double(), nullable=True, comment="published limits without overdispersion"
        ),
        sa.Column("poisson_upper", sa.Double(), nullable=True),
        sa.Column(
            "recomputed_value",
            sa.Double(),
            nullable=True,
            comment="carelens: value from the published counts",
        ),
        sa.Column(
            "recomputed_band",
            sa.Integer(),
            nullable=True,
            comment="carelens's band from the published counts",
        ),
        sa.Column(
            "recomputed_lower", sa.Double(), nullable=True, comment="carelens's limits at the same level"
        ),
        sa.Column("recomputed_upper", sa.Double(), nullable=True),
        sa.Column("recomputed_poisson_lower", sa.Double(), nullable=True),
        sa.Column("recomputed_poisson_upper", sa.Double(), nullable=True),
        sa.Column("import_id", RowId, nullable=False),
        sa.Column("superseded_by", RowId, nullable=True),
        sa.ForeignKeyConstraint(
            ["import_id"], ["import_record.id"], name=op.f("fk_published_verdict_import_id_import_record")
        ),
        sa.ForeignKeyConstraint(
            ["indicator_id"], ["indicator.id"], name=op.f("fk_published_verdict_indicator_id_indicator")
        ),
        sa.ForeignKeyConstraint(
            ["org_code"], ["organisation.code"], name=op.f("fk_published_verdict_org_code_organisation")
        ),
        sa.ForeignKeyConstraint(
            ["superseded_by"],
            ["import_record.id"],
            name=op.f("fk_published_verdict_superseded_by_import_record"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_published_verdict")),
    )
    with op.batch_alter_table("published_verdict", schema=None) as batch_op:
        batch_op.create_index(
            "uq_published_verdict_current",
            ["indicator_id", "org_code", "period"],
            unique=True,
            sqlite_where=sa.text("superseded_by IS NULL"),
            postgresql_where=sa.text("superseded_by IS NULL"),
        )


def downgrade() -> None:
    op.drop_table("published_verdict")
