"""A stored run's flags read back as they always were: the listing (risks first, then control-chart
alerts, by organisation and indicator) walked page by page gives every flag of the run exactly once,
with totals that match, whatever the filter or the reach; an organisation's intelligence profile reads
its stored flags; and runs stored before flags carried their listing's place get the same places from
the migration (docs/scale.md).

The run is a real monitoring pass over a small synthetic data set (60 organisations x 4 indicators,
planted deteriorations, so there are risks and control-chart alerts), stored on SQLite and on
PostgreSQL. The expected listing is worked out here from the stored flags with the order the listing
has always had, not with the code under test.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import sqlalchemy as sa

from carelens.model.access import Actor, Role
from carelens.monitor.service import read_run, run_monitor
from carelens.services import monitoring
from carelens.store.schema_monitor import RISK_FLAGS, monitor_flag, monitor_flag_count
from carelens.store.testing import seed_synthetic

ANALYST = Actor("analyst", Role.ANALYST)
PAGE = 7
"""Rows a page: divides none of the listings, so every walk ends on a part page."""


@pytest.fixture
def stored(engine):
    """Two real runs over the same data (the second has previous flags); the second is the default."""
    codes, indicators = seed_synthetic(engine, orgs=60, indicators=4, months=24, seed=3)
    run_monitor(engine, user="test")
    run = run_monitor(engine, user="test")
    return engine, run.run_id, codes, indicators


def expected(flags: pd.DataFrame) -> list[tuple[str, str]]:
    """(organisation, indicator) of ``flags`` in the listing's order: elevated risk, risk, the rest;
    control-chart alerts first within each; then by organisation and indicator."""
    risk = flags["flag"].map({name: i for i, name in enumerate(RISK_FLAGS)}).fillna(len(RISK_FLAGS))
    ordered = flags.assign(risk=risk, alert=~flags["spc_alert"].astype(bool)).sort_values(
        ["risk", "alert", "org_code", "indicator_id"]
    )
    return list(zip(ordered["org_code"], ordered["indicator_id"], strict=True))


def walk(engine, actor: Actor = ANALYST, **filters) -> tuple[list[tuple[str, str]], set[int]]:
    """Every page of a listing, first to last (and one past it): the rows' keys and the totals told."""
    keys, totals, page = [], set(), 1
    while True:
        found = monitoring.flags(engine, actor, page=page, page_size=PAGE, **filters)
        totals.add(found.total)
        if not found.items:
            return keys, totals
        assert len(found.items) == PAGE or page == found.pages
        keys += [(row["org_code"], row["indicator_id"]) for row in found.items]
        page += 1


def test_walking_every_page_gives_each_flag_once_in_the_listing_order(stored):
    engine, run_id, _, indicators = stored
    flags = read_run(engine, run_id)["flags"]
    risky = flags["flag"].isin(RISK_FLAGS) | flags["spc_alert"].astype(bool)
    assert risky.any() and (~risky).any()  # the planted deteriorations are found: risks come first
    cases = {
        "every flag": ({}, flags),
        "risks only": ({"risks_only": True}, flags[risky]),
        "one indicator": ({"indicator_id": indicators[1]}, flags[flags["indicator_id"] == indicators[1]]),
        "one flag": ({"flag": "no evidence of risk"}, flags[flags["flag"] == "no evidence of risk"]),
        "one organisation": (
            {"org_code": flags["org_code"].iloc[5]},
            flags[flags["org_code"] == flags["org_code"].iloc[5]],
        ),
    }
    for name, (filters, rows) in cases.items():
        keys, totals = walk(engine, **filters)
        assert keys == expected(rows), name
        assert len(set(keys)) == len(keys) and totals == {len(rows)}, name


def test_a_provider_walks_its_own_flags_only(stored):
    engine, _, codes, _ = stored
    own = frozenset(codes[3:5])
    provider = Actor("provider", Role.PROVIDER, organisations=own)
    flags = read_run(engine)["flags"]
    mine = flags[flags["org_code"].isin(own)]
    keys, totals = walk(engine, provider)
    assert keys == expected(mine) and totals == {len(mine)} and len(mine) > PAGE


def test_run_summary_counts_are_the_stored_flags(stored):
    engine, run_id, _, _ = stored
    flags = read_run(engine, run_id)["flags"]
    summary = monitoring.run_summary(engine, ANALYST)
    assert summary["flags"] == flags["flag"].value_counts().sort_index().to_dict()
    orgs = read_run(engine, run_id)["organisations"]
    assert summary["changes"] == orgs["change"].value_counts().sort_index().to_dict()
    bands = orgs.assign(band=orgs["band"].astype(object).where(orgs["band"].notna(), None))
    counted = bands.groupby(["band", "status"], dropna=False).size()
    assert {(b["band"], b["status"]): b["organisations"] for b in summary["bands"]} == {
        (None if pd.isna(band) else int(band), status): int(n) for (band, status), n in counted.items()
    }
    assert [b["band"] for b in summary["bands"]] == sorted(
        (b["band"] for b in summary["bands"]), key=lambda band: (band is None, band or 0)
    )


