"""The main job end to end on the packaged real data, through the command line."""

import pandas as pd
from typer.testing import CliRunner

from carelens.cli import app
from carelens.ingest.reference import kind_of
from carelens.model.organisations import OrgKind


def test_demo_reproduces_published_shmi_bands_and_writes_every_result(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--no-serve"])
    assert result.exit_code == 0, result.output

    shmi = pd.read_csv(tmp_path / "shmi_funnel.csv")
    assert len(shmi) == 726  # 5 HSCIC releases, 142-147 trusts each
    assert (shmi["band"] == shmi["published_band"]).all()
    assert shmi.groupby("DATE")["band"].apply(lambda b: (b == 1).sum()).tolist() == [14, 11, 9, 10, 10]

    funnel = pd.read_csv(tmp_path / "ae_4hr_breach_funnel.csv")
    assert funnel["period"].nunique() == 84  # April 2019 - March 2026, NHS England's monthly files
    assert (funnel["period"].min(), funnel["period"].max()) == ("2019-04-01", "2026-03-01")
    assert {kind_of(code) for code in funnel["unit"]} == {OrgKind.NHS_TRUST}  # kinds from ODS
    march = funnel[funnel["period"] == "2026-03-01"]
    # Type 1 with booked appointments, as NHS England counts them: England's TOTAL row for March 2026 says
    # 1,451,010 + 27,134 booked type 1 attendances and 523,986 + 6,793 over 4 hours, all at 121 NHS trusts.
    assert (len(march), march["denominator"].sum(), march["numerator"].sum()) == (121, 1_478_144, 530_779)
    # The field-test trusts' months (no breaches reported against thousands of attendances) are left out:
    # not assessed, never 100%.
    assert not ((funnel["numerator"] == 0) & (funnel["denominator"] > 1000)).any()
    outside_95 = march[(march["value"] > march["upper_95"]) | (march["value"] < march["lower_95"])]
    said = " ".join(result.output.split())
    assert len(outside_95) > 0 and all(f" {code} " in said for code in outside_95["unit"])
    assert "A&E type 1 four-hour breaches (booked appointments counted" in said

    spc = pd.read_csv(tmp_path / "ae_4hr_performance_spc.csv")
    assert spc["org_code"].nunique() == funnel["unit"].nunique()
    _demo_store_has_monitoring_ratings_and_an_allocation(tmp_path, result.output)
    _demo_store_has_an_inspection_plan_the_inspector_account_works_on(tmp_path, result.output)


def _demo_store_has_monitoring_ratings_and_an_allocation(out, output: str) -> None:
    """The demo ran two monitoring passes (so the dashboard has movers), the ratings rules and an allocation."""
    import sqlalchemy as sa

    from carelens.store.engine import create_engine
    from carelens.store.schema_assess import assessed_rating
    from carelens.store.schema_fund import fund_allocation
    from carelens.store.schema_monitor import monitor_org, monitor_run

    engine = create_engine(f"sqlite:///{out / 'carelens-demo.db'}")
    with engine.connect() as c:
        runs = c.execute(sa.select(monitor_run.c.id, monitor_run.c.previous_run_id).order_by("id")).all()
        assert [tuple(r) for r in runs] == [(1, None), (2, 1)]
        moved = c.execute(
            sa.select(sa.func.count()).where(monitor_org.c.run_id == 2, monitor_org.c.change != "same")
        ).scalar()
        assert moved > 0
        published = dict(
            c.execute(sa.select(assessed_rating.c.published, sa.func.count()).group_by("published")).all()
        )
        assert published[True] > 0 and published[False] > 0  # agreements published, the rest proposals
        assert c.execute(sa.select(sa.func.count()).select_from(fund_allocation)).scalar() == 42
    engine.dispose()
    assert "monitoring run 2" in output and "ratings rules" in output and "allocation:" in output
    said = " ".join(output.split())  # the console wraps long lines
    assert "system reviews: direction LSR-DEMO (£2,000,000) selected 23 places" in said  # £2m at £2m / 23


def _demo_store_has_an_inspection_plan_the_inspector_account_works_on(out, output: str) -> None:
    """The demo saved an inspection schedule made by the optimiser, the demo inspector is an inspector of
    that schedule tied to its assignments, and organisations rated Inadequate are in special measures."""
    import sqlalchemy as sa

    from carelens.store.engine import create_engine
    from carelens.store.schema_access import app_user
    from carelens.store.schema_plan import plan_assignment, plan_inspection, plan_regime_case, plan_schedule

    engine = create_engine(f"sqlite:///{out / 'carelens-demo.db'}")
    with engine.connect() as c:
        (schedule,) = c.execute(sa.select(plan_schedule)).mappings().all()
        summary = schedule["summary"]
        assert schedule["method"] == "milp" and schedule["status"] == "draft"
        assert (
            summary["inspections_scheduled"] > 0
            and summary["deadlines_met"] == summary["deadlines_in_horizon"]
        )
        inspector = c.execute(sa.select(app_user).where(app_user.c.role == "inspector")).mappings().one()
        assigned = set(
            c.execute(
                sa.select(plan_inspection.c.org_code)
                .join(plan_assignment, plan_assignment.c.inspection_id == plan_inspection.c.id)
                .where(plan_assignment.c.inspector_id == inspector["inspector_id"])
            ).scalars()
        )
        assert assigned and assigned == set(inspector["organisations"])
        states = c.execute(sa.select(plan_regime_case.c.state, plan_regime_case.c.regime)).all()
        assert states and set(states) == {("special_measures", "provider")}
    engine.dispose()
    said = " ".join(output.split())  # the console wraps long lines (and table cells)
    assert f"inspection plan: draft schedule {schedule['id']} from {schedule['as_of']}" in said
    assert f"statutory deadlines in the horizon met {summary['deadlines_met']} of" in said
    assert f"failure regime: {len(states)} organisations rated Inadequate overall" in said
    assert f"inspector {inspector['inspector_id']}:" in said  # the accounts table names the inspector


def test_demo_store_loads_every_packaged_data_set_once(tmp_path):
    from carelens.demo.store import load_demo_store
    from carelens.store.engine import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    first = load_demo_store(engine)
    assert first == {
        "ods-etr": 274,
        "ods-eccg": 320,
        "gp-weighted-population": 19_660,
        "ae-monthly": 18_197,  # 84 months and 3 first publications, a TOTAL row each
        "rtt": 180_781,  # the April 2026 full extract
        "shmi": 726,
        "cqc-ratings": 2_920,
        "ons-population": 1_274,
        "ods-succ": 11_537,
        "organisations": 143,  # synthetic places, councils, trusts and ACOs for system reviews
        "relationships": 120,
        "place-transitions": 84,
    }
    assert set(load_demo_store(engine).values()) == {0}  # idempotent: the same files change nothing
