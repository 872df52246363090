"""The experience indicator as a real, confidential indicator, on SQLite and PostgreSQL: the experiences
shared become observations of ``experience_negative_share`` when a monitoring run starts (counted by
hand below), the run compares organisations on it like any other indicator and flags the one with many
negative experiences, and nobody but the roles that handle submissions sees it, through the services,
the API or the pages."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from carelens.app import create_app
from carelens.model.access import Actor, Role
from carelens.model.indicators import definition_json, load_indicators
from carelens.services import NotFound
from carelens.services.auth import NewUser, create_users, login, password_hasher
from carelens.services.intel import EXPERIENCE_INDICATOR, EXPERIENCE_SOURCE
from carelens.services.league import league_table
from carelens.services.monitoring import flags, intelligence_profile, run_pass, run_summary
from carelens.services.observations import get_indicator, list_indicators, observations
from carelens.services.organisations import organisation_profile
from carelens.store import schema
from carelens.store.schema_intel import intel_submission
from carelens.store.schema_monitor import monitor_flag
from carelens.store.testing import seed_import, seed_organisations

CHEAP = password_hasher(memory_kib=1024, time_cost=1)
TRUSTS = [f"T{k:02d}" for k in range(12)]
MAY, JUNE = dt.date(2024, 5, 1), dt.date(2024, 6, 1)
SHARED = {  # (negative, all) experiences per trust in May and in June 2024; T00's are mostly negative
    "T00": ((28, 40), (30, 42)),
    "T01": ((8, 40), (9, 41)),
    "T02": ((6, 38), (7, 40)),
    "T03": ((9, 40), (8, 39)),
    "T04": ((7, 41), (10, 40)),
    "T05": ((10, 40), (8, 40)),
    "T06": ((8, 42), (7, 38)),
    "T07": ((9, 40), (9, 40)),
    "T08": ((6, 39), (8, 41)),
    "T09": ((11, 40), (10, 40)),
    "T10": ((7, 40), (6, 40)),
    "T11": ((8, 40), (9, 43)),
}
TITLE = "Experiences of care shared that were negative"
ANALYST = Actor("analyst-1", Role.ANALYST)
HANDLERS = {  # who sees the indicator for T00 (hospitals): the roles that handle submissions, in reach
    "analyst": ANALYST,
    "admin": Actor("admin-1", Role.ADMIN),
    "chief inspector of the sector": Actor("chief", Role.CHIEF_INSPECTOR, sector="hospitals"),
    "inspector assigned to T00": Actor("insp", Role.INSPECTOR, frozenset({"T00"}), inspector_id="i1"),
}
OTHERS = {  # everyone else sees no trace of it, T00's own provider first among them
    "public": Actor("anonymous", Role.PUBLIC),
    "T00's provider": Actor("prov", Role.PROVIDER, frozenset({"T00"})),
    "commissioner": Actor("comm", Role.COMMISSIONER, frozenset({"T00"})),
    "national board": Actor("nb", Role.NATIONAL_BOARD),
    "policy maker": Actor("pm", Role.POLICY_MAKER),
    "inspector assigned elsewhere": Actor("insp2", Role.INSPECTOR, frozenset({"T05"}), inspector_id="i2"),
    "chief inspector of another sector": Actor("chief2", Role.CHIEF_INSPECTOR, sector="adult_social_care"),
}


def share(engine, code: str, month: dt.date, negative: int, total: int) -> None:
    """``total`` experiences about ``code`` received in ``month``: ``negative`` negative, the rest
    positive but for one neutral."""
    others = total - negative
    sentiments = ["negative"] * negative + ["neutral"] * min(others, 1) + ["positive"] * (others - 1)
    received = dt.datetime(month.year, month.month, 10, 12, tzinfo=dt.UTC)
    rows = [
        dict(
            kind="experience",
            org_code=code,
            submitter="public",
            sentiment=s,
            text="what happened",
            received_at=received + dt.timedelta(minutes=k),
            submitted_by="anonymous",
            status="recorded",
        )
        for k, s in enumerate(sentiments)
    ]
    with engine.begin() as connection:
        connection.execute(intel_submission.insert(), rows)


@pytest.fixture
def shared(engine):
    """Twelve trusts (and a surgery with nothing shared about it) and the experiences of :data:`SHARED`."""
    with engine.begin() as connection:
        import_id = seed_import(connection, "test", "test")
        rows = [dict(code=c, name=f"Trust {c}", kind="nhs_trust") for c in TRUSTS]
        seed_organisations(
            connection, [*rows, dict(code="G1", name="A surgery", kind="gp_practice")], import_id
        )
    for code, months in SHARED.items():
        for month, (negative, total) in zip((MAY, JUNE), months, strict=True):
            share(engine, code, month, negative, total)
    return engine


def stored(engine, current_only: bool = True) -> dict[tuple[str, dt.date], tuple[float, float, float]]:
    obs = schema.observation
    query = sa.select(obs.c.org_code, obs.c.period, obs.c.numerator, obs.c.denominator, obs.c.value).where(
        obs.c.indicator_id == EXPERIENCE_INDICATOR
    )
    if current_only:
        query = query.where(obs.c.superseded_by.is_(None))
    with engine.connect() as connection:
        return {
            (r.org_code, r.period): (r.numerator, r.denominator, r.value) for r in connection.execute(query)
        }


def test_the_indicator_is_declared_confidential_and_others_are_stored_as_before():
    definitions = load_indicators()
    assert definitions[EXPERIENCE_INDICATOR].confidential is True
    assert definition_json(definitions[EXPERIENCE_INDICATOR])["confidential"] is True
    others = [d for i, d in definitions.items() if i != EXPERIENCE_INDICATOR]
    assert others and not any(d.confidential or "confidential" in definition_json(d) for d in others)


def test_a_run_stores_the_counts_and_flags_the_organisation_with_many_negative_experiences(shared):
    engine = shared
    first = run_pass(engine, ANALYST)
    expected = {
        (code, month): (float(negative), float(total), negative / total)
        for code, months in SHARED.items()
        for month, (negative, total) in zip((MAY, JUNE), months, strict=True)
    }
    assert stored(engine) == pytest.approx(expected)
    with engine.connect() as connection:
        imports = connection.execute(
            sa.select(schema.import_record.c.id, schema.import_record.c.user_name).where(
                schema.import_record.c.source == EXPERIENCE_SOURCE
            )
        ).all()
        judged = {
            r.org_code: r
            for r in connection.execute(
                sa.select(monitor_flag).where(
                    monitor_flag.c.run_id == first.run_id, monitor_flag.c.indicator_id == EXPERIENCE_INDICATOR
                )
            )
        }
    assert [user for _, user in imports] == ["analyst-1"]  # an import of its own, by the run's actor
    assert sorted(judged) == TRUSTS and judged["T00"].period == JUNE
    # 30 of 42 (71%) against about 21% among its peers: far outside the limits
    assert judged["T00"].flag in ("risk", "elevated risk") and judged["T00"].z_adjusted > 3
    assert all(judged[c].flag not in ("risk", "elevated risk") for c in TRUSTS if c != "T00")
    risks = {
        r["org_code"]
        for r in flags(engine, ANALYST, indicator_id=EXPERIENCE_INDICATOR, risks_only=True).items
    }
    assert risks == {"T00"}

    # nothing new: the next run imports nothing and compares the same figures
    run_pass(engine, ANALYST)
    with engine.connect() as connection:
        count = sa.select(sa.func.count()).select_from(schema.import_record)
        assert (
            connection.execute(count.where(schema.import_record.c.source == EXPERIENCE_SOURCE)).scalar() == 1
        )
    # one more negative experience about T02 in June supersedes that month's figure, kept as history
    share(engine, "T02", JUNE, 1, 1)
    run_pass(engine, ANALYST)
    assert stored(engine)[("T02", JUNE)] == pytest.approx((8.0, 41.0, 8 / 41))
    history = {k: v for k, v in stored(engine, current_only=False).items() if k == ("T02", JUNE)}
    with engine.connect() as connection:
        obs = schema.observation
        rows = connection.execute(
            sa.select(obs.c.numerator, obs.c.superseded_by).where(
                obs.c.indicator_id == EXPERIENCE_INDICATOR, obs.c.org_code == "T02", obs.c.period == JUNE
            )
        ).all()
    assert history and sorted(r.numerator for r in rows) == [7.0, 8.0]
    assert [r.numerator for r in rows if r.superseded_by is not None] == [7.0]


def test_only_the_roles_that_handle_submissions_see_it(shared):
    engine = shared
    run_pass(engine, ANALYST)
    for name, actor in HANDLERS.items():
        rows = observations(engine, actor, EXPERIENCE_INDICATOR, page_size=100).items
        assert ("T00", "2024-06-01") in {(r["org_code"], r["period"]) for r in rows}, name
        assert {r["org_code"] for r in rows} == ({"T00"} if actor.role is Role.INSPECTOR else set(TRUSTS)), (
            name
        )  # an inspector sees its assigned organisations only
        titles = {i["title"] for i in organisation_profile(engine, actor, "T00")["indicators"]}
        assert TITLE in titles, name
        profile = intelligence_profile(engine, actor, "T00")
        assert EXPERIENCE_INDICATOR in {r["indicator_id"] for r in profile["indicators"]}, name
        table = league_table(engine, actor, EXPERIENCE_INDICATOR, page_size=100).items
        assert table[-1]["org_code"] == "T00", name  # lower is better: T00 last
        assert len(table) == (1 if actor.role is Role.INSPECTOR else 12), name
    for name, actor in OTHERS.items():
        rows = observations(engine, actor, EXPERIENCE_INDICATOR, page_size=100).items
        # an inspector sees its own assignment's figures (T05's), never another organisation's
        assert {r["org_code"] for r in rows} == ({"T05"} if actor.role is Role.INSPECTOR else set()), name
        assert all(
            r["indicator_id"] != EXPERIENCE_INDICATOR
            for r in observations(engine, actor, org_code="T00").items
        )
        handling = actor.role in (Role.INSPECTOR, Role.CHIEF_INSPECTOR)  # submissions, elsewhere
        if not handling:  # the indicator does not exist for roles that handle none
            assert EXPERIENCE_INDICATOR not in {i["id"] for i in list_indicators(engine, actor)}, name
            with pytest.raises(NotFound):
                get_indicator(engine, actor, EXPERIENCE_INDICATOR)
        if actor.role is Role.CHIEF_INSPECTOR:  # a chief inspector's table has its own sector only
            assert league_table(engine, actor, EXPERIENCE_INDICATOR).items == [], name
        elif actor.role is not Role.INSPECTOR:
            with pytest.raises(NotFound):
                league_table(engine, actor, EXPERIENCE_INDICATOR)
        titles = {i["title"] for i in organisation_profile(engine, actor, "T00")["indicators"]}
        assert TITLE not in titles, name
        if actor.role in (Role.PROVIDER, Role.COMMISSIONER, Role.NATIONAL_BOARD, Role.POLICY_MAKER):
            # these roles see monitoring flags, but not this indicator's, nor that it was in the run
            assert flags(engine, actor, indicator_id=EXPERIENCE_INDICATOR).total == 0, name
            assert flags(engine, actor, org_code="T00").total == 0, name
            summary = run_summary(engine, actor)
            assert EXPERIENCE_INDICATOR not in {i["indicator_id"] for i in summary["indicators"]}, name
            if actor.role is not Role.POLICY_MAKER:
                profile = intelligence_profile(engine, actor, "T00")
                assert profile["indicators"] == [], name


def test_the_api_and_pages_never_show_it_to_the_public_or_the_provider(shared):
    engine = shared
    with engine.begin() as connection:
        create_users(
            connection,
            [
                NewUser("analyst-1", Role.ANALYST, "analyst-pw"),
                NewUser("prov", Role.PROVIDER, "prov-pw", frozenset({"T00"})),
            ],
            by="test",
            hasher=CHEAP,
        )
    run_pass(engine, ANALYST)

    def bearer(name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {login(engine, name, name.split('-')[0] + '-pw', kind='api')[0]}"}

    routes = [
        "/api/v1/indicators",
        f"/api/v1/indicators/{EXPERIENCE_INDICATOR}",
        f"/api/v1/observations?indicator_id={EXPERIENCE_INDICATOR}",
        "/api/v1/observations?org_code=T00",
        f"/api/v1/league-tables/{EXPERIENCE_INDICATOR}",
        "/api/v1/organisations/T00",
        "/api/v1/monitoring/flags?org_code=T00",
        "/api/v1/monitoring/organisations/T00",
    ]
    with TestClient(create_app(engine)) as client:
        analyst, provider = bearer("analyst-1"), bearer("prov")
        for route in routes:
            seen = client.get(route, headers=analyst)
            assert seen.status_code == 200, route
            if "league-tables" in route:  # its rows do not repeat the indicator's name
                assert seen.json()["total"] == 12 and seen.json()["items"][-1]["org_code"] == "T00"
            else:
                assert EXPERIENCE_INDICATOR in seen.text, route
            for who, headers in (("public", {}), ("provider", provider)):
                answer = client.get(route, headers=headers)
                assert answer.status_code in (200, 403, 404), (route, who)
                if answer.status_code == 404:  # the same answer as for an indicator that does not exist
                    made_up = client.get(route.replace(EXPERIENCE_INDICATOR, "no_such_one"), headers=headers)
                    assert made_up.status_code == 404, (route, who)
                    assert answer.text == made_up.text.replace("no_such_one", EXPERIENCE_INDICATOR)
                else:
                    assert EXPERIENCE_INDICATOR not in answer.text and TITLE not in answer.text, (route, who)
        assert client.get(f"/api/v1/indicators/{EXPERIENCE_INDICATOR}").status_code == 404
        assert (
            client.get(f"/api/v1/league-tables/{EXPERIENCE_INDICATOR}", headers=provider).status_code == 404
        )
        pages = [
            "/organisations/T00",
            "/organisations/T00/report",
            f"/league-tables?indicator={EXPERIENCE_INDICATOR}",
        ]
        for page in pages:
            public = client.get(page)
            assert public.status_code == 200 and TITLE not in public.text, page
        form = client.get("/login").text.split('name="csrf_token" value="')[1].split('"')[0]
        signed_in = client.post(
            "/login",
            data={"user_name": "prov", "password": "prov-pw", "next": "/", "csrf_token": form},
            follow_redirects=False,
        )
        assert signed_in.status_code == 303
        for page in [*pages, "/monitoring"]:
            answer = client.get(page)
            assert answer.status_code in (200, 403), page
            assert TITLE not in answer.text and EXPERIENCE_INDICATOR not in answer.text, page


def test_segmentation_and_the_commissioner_assessment_leave_it_out(shared):
    """Both are published judgements: people's experiences are no oversight metric nor an outcome a
    commissioner is assessed on."""
    from carelens.fund.assessment import observations_from_store
    from carelens.services.assessment import metric_scores
    from carelens.services.intel import store_experience_observations

    engine = shared
    with engine.begin() as connection:
        seed_organisations(
            connection,
            [dict(code="C1", name="A commissioner", kind="commissioner")],
            seed_import(connection, "c", "c"),
        )
    share(engine, "C1", MAY, 3, 10)
    store_experience_observations(engine, "analyst-1")
    assert stored(engine)[("C1", MAY)] == (3.0, 10.0, 0.3)  # stored for the regulator's monitoring
    with engine.connect() as connection:
        assert observations_from_store(connection).empty
        assert EXPERIENCE_INDICATOR not in set(metric_scores(connection)["metric"])


def test_experiences_shared_today_do_not_age_the_publishers_figures(shared):
    """A store of historical publications (a trust indicator last published in January 2019) stays in
    date when experiences were shared since: only the publishers' figures set the newest period."""
    from carelens.store.schema_monitor import monitor_indicator

    engine = shared
    with engine.begin() as connection:
        import_id = seed_import(connection, "obs", "obs")
        definition = {
            "id": "ind",
            "version": 1,
            "title": "A published indicator",
            "domain": "test",
            "value_type": "proportion",
            "polarity": "lower_is_better",
            "peer_group": "national",
            "method": "funnel_overdispersed",
            "source": "test",
        }
        connection.execute(
            schema.indicator.insert().values(id="ind", version=1, title="A", definition=definition)
        )
        connection.execute(
            schema.observation.insert(),
            [
                dict(
                    indicator_id="ind",
                    org_code=code,
                    period=dt.date(2019, 1, 1),
                    numerator=100.0 + k,
                    denominator=1000.0,
                    value=(100.0 + k) / 1000.0,
                    import_id=import_id,
                )
                for k, code in enumerate(TRUSTS)
            ],
        )
    run = run_pass(engine, ANALYST)
    with engine.connect() as connection:
        stale = dict(
            connection.execute(
                sa.select(monitor_indicator.c.indicator_id, monitor_indicator.c.out_of_date_kinds).where(
                    monitor_indicator.c.run_id == run.run_id
                )
            ).all()
        )
    assert stale == {"ind": "", EXPERIENCE_INDICATOR: ""}  # 65 months apart, neither out of date
