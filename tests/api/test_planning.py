"""Inspection plans and the failure regime over HTTP: what each role sees, and that no provider or public
request ever sees an unannounced inspection or any planned date (404, never 403; nothing in any list,
profile or CSV), with ``Cache-Control: no-store`` on every confidential response."""

from __future__ import annotations

import pytest

from carelens.model.access import Role

from .conftest import (
    COMPLETED_WINDOW,
    INSPECTIONS,
    INSPECTOR_ID,
    ORG_NAMES,
    REGIME_CASES,
    SECRET_YEAR,
    auth,
)

UNENTITLED = [Role.PUBLIC, Role.PROVIDER, Role.COMMISSIONER, Role.NATIONAL_BOARD, Role.POLICY_MAKER]
"""Roles whose inspection_plans rule reaches nothing."""


def _bodies(client, headers) -> dict[str, str]:
    """Every response a role gets that could mention L1's inspections, by path."""
    paths = [
        "/api/v1/organisations/L1",
        "/api/v1/organisations/P1",
        "/api/v1/organisations/L1/inspections",
        "/api/v1/organisations/L1/inspections?format=csv",
        "/api/v1/organisations/L2/inspections?format=csv",
        "/api/v1/organisations?q=alpha&format=csv",
        "/api/v1/organisations?q=alpha",
        "/api/v1/plan",
        "/api/v1/plan?format=csv",
        "/api/v1/plan/schedule",
        "/api/v1/ratings?page_size=1000",
        "/api/v1/assessed-ratings?history=true&format=csv",
        *(f"/api/v1/inspections/{i}" for i in INSPECTIONS.values()),
    ]
    return {path: client.get(path, headers=headers).text for path in paths}


@pytest.mark.parametrize("role", UNENTITLED, ids=[r.value for r in UNENTITLED])
def test_no_window_or_planned_date_in_any_response(client, tokens, role):
    bodies = _bodies(client, auth(tokens[role]))
    for path, body in bodies.items():
        assert SECRET_YEAR not in body, path
        assert "window" not in body, path
        for day in COMPLETED_WINDOW:
            assert day not in body, path
    # the completed inspection is published: its (past) dates are shown
    assert "2023-06-05" in bodies["/api/v1/organisations/L1/inspections?format=csv"]
    assert "2023-06-05" in bodies["/api/v1/organisations/L1"]


def test_the_leak_check_can_fail(client, tokens):
    """The same responses to an analyst do hold the windows and planned dates the test above looks for."""
    bodies = _bodies(client, auth(tokens[Role.ANALYST]))
    assert SECRET_YEAR in bodies["/api/v1/organisations/L1"]
    assert SECRET_YEAR in bodies["/api/v1/organisations/L1/inspections?format=csv"]
    assert COMPLETED_WINDOW[0] in bodies["/api/v1/organisations/L1/inspections"]
    assert "window_start" in bodies["/api/v1/plan?format=csv"]


@pytest.mark.parametrize("role", UNENTITLED, ids=[r.value for r in UNENTITLED])
def test_own_unannounced_inspection_is_404_never_403(client, tokens, role):
    """The provider runs L1; asking for L1's planned unannounced visit is as if it did not exist."""
    headers = auth(tokens[role])
    secret = client.get(f"/api/v1/inspections/{INSPECTIONS['L1_unannounced']}", headers=headers)
    missing = client.get("/api/v1/inspections/999", headers=headers)
    assert secret.status_code == missing.status_code == 404
    assert secret.json()["detail"].replace(str(INSPECTIONS["L1_unannounced"]), "") == missing.json()[
        "detail"
    ].replace("999", "")
    assert secret.headers["cache-control"] == "no-store"
    plan = client.get("/api/v1/plan", headers=headers)
    assert plan.status_code == 404 and plan.headers["cache-control"] == "no-store"


def test_a_provider_sees_its_completed_inspection_without_the_window(client, tokens):
    headers = auth(tokens[Role.PROVIDER])
    rows = client.get("/api/v1/organisations/L1/inspections", headers=headers).json()["items"]
    assert [r["id"] for r in rows] == [INSPECTIONS["L1_completed"]]
    assert set(rows[0]) == {"id", "org_code", "inspection_type", "start_date", "end_date", "status"}
    one = client.get(f"/api/v1/inspections/{INSPECTIONS['L1_completed']}", headers=headers).json()
    assert "window_start" not in one and "team" not in one and one["status"] == "completed"


def test_the_inspector_sees_its_own_assignments_with_windows(client, tokens):
    response = client.get("/api/v1/plan", headers=auth(tokens[Role.INSPECTOR]))
    assert response.headers["cache-control"] == "no-store"
    (row,) = response.json()["items"]
    assert row["id"] == INSPECTIONS["L1_unannounced"] and row["unannounced"] is True
    assert row["window_start"] == "2030-02-25" and row["window_end"] == "2030-03-26"
    assert row["team"][0] == INSPECTOR_ID and row["lead"] is True and row["name"] == "Alpha General Hospital"
    detail = client.get(f"/api/v1/inspections/{row['id']}", headers=auth(tokens[Role.INSPECTOR])).json()
    assert detail["window_start"] == "2030-02-25" and detail["team"] == [INSPECTOR_ID, "insp-2"]


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (Role.CHIEF_INSPECTOR, {"L1", "L2"}),
        (Role.ANALYST, {"L1", "L2", "G1"}),
        (Role.ADMIN, {"L1", "L2", "G1"}),
    ],
)
def test_plan_reach_by_role(client, tokens, role, expected):
    rows = client.get("/api/v1/plan", headers=auth(tokens[role])).json()["items"]
    assert {r["org_code"] for r in rows} == expected
    assert all(r["lead"] is False for r in rows)  # only an inspector leads


