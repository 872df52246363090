"""The permission matrix: every route x every role -> the status it must get (datasette style).

Expectations are written out here, not derived from ROLE_RULES, so a change to the rules that changes
who sees what fails this test until the matrix is changed too. Unpublished (proposed) ratings must be
404 -- never 403 -- for anyone not entitled, so their existence does not leak; so must every planned
inspection and unannounced window be to providers, the public, the national board and policy makers.
"""

from __future__ import annotations

import pytest

from carelens.model.access import Role

from .conftest import (
    ALLOCATION_RUN,
    ASSESSED_IDS,
    INSPECTIONS,
    INTEL_IDS,
    MONITOR_RUN,
    ORG_NAMES,
    RATING_IDS,
    RECOVERY_ACTIONS,
    REGIME_CASES,
    auth,
)
from .systems_seed import REVIEW_IDS, SETTLEMENTS

R = list(Role)
ALL_200 = dict.fromkeys(R, 200)


def only(status_for_others: int, **allowed: int) -> dict[Role, int]:
    """Expected statuses: ``allowed`` roles (by value) get theirs, everyone else ``status_for_others``."""
    return {role: allowed.get(role.value, status_for_others) for role in R}


L1_PROPOSED = RATING_IDS["L1_proposed"]
L2_PROPOSED = RATING_IDS["L2_proposed"]
ENTITLED_EVERYWHERE = dict(analyst=200, chief_inspector=200, national_board=200, admin=200, policy_maker=200)
SEE_ALL = dict(analyst=200, national_board=200, admin=200, policy_maker=200)
MONEY = dict(commissioner=200, **SEE_ALL)
"""Roles that may see allocations and commissioner assessments."""
"""Roles whose confidential-data rule reaches every organisation (the chief inspector's is a sector)."""
SEE_ALL_PLANS = dict(analyst=200, admin=200)
SEE_PLANS_SECTOR = dict(chief_inspector=200, **SEE_ALL_PLANS)
PLANNERS = dict(inspector=200, **SEE_PLANS_SECTOR)
"""Roles whose inspection_plans rule reaches something (the regulator's roles)."""
NOT_IN_REACH = dict(inspector=404, chief_inspector=404)
BOARD_CASES = dict(analyst=200, national_board=200, admin=200)
"""Roles whose board_cases rule reaches every organisation (the national board's regimes)."""
REGIME_READERS = dict(**PLANNERS, national_board=200)
"""Roles that see some failure-regime cases (the regulator's or the national board's)."""
WRITE_BODIES = {
    "/api/v1/regime/cases": {"regime": "provider", "org_code": "L1", "reason": "concerns"},
    "/api/v1/regime/cases#board": {"regime": "commissioner", "org_code": "NOPE", "reason": "failing"},
    f"/api/v1/regime/cases/{REGIME_CASES['L1']}/transitions": {
        "event": "exit_special_measures",
        "reason": "improved",
    },
    f"/api/v1/regime/cases/{REGIME_CASES['C1']}/transitions": {
        "event": "exit_intervention",
        "reason": "improved",
        "at": "2024-01-01",
    },
    f"/api/v1/regime/cases/{REGIME_CASES['L2']}/escalations": {"reason": "overdue", "at": "2023-06-01"},
    f"/api/v1/regime/cases/{REGIME_CASES['C1']}/actions": {
        "action": " ",
        "owner": "C1 board",
        "due_date": "2024-06-01",
    },
    f"/api/v1/regime/actions/{RECOVERY_ACTIONS['C1']}": {
        "status": "done",
        "note": "done",
        "on": "2020-01-01",
    },
}
"""Bodies of the write routes in the matrix, each one the domain refuses (so the store never changes)."""

