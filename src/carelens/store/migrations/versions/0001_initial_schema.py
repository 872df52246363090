"""Initial schema: import records, audit log, organisations, relationships, indicators, observations,
populations and ratings.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 11:20:23.564874
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_record",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("source", sa.String(length=40), nullable=False, comment="importer name, e.g. 'ae'"),
        sa.Column(
            "file_name", sa.String(length=500), nullable=False, comment="file name as given (no directory)"
        ),
        sa.Column("sha256", sa.String(length=64), nullable=False, comment="hex SHA-256 of the file's bytes"),
        sa.Column("rows", sa.Integer(), nullable=False, comment="data rows read from the file"),
        sa.Column("inserted", sa.Integer(), nullable=False, comment="rows written to the store"),
        sa.Column("superseded", sa.Integer(), nullable=False, comment="earlier rows this import superseded"),
        sa.Column(
            "unchanged", sa.Integer(), nullable=False, comment="rows already in the store with equal values"
        ),
        sa.Column("user_name", sa.String(length=100), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.String(length=20),
            nullable=False,
            comment="'loaded' (failed imports roll back whole)",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_record")),
        sa.UniqueConstraint("source", "sha256", name=op.f("uq_import_record_source_sha256")),
    )
    op.create_table(
        "indicator",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False, comment="the whole YAML definition"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicator")),
    )
    op.create_table(
        "audit_event",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_name", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False, comment="e.g. 'import.loaded'"),
        sa.Column("entity", sa.String(length=60), nullable=False, comment="table or object type acted on"),
        sa.Column("entity_key", sa.String(length=200), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("import_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["import_id"], ["import_record.id"], name=op.f("fk_audit_event_import_id_import_record")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    op.create_table(
        "organisation",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column(
            "name", sa.String(length=300), nullable=True, comment="null until a source names the organisation"
        ),
        sa.Column(
            "kind", sa.String(length=30), nullable=False, comment="carelens.model.organisations.OrgKind"
        ),
        sa.Column(
            "subtype", sa.String(length=40), nullable=True, comment="finer kind, e.g. 'ccg', 'icb', 'ltla'"
        ),
        sa.Column(
            "sector", sa.String(length=30), nullable=True, comment="carelens.model.organisations.Sector"
        ),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column(
            "import_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
            comment="first recorded by",
        ),
        sa.ForeignKeyConstraint(
            ["import_id"], ["import_record.id"], name=op.f("fk_organisation_import_id_import_record")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_organisation")),
    )
    op.create_table(
        "observation",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("indicator_id", sa.String(length=80), nullable=False),
        sa.Column("org_code", sa.String(length=40), nullable=False),
        sa.Column("period", sa.Date(), nullable=False, comment="first day of the period"),
        sa.Column("numerator", sa.Double(), nullable=True),
        sa.Column("denominator", sa.Double(), nullable=True),
        sa.Column("expected", sa.Double(), nullable=True),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("import_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("superseded_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["import_id"], ["import_record.id"], name=op.f("fk_observation_import_id_import_record")
        ),
        sa.ForeignKeyConstraint(
            ["indicator_id"], ["indicator.id"], name=op.f("fk_observation_indicator_id_indicator")
        ),
        sa.ForeignKeyConstraint(
            ["org_code"], ["organisation.code"], name=op.f("fk_observation_org_code_organisation")
        ),
        sa.ForeignKeyConstraint(
            ["superseded_by"], ["import_record.id"], name=op.f("fk_observation_superseded_by_import_record")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observation")),
    )
    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.create_index("ix_observation_indicator_period", ["indicator_id", "period"], unique=False)
        batch_op.create_index(
            "uq_observation_current",
            ["indicator_id", "org_code", "period"],
            unique=True,
            sqlite_where=sa.text("superseded_by IS NULL"),
            postgresql_where=sa.text("superseded_by IS NULL"),
        )

    op.create_table(
        "org_relationship",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column(
            "kind",
            sa.String(length=30),
            nullable=False,
            comment="carelens.model.organisations.RelationshipKind",
        ),
        sa.Column("subject_code", sa.String(length=40), nullable=False),
        sa.Column("object_code", sa.String(length=40), nullable=False),
        sa.Column(
            "valid_from", sa.Date(), nullable=True, comment="first day the link held; null = not known"
        ),
        sa.Column("valid_to", sa.Date(), nullable=True, comment="last day the link held; null = still holds"),
        sa.Column("import_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "ended_by",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
            comment="import that closed it",
        ),
        sa.ForeignKeyConstraint(
            ["ended_by"], ["import_record.id"], name=op.f("fk_org_relationship_ended_by_import_record")
        ),
        sa.ForeignKeyConstraint(
            ["import_id"], ["import_record.id"], name=op.f("fk_org_relationship_import_id_import_record")
        ),
        sa.ForeignKeyConstraint(
            ["object_code"], ["organisation.code"], name=op.f("fk_org_relationship_object_code_organisation")
        ),
        sa.ForeignKeyConstraint(
            ["subject_code"],
            ["organisation.code"],
            name=op.f("fk_org_relationship_subject_code_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_relationship")),
    )
    with op.batch_alter_table("org_relationship", schema=None) as batch_op:
        batch_op.create_index("ix_org_relationship_object", ["object_code", "kind"], unique=False)
        batch_op.create_index("ix_org_relationship_subject", ["subject_code", "kind"], unique=False)

    op.create_table(
        "population",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("org_code", sa.String(length=40), nullable=False),
        sa.Column(
            "year",
            sa.Integer(),
            nullable=False,
            comment="calendar year of a mid-year estimate; first year of an NHS financial year (2024 = 2024/25)",
        ),
        sa.Column(
            "measure",
            sa.String(length=40),
            nullable=False,
            comment="e.g. 'resident', 'registered', 'wp_final'",
        ),
        sa.Column(
            "age_band",
            sa.String(length=20),
            nullable=False,
            comment="'all', a single year '0'..'89' or '90+'",
        ),
        sa.Column("sex", sa.String(length=10), nullable=False, comment="'all', 'female' or 'male'"),
        sa.Column(
            "count", sa.Double(), nullable=False, comment="people (weighted populations are not whole)"
        ),
        sa.Column("import_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("superseded_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["import_id"], ["import_record.id"], name=op.f("fk_population_import_id_import_record")
        ),
        sa.ForeignKeyConstraint(
            ["org_code"], ["organisation.code"], name=op.f("fk_population_org_code_organisation")
        ),
        sa.ForeignKeyConstraint(
            ["superseded_by"], ["import_record.id"], name=op.f("fk_population_superseded_by_import_record")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_population")),
    )
    with op.batch_alter_table("population", schema=None) as batch_op:
        batch_op.create_index(
            "uq_population_current",
            ["org_code", "year", "measure", "age_band", "sex"],
            unique=True,
            sqlite_where=sa.text("superseded_by IS NULL"),
            postgresql_where=sa.text("superseded_by IS NULL"),
        )

    op.create_table(
        "rating",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("org_code", sa.String(length=40), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False, comment="'location' or 'service'"),
        sa.Column("service", sa.String(length=60), nullable=False, comment="'Overall' or a core-service id"),
        sa.Column(
            "key_question", sa.String(length=20), nullable=False, comment="'Overall' or a key question"
        ),
        sa.Column("rating", sa.String(length=40), nullable=False),
        sa.Column("report_date", sa.Date(), nullable=True),
        sa.Column("report_link_id", sa.String(length=60), nullable=True),
        sa.Column(
            "method",
            sa.String(length=40),
            nullable=False,
            comment="'published' for ratings read from the regulator",
        ),
        sa.Column("import_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("superseded_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["import_id"], ["import_record.id"], name=op.f("fk_rating_import_id_import_record")
        ),
        sa.ForeignKeyConstraint(
            ["org_code"], ["organisation.code"], name=op.f("fk_rating_org_code_organisation")
        ),
        sa.ForeignKeyConstraint(
            ["superseded_by"], ["import_record.id"], name=op.f("fk_rating_superseded_by_import_record")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rating")),
    )
    with op.batch_alter_table("rating", schema=None) as batch_op:
        batch_op.create_index(
            "uq_rating_current",
            ["org_code", "level", "service", "key_question", "method"],
            unique=True,
            sqlite_where=sa.text("superseded_by IS NULL"),
            postgresql_where=sa.text("superseded_by IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("rating", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_rating_current",
            sqlite_where=sa.text("superseded_by IS NULL"),
            postgresql_where=sa.text("superseded_by IS NULL"),
        )

    op.drop_table("rating")
    with op.batch_alter_table("population", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_population_current",
            sqlite_where=sa.text("superseded_by IS NULL"),
            postgresql_where=sa.text("superseded_by IS NULL"),
        )

    op.drop_table("population")
    with op.batch_alter_table("org_relationship", schema=None) as batch_op:
        batch_op.drop_index("ix_org_relationship_subject")
        batch_op.drop_index("ix_org_relationship_object")

    op.drop_table("org_relationship")
    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_observation_current",
            sqlite_where=sa.text("superseded_by IS NULL"),
            postgresql_where=sa.text("superseded_by IS NULL"),
        )
        batch_op.drop_index("ix_observation_indicator_period")

    op.drop_table("observation")
    op.drop_table("organisation")
    op.drop_table("audit_event")
    op.drop_table("indicator")
    op.drop_table("import_record")
