"""Local system reviews and ACOs in the API test store, written through the real importers and the
domain's own functions (as ``carelens ingest`` and ``carelens systems review ...``/``aco settle`` do).

Places PL1-PL10 with stated transition counts for 2017/18, worst first PL2, PL1, PL3, PL6, PL7, PL8, PL4,
PL9, PL5, PL10 on every weighted indicator (ten places: the fewest a funnel compares, by the monitoring
settings' small-number rule). Members: L1 (contracted by C1) belongs to PL1, C1 itself to PL3, P2 to PL2, LA1 to
PL5: the commissioner's area reaches PL1 and PL3. Direction ``LSR-T`` buys three reviews (PL2, PL1,
PL3); PL1's review is reported (published) with findings and an action plan (one action overdue), PL2's
and PL3's are planned (unpublished). ACOs: ACO1 (member L1) saves 5% and is paid; ACO2 (member P2)
overspends 5% on a two-sided model and repays; ACO1's community services have one provider (HHI 10,000,
flagged), ACO2's acute services five equal ones (HHI 2,000, moderately concentrated).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

PERIOD = dt.date(2017, 4, 1)
QUALITY_PERIOD = dt.date(2024, 4, 1)
PLACES = [f"PL{i}" for i in range(1, 11)]
BADNESS = {
    "PL2": 2.0,
    "PL1": 1.0,
    "PL3": 0.5,
    "PL6": 0.25,
    "PL7": 0.0,
    "PL8": -0.25,
    "PL4": -0.5,
    "PL9": -0.75,
    "PL5": -1.0,
    "PL10": -1.5,
}
"""How far each place is from the England average (see ``_transitions``)."""
RANKED = list(BADNESS)
"""Places by selection score, worst first."""
SYSTEMS_ORGS = [*PLACES, "ACO1", "ACO2"]
MEMBERS = [
    ("place_member", "L1", "PL1"),
    ("place_member", "P2", "PL2"),
    ("place_member", "C1", "PL3"),
    ("place_member", "LA1", "PL5"),
    ("aco_member", "L1", "ACO1"),
    ("aco_member", "P2", "ACO2"),
]
REFERENCE = "LSR-T"
BUDGET_GBP = 270_000
"""Buys three reviews at the default £86,956.52 (£260,869.56; £9,130.44 left)."""
REVIEW_IDS = {"PL2": 1, "PL1": 2, "PL3": 3}
"""Reviews in the order selection creates them (rank order)."""
PUBLISHED_REVIEW = REVIEW_IDS["PL1"]
FINDINGS = {
    "maintaining_wellbeing_at_home": "Falls prevention is patchy across the place.",
    "crisis_and_step_up": "No shared crisis response between the council and the trust.",
    "step_down_and_return_home": "Reablement capacity is short in winter.",
}
SETTLEMENTS = {"ACO1": 1, "ACO2": 2}


def _transitions(period: dt.date, codes: list[str], kinds: list[str], badness: list[float]) -> pd.DataFrame:
    """The importer's wide layout: every place 100,000 adults, 20,000 aged 65+; ``badness`` (0 = England
    average) raises delayed days, readmissions and admissions and lowers reablement and usual residence."""
    bad = pd.Series(badness, dtype=float)
    frame = pd.DataFrame(
        {
            "org_code": codes,
            "org_name": [
                f"Test {'place' if k == 'place' else 'ACO'} {c.removeprefix('PL').removeprefix('ACO')}"
                for c, k in zip(codes, kinds, strict=True)
            ],
            "org_kind": kinds,
            "period": period.isoformat(),
            "population_18plus": 100_000,
            "population_65plus": 20_000,
            "emergency_admissions_65plus": (5000 * (1 + 0.25 * bad)).round(),
            "discharges_65plus": 2000,
            "readmissions_30d_65plus": (340 * (1 + 0.25 * bad)).round(),
            "discharges_usual_residence_65plus": (1760 * (1 - 0.04 * bad)).round(),
            "reablement_discharges_65plus": 500,
            "reablement_at_home_91d": (410 * (1 - 0.08 * bad)).round(),
        }
    )
    collected = period == PERIOD  # delayed transfers of care were collected until March 2020: blank after
    frame["dtoc_days_nhs"] = (2000 * (1 + 0.3 * bad)).round() if collected else None
    frame["dtoc_days_social_care"] = (1200 * (1 + 0.3 * bad)).round() if collected else None
    frame["dtoc_days_both"] = 300 if collected else None
    return frame


def fill_systems(engine: sa.Engine) -> None:
    """Write the systems part of the fixture (see the module docstring) from files, as the CLI does."""
    from carelens.ingest.service import ingest
    from carelens.model.indicators import load_indicators
    from carelens.systems.aco import read_finance, read_market, settle_year
    from carelens.systems.config import load_config
    from carelens.systems.reviews import (
        Direction,
        read_actions,
        read_findings,
        record_actions,
        record_direction,
        record_review,
        select_places,
    )

    config, definitions = load_config(), load_indicators()
    places = _transitions(PERIOD, PLACES, ["place"] * len(PLACES), [BADNESS[c] for c in PLACES])
    quality = _transitions(
        QUALITY_PERIOD,
        SYSTEMS_ORGS,
        ["place"] * len(PLACES) + ["aco"] * 2,
        [0, 0.2, -0.2, 0.1, -0.1, 0.05, -0.05, 0.15, -0.15, 0, 0, 0],
    )
    members = pd.DataFrame(MEMBERS, columns=["kind", "subject_code", "object_code"]).assign(
        valid_from="2016-04-01"
    )
    findings = pd.DataFrame({"stage": list(FINDINGS), "finding": list(FINDINGS.values())})
    actions = pd.DataFrame(
        {
            "number": [1, 2],
            "stage": ["crisis_and_step_up", ""],
            "action": ["Agree a joint crisis response", "Publish a winter reablement plan"],
            "owner": ["Director of adult social services", "Trust chief operating officer"],
            "deadline": ["2018-06-30", "2018-09-30"],
            "status": ["open", "done"],
            "completed_on": ["", "2018-09-01"],
        }
    )
    later = actions.iloc[:1].assign(deadline="2040-01-31", action="Review the crisis line")
    finance = pd.DataFrame(
        {
            "aco_code": ["ACO1", "ACO2"],
            "population": [20_000, 60_000],
            "benchmark_per_capita_gbp": [1000, 1000],
            "risk_score": [1.0, 1.0],
            "expenditure_gbp": [19_000_000, 63_000_000],
            "risk_model": ["one_sided", "two_sided"],
        }
    )
    market = pd.DataFrame(
        [("ACO1", "community", "P1", 100), ("ACO1", "acute", "L1", 60), ("ACO1", "acute", "L2", 40)]
        + [("ACO2", "acute", f"X{i}", 20) for i in range(5)],
        columns=["aco_code", "service_line", "provider_code", "activity"],
    )
    with tempfile.TemporaryDirectory() as folder:
        files = {}
        for name, frame in {
            "places": places,
            "quality": quality,
            "members": members,
            "findings": findings,
            "actions": actions,
            "later": later,
            "finance": finance,
            "market": market,
        }.items():
            files[name] = Path(folder) / f"{name}.csv"
            frame.to_csv(files[name], index=False)
        ingest(engine, "place-transitions", [files["places"], files["quality"]], user="seed")
        ingest(engine, "relationships", [files["members"]], user="seed")

        direction = Direction(
            REFERENCE,
            "Secretaries of State for Health and for Local Government",
            config.power,
            "people aged 65+ moving between health and adult social care",
            dt.date(2017, 8, 1),
            budget_gbp=BUDGET_GBP,
            cost_per_review_gbp=config.cost_per_review_gbp,
        )
        record_direction(engine, direction, "minister")
        plan = select_places(engine, REFERENCE, config, definitions, "analyst", PERIOD)
        assert plan.as_dict()["selected"] == RANKED[:3], plan.places
        record_review(
            engine,
            REFERENCE,
            "PL1",
            read_findings(files["findings"]),
            config,
            "inspector-lead",
            board="Test place 1 health and wellbeing board",
            reported_on=dt.date(2018, 3, 1),
            summit_on=dt.date(2018, 4, 10),
        )
        record_actions(engine, REFERENCE, "PL1", read_actions(files["actions"]), "inspector-lead")
        record_actions(engine, REFERENCE, "PL3", read_actions(files["later"]), "inspector-lead")
        settled = settle_year(
            engine,
            read_finance(files["finance"]),
            2024,
            config,
            definitions,
            "board",
            read_market(files["market"]),
        )
    assert list(settled["outcome"]) == ["shared savings paid", "shared losses repaid"], settled