# --- local system reviews and ACOs (tests/api/systems_seed.py) -----------------------------------------
# Published review reports are open to all; review work follows the local_systems rule (403 to roles it
# reaches nothing for; the commissioner's area reaches PL1 and PL3 and ACO1); the programme (directions,
# budget what-if) needs a rule reaching every place.
REVIEW_WORK = dict(analyst=200, chief_inspector=200, national_board=200, admin=200, policy_maker=200)
"""Roles whose local_systems rule reaches every place and ACO."""
SYSTEMS_MATRIX: list[tuple[str, str, dict[Role, int]]] = [
    ("GET", "/api/v1/systems/places", only(403, commissioner=200, **REVIEW_WORK)),
    (
        "GET",
        "/api/v1/systems/places?period=2017-04-01&format=csv",
        only(403, commissioner=200, **REVIEW_WORK),
    ),
    (
        "GET",
        "/api/v1/systems/places?period=2001-04-01",
        only(403, commissioner=404, **dict.fromkeys(REVIEW_WORK, 404)),
    ),
    ("GET", "/api/v1/systems/places/PL1", only(403, commissioner=200, **REVIEW_WORK)),
    ("GET", "/api/v1/systems/places/PL2", only(403, commissioner=404, **REVIEW_WORK)),
    ("GET", "/api/v1/systems/places/P1", only(403, commissioner=404, **dict.fromkeys(REVIEW_WORK, 404))),
    ("GET", "/api/v1/systems/directions", only(403, **REVIEW_WORK)),
    ("GET", "/api/v1/systems/directions?format=csv", only(403, **REVIEW_WORK)),
    ("GET", "/api/v1/systems/directions/LSR-T", only(403, **REVIEW_WORK)),
    ("GET", "/api/v1/systems/directions/NOPE", only(403, **dict.fromkeys(REVIEW_WORK, 404))),
    ("GET", "/api/v1/systems/programme-whatif?budget_gbp=200000", only(403, **REVIEW_WORK)),
    ("GET", "/api/v1/systems/programme-whatif?budget_gbp=-1", dict.fromkeys(R, 422)),
    ("GET", "/api/v1/systems/reviews", ALL_200),
    ("GET", "/api/v1/systems/reviews?status=planned&format=csv", ALL_200),
    ("GET", f"/api/v1/systems/reviews/{REVIEW_IDS['PL1']}", ALL_200),
    ("GET", f"/api/v1/systems/reviews/{REVIEW_IDS['PL2']}", only(404, **REVIEW_WORK)),
    ("GET", f"/api/v1/systems/reviews/{REVIEW_IDS['PL3']}", only(404, commissioner=200, **REVIEW_WORK)),
    ("GET", "/api/v1/systems/reviews/999", dict.fromkeys(R, 404)),
    ("GET", "/api/v1/systems/actions", only(403, commissioner=200, **REVIEW_WORK)),
    (
        "GET",
        "/api/v1/systems/actions?overdue_only=true&format=csv",
        only(403, commissioner=200, **REVIEW_WORK),
    ),
    ("GET", "/api/v1/systems/aco-settlements", only(403, commissioner=200, **REVIEW_WORK)),
    (
        "GET",
        "/api/v1/systems/aco-settlements?history=true&format=csv",
        only(403, commissioner=200, **REVIEW_WORK),
    ),
    (
        "GET",
        f"/api/v1/systems/aco-settlements/{SETTLEMENTS['ACO1']}",
        only(403, commissioner=200, **REVIEW_WORK),
    ),
    (
        "GET",
        f"/api/v1/systems/aco-settlements/{SETTLEMENTS['ACO2']}",
        only(403, commissioner=404, **REVIEW_WORK),
    ),
    (
        "GET",
        "/api/v1/systems/aco-concentration?flagged_only=true",
        only(403, commissioner=200, **REVIEW_WORK),
    ),
]
SYSTEMS_TEMPLATES = {
    "/api/v1/systems/places/{code}": "/api/v1/systems/places/PL1",
    "/api/v1/systems/directions/{reference}": "/api/v1/systems/directions/LSR-T",
    "/api/v1/systems/reviews/{review_id}": f"/api/v1/systems/reviews/{REVIEW_IDS['PL1']}",
    "/api/v1/systems/aco-settlements/{settlement_id}": f"/api/v1/systems/aco-settlements/{SETTLEMENTS['ACO1']}",
}

