"""The bad-input corpus (``bad_inputs/``, written by ``bad_inputs/make_corpus.py``): every file, given to
the command that reads it, exits 2 naming the file, and the row and field ``bad_inputs/expected.csv``
says (a problem with a whole file names no row or field), and leaves every table of the store exactly as
it was, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from carelens.cli import app, handles_errors
from carelens.ingest.service import ingest
from carelens.services.identity import create_with_store
from carelens.store import schema

CORPUS = Path(__file__).parent / "bad_inputs"
with (CORPUS / "expected.csv").open(newline="") as handle:
    CASES = [
        (row["case"], int(row["row"]) if row["row"] else None, row["field"] or None)
        for row in csv.DictReader(handle)
    ]

SEED_ORGANISATIONS = """code,name,kind
ZT1,Trust one,nhs_trust
ZT2,Trust two,nhs_trust
ZP1,Place one,place
ZP2,Place two,place
"""
SEED_AE = """period,org_code,type,attendances,breaches,admissions
2023-12-01,ZZA,1,1000,100,200
2023-12-01,ZZB,1,900,50,100
"""


@pytest.fixture(scope="module")
def store(stores, tmp_path_factory):
    """A store holding a few organisations and observations, so that 'unchanged' means something."""
    engine = stores.new()
    folder = tmp_path_factory.mktemp("seed")
    (folder / "organisations.csv").write_text(SEED_ORGANISATIONS)
    (folder / "ae.csv").write_text(SEED_AE)
    ingest(engine, "organisations", [folder / "organisations.csv"], user="seed")
    ingest(engine, "ae", [folder / "ae.csv"], user="seed")
    create_with_store(engine, "seed")  # as a store made by the command line has its local administrator
    yield engine
    engine.dispose()


def dump(engine: sa.Engine) -> dict[str, list]:
    """Every row of every table, in a stable order."""
    with engine.connect() as connection:
        return {
            table.name: sorted(map(repr, connection.execute(sa.select(table))))
            for table in schema.metadata.sorted_tables
        }


def command(kind: str, path: Path, url: str) -> list[str]:
    """The command line that reads a file of this kind."""
    file = str(path)
    return {
        "monitor-settings": ["monitor", "--settings", file, "--db", url],
        "planning-settings": ["plan", "inspections", "--settings", file, "--db", url],
        "funding-scenario": ["allocate", "run", "--year", "2024-25", "--scenario", file],
        "funding-assessment": ["assess", "commissioners", "--year", "2024-25", "--rules", file, "--db", url],
        "systems-settings": ["systems", "rank", "--config", file, "--db", url],
    }.get(kind, ["ingest", kind, file, "--db", url])


def run(kind: str, path: Path, url: str, capsys) -> tuple[int, str]:
    """Exit code and everything printed."""
    if kind == "web-settings":  # read by the server at start-up, through the same error handling
        from carelens.web.settings import load_web_settings

        with pytest.raises(typer.Exit) as exited:
            handles_errors(load_web_settings)(path)
        return exited.value.exit_code, capsys.readouterr().err
    result = CliRunner().invoke(app, command(kind, path, url))
    return result.exit_code, result.output


def test_the_corpus_is_large_and_covers_every_importer_and_settings_file():
    from carelens.ingest.sources import SOURCE_MODULES

    kinds = {case.split("/")[0] for case, _, _ in CASES}
    assert len(CASES) >= 120
    assert kinds >= set(SOURCE_MODULES)
    assert kinds - set(SOURCE_MODULES) == {
        "monitor-settings",
        "planning-settings",
        "funding-scenario",
        "funding-assessment",
        "systems-settings",
        "web-settings",
    }
    assert sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.glob("*/*")) == sorted(
        c for c, _, _ in CASES
    )


def test_the_corpus_is_what_its_generator_writes():
    """The files are make_corpus.py's output, byte for byte: a case is changed there, not by hand (after
    changing it, or a packaged settings file the settings cases copy, run the script again)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    expected = generator.corpus()
    on_disk = {
        p.relative_to(CORPUS).as_posix(): p.read_bytes()
        for p in [*CORPUS.glob("*/*"), CORPUS / "expected.csv"]
    }
    assert sorted(on_disk) == sorted(expected)
    stale = sorted(path for path, data in expected.items() if on_disk[path] != data)
    assert not stale, f"run python {CORPUS / 'make_corpus.py'} again: {stale}"


@pytest.mark.parametrize(("case", "row", "field"), CASES, ids=[c for c, _, _ in CASES])
def test_bad_input_exits_2_naming_file_row_and_field_and_changes_nothing(store, capsys, case, row, field):
    path = CORPUS / case
    before = dump(store)
    code, output = run(case.split("/")[0], path, store.url.render_as_string(hide_password=False), capsys)
    assert code == 2, output
    flat = "".join(output.split())  # the console wraps long lines
    named = "".join(f"{path}{f', row {row}' if row else ''}{f', column {field!r}' if field else ''}".split())
    if row is None and field is None:
        assert "".join(f"{path}:".split()) in flat, output
    else:
        assert named in flat, output
    assert "Traceback" not in output and "Error:" not in output
    assert dump(store) == before
