"""Access tables: users with their role and password hash, and the tokens that sign them in.

A token is either a web session (the ``carelens_session`` cookie) or an API token (``Authorization:
Bearer``). Only the SHA-256 of a token is stored, so a copy of the database cannot be used to sign in.
Migration: ``migrations/versions/access_0001_users_tokens.py`` (branch ``access``).
"""

from __future__ import annotations

import sqlalchemy as sa

from carelens.store.schema import metadata

app_user = sa.Table(
    "app_user",
    metadata,
    sa.Column("user_name", sa.String(100), primary_key=True),
    sa.Column("display_name", sa.String(200), nullable=True),
    sa.Column("role", sa.String(30), nullable=False, comment="carelens.model.access.Role"),
    sa.Column(
        "organisations",
        sa.JSON,
        nullable=False,
        comment="codes tied to the role (own orgs, area, assignments)",
    ),
    sa.Column("sector", sa.String(30), nullable=True, comment="a chief inspector's sector"),
    sa.Column("inspector_id", sa.String(60), nullable=True, comment="an inspector's id in inspection plans"),
    sa.Column(
        "password_hash", sa.String(300), nullable=True, comment="scrypt$n$r$p$salt$hash; null = no login"
    ),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

access_token = sa.Table(
    "access_token",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True, comment="hex SHA-256 of the token"),
    sa.Column("user_name", sa.String(100), sa.ForeignKey("app_user.user_name"), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False, comment="'session' (web cookie) or 'api' (bearer)"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_access_token_user_name", "user_name"),
)
