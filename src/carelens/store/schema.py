"""Database schema (SQLAlchemy Core tables). Alembic migrations in ``migrations/`` create it.

Conventions: organisations are keyed by code; every imported row names the import that wrote it
(``import_id``). Versioned facts (observations, populations, ratings) are never updated in place: a
corrected value is a new row and the old row gets ``superseded_by`` = the correcting import, so the
current value of a key is the one row with ``superseded_by IS NULL`` (a partial unique index holds
this on both SQLite and PostgreSQL).
"""

from __future__ import annotations

import sqlalchemy as sa

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Constraint names are deterministic so migrations (and SQLite batch mode) can refer to them."""

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""64-bit ids on PostgreSQL; SQLite autoincrements only an INTEGER primary key."""
Number = sa.Double()
Code = sa.String(40)

import_record = sa.Table(
    "import_record",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(40), nullable=False, comment="importer name, e.g. 'ae'"),
    sa.Column("file_name", sa.String(500), nullable=False, comment="file name as given (no directory)"),
    sa.Column("sha256", sa.String(64), nullable=False, comment="hex SHA-256 of the file's bytes"),
    sa.Column("rows", sa.Integer, nullable=False, comment="data rows read from the file"),
    sa.Column("inserted", sa.Integer, nullable=False, comment="rows written to the store"),
    sa.Column("superseded", sa.Integer, nullable=False, comment="earlier rows this import superseded"),
    sa.Column("unchanged", sa.Integer, nullable=False, comment="rows already in the store with equal values"),
    sa.Column("user_name", sa.String(100), nullable=False),
    sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(20), nullable=False, comment="'loaded' (failed imports roll back whole)"),
    sa.UniqueConstraint("source", "sha256"),
)

audit_event = sa.Table(
    "audit_event",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("user_name", sa.String(100), nullable=False),
    sa.Column("action", sa.String(60), nullable=False, comment="e.g. 'import.loaded'"),
    sa.Column("entity", sa.String(60), nullable=False, comment="table or object type acted on"),
    sa.Column("entity_key", sa.String(200), nullable=True),
    sa.Column("detail", sa.JSON, nullable=True),
    sa.Column("import_id", RowId, sa.ForeignKey("import_record.id"), nullable=True),
)

organisation = sa.Table(
    "organisation",
    metadata,
    sa.Column("code", Code, primary_key=True),
    sa.Column("name", sa.String(300), nullable=True, comment="null until a source names the organisation"),
    sa.Column("kind", sa.String(30), nullable=False, comment="carelens.model.organisations.OrgKind"),
    sa.Column("subtype", sa.String(40), nullable=True, comment="finer kind, e.g. 'ccg', 'icb', 'ltla'"),
    sa.Column("sector", sa.String(30), nullable=True, comment="carelens.model.organisations.Sector"),
    sa.Column("valid_from", sa.Date, nullable=True),
    sa.Column("valid_to", sa.Date, nullable=True),
    sa.Column("town", sa.String(100), nullable=True, comment="post town, as given"),
    sa.Column("postcode", sa.String(10), nullable=True, comment="postcode, upper case, one space"),
    sa.Column(
        "import_id", RowId, sa.ForeignKey("import_record.id"), nullable=True, comment="first recorded by"
    ),
)

org_relationship = sa.Table(
    "org_relationship",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(30), nullable=False, comment="carelens.model.organisations.RelationshipKind"),
    sa.Column("subject_code", Code, sa.ForeignKey("organisation.code"), nullable=False),
    sa.Column("object_code", Code, sa.ForeignKey("organisation.code"), nullable=False),
    sa.Column("valid_from", sa.Date, nullable=True, comment="first day the link held; null = not known"),
    sa.Column("valid_to", sa.Date, nullable=True, comment="last day the link held; null = still holds"),
    sa.Column("import_id", RowId, sa.ForeignKey("import_record.id"), nullable=False),
    sa.Column(
        "ended_by", RowId, sa.ForeignKey("import_record.id"), nullable=True, comment="import that closed it"
    ),
    sa.Index("ix_org_relationship_subject", "subject_code", "kind"),
    sa.Index("ix_org_relationship_object", "object_code", "kind"),
)