def test_an_intelligence_profile_reads_the_organisations_stored_flags(stored):
    engine, run_id, codes, _ = stored
    flags = read_run(engine, run_id)["flags"]
    for code in codes[:3]:
        profile = monitoring.intelligence_profile(engine, ANALYST, code)
        mine = flags[flags["org_code"] == code].sort_values("indicator_id")
        assert [(r["indicator_id"], r["flag"], r["spc_alert"]) for r in profile["indicators"]] == list(
            zip(mine["indicator_id"], mine["flag"], mine["spc_alert"].astype(bool), strict=True)
        )


def test_the_migration_numbers_and_counts_runs_stored_before_it(stored):
    """monitor_0003 gives flags stored without a place the places a store gives them now, and counts
    them: back to monitor_0002 and up again."""
    from alembic import command

    from carelens.store.migrate import alembic_config, head_revisions, upgrade

    engine = stored[0]

    def places() -> tuple[list, list]:
        with engine.connect() as c:
            f, n = monitor_flag, monitor_flag_count
            return (
                c.execute(
                    sa.select(f.c.run_id, f.c.indicator_id, f.c.org_code, f.c.position).order_by(
                        *f.primary_key
                    )
                ).all(),
                c.execute(sa.select(n).order_by(*n.primary_key)).all(),
            )

    before = places()
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "monitor_0002")
    assert upgrade(engine) == head_revisions()
    assert places() == before


def test_the_biggest_movers_are_the_runs_changed_bands_in_order_for_every_reach(stored):
    """Over every organisation the movers are found once per run and their rows read per request: the
    same organisations, in the same order, as the run's stored bands give (a third run puts some
    organisations in special measures and leaves others unbanded, so bands move); a provider sees only
    its own."""
    engine, _, codes, _ = stored
    run = run_monitor(engine, user="test", special_measures=codes[:5], recently_inspected=codes[5:9])
    orgs = read_run(engine, run.run_id)["organisations"]
    moved = orgs[orgs["change"].isin(["higher risk", "lower risk", "changed"])].assign(
        worse=lambda o: o["change"] != "higher risk",
        bands=lambda o: (o["band"].fillna(0) - o["previous_band"].fillna(0)).abs(),
        scores=lambda o: (o["score"].fillna(0) - o["previous_score"].fillna(0)).abs(),
    )
    order = list(
        moved.sort_values(["worse", "bands", "scores", "org_code"], ascending=[True, False, False, True])[
            "org_code"
        ]
    )
    assert len(order) >= 5
    for _ in range(2):  # the second answer comes from what the first found
        assert [r["org_code"] for r in monitoring.biggest_movers(engine, ANALYST, limit=3)] == order[:3]
        assert [r["org_code"] for r in monitoring.biggest_movers(engine, ANALYST, limit=None)] == order
        summary = monitoring.run_summary(engine, ANALYST)
        assert summary["changes"] == orgs["change"].value_counts().sort_index().to_dict()
    provider = Actor("provider", Role.PROVIDER, organisations=frozenset({order[0]}))
    assert [r["org_code"] for r in monitoring.biggest_movers(engine, provider)] == [order[0]]


def test_a_pass_whose_text_columns_are_categoricals_is_stored_as_one_with_str(engine):
    """The kernel may give the flags' text columns as pandas categoricals (categories in any order, some
    unused): the stored flags, their places and the run's counts are those of the same pass with str."""
    from carelens.monitor.inputs import sql_inputs
    from carelens.monitor.service import compute_pass, store_run

    seed_synthetic(engine, orgs=40, indicators=3, months=24, seed=5)
    result = compute_pass(sql_inputs(engine))
    text = [c.name for c in monitor_flag.c if isinstance(c.type, sa.String) and c.name in result.flags]
    assert {"indicator_id", "org_code", "flag", "method"} <= set(text)
    categorical = result.flags.assign(
        **{
            c: pd.Categorical(
                result.flags[c], categories=sorted(set(result.flags[c]) | {"unused"}, reverse=True)
            )
            for c in text
        }
    )
    runs = [
        store_run(engine, result, "test").run_id,
        store_run(engine, dataclasses.replace(result, flags=categorical), "test").run_id,
    ]

    def stored(run_id: int) -> tuple[list, list]:
        with engine.connect() as c:
            f, n = monitor_flag, monitor_flag_count
            columns = [col for col in f.c if col.name not in ("run_id", "previous_flag")]
            return (
                c.execute(sa.select(*columns).where(f.c.run_id == run_id).order_by(f.c.position)).all(),
                c.execute(
                    sa.select(n.c.indicator_id, n.c.flag, n.c.spc_alert, n.c.flags)
                    .where(n.c.run_id == run_id)
                    .order_by(*n.primary_key)
                ).all(),
            )

    assert stored(runs[0]) == stored(runs[1])