# --- intelligence from people (tests/api/conftest.py fill_intel) ---------------------------------------
# Anyone may share an experience or raise a concern; only the roles that handle them see them, each in
# its reach of confidential data (an inspector its own P1, a chief inspector hospitals), and everyone
# else gets 404, never 403. Only analysts and administrators triage (an experience is not triaged: 400).
HANDLE_ALL = dict(analyst=200, admin=200)
HANDLE_HOSPITALS = dict(chief_inspector=200, **HANDLE_ALL)
HANDLERS = dict(inspector=200, **HANDLE_HOSPITALS)
INTEL_MATRIX: list[tuple[str, str, dict[Role, int]]] = [
    ("POST", "/api/v1/intel/experiences", dict.fromkeys(R, 201)),
    ("POST", "/api/v1/intel/concerns", dict.fromkeys(R, 201)),
    ("GET", "/api/v1/intel/submissions", only(404, **HANDLERS)),
    ("GET", "/api/v1/intel/submissions?kind=concern&format=csv", only(404, **HANDLERS)),
    ("GET", f"/api/v1/intel/submissions/{INTEL_IDS['P1_concern']}", only(404, **HANDLERS)),
    ("GET", f"/api/v1/intel/submissions/{INTEL_IDS['P2_experience']}", only(404, **HANDLE_HOSPITALS)),
    ("GET", f"/api/v1/intel/submissions/{INTEL_IDS['G1_concern']}", only(404, **HANDLE_ALL)),
    ("GET", "/api/v1/intel/submissions/999", dict.fromkeys(R, 404)),
    (
        "POST",
        f"/api/v1/intel/submissions/{INTEL_IDS['P2_experience']}/triage",
        only(404, analyst=400, admin=400, chief_inspector=403),
    ),
    ("GET", "/api/v1/intel/experience-indicator", only(404, **HANDLERS)),
]
INTEL_TEMPLATES = {
    "/api/v1/intel/submissions/{submission_id}": f"/api/v1/intel/submissions/{INTEL_IDS['P1_concern']}",
    "/api/v1/intel/submissions/{submission_id}/triage": (
        f"/api/v1/intel/submissions/{INTEL_IDS['P2_experience']}/triage"
    ),
}
POST_BODIES = {
    "/api/v1/intel/experiences": {"org_code": "L1", "sentiment": "positive", "text": "kind nurses"},
    "/api/v1/intel/concerns": {"org_code": "L1", "text": "staffing on the ward at night"},
    f"/api/v1/intel/submissions/{INTEL_IDS['P2_experience']}/triage": {"status": "validated", "reason": "r"},
}
# --- an inspection's life (docs/inspections.md) ------------------------------------------------------
# Writes are refused before anything changes: anonymous callers may change nothing (403); an inspection
# the inspection-plans rule does not reach is 404, never 403; a step that is not the actor's is 403; the
# step's own role meets a refusal of the state (400: schedule 2 is a draft, L1's inspection not started).
U = INSPECTIONS["L1_unannounced"]
TEAM_STEP = dict(inspector=400, chief_inspector=403, analyst=403, admin=403, public=403)
TEAM_OR_CHIEF_STEP = dict(inspector=400, chief_inspector=400, analyst=403, admin=403, public=403)
CHIEF_STEP = dict(inspector=403, chief_inspector=400, analyst=403, admin=403, public=403)
INSPECTION_MATRIX: list[tuple[str, str, dict[Role, int]]] = [
    ("GET", f"/api/v1/inspections/{U}/report", only(404, **PLANNERS)),
    ("POST", "/api/v1/plan/schedules/99/approval", only(403, chief_inspector=404)),
    ("POST", f"/api/v1/inspections/{U}/start", only(404, **TEAM_STEP)),
    ("POST", f"/api/v1/inspections/{U}/findings", only(404, **TEAM_STEP)),
    ("POST", f"/api/v1/inspections/{U}/proposal", only(404, **TEAM_STEP)),
    ("POST", f"/api/v1/inspections/{U}/approval", only(404, **CHIEF_STEP)),
    ("POST", f"/api/v1/inspections/{U}/draft-report", only(404, **TEAM_OR_CHIEF_STEP)),
    ("POST", f"/api/v1/inspections/{U}/challenges", only(404, public=403)),
    ("PUT", f"/api/v1/inspections/{U}/challenges/1", only(404, **TEAM_OR_CHIEF_STEP)),
    ("POST", f"/api/v1/inspections/{U}/publication", only(404, **CHIEF_STEP)),
    # a published rating is no draft to approve (400 to the sector's chief inspector, 403 to the rest;
    # 404 to the provider, whose unpublished-ratings rule reaches nothing)
    (
        "POST",
        f"/api/v1/assessed-ratings/{ASSESSED_IDS['L1_published']}/approval",
        only(403, chief_inspector=400, provider=404),
    ),
]
BODIES = {
    "findings": {
        "key_question": "Safe",
        "rating": "Good",
        "finding": "Seen on the day",
        "evidence": ["notes"],
    },
    "proposal": {},
    "challenges": {"text": "The audit was done on the day", "key_question": "Safe"},
    "1": {"decision": "rejected", "reasons": "The audit was incomplete"},
}
"""The body each write route is sent in the matrix (by the last part of its path)."""
INSPECTION_TEMPLATES = {
    "/api/v1/inspections/{inspection_id}/report": f"/api/v1/inspections/{U}/report",
    "/api/v1/plan/schedules/{schedule_id}/approval": "/api/v1/plan/schedules/99/approval",
    **{
        f"/api/v1/inspections/{{inspection_id}}/{step}": f"/api/v1/inspections/{U}/{step}"
        for step in ("start", "findings", "proposal", "approval", "draft-report", "challenges", "publication")
    },
    "/api/v1/inspections/{inspection_id}/challenges/{challenge_id}": f"/api/v1/inspections/{U}/challenges/1",
    "/api/v1/assessed-ratings/{rating_id}/approval": f"/api/v1/assessed-ratings/{ASSESSED_IDS['L1_published']}/approval",
}

