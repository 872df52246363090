"""Fresh, migrated databases for tests, on SQLite and on a throwaway PostgreSQL cluster, and rows
seeded straight into them.

The schema is migrated once into a template (a SQLite file, or a PostgreSQL template database) and
each test gets a copy, so every test starts from an empty store in milliseconds. The PostgreSQL
cluster is started with ``scripts/postgres-test-cluster.sh`` from the source tree.

:func:`seed_import`, :func:`seed_organisations` and :func:`seed_ratings` write known rows without going
through an importer (test fixtures, ``benchmarks/api.py``): the import they cite gets its id from the
database, so later imports on PostgreSQL do not collide with it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import sqlalchemy as sa

from carelens.model.organisations import DEFAULT_SECTOR, OrgKind
from carelens.store import schema
from carelens.store.engine import create_engine
from carelens.store.migrate import upgrade
from carelens.store.repository import start_import

CLUSTER_SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "postgres-test-cluster.sh"
"""The script that starts and stops the test cluster (in the source tree, not installed)."""
TEMPLATE_DATABASE = "carelens_template"


def postgres_binaries() -> Path | None:
    """Directory of the PostgreSQL server binaries (``$PG_BIN`` or Debian's newest), if installed."""
    candidates = [Path(os.environ["PG_BIN"])] if os.environ.get("PG_BIN") else []
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True
    )
    return next((p for p in candidates if (p / "pg_ctl").exists() and (p / "initdb").exists()), None)


class Stores:
    """Hands out empty, migrated databases of one backend (``sqlite`` or ``postgresql``)."""

    def __init__(self, backend: str, workdir: Path) -> None:
        self.backend = backend
        self.workdir = workdir
        self._numbers = itertools.count(1)
        self._cluster: Path | None = None
        if backend == "sqlite":
            self._template = workdir / "template.db"
            engine = create_engine(f"sqlite:///{self._template}")
            upgrade(engine)
            engine.dispose()
        elif backend == "postgresql":
            self._cluster = Path(tempfile.mkdtemp(prefix="carelens-pg-"))
            started = subprocess.run(
                ["bash", str(CLUSTER_SCRIPT), "start", str(self._cluster)],
                capture_output=True,
                text=True,
                check=False,
            )
            if started.returncode != 0:
                raise RuntimeError(f"could not start PostgreSQL: {started.stderr.strip()}")
            self.server_url = sa.make_url(started.stdout.strip())
            admin = sa.create_engine(self.server_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(sa.text(f"CREATE DATABASE {TEMPLATE_DATABASE}"))
            admin.dispose()
            engine = create_engine(self.server_url.set(database=TEMPLATE_DATABASE).render_as_string(False))
            upgrade(engine)
            engine.dispose()
        else:
            raise ValueError(f"unknown backend {backend!r}")

    def new_url(self) -> str:
        """The URL of a new empty database with the current schema."""
        number = next(self._numbers)
        if self.backend == "sqlite":
            path = self.workdir / f"store{number}.db"
            shutil.copyfile(self._template, path)
            return f"sqlite:///{path}"
        name = f"store{number}"
        admin = sa.create_engine(self.server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DATABASE}"))
        admin.dispose()
        return self.server_url.set(database=name).render_as_string(hide_password=False)

    def new(self) -> sa.Engine:
        """An engine on a new empty database with the current schema."""
        return create_engine(self.new_url())

    def close(self) -> None:
        """Stop the PostgreSQL cluster (if any) and delete its files."""
        if self._cluster is not None:
            subprocess.run(["bash", str(CLUSTER_SCRIPT), "stop", str(self._cluster)], check=False)
            self._cluster = None


SEED_RATING = {"level": "location", "service": "Overall", "key_question": "Overall", "method": "published"}
"""What a seeded rating is unless its row says otherwise: a location's overall rating, published (its
method is one of the settings' ``published_rating_methods``)."""


def seed_import(connection: sa.Connection, source: str = "seed", user: str = "seed") -> int:
    """An import record for seeded rows to cite (``import_id``); returns its id."""
    return start_import(connection, source, file_name=source, sha256=source, rows=0, user=user)


def seed_organisations(connection: sa.Connection, rows: Iterable[Mapping], import_id: int) -> int:
    """Organisations from rows with ``code``, ``name`` and ``kind`` (an ``OrgKind`` value), and any other
    column of the table; ``sector`` defaults to the kind's (``DEFAULT_SECTOR``). Returns how many."""
    records = [
        {"sector": DEFAULT_SECTOR[OrgKind(row["kind"])].value, "import_id": import_id, **row} for row in rows
    ]
    if records:
        connection.execute(schema.organisation.insert(), records)
    return len(records)


def seed_ratings(
    connection: sa.Connection, rows: Iterable[Mapping], import_id: int, report_date: dt.date | None = None
) -> int:
    """Ratings from rows with ``org_code`` and ``rating``, and any other column of the table; the rest as
    :data:`SEED_RATING`, reported on ``report_date`` unless the row says. Returns how many."""
    records = [{**SEED_RATING, "report_date": report_date, "import_id": import_id, **row} for row in rows]
    if records:
        connection.execute(schema.rating.insert(), records)
    return len(records)


def seed_indicators(connection: sa.Connection, definitions: Iterable[Mapping]) -> None:
    """Indicator definitions (as :mod:`carelens.ingest.synth` makes them: ``id``, ``title`` and the
    rest), version 1 each."""
    import json

    rows = [
        {"id": d["id"], "version": 1, "title": d["title"], "definition": json.loads(json.dumps(d))}
        for d in definitions
    ]
    if rows:
        connection.execute(schema.indicator.insert(), rows)


def seed_synthetic(
    engine: sa.Engine, orgs: int, indicators: int, months: int, seed: int = 1
) -> tuple[list[str], list[str]]:
    """A synthetic national data set (:mod:`carelens.ingest.synth`: organisations, indicator
    definitions and their monthly observations) written straight into a database store, for tests and
    benchmarks at scale. Returns the organisation codes and indicator ids."""
    from carelens.ingest.synth import iter_batches, make_indicators, make_organisations

    organisations = make_organisations(orgs, months, seed)
    definitions = make_indicators(indicators, seed)
    org_rows = organisations.table.select(["code", "name", "kind"]).to_pylist()
    with engine.begin() as c:
        import_id = seed_import(c, "synth", "seed")
        seed_organisations(c, org_rows, import_id)
        seed_indicators(c, definitions.table.to_pylist())
        names = ("indicator_id", "org_code", "period", "numerator", "denominator", "expected", "value")
        for observations, _planted in iter_batches(organisations, definitions, months, seed):
            columns = observations.to_pydict()
            rows = [
                dict(zip(names, values, strict=True))
                for values in zip(*(columns[n] for n in names), strict=True)
            ]
            c.execute(schema.observation.insert(), [r | {"import_id": import_id} for r in rows])
    return [r["code"] for r in org_rows], list(definitions.ids)