@pytest.mark.parametrize(
    ("role", "cases", "overdue"),
    [
        (Role.INSPECTOR, {"L1"}, ["L1"]),
        (Role.CHIEF_INSPECTOR, {"L1", "L2"}, ["L1", "L2"]),
        (Role.ANALYST, {"L1", "L2", "G1", "C1"}, ["L1", "C1", "L2"]),
        (Role.NATIONAL_BOARD, {"C1"}, ["L1", "C1", "L2"]),
    ],
)
def test_regime_cases_and_overdue_actions_in_reach(client, tokens, role, cases, overdue):
    headers = auth(tokens[role])
    listed = client.get("/api/v1/regime/cases", headers=headers)
    assert listed.headers["cache-control"] == "no-store"
    assert {r["org_code"] for r in listed.json()["items"]} == cases
    assert all(r["name"] == ORG_NAMES[r["org_code"]] for r in listed.json()["items"])
    late = client.get("/api/v1/regime/overdue?as_of=2024-06-01", headers=headers).json()["items"]
    assert [r["org_code"] for r in late] == overdue  # most overdue first
    assert all(r["days_overdue"] > 0 for r in late)
    early = client.get("/api/v1/regime/overdue?as_of=2023-01-15", headers=headers).json()["items"]
    assert early == []


def test_a_regime_case_says_who_when_and_why(client, tokens):
    case = client.get(
        f"/api/v1/regime/cases/{REGIME_CASES['L1']}", headers=auth(tokens[Role.INSPECTOR])
    ).json()
    assert case["state"] == "requirement_notice" and case["deadline"] == "2023-01-30"
    assert [(t["event"], t["user_name"], t["reason"]) for t in case["transitions"]] == [
        ("open", "chief", "concerns"),
        ("requirement_notice", "chief", "breach"),
    ]


def test_the_plan_can_be_narrowed_to_one_status(client, tokens):
    headers = auth(tokens[Role.ANALYST])
    planned = client.get("/api/v1/plan?status=planned", headers=headers).json()
    assert planned["total"] == 3 and {r["status"] for r in planned["items"]} == {"planned"}
    assert client.get("/api/v1/plan?status=unscheduled", headers=headers).json()["items"] == []
    assert client.get("/api/v1/plan?status=nonsense", headers=headers).status_code == 422
    # narrowing never turns a 404 into anything else for those not entitled to the plan
    assert client.get("/api/v1/plan?status=planned", headers=auth(tokens[Role.PROVIDER])).status_code == 404


def test_an_unknown_status_is_refused_by_the_service_after_the_access_check(api_engine):
    from carelens.model.access import Actor
    from carelens.services import Invalid, NotFound
    from carelens.services.planning import inspection_plan

    with pytest.raises(NotFound):
        inspection_plan(api_engine, Actor("p", Role.PROVIDER, frozenset({"P1"})), status="nonsense")
    with pytest.raises(Invalid, match="status must be one of planned"):
        inspection_plan(api_engine, Actor("a", Role.ANALYST), status="nonsense")


def test_the_national_board_sees_its_own_commissioner_cases(client, tokens):
    """Issue 18: GET /regime/cases?regime=commissioner refused the national board its own cases (403)."""
    headers = auth(tokens[Role.NATIONAL_BOARD])
    listed = client.get("/api/v1/regime/cases?regime=commissioner", headers=headers)
    assert listed.status_code == 200, listed.text
    assert [(r["org_code"], r["state"]) for r in listed.json()["items"]] == [("C1", "intervention")]
    case = client.get(f"/api/v1/regime/cases/{REGIME_CASES['C1']}", headers=headers).json()
    assert [a["owner"] for a in case["actions"]] == ["C1 finance director"]
    # the regulator's enforcement against providers stays the regulator's
    assert client.get("/api/v1/regime/cases?regime=provider", headers=headers).json()["items"] == []


def test_a_refused_exit_says_why_and_changes_nothing(client, tokens, api_engine):
    """The intervention cannot be closed while no later assessment exists and a recovery action is open:
    409 with each reason in words, and nothing written."""
    headers = auth(tokens[Role.NATIONAL_BOARD])
    path = f"/api/v1/regime/cases/{REGIME_CASES['C1']}"
    before = client.get(path, headers=headers).json()
    refused = client.post(
        f"{path}/transitions", headers=headers, json={"event": "exit_intervention", "reason": "improved"}
    )
    assert refused.status_code == 409
    reasons = [p["reason"] for p in refused.json()["problems"]]
    assert any("no assessment of C1 recorded since the case opened" in r for r in reasons)
    assert any("1 recovery action(s) still open: #1 agree a financial recovery plan" in r for r in reasons)
    assert client.get(path, headers=headers).json() == before