indicator = sa.Table(
    "indicator",
    metadata,
    sa.Column("id", sa.String(80), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("definition", sa.JSON, nullable=False, comment="the whole YAML definition"),
)

observation = sa.Table(
    "observation",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("indicator_id", sa.String(80), sa.ForeignKey("indicator.id"), nullable=False),
    sa.Column("org_code", Code, sa.ForeignKey("organisation.code"), nullable=False),
    sa.Column("period", sa.Date, nullable=False, comment="first day of the period"),
    sa.Column("numerator", Number, nullable=True),
    sa.Column("denominator", Number, nullable=True),
    sa.Column("expected", Number, nullable=True),
    sa.Column("value", Number, nullable=False),
    sa.Column("import_id", RowId, sa.ForeignKey("import_record.id"), nullable=False),
    sa.Column("superseded_by", RowId, sa.ForeignKey("import_record.id"), nullable=True),
    sa.Index(
        "uq_observation_current",
        "indicator_id",
        "org_code",
        "period",
        unique=True,
        sqlite_where=sa.text("superseded_by IS NULL"),
        postgresql_where=sa.text("superseded_by IS NULL"),
    ),
    sa.Index("ix_observation_indicator_period", "indicator_id", "period"),
    sa.Index(
        "ix_observation_superseded",
        "org_code",
        "indicator_id",
        "period",
        sqlite_where=sa.text("superseded_by IS NOT NULL"),
        postgresql_where=sa.text("superseded_by IS NOT NULL"),
    ),
)

population = sa.Table(
    "population",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("org_code", Code, sa.ForeignKey("organisation.code"), nullable=False),
    sa.Column(
        "year",
        sa.Integer,
        nullable=False,
        comment="calendar year of a mid-year estimate; first year of an NHS financial year (2024 = 2024/25)",
    ),
    sa.Column("measure", sa.String(40), nullable=False, comment="e.g. 'resident', 'registered', 'wp_final'"),
    sa.Column("age_band", sa.String(20), nullable=False, comment="'all', a single year '0'..'89' or '90+'"),
    sa.Column("sex", sa.String(10), nullable=False, comment="'all', 'female' or 'male'"),
    sa.Column("count", Number, nullable=False, comment="people (weighted populations are not whole)"),
    sa.Column("import_id", RowId, sa.ForeignKey("import_record.id"), nullable=False),
    sa.Column("superseded_by", RowId, sa.ForeignKey("import_record.id"), nullable=True),
    sa.Index(
        "uq_population_current",
        "org_code",
        "year",
        "measure",
        "age_band",
        "sex",
        unique=True,
        sqlite_where=sa.text("superseded_by IS NULL"),
        postgresql_where=sa.text("superseded_by IS NULL"),
    ),
)

rating = sa.Table(
    "rating",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("org_code", Code, sa.ForeignKey("organisation.code"), nullable=False),
    sa.Column("level", sa.String(20), nullable=False, comment="'location' or 'service'"),
    sa.Column("service", sa.String(60), nullable=False, comment="'Overall' or a core-service id"),
    sa.Column("key_question", sa.String(20), nullable=False, comment="'Overall' or a key question"),
    sa.Column("rating", sa.String(40), nullable=False),
    sa.Column("report_date", sa.Date, nullable=True),
    sa.Column("report_link_id", sa.String(60), nullable=True),
    sa.Column(
        "method", sa.String(40), nullable=False, comment="'published' for ratings read from the regulator"
    ),
    sa.Column("import_id", RowId, sa.ForeignKey("import_record.id"), nullable=False),
    sa.Column("superseded_by", RowId, sa.ForeignKey("import_record.id"), nullable=True),
    sa.Index(
        "uq_rating_current",
        "org_code",
        "level",
        "service",
        "key_question",
        "method",
        unique=True,
        sqlite_where=sa.text("superseded_by IS NULL"),
        postgresql_where=sa.text("superseded_by IS NULL"),
    ),
    # An organisation's whole rating history (the partial index above holds current ratings only).
    sa.Index("ix_rating_org", "org_code", "level", "service", "key_question"),
)

published_verdict = sa.Table(
    "published_verdict",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("indicator_id", sa.String(80), sa.ForeignKey("indicator.id"), nullable=False),
    sa.Column("org_code", Code, sa.ForeignKey("organisation.code"), nullable=False),
    sa.Column("period", sa.Date, nullable=False, comment="first day of the period (release month)"),
    sa.Column("value", Number, nullable=False, comment="the value as published"),
    sa.Column("band", sa.Integer, nullable=False, comment="published band: 1 higher, 2 as expected, 3 lower"),
    sa.Column("level", Number, nullable=False, comment="% level of the published limits that set the band"),
    sa.Column("lower", Number, nullable=False, comment="published limits that set the band"),
    sa.Column("upper", Number, nullable=False),
    sa.Column("poisson_lower", Number, nullable=True, comment="published limits without overdispersion"),
    sa.Column("poisson_upper", Number, nullable=True),
    sa.Column("recomputed_value", Number, nullable=True, comment="carelens: value from the published counts"),
    sa.Column(
        "recomputed_band", sa.Integer, nullable=True, comment="carelens's band from the published counts"
    ),
    sa.Column("recomputed_lower", Number, nullable=True, comment="carelens's limits at the same level"),
    sa.Column("recomputed_upper", Number, nullable=True),
    sa.Column("recomputed_poisson_lower", Number, nullable=True),
    sa.Column("recomputed_poisson_upper", Number, nullable=True),
    sa.Column("import_id", RowId, sa.ForeignKey("import_record.id"), nullable=False),
    sa.Column("superseded_by", RowId, sa.ForeignKey("import_record.id"), nullable=True),
    sa.Index(
        "uq_published_verdict_current",
        "indicator_id",
        "org_code",
        "period",
        unique=True,
        sqlite_where=sa.text("superseded_by IS NULL"),
        postgresql_where=sa.text("superseded_by IS NULL"),
    ),
)
"""A publisher's own verdict on an observation (e.g. NHS England's SHMI banding with the limits that set
it), kept beside carelens's recomputation from the published counts. Where one is stored it is the
verdict carelens shows (:mod:`carelens.services.judgements`); the recomputation is reported beside it."""

VERSIONED_TABLES = (observation, population, rating, published_verdict)
"""Tables whose rows are superseded, never updated."""


def _load_area_schemas() -> None:
    """Import every ``schema_<area>.py`` module beside this one so ``metadata`` holds all tables.

    Each area (monitoring, ratings, funding, access...) declares its tables in its own module on this
    same ``metadata``, with its own Alembic migration branch, so areas grow without editing this file.
    """
    import importlib
    import pkgutil

    package = __name__.rsplit(".", 1)[0]
    for module in pkgutil.iter_modules(importlib.import_module(package).__path__):
        if module.name.startswith("schema_"):
            importlib.import_module(f"{package}.{module.name}")


_load_area_schemas()
