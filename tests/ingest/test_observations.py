"""The tidy observations importer (``carelens ingest observations``), on SQLite and PostgreSQL: values
by value type, every problem named by file, row and column, and nothing written when any is found."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from carelens.errors import InputError
from carelens.ingest.service import ingest
from carelens.store import schema

HEADER = "indicator_id,org_code,period,numerator,denominator,expected\n"
ORGANISATIONS = "code,name,kind\nRK9,University Hospitals Plymouth NHS Trust,nhs_trust\n"


@pytest.fixture
def store(engine, tmp_path):
    """A store holding one trust."""
    (tmp_path / "orgs.csv").write_text(ORGANISATIONS)
    ingest(engine, "organisations", [tmp_path / "orgs.csv"], user="test")
    return engine


def _observations(engine) -> list[tuple]:
    o = schema.observation
    query = sa.select(o.c.indicator_id, o.c.org_code, o.c.numerator, o.c.denominator, o.c.expected, o.c.value)
    with engine.connect() as connection:
        return sorted(tuple(r) for r in connection.execute(query.order_by(o.c.indicator_id)))


def test_values_follow_the_value_type(store, tmp_path):
    path = tmp_path / "obs.csv"
    path.write_text(
        HEADER
        + "shmi,RK9,2024-01-01,120,10000,100\n"  # a ratio: observed / expected
        + "ae_4hr_breach_type1,RK9,2024-01-01,900,10000,\n"  # a proportion: numerator / denominator
    )
    [result] = ingest(store, "observations", [path], user="test")
    assert (result.status, result.inserted) == ("loaded", 2)
    assert _observations(store) == [
        ("ae_4hr_breach_type1", "RK9", 900, 10000, None, pytest.approx(0.09)),
        ("shmi", "RK9", 120, 10000, 100, pytest.approx(1.2)),
    ]


@pytest.mark.parametrize(
    ("row", "where"),
    [
        ("nope,RK9,2024-01-01,1,2,", "row 1, column 'indicator_id': no indicator definition for 'nope'"),
        ("shmi,RK9,2024-01-01,120,10000,", "row 1, column 'expected': required for an indirectly"),
        ("ae_4hr_breach_type1,RK9,2024-01-01,9,,", "row 1, column 'denominator': required for proportion"),
        (
            "ae_4hr_breach_type1,RK9,2024-01-01,20,10,",
            "row 1, column 'numerator': 20 exceeds the denominator",
        ),
        ("ae_4hr_breach_type1,RK9,2024-01-15,9,10,", "row 1, column 'period': not the first day of a month"),
        ("ae_4hr_breach_type1,RK9,2024-01-01,-1,10,", "row 1, column 'numerator'"),
        ("ae_4hr_breach_type1,ZZ999,2024-01-01,9,10,", "row 1, column 'org_code': unknown organisation code"),
    ],
)
def test_bad_rows_are_named_and_nothing_is_written(store, tmp_path, row, where):
    path = tmp_path / "obs.csv"
    path.write_text(HEADER + row + "\n")
    with pytest.raises(InputError, match=where):
        ingest(store, "observations", [path], user="test")
    assert _observations(store) == []


def test_a_repeated_key_is_named(store, tmp_path):
    path = tmp_path / "obs.csv"
    path.write_text(HEADER + "ae_4hr_breach_type1,RK9,2024-01-01,9,10,\n" * 2)
    with pytest.raises(InputError, match="row 2"):
        ingest(store, "observations", [path], user="test")