MATRIX: list[tuple[str, str, dict[Role, int]]] = [
    ("GET", "/api/v1/organisations", ALL_200),
    ("GET", "/api/v1/organisations?q=plymouth&format=csv", ALL_200),
    ("GET", "/api/v1/organisations/P1", ALL_200),
    ("GET", "/api/v1/organisations/NOPE", dict.fromkeys(R, 404)),
    ("GET", "/api/v1/organisations/L1/ratings?history=true", ALL_200),
    ("GET", "/api/v1/indicators", ALL_200),
    ("GET", "/api/v1/indicators/ind_p", ALL_200),
    ("GET", "/api/v1/indicators/nope", dict.fromkeys(R, 404)),
    ("GET", "/api/v1/observations?indicator_id=ind_p", ALL_200),
    ("GET", "/api/v1/league-tables/ind_p", ALL_200),
    ("GET", "/api/v1/league-tables/ind_n", dict.fromkeys(R, 400)),
    ("GET", "/api/v1/ratings", ALL_200),
    ("GET", f"/api/v1/ratings/{RATING_IDS['L1_published']}", ALL_200),
    # L1 is run by P1 (provider's own, inspector's assignment) and contracted by C1 (commissioner's area).
    (
        "GET",
        f"/api/v1/ratings/{L1_PROPOSED}",
        only(404, commissioner=200, inspector=200, **ENTITLED_EVERYWHERE),
    ),
    ("GET", f"/api/v1/ratings/{L2_PROPOSED}", only(404, **ENTITLED_EVERYWHERE)),
    ("GET", "/api/v1/ratings/999999", dict.fromkeys(R, 404)),
    ("GET", "/api/v1/auth/me", ALL_200),
    ("GET", "/api/v1/audit", only(403, admin=200)),
    ("POST", "/api/v1/users", only(403, admin=201)),
    ("GET", "/openapi.json", ALL_200),
    # Monitoring is confidential: the public may not use it (403); an organisation's profile is 404 to
    # anyone whose confidential-data rule does not reach it.
    ("GET", "/api/v1/monitoring/runs", only(200, public=403)),
    ("GET", f"/api/v1/monitoring/runs/{MONITOR_RUN}", only(200, public=403)),
    ("GET", "/api/v1/monitoring/runs/99", only(404, public=403)),
    ("GET", "/api/v1/monitoring/flags?risks_only=true&format=csv", only(200, public=403)),
    ("GET", "/api/v1/monitoring/bands", only(200, public=403)),
    ("GET", "/api/v1/monitoring/movers", only(200, public=403)),
    (
        "GET",
        "/api/v1/monitoring/organisations/P1",
        only(404, provider=200, inspector=200, chief_inspector=200, **SEE_ALL),
    ),
    ("GET", "/api/v1/monitoring/organisations/P2", only(404, chief_inspector=200, **SEE_ALL)),
    ("GET", "/api/v1/monitoring/organisations/G1", only(404, commissioner=200, **SEE_ALL)),
    # Assessed ratings: proposals are 404 to anyone not entitled (L2 is in no one's own area).
    ("GET", "/api/v1/assessed-ratings", ALL_200),
    ("GET", f"/api/v1/assessed-ratings/{ASSESSED_IDS['L1_published']}", ALL_200),
    ("GET", f"/api/v1/assessed-ratings/{ASSESSED_IDS['L2_proposed']}", only(404, **ENTITLED_EVERYWHERE)),
    ("GET", "/api/v1/organisations/L2/ratings-at?date=2024-06-01", ALL_200),
    ("GET", "/api/v1/organisations/NOPE/ratings-at?date=2024-06-01", dict.fromkeys(R, 404)),
    ("GET", "/api/v1/segmentation", ALL_200),
    # Allocations: for those who see every organisation and for commissioners (their area); providers,
    # inspectors and a sector's chief inspector have no commissioner in reach (403). A commissioner sees
    # its own scorecard only.
    ("GET", "/api/v1/allocations/runs", only(403, **MONEY)),
    ("GET", f"/api/v1/allocations?run_id={ALLOCATION_RUN}", only(403, **MONEY)),
    ("GET", "/api/v1/allocations?run_id=99", only(403, **dict.fromkeys(MONEY, 404))),
    ("GET", "/api/v1/allocations/scenarios", only(403, **MONEY)),
    ("GET", "/api/v1/allocations/whatif?a=2024_25&b=nope", only(403, **dict.fromkeys(MONEY, 400))),
    ("GET", "/api/v1/commissioners/C1/scorecard", only(404, commissioner=200, **SEE_ALL)),
    ("GET", "/api/v1/commissioners/C2/scorecard", only(404, **SEE_ALL)),
    ("GET", "/api/v1/commissioners/P1/scorecard", dict.fromkeys(R, 404)),
    # Inspection plans: 404 (never 403) to everyone the inspection_plans rule does not reach. The
    # inspector is assigned to L1's unannounced visit only; the chief inspector heads hospitals (L1, L2).
    ("GET", "/api/v1/plan", only(404, **PLANNERS)),
    ("GET", "/api/v1/plan?format=csv", only(404, **PLANNERS)),
    ("GET", "/api/v1/plan?status=unscheduled", only(404, **PLANNERS)),
    ("GET", "/api/v1/plan?schedule_id=99", dict.fromkeys(R, 404)),
    ("GET", "/api/v1/plan/schedule", only(404, **PLANNERS)),
    ("GET", "/api/v1/plan/schedule?schedule_id=99", dict.fromkeys(R, 404)),
    ("GET", f"/api/v1/inspections/{INSPECTIONS['L1_unannounced']}", only(404, **PLANNERS)),
    ("GET", f"/api/v1/inspections/{INSPECTIONS['L2_announced']}", only(404, **SEE_PLANS_SECTOR)),
    ("GET", f"/api/v1/inspections/{INSPECTIONS['G1_unannounced']}", only(404, analyst=200, admin=200)),
    ("GET", f"/api/v1/inspections/{INSPECTIONS['L1_completed']}", ALL_200),
    ("GET", "/api/v1/inspections/999", dict.fromkeys(R, 404)),
    ("GET", "/api/v1/organisations/L1/inspections", ALL_200),
    ("GET", "/api/v1/organisations/L1/inspections?format=csv", ALL_200),
    ("GET", "/api/v1/organisations/NOPE/inspections", dict.fromkeys(R, 404)),
    # Failure regime: the regulator's roles see the providers' cases, the national board its own
    # (commissioner interventions, NHS trust oversight); 403 to others; a case outside the reach is 404.
    ("GET", "/api/v1/regime/cases", only(403, **REGIME_READERS)),
    ("GET", "/api/v1/regime/cases?regime=commissioner", only(403, **REGIME_READERS)),
    ("GET", "/api/v1/regime/cases?open_only=true&format=csv", only(403, **REGIME_READERS)),
    ("GET", f"/api/v1/regime/cases/{REGIME_CASES['L1']}", only(403, **PLANNERS, national_board=404)),
    (
        "GET",
        f"/api/v1/regime/cases/{REGIME_CASES['L2']}",
        only(403, **SEE_PLANS_SECTOR, inspector=404, national_board=404),
    ),
    (
        "GET",
        f"/api/v1/regime/cases/{REGIME_CASES['G1']}",
        only(403, **SEE_ALL_PLANS, **NOT_IN_REACH, national_board=404),
    ),
    ("GET", f"/api/v1/regime/cases/{REGIME_CASES['C1']}", only(403, **BOARD_CASES, **NOT_IN_REACH)),
    ("GET", "/api/v1/regime/cases/999", only(403, **dict.fromkeys(REGIME_READERS, 404))),
    ("GET", "/api/v1/regime/overdue?as_of=2024-06-01", only(403, **REGIME_READERS)),
    # Changes: chief inspectors (their sector's providers), the national board (its cases), admins. Every
    # request here is refused by the domain (409: a guard, or 422: bad input), so none changes the store.
    ("POST", "/api/v1/regime/cases", only(403, chief_inspector=409, admin=409)),
    ("POST", "/api/v1/regime/cases#board", only(403, national_board=422, admin=422, chief_inspector=403)),
    (
        "POST",
        f"/api/v1/regime/cases/{REGIME_CASES['L1']}/transitions",
        only(403, chief_inspector=409, admin=409, national_board=404, analyst=403, inspector=403),
    ),
    (
        "POST",
        f"/api/v1/regime/cases/{REGIME_CASES['C1']}/transitions",
        only(403, national_board=409, admin=409, analyst=403, inspector=404, chief_inspector=404),
    ),
    (
        "POST",
        f"/api/v1/regime/cases/{REGIME_CASES['L2']}/escalations",
        only(403, chief_inspector=409, admin=409, national_board=404, inspector=404),
    ),
    (
        "POST",
        f"/api/v1/regime/cases/{REGIME_CASES['C1']}/actions",
        only(403, national_board=422, admin=422, analyst=403, inspector=404, chief_inspector=404),
    ),
    (
        "PUT",
        f"/api/v1/regime/actions/{RECOVERY_ACTIONS['C1']}",
        only(403, national_board=409, admin=409, analyst=403, inspector=404, chief_inspector=404),
    ),
    *SYSTEMS_MATRIX,
    *INTEL_MATRIX,
    *INSPECTION_MATRIX,
]


