"""Generate the synthetic place-level data set shipped in ``data/systems`` (see its README).

No public place-level file of the transition indicators is packaged, so this writes realistic values
(levels and spreads of the 2016/17-2017/18 English publications, quoted in the README) for fictional
places, their member councils and NHS trusts, and four fictional ACOs. Deterministic (fixed seed):
``python -m carelens.systems.synth OUTDIR`` reproduces the packaged files byte for byte.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20170801
PLACES = 40
ACOS = 4
REVIEW_PERIOD = "2017-04-01"
ACO_PERIOD = "2024-04-01"
SERVICE_LINES = ("acute elective", "acute non-elective", "community", "mental health", "urgent care")

# Levels (England) the generator centres on; see the README for sources.
DTOC_DAYS_PER_ADULT = 12.1 * 365 / 100_000  # 12.1 delayed beds per 100,000 adults per day (2016/17)
DTOC_SHARES = (0.56, 0.37, 0.07)  # NHS, social care, both
READMISSION = 0.16
USUAL_RESIDENCE = 0.88
REABLEMENT_AT_HOME = 0.825
REABLEMENT_SHARE_OF_65 = 0.0075
ADMISSIONS_PER_65 = 0.25


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def _expit(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _transitions(
    rng: np.random.Generator, codes: list[str], pop18: np.ndarray, pop65: np.ndarray, period: str, dtoc: bool
) -> pd.DataFrame:
    """One period of counts for the given organisations (true place effects + sampling noise)."""
    n = len(codes)
    frame = pd.DataFrame(
        {"org_code": codes, "period": period, "population_18plus": pop18, "population_65plus": pop65}
    )
    if dtoc:
        rate = DTOC_DAYS_PER_ADULT * np.exp(rng.normal(-0.1, 0.45, n))
        shares = rng.dirichlet(np.array(DTOC_SHARES) * 40, n)
        days = rng.poisson(rate * pop18)
        parts = np.floor(days[:, None] * shares).astype(int)
        frame["dtoc_days_nhs"] = parts[:, 0]
        frame["dtoc_days_social_care"] = parts[:, 1]
        frame["dtoc_days_both"] = days - parts[:, 0] - parts[:, 1]
    else:  # collection of delayed transfers of care was suspended in March 2020
        for column in ("dtoc_days_nhs", "dtoc_days_social_care", "dtoc_days_both"):
            frame[column] = pd.array([pd.NA] * n, dtype="Int64")
    admissions = rng.poisson(pop65 * ADMISSIONS_PER_65 * np.exp(rng.normal(0, 0.12, n)))
    frame["emergency_admissions_65plus"] = admissions
    frame["discharges_65plus"] = admissions
    frame["readmissions_30d_65plus"] = rng.binomial(
        admissions, _expit(_logit(READMISSION) + rng.normal(0, 0.12, n))
    )
    frame["discharges_usual_residence_65plus"] = rng.binomial(
        admissions, _expit(_logit(USUAL_RESIDENCE) + rng.normal(0, 0.25, n))
    )
    reablement = rng.poisson(pop65 * REABLEMENT_SHARE_OF_65 * np.exp(rng.normal(0, 0.3, n)))
    frame["reablement_discharges_65plus"] = reablement
    frame["reablement_at_home_91d"] = rng.binomial(
        reablement, _expit(_logit(REABLEMENT_AT_HOME) + rng.normal(0, 0.35, n))
    )
    return frame


def generate() -> dict[str, pd.DataFrame]:
    """The synthetic data set as frames keyed by file name."""
    rng = np.random.default_rng(SEED)
    place = [f"PL{i:03d}" for i in range(1, PLACES + 1)]
    council = [f"LA{i:03d}" for i in range(1, PLACES + 1)]
    trusts_per_place = rng.integers(1, 3, PLACES)
    trust = [f"RX{i:03d}" for i in range(1, int(trusts_per_place.sum()) + 1)]
    trust_place = np.repeat(np.arange(PLACES), trusts_per_place)
    aco = [f"ACO{i:02d}" for i in range(1, ACOS + 1)]
    organisations = pd.concat(
        [
            pd.DataFrame(
                {
                    "code": place,
                    "name": [f"Synthetic place {i:03d}" for i in range(1, PLACES + 1)],
                    "kind": "place",
                }
            ),
            pd.DataFrame(
                {
                    "code": council,
                    "name": [f"Synthetic council {i:03d}" for i in range(1, PLACES + 1)],
                    "kind": "local_authority",
                }
            ),
            pd.DataFrame(
                {"code": trust, "name": [f"Synthetic NHS trust {c[2:]}" for c in trust], "kind": "nhs_trust"}
            ),
            pd.DataFrame(
                {
                    "code": aco,
                    "name": [f"Synthetic accountable care organisation {c[3:]}" for c in aco],
                    "kind": "aco",
                }
            ),
        ],
        ignore_index=True,
    )
    # Each ACO covers the trusts of places 1-3, 4-6, 7-9, 10-12 plus the first place's council.
    aco_of_place = {p: a for a in range(ACOS) for p in range(3 * a, 3 * a + 3)}
    links = [("place_member", council[i], place[i], "2016-04-01") for i in range(PLACES)]
    links += [("place_member", trust[j], place[trust_place[j]], "2016-04-01") for j in range(len(trust))]
    links += [
        ("aco_member", trust[j], aco[aco_of_place[trust_place[j]]], "2019-04-01")
        for j in range(len(trust))
        if trust_place[j] in aco_of_place
    ]
    links += [("aco_member", council[3 * a], aco[a], "2019-04-01") for a in range(ACOS)]
    relationships = pd.DataFrame(links, columns=["kind", "subject_code", "object_code", "valid_from"])

    population = np.round(np.exp(rng.normal(np.log(330_000), 0.6, PLACES)), -2).clip(40_000, 1_500_000)
    pop18 = np.round(population * rng.normal(0.79, 0.015, PLACES)).astype(int)
    pop65 = np.round(population * rng.normal(0.185, 0.03, PLACES).clip(0.11, 0.28)).astype(int)
    review = _transitions(rng, place, pop18, pop65, REVIEW_PERIOD, dtoc=True)
    grown18 = np.round(pop18 * 1.04).astype(int)
    grown65 = np.round(pop65 * 1.12).astype(int)
    attributed = np.array([8_200, 18_500, 120_000, 350_000])
    aco18 = np.round(attributed * 0.8).astype(int)
    aco65 = np.round(attributed * 0.2).astype(int)
    recent = _transitions(
        rng, place + aco, np.r_[grown18, aco18], np.r_[grown65, aco65], ACO_PERIOD, dtoc=False
    )
    transitions = pd.concat([review, recent], ignore_index=True)
    transitions.insert(1, "org_kind", np.where(transitions["org_code"].str.startswith("ACO"), "aco", "place"))

    benchmark = np.round(rng.normal(1_850, 120, ACOS), 2)
    risk = np.round(rng.normal(1.0, 0.06, ACOS), 3)
    true_saving = np.array([0.045, 0.02, 0.035, -0.03])
    spend = np.round(attributed * benchmark * risk * (1 - true_saving - rng.normal(0, 0.004, ACOS)), 2)
    finance = pd.DataFrame(
        {
            "aco_code": aco,
            "population": attributed,
            "benchmark_per_capita_gbp": benchmark,
            "risk_score": risk,
            "expenditure_gbp": spend,
            "risk_model": ["one_sided", "one_sided", "two_sided", "two_sided"],
        }
    )
    market_rows = []
    for a in range(ACOS):
        for line in SERVICE_LINES:
            providers = int(rng.integers(1, 6))
            shares = rng.dirichlet(np.full(providers, 1.5))
            activity = np.round(shares * attributed[a] * 0.3).astype(int)
            market_rows += [(aco[a], line, f"P{a + 1}{k + 1:02d}", int(x)) for k, x in enumerate(activity)]
    market = pd.DataFrame(market_rows, columns=["aco_code", "service_line", "provider_code", "activity"])

    stages = {
        "hip replacement": {
            "pre-operative assessment": 350,
            "inpatient stay": 6_200,
            "rehabilitation": 1_100,
            "follow-up": 180,
        },
        "stroke": {
            "acute stroke unit": 8_900,
            "early supported discharge": 2_300,
            "community rehabilitation": 3_100,
            "six-month review": 150,
        },
    }
    episode_rows = []
    for pathway, costs in stages.items():
        for k in range(1, 301):
            for stage, mean in costs.items():
                episode_rows.append(
                    (
                        pathway,
                        f"{pathway[:3].upper()}{k:04d}",
                        stage,
                        round(float(rng.gamma(4.0, mean / 4.0)), 2),
                    )
                )
    episodes = pd.DataFrame(episode_rows, columns=["pathway", "pathway_id", "stage", "cost_gbp"])
    return {
        "organisations.csv": organisations,
        "relationships.csv": relationships,
        "place_transitions.csv": transitions,
        "aco_finance_2024_25.csv": finance,
        "aco_market_2024_25.csv": market,
        "bundle_episodes.csv": episodes,
    }


def write(folder: str | Path) -> list[Path]:
    """Write every file of the data set into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in generate().items():
        path = folder / name
        frame.to_csv(path, index=False, lineterminator="\n")
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover
    for written in write(sys.argv[1] if len(sys.argv) > 1 else "."):
        print(written)
