"""Assess: append-only history of ratings decided in carelens, with departures from the rules.

Revision ID: assess_0001
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "assess_0001"
down_revision = "0001"
branch_labels = ("assess",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assessed_rating",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("org_code", sa.String(length=40), nullable=False),
        sa.Column(
            "level", sa.String(length=20), nullable=False, comment="'service', 'location' or 'provider'"
        ),
        sa.Column("service", sa.String(length=60), nullable=False, comment="'Overall' or a core-service id"),
        sa.Column(
            "key_question",
            sa.String(length=20),
            nullable=False,
            comment="'Overall', a key question or 'Use of resources'",
        ),
        sa.Column("rating", sa.String(length=40), nullable=False, comment="the rating given"),
        sa.Column(
            "rule_rating",
            sa.String(length=40),
            nullable=True,
            comment="the rules' default; null = no rule applies",
        ),
        sa.Column(
            "method",
            sa.String(length=60),
            nullable=False,
            comment="e.g. 'rules:adult-social-care', 'saf:quality-statements'",
        ),
        sa.Column(
            "effective_date", sa.Date(), nullable=False, comment="date the rating takes effect (report date)"
        ),
        sa.Column("departure", sa.Boolean(), nullable=False, comment="rating differs from rule_rating"),
        sa.Column("rationale", sa.Text(), nullable=True, comment="why the rating departs from the rules"),
        sa.Column("approved_by", sa.String(length=100), nullable=True, comment="who approved the departure"),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "supersedes_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
            comment="the row it replaces",
        ),
        sa.Column("detail", sa.JSON(), nullable=True, comment="explanation, counts and rules version"),
        sa.CheckConstraint(
            "NOT departure OR (rationale IS NOT NULL AND approved_by IS NOT NULL)",
            name=op.f("ck_assessed_rating_departure_needs_rationale"),
        ),
        sa.ForeignKeyConstraint(
            ["org_code"], ["organisation.code"], name=op.f("fk_assessed_rating_org_code_organisation")
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["assessed_rating.id"],
            name=op.f("fk_assessed_rating_supersedes_id_assessed_rating"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessed_rating")),
    )
    op.create_index(
        "ix_assessed_rating_key",
        "assessed_rating",
        ["org_code", "level", "service", "key_question", "effective_date"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_assessed_rating_key", table_name="assessed_rating")
    op.drop_table("assessed_rating")
