"""The demo's local system review programme and ACO settlement, on the packaged synthetic place-level data.

As a regulator would with ``carelens systems review direct``, ``... select`` and ``carelens aco settle``
(the same functions, audited): a direction for the year of the synthetic places' delayed transfers of
care with the previous programme's budget (£2m buys 23 reviews at the default cost), the places
selected by the documented score, and the synthetic ACOs' year settled with their market shares. No
review is reported: the packaged data has no findings, so the demo's reviews stay planned (unpublished)
until a user records findings (``carelens systems review record``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from carelens.packaged import DATA_DIR

DEMO_REFERENCE = "LSR-DEMO"
DEMO_PERIOD = dt.date(2017, 4, 1)
"""Period of the synthetic transition indicators with delayed transfers of care (collected until 2020)."""
DEMO_DIRECTED_ON = dt.date(2017, 8, 1)
DEMO_ACO_YEAR = 2024
DEMO_FINANCE = DATA_DIR / "systems" / "aco_finance_2024_25.csv"
DEMO_MARKET = DATA_DIR / "systems" / "aco_market_2024_25.csv"


@dataclass(frozen=True)
class SystemsDemo:
    """What :func:`run_systems_demo` recorded, for ``carelens demo`` to print."""

    reference: str
    reviews_planned: int
    budget_gbp: float
    acos_settled: int
    flagged_service_lines: int


def run_systems_demo(engine: sa.Engine, user: str) -> SystemsDemo:
    """Direct and select the demo review programme and settle the demo ACOs (see the module docstring)."""
    from carelens.model.indicators import load_indicators
    from carelens.systems.aco import hhi, read_finance, read_market, settle_year
    from carelens.systems.config import load_config
    from carelens.systems.reviews import Direction, record_direction, select_places

    config, definitions = load_config(), load_indicators()
    direction = Direction(
        reference=DEMO_REFERENCE,
        directed_by="Secretaries of State for Health and for Communities and Local Government (demo)",
        power=config.power,
        scope="Demo on synthetic places: how services work together for people aged 65+ moving between "
        "health and adult social care",
        directed_on=DEMO_DIRECTED_ON,
        budget_gbp=config.previous_budget_gbp,
        cost_per_review_gbp=config.cost_per_review_gbp,
        fixed_cost_gbp=config.fixed_cost_gbp,
    )
    record_direction(engine, direction, user)
    plan = select_places(engine, DEMO_REFERENCE, config, definitions, user, DEMO_PERIOD)
    market = read_market(DEMO_MARKET)
    settled = settle_year(
        engine,
        read_finance(DEMO_FINANCE),
        DEMO_ACO_YEAR,
        config,
        definitions,
        user,
        market,
        str(DEMO_FINANCE),
    )
    return SystemsDemo(
        reference=DEMO_REFERENCE,
        reviews_planned=plan.reviews,
        budget_gbp=plan.budget_gbp,
        acos_settled=len(settled),
        flagged_service_lines=int(hhi(market, config)["flagged"].sum()),
    )
