"""People, not $LOGNAME: signing in at the command line, the store's local administrator, the
second-person check; and intelligence from people: experiences and concerns sent through the API and
the web form, who sees them, the rate limit, triage, a validated staff concern in monitoring and the
experience indicator. On SQLite and PostgreSQL where the store is involved."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from carelens.app import create_app
from carelens.cli import app as cli
from carelens.model.access import Actor, Role
from carelens.model.indicators import load_indicators
from carelens.monitor.inputs import sql_inputs
from carelens.monitor.service import compute_pass
from carelens.monitor.settings import load_settings
from carelens.services import Forbidden
from carelens.services.approvals import require_second_person
from carelens.services.auth import NewUser, create_users, login, password_hasher
from carelens.services.identity import LOCAL_ADMIN, create_with_store, local_admin_label
from carelens.services.intel import experience_indicator, submissions, submit, triage
from carelens.services.monitoring import run_pass
from carelens.store import schema
from carelens.store.testing import seed_import, seed_organisations

CHEAP = password_hasher(memory_kib=1024, time_cost=1)
ADMIN = Actor("admin-1", Role.ADMIN)
ANALYST = Actor("analyst-1", Role.ANALYST)
TRUSTS = [f"T{k:02d}" for k in range(12)]


def add_users(engine, *users: NewUser) -> None:
    with engine.begin() as connection:
        create_users(connection, users, by="test", hasher=CHEAP)


def seed_trusts(engine) -> None:
    with engine.begin() as connection:
        import_id = seed_import(connection, "test", "test")
        rows = [dict(code=c, name=f"Trust {c}", kind="nhs_trust") for c in TRUSTS]
        seed_organisations(
            connection, [*rows, dict(code="G1", name="A surgery", kind="gp_practice")], import_id
        )


def audit_names(engine, action: str) -> list[str]:
    with engine.connect() as connection:
        query = sa.select(schema.audit_event.c.user_name).where(schema.audit_event.c.action == action)
        return list(connection.execute(query).scalars())


# --- the command line signs in -------------------------------------------------------------------------


def test_login_logout_round_trip_and_the_audit_names_the_signed_in_user(stores):
    engine, url = stores.new(), None
    url = engine.url.render_as_string(hide_password=False)
    seed_trusts(engine)
    add_users(engine, NewUser("alice", Role.ADMIN, "alice-password"))
    run = CliRunner().invoke
    signed = run(cli, ["login", "--db", url, "--user", "alice"], input="alice-password\n")
    assert signed.exit_code == 0, signed.output
    assert "signed in as alice (admin)" in signed.output
    files = list(Path(os.environ["XDG_CONFIG_HOME"], "carelens", "tokens").iterdir())
    assert len(files) == 1 and stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert "alice-password" not in files[0].read_text()  # a token, never the password
    assert run(cli, ["whoami", "--db", url]).output.startswith("alice (admin; signed in)")
    opened = run(cli, ["regime", "open", "provider", "T01", "--reason", "concerns", "--db", url])
    assert opened.exit_code == 0, opened.output
    with engine.connect() as connection:
        names = set(
            connection.execute(
                sa.select(schema.audit_event.c.user_name).where(schema.audit_event.c.entity_key == "1")
            ).scalars()
        )
    assert "alice" in names and not any(n.startswith(LOCAL_ADMIN) for n in names)
    out = run(cli, ["logout", "--db", url])
    assert out.exit_code == 0 and "signed out" in out.output
    assert not files[0].exists()
    assert audit_names(engine, "logout") == ["alice"]
    # signed out, on a store with users and no local administrator: refused, saying how to sign in
    refused = run(cli, ["regime", "open", "provider", "T02", "--reason", "x", "--db", url])
    assert refused.exit_code == 2
    assert "carelens login" in " ".join(refused.output.split())


def test_a_wrong_password_or_stale_token_signs_nobody_in(stores, monkeypatch):
    engine = stores.new()
    url = engine.url.render_as_string(hide_password=False)
    add_users(engine, NewUser("bob", Role.ANALYST, "bob-password"))
    run = CliRunner().invoke
    wrong = run(cli, ["login", "--db", url, "--user", "bob"], input="nope\n")
    assert wrong.exit_code == 2 and "wrong user name or password" in wrong.output
    monkeypatch.setenv("CARELENS_TOKEN", "made-up")
    stale = run(cli, ["whoami", "--db", url])
    assert stale.exit_code == 2 and "carelens login" in " ".join(stale.output.split())


def test_a_fresh_store_is_created_with_its_local_administrator(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    run = CliRunner().invoke
    result = run(cli, ["regime", "overdue", "--db", url])
    assert result.exit_code == 0, result.output
    who = run(cli, ["whoami", "--db", url]).output
    assert who.startswith(f"{LOCAL_ADMIN} (operating-system user ") and "(admin; nobody signed in" in who
    engine = sa.create_engine(url)
    created = audit_names(engine, "user.created")
    assert len(created) == 1 and created[0].startswith(f"{LOCAL_ADMIN} (operating-system user ")
    again = run(cli, ["admin", "init", "--db", url])
    assert again.exit_code == 2 and "exists already" in again.output


def test_a_store_locked_by_another_writer_is_reported_in_words(tmp_path):
    """Creating the local administrator while another process held SQLite's write lock printed a raw
    ``sqlite3.OperationalError: database is locked``."""
    import sqlite3

    from carelens.store.schema_access import app_user

    path = tmp_path / "busy.db"
    url = f"sqlite:///{path}"
    assert CliRunner().invoke(cli, ["regime", "overdue", "--db", url]).exit_code == 0  # a store exists
    with sa.create_engine(url).begin() as connection:
        connection.execute(sa.delete(app_user))  # no administrator, so ``admin init`` may run
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        result = CliRunner().invoke(cli, ["admin", "init", "--db", url])
    finally:
        other.execute("ROLLBACK")
        other.close()
    said = " ".join(result.output.split())
    assert result.exit_code == 1 and "Busy: another process is writing to the store" in said
    assert "nothing was written" in said and "OperationalError" not in said
    with sa.create_engine(url).connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(app_user)).scalar() == 0


def test_admin_init_needs_a_signed_in_administrator_once_the_store_has_one(stores):
    engine = stores.new()
    url = engine.url.render_as_string(hide_password=False)
    add_users(engine, NewUser("root-admin", Role.ADMIN, "root-admin-pw"))
    run = CliRunner().invoke
    refused = run(cli, ["admin", "init", "--db", url])
    assert refused.exit_code == 2 and "must sign in" in " ".join(refused.output.split())
    assert run(cli, ["login", "--db", url, "--user", "root-admin"], input="root-admin-pw\n").exit_code == 0
    created = run(cli, ["admin", "init", "--db", url])
    assert created.exit_code == 0, created.output
    assert run(cli, ["logout", "--db", url]).exit_code == 0
    assert run(cli, ["whoami", "--db", url]).output.startswith(LOCAL_ADMIN + " (operating-system user")


def test_nobody_can_take_the_local_administrators_name(engine):
    from carelens.services import Invalid
    from carelens.services.auth import create_user

    with pytest.raises(Invalid, match="reserved"):
        create_user(engine, ADMIN, NewUser(LOCAL_ADMIN + " (operating-system user eve)", Role.ADMIN, "x" * 9))


def test_a_rating_is_published_only_by_a_second_signed_in_person(stores):
    """No free-text approver: a draft is approved by a chief inspector of the sector signed in as themself,
    never by its proposer (here the store's local administrator)."""
    engine = stores.new()
    url = engine.url.render_as_string(hide_password=False)
    seed_trusts(engine)
    create_with_store(engine, "tester")
    add_users(engine, NewUser("chief", Role.CHIEF_INSPECTOR, "chief-password", sector="hospitals"))
    run = CliRunner().invoke
    args = ["rate", "record", "T01", "--rating", "Good", "--key-question", "Safe", "--date", "2024-01-01"]
    proposed = run(cli, [*args, "--rationale", "new evidence", "--db", url])
    assert proposed.exit_code == 0, proposed.output
    draft = proposed.output.split("#")[1].split(":")[0]
    by_proposer = run(cli, ["rate", "approve", draft, "--db", url])
    assert by_proposer.exit_code == 2 and "chief inspector" in by_proposer.output
    assert run(cli, ["login", "--db", url, "--user", "chief"], input="chief-password\n").exit_code == 0
    approved = run(cli, ["rate", "approve", draft, "--db", url])
    assert approved.exit_code == 0, approved.output
    with engine.connect() as connection:
        published = connection.execute(
            sa.select(sa.text("approved_by, proposed_by FROM assessed_rating WHERE published"))
        ).one()
    assert published[0] == "chief" and published[1].startswith(LOCAL_ADMIN + " (operating-system user")


# --- the second-person check ----------------------------------------------------------------------------


def test_an_approval_needs_a_second_different_authorised_person(engine):
    seed_trusts(engine)
    chief = Actor("chief", Role.CHIEF_INSPECTOR, sector="hospitals")
    assert require_second_person(engine, chief, "inspector-1", org_code="T01") == "chief"
    with pytest.raises(Forbidden, match="second person"):
        require_second_person(engine, chief, "chief", org_code="T01")
    with pytest.raises(Forbidden, match="second person"):  # two OS users acting as the one local admin
        require_second_person(
            engine, Actor(local_admin_label("bob"), Role.ADMIN), local_admin_label("alice"), org_code="T01"
        )
    with pytest.raises(Forbidden, match="chief inspector of that sector"):
        require_second_person(engine, chief, "inspector-1", org_code="G1")
    with pytest.raises(Forbidden, match="must be approved by a chief inspector, admin, not a inspector"):
        require_second_person(engine, Actor("insp-2", Role.INSPECTOR), "inspector-1")
    with pytest.raises(Forbidden, match="signed-in"):
        require_second_person(engine, Actor("anonymous", Role.PUBLIC), "inspector-1")
    board = require_second_person(engine, Actor("nb", Role.NATIONAL_BOARD), "x", roles=[Role.NATIONAL_BOARD])
    assert board == "nb"


# --- experiences and concerns -----------------------------------------------------------------------------

HANDLED = {  # who sees a submission about T01 (hospitals): every other role is answered 404
    Role.ANALYST: True,
    Role.ADMIN: True,
    Role.CHIEF_INSPECTOR: True,
    Role.INSPECTOR: True,
}
ACTORS = {
    Role.PUBLIC: Actor("anonymous", Role.PUBLIC),
    Role.PROVIDER: Actor("prov", Role.PROVIDER, frozenset({"T01"})),
    Role.COMMISSIONER: Actor("comm", Role.COMMISSIONER, frozenset({"T01"})),
    Role.INSPECTOR: Actor("insp", Role.INSPECTOR, frozenset({"T01"}), inspector_id="i1"),
    Role.ANALYST: ANALYST,
    Role.CHIEF_INSPECTOR: Actor("chief", Role.CHIEF_INSPECTOR, sector="hospitals"),
    Role.NATIONAL_BOARD: Actor("nb", Role.NATIONAL_BOARD),
    Role.ADMIN: ADMIN,
    Role.POLICY_MAKER: Actor("pm", Role.POLICY_MAKER),
}


@pytest.fixture
def api(engine):
    seed_trusts(engine)
    add_users(
        engine,
        NewUser("analyst-1", Role.ANALYST, "analyst-pw"),
        NewUser("prov", Role.PROVIDER, "prov-pw", frozenset({"T01"})),
        NewUser("chief", Role.CHIEF_INSPECTOR, "chief-pw", sector="hospitals"),
    )
    with TestClient(create_app(engine)) as client:
        yield engine, client


def bearer(engine, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {login(engine, name, name.split('-')[0] + '-pw', kind='api')[0]}"}


def test_submissions_through_the_api_are_seen_only_by_those_who_handle_them(api):
    engine, client = api
    sent = client.post(
        "/api/v1/intel/experiences", json={"org_code": "T01", "sentiment": "negative", "text": "x"}
    )
    assert sent.status_code == 201 and sent.json()["status"] == "recorded"
    concern = client.post("/api/v1/intel/concerns", json={"org_code": "T01", "text": "unsafe staffing"})
    assert concern.status_code == 201 and concern.json()["status"] == "new"
    assert client.post("/api/v1/intel/concerns", json={"org_code": "NOPE", "text": "x"}).status_code == 404
    bad = client.post("/api/v1/intel/experiences", json={"org_code": "T01", "sentiment": "meh", "text": "x"})
    assert bad.status_code == 422
    for role, actor in ACTORS.items():
        if HANDLED.get(role):
            assert submissions(engine, actor).total == 2, role
        else:
            with pytest.raises(Exception, match="not found") as refused:
                submissions(engine, actor)
            assert refused.value.status == 404, role
    assert client.get("/api/v1/intel/submissions").status_code == 404  # the public
    assert client.get("/api/v1/intel/submissions", headers=bearer(engine, "prov")).status_code == 404
    listed = client.get("/api/v1/intel/submissions", headers=bearer(engine, "analyst-1")).json()
    assert {item["kind"] for item in listed["items"]} == {"experience", "concern"}
    # the text is nowhere in the audit log; the sender is 'anonymous'
    with engine.connect() as connection:
        events = (
            connection.execute(
                sa.select(schema.audit_event).where(schema.audit_event.c.action.like("intel.%"))
            )
            .mappings()
            .all()
        )
    assert [(e["action"], e["user_name"]) for e in events] == [
        ("intel.experience", "anonymous"),
        ("intel.concern", "anonymous"),
    ]
    assert "unsafe staffing" not in str([dict(e) for e in events])


def test_submissions_are_rate_limited(api, monkeypatch):
    engine, client = api
    body = {"org_code": "T01", "sentiment": "positive", "text": "kind staff"}
    statuses = [client.post("/api/v1/intel/experiences", json=body).status_code for _ in range(6)]
    assert statuses == [201] * 5 + [429]
    refused = client.post("/api/v1/intel/concerns", json={"org_code": "T01", "text": "y"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert submissions(engine, ANALYST).total == 5  # nothing written when refused


def test_triage_by_an_analyst_is_audited_and_follows_its_steps(api):
    engine, client = api
    concern = submit(engine, ACTORS[Role.PUBLIC], "concern", "T01", "bullying", "staff")
    path = f"/api/v1/intel/submissions/{concern['id']}/triage"
    chief = client.post(path, json={"status": "validated", "reason": "r"}, headers=bearer(engine, "chief"))
    assert chief.status_code == 403
    prov = client.post(path, json={"status": "validated", "reason": "r"}, headers=bearer(engine, "prov"))
    assert prov.status_code == 404
    analyst = bearer(engine, "analyst-1")
    closed = client.post(path, json={"status": "closed", "reason": "r"}, headers=analyst)
    assert closed.status_code == 400 and "may become validated, not_validated" in closed.text
    done = client.post(path, json={"status": "validated", "reason": "two staff say so"}, headers=analyst)
    assert done.status_code == 200 and done.json()["triaged_by"] == "analyst-1"
    with engine.connect() as connection:
        event = (
            connection.execute(
                sa.select(schema.audit_event).where(schema.audit_event.c.action == "intel.triaged")
            )
            .mappings()
            .one()
        )
    assert event["user_name"] == "analyst-1"
    assert event["detail"]["before"]["status"] == "new" and event["detail"]["after"]["status"] == "validated"


def test_the_web_form_sends_an_experience_with_its_anti_forgery_token(api):
    engine, client = api
    page = client.get("/organisations/T01/feedback")
    assert page.status_code == 200 and "Share your experience" in page.text
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"kind": "experience", "submitter": "public", "sentiment": "neutral", "text": "fine"}
    forged = client.post("/organisations/T01/feedback", data=form | {"csrf_token": "forged"})
    assert forged.status_code == 400 and submissions(engine, ANALYST).total == 0
    token = forged.text.split('name="csrf_token" value="')[1].split('"')[0]  # each form its own token
    sent = client.post("/organisations/T01/feedback", data=form | {"csrf_token": token})
    assert sent.status_code == 200 and "Thank you" in sent.text
    (row,) = submissions(engine, ANALYST).items
    assert (row["kind"], row["sentiment"], row["text"]) == ("experience", "neutral", "fine")


# --- monitoring and the indicator ---------------------------------------------------------------------


def seed_observations(engine) -> None:
    """Twelve trusts' monthly proportions of one indicator, T00 somewhat worse."""
    rng = np.random.default_rng(5)
    with engine.begin() as connection:
        import_id = seed_import(connection, "obs", "obs")
        connection.execute(
            schema.indicator.insert().values(
                id="ind",
                version=1,
                title="An indicator",
                definition={
                    "id": "ind",
                    "version": 1,
                    "title": "An indicator",
                    "domain": "test",
                    "value_type": "proportion",
                    "polarity": "lower_is_better",
                    "peer_group": "national",
                    "method": "funnel_overdispersed",
                    "source": "test",
                },
            )
        )
        rows = []
        for k, code in enumerate(TRUSTS):
            for month in range(1, 7):
                numerator = float(rng.binomial(1000, 0.12 if k == 0 else 0.10))
                rows.append(
                    dict(
                        indicator_id="ind",
                        org_code=code,
                        period=dt.date(2024, month, 1),
                        numerator=numerator,
                        denominator=1000.0,
                        value=numerator / 1000.0,
                        import_id=import_id,
                    )
                )
        connection.execute(schema.observation.insert(), rows)


def test_a_validated_staff_concern_raises_elevated_risk_in_monitoring(engine):
    seed_trusts(engine)
    seed_observations(engine)
    settings = dataclasses.replace(load_settings(), min_units=5)
    plain = compute_pass(sql_inputs(engine), settings)
    first = run_pass(engine, ADMIN, settings=settings)
    assert first.results_digest == plain.results_digest  # no concerns: the run is exactly as before
    # concerns that are not validated, or not from staff, change nothing
    public = submit(engine, ACTORS[Role.PUBLIC], "concern", "T05", "dirty ward", "public")
    triage(engine, ANALYST, public["id"], "validated", "seen on a visit")
    submit(engine, ACTORS[Role.PUBLIC], "concern", "T05", "rota gaps", "staff")
    assert run_pass(engine, ADMIN, settings=settings).results_digest == plain.results_digest
    staff = submit(engine, ACTORS[Role.PUBLIC], "concern", "T05", "rota gaps again", "staff")
    triage(engine, ANALYST, staff["id"], "validated", "confirmed by the ward manager")
    raised = run_pass(engine, ADMIN, settings=settings)
    assert raised.results_digest != plain.results_digest
    with engine.connect() as connection:
        org = schema_monitor_org()
        rows = {
            r.org_code: r for r in connection.execute(sa.select(org).where(org.c.run_id == raised.run_id))
        }
        before = {
            r.org_code: r for r in connection.execute(sa.select(org).where(org.c.run_id == first.run_id))
        }
    assert rows["T05"].elevated == before["T05"].elevated + 1
    assert rows["T05"].applicable == before["T05"].applicable + 1
    assert rows["T05"].score > before["T05"].score
    assert all(rows[c].score == before[c].score for c in TRUSTS if c != "T05")
    # closing the concern takes it out of the next run
    triage(engine, ANALYST, staff["id"], "closed", "staffing restored")
    assert run_pass(engine, ADMIN, settings=settings).results_digest == plain.results_digest


def schema_monitor_org():
    from carelens.store.schema_monitor import monitor_org

    return monitor_org


def test_experiences_by_sentiment_are_an_indicator(engine):
    seed_trusts(engine)
    for sentiment in ("negative", "negative", "positive", "neutral"):
        submit(engine, ACTORS[Role.PUBLIC], "experience", "T01", "x", "public", sentiment)
    submit(engine, ACTORS[Role.PUBLIC], "experience", "T02", "x", "staff", "positive")
    month = dt.date.today().replace(day=1).isoformat()
    rows = {r["org_code"]: r for r in experience_indicator(engine, ANALYST)}
    assert (rows["T01"]["negative"], rows["T01"]["positive"], rows["T01"]["neutral"]) == (2, 1, 1)
    assert (rows["T01"]["numerator"], rows["T01"]["denominator"], rows["T01"]["value"]) == (2, 4, 0.5)
    assert rows["T01"]["period"] == month and rows["T02"]["value"] == 0.0
    definition = load_indicators()[rows["T01"]["indicator_id"]]
    assert (definition.value_type, definition.polarity) == ("proportion", "lower_is_better")
    with pytest.raises(Exception, match="not found"):
        experience_indicator(engine, ACTORS[Role.PROVIDER])