@pytest.mark.parametrize("role", R, ids=[r.value for r in R])
@pytest.mark.parametrize(("method", "path", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX])
def test_permission_matrix(client, tokens, method, path, expected, role):
    body = WRITE_BODIES.get(path, POST_BODIES.get(path))
    if body is None and method in ("POST", "PUT"):
        last = path.split("#")[0].rsplit("/", 1)[-1]
        body = BODIES.get(last, {"user_name": f"new-{role.value}", "role": "analyst"})
    if method == "POST":
        client.app.state.submission_guard = None  # each case its own rate limit (tested in tests/intel)
    response = client.request(method, path.split("#")[0], headers=auth(tokens[role]), json=body)
    assert response.status_code == expected[role], response.text


def test_every_api_route_is_in_the_matrix(client):
    """A new route must be added to the matrix (with its expected status for every role)."""
    covered = {(m, p.split("?")[0]) for m, p, _ in MATRIX}
    templates = {
        "/api/v1/organisations/{code}": "/api/v1/organisations/P1",
        "/api/v1/organisations/{code}/ratings": "/api/v1/organisations/L1/ratings",
        "/api/v1/indicators/{indicator_id}": "/api/v1/indicators/ind_p",
        "/api/v1/league-tables/{indicator_id}": "/api/v1/league-tables/ind_p",
        "/api/v1/ratings/{rating_id}": f"/api/v1/ratings/{RATING_IDS['L1_published']}",
        "/api/v1/monitoring/runs/{run_id}": f"/api/v1/monitoring/runs/{MONITOR_RUN}",
        "/api/v1/monitoring/organisations/{code}": "/api/v1/monitoring/organisations/P1",
        "/api/v1/assessed-ratings/{rating_id}": f"/api/v1/assessed-ratings/{ASSESSED_IDS['L1_published']}",
        "/api/v1/organisations/{code}/ratings-at": "/api/v1/organisations/L2/ratings-at",
        "/api/v1/commissioners/{code}/scorecard": "/api/v1/commissioners/C1/scorecard",
        "/api/v1/inspections/{inspection_id}": f"/api/v1/inspections/{INSPECTIONS['L1_unannounced']}",
        "/api/v1/organisations/{code}/inspections": "/api/v1/organisations/L1/inspections",
        "/api/v1/regime/cases/{case_id}": f"/api/v1/regime/cases/{REGIME_CASES['L1']}",
        "/api/v1/regime/cases/{case_id}/transitions": f"/api/v1/regime/cases/{REGIME_CASES['L1']}/transitions",
        "/api/v1/regime/cases/{case_id}/escalations": f"/api/v1/regime/cases/{REGIME_CASES['L2']}/escalations",
        "/api/v1/regime/cases/{case_id}/actions": f"/api/v1/regime/cases/{REGIME_CASES['C1']}/actions",
        "/api/v1/regime/actions/{action_id}": f"/api/v1/regime/actions/{RECOVERY_ACTIONS['C1']}",
        **SYSTEMS_TEMPLATES,
        **INTEL_TEMPLATES,
        **INSPECTION_TEMPLATES,
    }
    missing = []
    for path, item in client.get("/openapi.json").json()["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method in item:
            if method.upper() == "POST" and path.startswith("/api/v1/auth/"):
                continue  # sign-in and sign-out are tested in test_auth.py
            if (method.upper(), templates.get(path, path)) not in covered:
                missing.append(f"{method.upper()} {path}")
    assert missing == []


@pytest.mark.parametrize("role", [Role.PUBLIC, Role.PROVIDER])
def test_public_and_providers_never_see_a_proposed_rating_anywhere(client, tokens, role):
    """Not by id, not in the search, not in an organisation's ratings or history, not in its profile."""
    headers = auth(tokens[role])
    listed = client.get("/api/v1/ratings?page_size=1000", headers=headers).json()["items"]
    assert listed and all(r["published"] for r in listed)
    for code in ("L1", "L2"):
        history = client.get(f"/api/v1/organisations/{code}/ratings?history=true", headers=headers).json()
        assert [r["rating"] for r in history["ratings"]] == ["Good"]
        assert "Inadequate" not in history["explanation"]
        profile = client.get(f"/api/v1/organisations/{code}", headers=headers).json()
        assert [r["method"] for r in profile["ratings"]] == ["published"]
        csv = client.get(f"/api/v1/organisations/{code}/ratings?format=csv", headers=headers).text
        assert "proposed" not in csv


OWN = {
    Role.PUBLIC: set(),
    Role.PROVIDER: {"P1", "L1"},
    Role.COMMISSIONER: {"C1", "G1", "L1"},
    Role.INSPECTOR: {"P1", "L1"},
    Role.CHIEF_INSPECTOR: {"P1", "L1", "P2", "L2"},
    Role.ANALYST: {"P1", "L1", "P2", "L2", "C1", "G1", "LA1"},
    Role.NATIONAL_BOARD: {"P1", "L1", "P2", "L2", "C1", "G1", "LA1"},
    Role.ADMIN: {"P1", "L1", "P2", "L2", "C1", "G1", "LA1"},
    Role.POLICY_MAKER: {"P1", "L1", "P2", "L2", "C1", "G1", "LA1"},
}


@pytest.mark.parametrize("role", R, ids=[r.value for r in R])
def test_each_role_sees_confidential_data_of_its_own_organisations_only(client, tokens, role):
    headers = auth(tokens[role])
    seen = {
        code
        for code in ("P1", "L1", "P2", "L2", "C1", "G1", "LA1")
        if client.get(f"/api/v1/organisations/{code}", headers=headers).json()["confidential"]
    }
    assert seen == OWN[role]
    # Small counts (P1: 3, P2: 5) are shown only to those entitled to the organisation's data.
    rows = client.get("/api/v1/observations?indicator_id=ind_p", headers=headers).json()["items"]
    shown = {r["org_code"]: r["numerator"] for r in rows}
    for code in ("P1", "P2"):
        assert (shown[code] is not None) == (code in OWN[role]), code
    assert shown["G1"] == 40  # large counts are published to everyone


CONFIDENTIAL_REACH = {role: codes & {"P1", "P2", "G1"} for role, codes in OWN.items()}


@pytest.mark.parametrize("role", R, ids=[r.value for r in R])
def test_monitoring_lists_only_organisations_in_reach(client, tokens, role):
    """Flags, bands and movers hold only organisations the role's confidential-data rule reaches."""
    headers = auth(tokens[role])
    bands = client.get("/api/v1/monitoring/bands", headers=headers)
    if role is Role.PUBLIC:
        assert bands.status_code == 403
        return
    assert {r["org_code"] for r in bands.json()["items"]} == CONFIDENTIAL_REACH[role]
    flags = client.get("/api/v1/monitoring/flags", headers=headers).json()["items"]
    assert {r["org_code"] for r in flags} == CONFIDENTIAL_REACH[role] - {"G1"}
    movers = client.get("/api/v1/monitoring/movers", headers=headers).json()
    assert [m["org_code"] for m in movers] == (["P1"] if "P1" in CONFIDENTIAL_REACH[role] else [])
    summary = client.get("/api/v1/monitoring/runs/2", headers=headers).json()
    assert sum(b["organisations"] for b in summary["bands"]) == len(CONFIDENTIAL_REACH[role])


def test_a_flag_says_why(client, tokens):
    flags = client.get("/api/v1/monitoring/flags?risks_only=true", headers=auth(tokens[Role.ANALYST])).json()
    (risk,) = flags["items"]
    assert risk["org_code"] == "P1" and risk["flag"] == "risk" and risk["name"] == ORG_NAMES["P1"]
    assert "above the upper limit" in risk["why"] and "was 'no evidence of risk'" in risk["why"].lower()


@pytest.mark.parametrize("role", [Role.PUBLIC, Role.PROVIDER, Role.COMMISSIONER])
def test_proposed_assessed_ratings_are_hidden_everywhere(client, tokens, role):
    """Not in the list, not in the history, not in the rating at a date."""
    headers = auth(tokens[role])
    for history in ("false", "true"):
        rows = client.get(f"/api/v1/assessed-ratings?history={history}", headers=headers).json()["items"]
        assert [r["org_code"] for r in rows] == ["L1"]
    at = client.get("/api/v1/organisations/L2/ratings-at?date=2024-06-01", headers=headers).json()
    assert [r["rating"] for r in at] == ["Good"]  # the published regulator rating, not the proposal


def test_rating_at_a_date_prefers_the_assessed_rating_for_those_entitled(client, tokens):
    headers = auth(tokens[Role.ANALYST])
    at = client.get("/api/v1/organisations/L2/ratings-at?date=2024-06-01", headers=headers).json()
    assert [(r["rating"], r["source"]) for r in at] == [("Inadequate", "assessed")]
    before = client.get("/api/v1/organisations/L2/ratings-at?date=2024-01-01", headers=headers).json()
    assert [r["source"] for r in before] == ["published"]


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (Role.COMMISSIONER, {"C1"}),
        (Role.NATIONAL_BOARD, {"C1", "C2"}),
        (Role.POLICY_MAKER, {"C1", "C2"}),
    ],
)
def test_allocations_show_commissioners_in_reach(client, tokens, role, expected):
    rows = client.get("/api/v1/allocations", headers=auth(tokens[role])).json()["items"]
    assert {r["commissioner_code"] for r in rows} == expected


def test_a_scorecard_places_the_commissioner_among_its_peers(client, tokens):
    card = client.get("/api/v1/commissioners/C1/scorecard", headers=auth(tokens[Role.COMMISSIONER])).json()
    assert card["allocation"]["allocation_gbp"] == 1.45e9
    distance = card["peers"]["distance_from_target"]
    assert distance["peers"] == 2 and distance["share_of_peers_below"] == 0.0
    assert "C2" not in str(card)  # peers appear only as a distribution
