"""Local system reviews and ACOs through the services and over HTTP, on SQLite and PostgreSQL: who sees
which places, reviews, action plans and settlements; the ranking says why; the programme's figures add
up; the budget what-if stores nothing; bad input names the field. Data: :mod:`tests.api.systems_seed`."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import sqlalchemy as sa

from carelens.model.access import Actor, Role
from carelens.services import Forbidden, Invalid, NotFound
from carelens.services import systems as service
from carelens.store import schema

from .conftest import auth
from .systems_seed import FINDINGS, PERIOD, PUBLISHED_REVIEW, RANKED, REFERENCE, REVIEW_IDS, SETTLEMENTS

ANALYST = Actor("analyst", Role.ANALYST)
COMMISSIONER = Actor("commissioner", Role.COMMISSIONER, frozenset({"C1"}))
PROVIDER = Actor("provider", Role.PROVIDER, frozenset({"P1"}))
PUBLIC = Actor("anonymous", Role.PUBLIC)


# --- the services (the one place the rules are enforced) -------------------------------------------


def test_places_rank_worst_first_with_why_and_a_commissioner_sees_its_area_at_national_ranks(api_engine):
    ranked = service.place_ranking(api_engine, ANALYST, period=PERIOD)
    assert [r["place_code"] for r in ranked.items] == RANKED
    assert [r["rank"] for r in ranked.items] == list(range(1, 11))
    scores = [r["score"] for r in ranked.items]
    assert scores == sorted(scores, reverse=True)
    top = ranked.items[0]
    # PL2 is worse than its peers beyond the 95% verdict limits on all five weighted indicators
    assert top["why"].startswith("Worse than its peers on Emergency readmissions")
    assert "Score +2.32: the weighted mean of 5 adverse z-scores" in top["why"]
    assert "raised most by Delayed transfers of care" in top["why"]  # weighted double
    assert top["z_dtoc_total"] > 0 and top["period"] == "2017-04-01"
    mine = service.place_ranking(api_engine, COMMISSIONER, period=PERIOD)
    assert [(r["rank"], r["place_code"]) for r in mine.items] == [(2, "PL1"), (3, "PL3")]
    assert service.place_periods(api_engine, ANALYST) == ["2024-04-01", "2017-04-01"]


def test_place_detail_shows_members_indicators_and_the_reviews_the_actor_may_see(api_engine):
    place = service.place(api_engine, COMMISSIONER, "PL1", PERIOD)
    assert [m["member_code"] for m in place["members"]] == ["L1"]
    assert place["ranking"]["rank"] == 2 and place["places_ranked"] == 10
    delayed = next(i for i in place["indicators"] if i["indicator_id"] == "dtoc_total")
    assert delayed["weight"] == 2 and delayed["lower"] < delayed["target"] < delayed["upper"]
    assert delayed["assessment"] == "within"
    assert [r["review_id"] for r in place["reviews"]] == [PUBLISHED_REVIEW]
    with pytest.raises(NotFound):
        service.place(api_engine, COMMISSIONER, "PL2")  # not in its area
    with pytest.raises(NotFound):
        service.place(api_engine, ANALYST, "L1")  # not a place
    with pytest.raises(Forbidden):
        service.place(api_engine, PROVIDER, "PL1")


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        (PUBLIC, ["PL1"]),
        (PROVIDER, ["PL1"]),
        (COMMISSIONER, ["PL1", "PL3"]),
        (ANALYST, ["PL1", "PL2", "PL3"]),
        (Actor("board", Role.NATIONAL_BOARD), ["PL1", "PL2", "PL3"]),
    ],
    ids=lambda a: a.role.value if isinstance(a, Actor) else None,
)
def test_published_reviews_are_public_and_unpublished_ones_follow_the_rule(api_engine, actor, expected):
    rows = service.review_list(api_engine, actor).items
    assert [r["place_code"] for r in rows] == expected
    assert all(r["published"] == (r["place_code"] == "PL1") for r in rows)


def test_a_published_review_has_findings_by_stage_and_no_rating(api_engine):
    public = service.review(api_engine, PUBLIC, PUBLISHED_REVIEW)
    assert public["status"] == "reported" and public["board"].endswith("health and wellbeing board")
    assert {s["stage"]: s["findings"] for s in public["findings_by_stage"]} == {
        stage: [text] for stage, text in FINDINGS.items()
    }
    assert "rating" not in public
    assert public["actions"] is None  # action plans are review work, not published
    tracked = service.review(api_engine, COMMISSIONER, PUBLISHED_REVIEW)["actions"]
    assert [(a["number"], a["status"], a["overdue"]) for a in tracked] == [
        (1, "open", True),
        (2, "done", False),
    ]
    with pytest.raises(NotFound):
        service.review(api_engine, PUBLIC, REVIEW_IDS["PL3"])  # planned: does not exist for the public


def test_overdue_actions_in_reach_most_overdue_first(api_engine):
    overdue = service.action_list(api_engine, ANALYST, overdue_only=True, as_of=dt.date(2019, 1, 1)).items
    assert [(a["place_code"], a["number"], a["days_overdue"]) for a in overdue] == [("PL1", 1, 185)]
    everything = service.action_list(api_engine, COMMISSIONER).items
    assert {(a["place_code"], a["number"]) for a in everything} == {("PL1", 1), ("PL1", 2), ("PL3", 1)}
    with pytest.raises(Forbidden):
        service.action_list(api_engine, PUBLIC)


def test_direction_figures_add_up_from_the_recorded_selection(api_engine):
    (row,) = service.directions(api_engine, ANALYST).items
    assert (row["reference"], row["reviews_selected"], row["total_cost_gbp"], row["remaining_gbp"]) == (
        REFERENCE,
        3,
        260_869.56,
        9_130.44,
    )
    assert (row["places_ranked"], row["reviews"], row["reviews_published"]) == (10, 3, 1)
    detail = service.direction(api_engine, ANALYST, REFERENCE)
    assert [s["place_code"] for s in detail["selection"] if s["selected"]] == RANKED[:3]
    assert set(detail["selection"][0]["adverse_z"]) >= {"dtoc_total", "readmission_30d_65plus"}
    with pytest.raises(Forbidden):
        service.directions(api_engine, COMMISSIONER)  # the programme ranks every place


def test_budget_whatif_plans_without_storing_anything(api_engine):
    def stored() -> tuple[int, int]:
        with api_engine.connect() as c:
            audit = c.execute(sa.select(sa.func.count()).select_from(schema.audit_event)).scalar_one()
            directions = c.execute(sa.text("select count(*) from systems_direction")).scalar_one()
        return audit, directions

    before = stored()
    plan = service.programme_whatif(api_engine, Actor("policy", Role.POLICY_MAKER), 200_000, period=PERIOD)
    assert (plan["reviews"], plan["total_cost_gbp"], plan["remaining_gbp"]) == (2, 173_913.04, 26_086.96)
    assert [p["place_code"] for p in plan["selected"]] == RANKED[:2]
    assert all(p["why"] for p in plan["selected"])
    dearer = service.programme_whatif(api_engine, ANALYST, 200_000, 150_000, PERIOD)
    assert dearer["reviews"] == 1 and dearer["remaining_gbp"] == 50_000
    assert stored() == before
    with pytest.raises(Invalid, match="cost_per_review_gbp"):
        service.programme_whatif(api_engine, ANALYST, 200_000, 0)


def test_aco_settlements_and_concentration_in_reach(api_engine):
    rows = service.aco_settlements(api_engine, ANALYST).items
    assert [(r["aco_code"], r["outcome"], r["payment_gbp"]) for r in rows] == [
        ("ACO1", "shared savings paid", 500_000),
        ("ACO2", "shared losses repaid", -1_500_000),
    ]
    assert rows[0]["quality_passed"] and rows[0]["flagged_service_lines"] == "acute, community"
    assert [r["aco_code"] for r in service.aco_settlements(api_engine, COMMISSIONER).items] == ["ACO1"]
    one = service.aco_settlement(api_engine, ANALYST, SETTLEMENTS["ACO1"])
    assert one["members"] == ["L1"] and one["quality"]["assessed"] >= 3
    assert one["inputs"]["risk_model"] == "one_sided"
    lines = service.market_concentration(api_engine, ANALYST).items
    assert [(r["aco_code"], r["service_line"], r["hhi"], r["flagged"]) for r in lines] == [
        ("ACO1", "community", 10_000, True),
        ("ACO1", "acute", 5_200, True),
        ("ACO2", "acute", 2_000, False),
    ]
    assert lines[-1]["concentration"] == "moderately concentrated"
    flagged = service.market_concentration(api_engine, ANALYST, flagged_only=True).items
    assert {r["aco_code"] for r in flagged} == {"ACO1"}
    with pytest.raises(NotFound):
        service.aco_settlement(api_engine, COMMISSIONER, SETTLEMENTS["ACO2"])


# --- over HTTP --------------------------------------------------------------------------------------


def test_ranking_as_csv_and_paged(client, tokens):
    headers = auth(tokens[Role.ANALYST])
    response = client.get("/api/v1/systems/places?period=2017-04-01&format=csv", headers=headers)
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["cache-control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["place_code"] for r in rows] == RANKED and rows[0]["why"]
    assert list(rows[0])[:4] == ["rank", "place_code", "place_name", "period"]
    second = client.get("/api/v1/systems/places?period=2017-04-01&page=2&page_size=2", headers=headers).json()
    assert (second["total"], second["pages"]) == (10, 5)
    assert [r["place_code"] for r in second["items"]] == RANKED[2:4]


def test_published_reviews_are_cacheable_for_the_public_with_etags(client):
    first = client.get("/api/v1/systems/reviews")
    assert first.status_code == 200 and first.headers["cache-control"].startswith("public")
    assert [r["place_code"] for r in first.json()["items"]] == ["PL1"]
    again = client.get("/api/v1/systems/reviews", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    review = client.get(f"/api/v1/systems/reviews/{PUBLISHED_REVIEW}").json()
    assert review["actions"] is None and len(review["findings_by_stage"]) == 3


def test_commissioner_sees_its_area_only(client, tokens):
    headers = auth(tokens[Role.COMMISSIONER])
    acos = client.get("/api/v1/systems/aco-settlements", headers=headers).json()["items"]
    assert [a["aco_code"] for a in acos] == ["ACO1"]
    reviews = client.get("/api/v1/systems/reviews?status=planned", headers=headers).json()["items"]
    assert [r["place_code"] for r in reviews] == ["PL3"]
    assert client.get("/api/v1/systems/directions", headers=headers).status_code == 403


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/systems/places?period=not-a-date", "period"),
        ("/api/v1/systems/programme-whatif?budget_gbp=lots", "budget_gbp"),
        ("/api/v1/systems/programme-whatif?budget_gbp=1000&cost_per_review_gbp=0", "cost_per_review_gbp"),
        ("/api/v1/systems/reviews?status=closed", "status"),
        ("/api/v1/systems/aco-settlements?year=99", "year"),
        ("/api/v1/systems/actions?as_of=2019-13-01", "as_of"),
    ],
)
def test_bad_input_is_422_naming_the_field(client, tokens, path, field):
    response = client.get(path, headers=auth(tokens[Role.ANALYST]))
    assert response.status_code == 422
    assert any(error["loc"][-1] == field for error in response.json()["detail"])


def test_the_programme_whatif_over_http(client, tokens):
    response = client.get(
        "/api/v1/systems/programme-whatif",
        params={"budget_gbp": 200_000, "period": "2017-04-01"},
        headers=auth(tokens[Role.POLICY_MAKER]),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["reviews"] == 2 and [p["place_code"] for p in body["selected"]] == RANKED[:2]
