"""Access: users (role, organisations, password hash) and sign-in tokens (web sessions, API tokens).

Revision ID: access_0001
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "access_0001"
down_revision = "0001"
branch_labels = ("access",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_user",
        sa.Column("user_name", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("role", sa.String(length=30), nullable=False, comment="carelens.model.access.Role"),
        sa.Column(
            "organisations",
            sa.JSON(),
            nullable=False,
            comment="codes tied to the role (own orgs, area, assignments)",
        ),
        sa.Column("sector", sa.String(length=30), nullable=True, comment="a chief inspector's sector"),
        sa.Column(
            "inspector_id",
            sa.String(length=60),
            nullable=True,
            comment="an inspector's id in inspection plans",
        ),
        sa.Column(
            "password_hash",
            sa.String(length=300),
            nullable=True,
            comment="scrypt$n$r$p$salt$hash; null = no login",
        ),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_name", name=op.f("pk_app_user")),
    )
    op.create_table(
        "access_token",
        sa.Column("token_hash", sa.String(length=64), nullable=False, comment="hex SHA-256 of the token"),
        sa.Column("user_name", sa.String(length=100), nullable=False),
        sa.Column(
            "kind", sa.String(length=20), nullable=False, comment="'session' (web cookie) or 'api' (bearer)"
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_name"], ["app_user.user_name"], name=op.f("fk_access_token_user_name_app_user")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_access_token")),
    )
    op.create_index("ix_access_token_user_name", "access_token", ["user_name"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_access_token_user_name", table_name="access_token")
    op.drop_table("access_token")
    op.drop_table("app_user")
