"""Allocations and commissioner assessment (``carelens.fund``): saved allocation runs, a commissioner's
scorecard against its peers, and the formula what-if.

Who sees what follows the role's ``confidential_data`` rule: a commissioner sees its own area (its own
rows, and its peers only as a distribution); the national board, analysts, policy makers and
administrators see every commissioner. Roles whose rule reaches no organisation (the public) may not use
the area (:class:`Forbidden`); a commissioner outside the reach does not exist for the actor
(:class:`NotFound`). The work is done by the funding area's public functions
(:func:`carelens.fund.service.run_allocation`, :func:`carelens.fund.whatif.compare`,
:func:`carelens.fund.assessment.assess`); results are cached per store version.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from carelens.fund.assessment import NOT_ASSESSED
from carelens.model.access import Actor, Role, Scope
from carelens.services import Forbidden, Invalid, NotFound
from carelens.services._db import Db, Kept, Page, Rows, author, page_query, plain, reading, stream_rows
from carelens.services.reach import Reach, covers_any, reach
from carelens.store import schema
from carelens.store.schema_fund import fund_allocation, fund_allocation_run, fund_budget, fund_intervention

RUN_COLUMNS = [
    "id",
    "year",
    "scenario_name",
    "scenario_version",
    "scenario_sha256",
    "inputs",
    "quantum_gbp",
    "user_name",
    "created_at",
]
ALLOCATION_COLUMNS = [c.name for c in fund_allocation.columns]
SCORECARD_LISTS = {
    "budgets": [c.name for c in fund_budget.columns],
    "interventions": [c.name for c in fund_intervention.columns],
}
"""The columns of the lists a scorecard holds besides its figures."""
PEER_MEASURES = ("distance_from_target", "need_index_core", "allocation_per_head_gbp")
"""Measures a scorecard places among peers (their quartiles, and the commissioner's position)."""

CACHE_ENTRIES = 8
"""What-if comparisons and assessments kept in memory (a few MB each)."""
_KEPT = Kept(CACHE_ENTRIES)


def _version(connection: sa.Connection) -> tuple:
    """Changes whenever data an allocation reads or saves changes."""
    imports = connection.execute(sa.select(sa.func.max(schema.import_record.c.id))).scalar()
    runs = connection.execute(sa.select(sa.func.max(fund_allocation_run.c.id))).scalar()
    return (str(connection.engine.url), imports, runs)


def may_see(actor: Actor) -> bool:
    """Whether the actor may see allocations and commissioner assessments: money is the business of those
    whose confidential-data rule is every organisation or a commissioner's area (and covers some). A
    provider, an inspector or a sector's chief inspector is refused (Forbidden): no commissioner is theirs."""
    scope = actor.rules.confidential_data
    return scope in (Scope.AREA, Scope.ALL) and covers_any(actor, scope)


def has_own_scorecard(actor: Actor) -> bool:
    """Whether the actor's own organisations are commissioners, each with its scorecard (a commissioner's)."""
    return actor.role is Role.COMMISSIONER


def _within(connection: sa.Connection, actor: Actor) -> Reach:
    if not may_see(actor):
        raise Forbidden("allocations and commissioner assessments: sign in with a role that may see them")
    return reach(connection, actor, actor.rules.confidential_data)


def allocation_runs(db: Db, actor: Actor, page: int = 1, page_size: int | None = None) -> Page:
    """Saved allocation runs, newest first (the scenario, its year and quantum; no commissioner's rows)."""
    r = fund_allocation_run
    with reading(db) as connection:
        _within(connection, actor)
        query = sa.select(*(r.c[c] for c in RUN_COLUMNS))
        return page_query(connection, query, [r.c.id.desc()], page, page_size, RUN_COLUMNS)


def _run(connection: sa.Connection, run_id: int | None, year: int | None = None) -> dict[str, Any]:
    r = fund_allocation_run
    query = sa.select(*(r.c[c] for c in RUN_COLUMNS))
    if run_id is not None:
        query = query.where(r.c.id == run_id)
    elif year is not None:
        query = query.where(r.c.year == year)
    row = connection.execute(query.order_by(r.c.id.desc()).limit(1)).mappings().first()
    if row is None:
        raise NotFound(
            f"no allocation run {run_id}"
            if run_id
            else "no allocation run is saved: run `carelens allocate run --save`"
        )
    return plain(row)


def _allocations_query(within: Reach, run_id: int) -> tuple[sa.Select, list[Any], list[str]]:
    """A run's allocations to the commissioners ``within``, furthest below target first, and columns."""
    a, org = fund_allocation, schema.organisation
    query = (
        sa.select(*(a.c[c] for c in ALLOCATION_COLUMNS), org.c.name.label("commissioner_name"))
        .select_from(a.outerjoin(org, org.c.code == a.c.commissioner_code))
        .where(a.c.run_id == run_id, within.clause(a.c.commissioner_code))
    )
    order = [a.c.distance_from_target, a.c.commissioner_code]
    return query, order, ["commissioner_name", *ALLOCATION_COLUMNS]


def allocations(
    db: Db, actor: Actor, run_id: int | None = None, page: int = 1, page_size: int | None = None
) -> Page:
    """A saved run's (default the latest) per-commissioner targets and allocations, within reach."""
    with reading(db) as connection:
        within = _within(connection, actor)
        run = _run(connection, run_id)
        query, order, columns = _allocations_query(within, run["id"])
        return page_query(connection, query, order, page, page_size, columns)


def all_allocations(db: Db, actor: Actor, run_id: int | None = None) -> tuple[dict[str, Any], Rows]:
    """Every allocation of a saved run (default the latest) within reach, in the order of
    :func:`allocations`, read as they are consumed (a download): (the run, the rows). The actor and
    the run are checked first."""
    with reading(db) as connection:
        within = _within(connection, actor)
        run = _run(connection, run_id)
    query, order, columns = _allocations_query(within, run["id"])
    return run, Rows(columns, stream_rows(db, query.order_by(*order)))


def _assessment(connection: sa.Connection, year: int):
    """The commissioner assessment of ``year`` (cached per store version)."""

    def compute():
        from carelens.errors import InputError
        from carelens.fund.assessment import assess, load_rules, observations_from_store
        from carelens.fund.practices import from_store
        from carelens.model.indicators import load_indicators

        try:
            practices = from_store(connection, year)
        except InputError:
            return None
        if practices.empty:
            return None
        commissioners = practices.groupby("commissioner_code", as_index=False)["population"].sum()
        observations = observations_from_store(connection)
        definitions = load_indicators()
        observations = observations[observations["indicator_id"].isin(set(definitions))]
        return assess(commissioners, observations, definitions, load_rules(), year=year)

    return _KEPT.get(("assessment", year, *_version(connection)), compute)


def _position(values: pd.Series, mine: float | None) -> dict[str, Any]:
    finite = values.dropna().to_numpy(dtype=float)
    if mine is None or len(finite) == 0 or not np.isfinite(mine):
        return {"value": mine, "peers": len(finite)}
    q1, median, q3 = np.percentile(finite, [25, 50, 75])
    below = float((finite < mine).mean())
    return {
        "value": float(mine),
        "peers": len(finite),
        "peer_lower_quartile": float(q1),
        "peer_median": float(median),
        "peer_upper_quartile": float(q3),
        "share_of_peers_below": below,
    }


def commissioner_scorecard(db: Db, actor: Actor, code: str, run_id: int | None = None) -> dict[str, Any]:
    """One commissioner's scorecard: its allocation against target, its place among its peers, its
    assessment (outcomes, finance, overall, with reasons; a part without evidence is "not assessed", and
    so is the overall rating, with ``not_assessed`` naming the parts), budgets and any interventions.

    The store holds no finance returns (allocations and budgets are not spend), so finance, and with it
    the overall rating, is not assessed here; ``carelens assess commissioners --finance FILE`` rates it."""
    a, org = fund_allocation, schema.organisation
    with reading(db) as connection:
        within = reach(connection, actor, actor.rules.confidential_data)
        found = connection.execute(
            sa.select(org.c.code, org.c.name, org.c.sector).where(org.c.code == code)
        ).first()
        sector = found.sector if found else None
        if within.empty or not within.includes(code, sector):
            raise NotFound(f"no scorecard for {code!r}")
        run = _run(connection, run_id)
        peers = pd.DataFrame(
            connection.execute(
                sa.select(*(a.c[c] for c in ALLOCATION_COLUMNS)).where(a.c.run_id == run["id"])
            )
            .mappings()
            .all(),
            columns=ALLOCATION_COLUMNS,
        )
        mine = peers[peers["commissioner_code"] == code]
        if mine.empty:
            raise NotFound(f"{code!r} has no allocation in run {run['id']}")
        peers["allocation_per_head_gbp"] = peers["allocation_gbp"] / peers["population"]
        row = peers[peers["commissioner_code"] == code].iloc[0]
        assessment = _assessment(connection, int(run["year"]))
        budgets = [
            plain(r)
            for r in connection.execute(
                sa.select(fund_budget)
                .where(fund_budget.c.commissioner_code == code, fund_budget.c.superseded_by.is_(None))
                .order_by(fund_budget.c.year, fund_budget.c.kind, fund_budget.c.name)
            ).mappings()
        ]
        interventions = [
            plain(r)
            for r in connection.execute(
                sa.select(fund_intervention)
                .where(fund_intervention.c.commissioner_code == code)
                .order_by(fund_intervention.c.id)
            ).mappings()
        ]
    card = None
    if assessment is not None:
        rows = assessment.scorecard[assessment.scorecard["commissioner_code"] == code]
        if not rows.empty:
            card = {k: _py(v) for k, v in rows.iloc[0].to_dict().items()}
            card["reasons"] = list(rows.iloc[0]["reasons"])
    return {
        "commissioner": {"code": code, "name": found.name if found else None},
        "run": run,
        "allocation": {k: _py(v) for k, v in row.to_dict().items()},
        "peers": {m: _position(peers[m], _py(row[m])) for m in PEER_MEASURES},
        "assessment": card,
        "budgets": budgets,
        "interventions": interventions,
    }


def _py(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, list | dict | str | int | bool) or value is None:
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def scenarios(db: Db, actor: Actor) -> list[dict[str, Any]]:
    """The packaged allocation scenarios a what-if may compare."""
    from carelens.fund.scenario import load_scenario, packaged_scenarios

    with reading(db) as connection:
        _within(connection, actor)
    out = []
    for name in sorted(packaged_scenarios()):
        s = load_scenario(name)
        out.append({"name": name, "title": s.name, "year": s.year_label, "version": s.version})
    return out


def whatif(db: Db, actor: Actor, a: str, b: str) -> dict[str, Any]:
    """Who gains and who loses moving from packaged scenario ``a`` to ``b`` (change = b - a): by
    commissioner (those in reach), by region and by deprivation decile."""
    from carelens.errors import InputError
    from carelens.fund.scenario import load_scenario, packaged_scenarios

    with reading(db) as connection:
        within = _within(connection, actor)
        version = _version(connection)
        engine = connection.engine
    known = packaged_scenarios()
    for name in (a, b):
        if name not in known:
            raise Invalid(f"no scenario {name!r}: choose one of {', '.join(sorted(known))}")
    first, second = load_scenario(a), load_scenario(b)
    if first.year != second.year:
        raise Invalid("compare scenarios of the same year")

    def compute():
        from carelens.fund.service import practice_loader, run_allocation
        from carelens.fund.whatif import compare

        load = practice_loader(engine)
        try:
            return compare(run_allocation(first, load), run_allocation(second, load))
        except InputError as exc:
            raise Invalid(str(exc)) from None

    comparison = _KEPT.get(("whatif", a, b, first.sha256, second.sha256, *version), compute)
    commissioners = comparison.commissioners
    if not within.everything:
        codes = set(commissioners["commissioner_code"])
        commissioners = commissioners[
            commissioners["commissioner_code"].isin({c for c in codes if within.includes(c, "commissioning")})
        ]
    return {
        "a": a,
        "b": b,
        "name_a": comparison.name_a,
        "name_b": comparison.name_b,
        "measure": comparison.measure,
        "commissioners": _records(commissioners),
        "regions": _records(comparison.regions),
        "deciles": _records(comparison.deciles),
    }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _py(v) for k, v in r.items()} for r in frame.to_dict("records")]


# --- allocating and assessing (the command line; the API could call these too) ---------------------


def _national(actor: Actor) -> str:
    """The name a national change (an allocation run, budgets, interventions) is recorded under; only
    roles that see every commissioner make one (Forbidden)."""
    if actor.rules.confidential_data is not Scope.ALL:
        raise Forbidden("allocations, budgets and interventions are the national board's")
    return author(actor)


def parse_year(text: str, name: str = "--year") -> int:
    """A financial year given as 2024-25 (or 2024): its first calendar year; bad input names ``name``."""
    from carelens.fund.scenario import parse_year as parse

    return parse(text, name)


def scenario_for_year(scenario: str, year: str) -> Any:
    """The scenario (file or packaged name), refused as bad input unless it is for ``year``."""
    from carelens.errors import InputError, Problem
    from carelens.fund.scenario import load_scenario

    wanted = parse_year(year)
    chosen = load_scenario(scenario)
    if chosen.year != wanted:
        raise InputError(
            Problem(chosen.source, None, "year", f"scenario is for {chosen.year_label}, not {year}")
        )
    return chosen


def allocate(scenario: Any, store: sa.Engine | None = None) -> Any:
    """Targets, distance from target and pace of change for every commissioner under ``scenario``, from
    the store's practices (default: the packaged NHS England files)."""
    from carelens.fund.service import practice_loader, run_allocation

    return run_allocation(scenario, practice_loader(store))


def save_allocation(db: sa.Engine, actor: Actor, result: Any, inputs: str) -> int:
    """Save an allocation run (``inputs``: where its practices came from), audited as the actor's."""
    from carelens.fund.service import save_run

    return save_run(db, result, inputs, _national(actor))


def compare_scenarios(a: str, b: str, store: sa.Engine | None = None) -> tuple[Any, Any, Any]:
    """Scenarios ``a`` and ``b`` (files or packaged names) and who gains and loses moving from a to b."""
    from carelens.fund.scenario import load_scenario
    from carelens.fund.service import practice_loader, run_allocation
    from carelens.fund.whatif import compare

    first, second = load_scenario(a), load_scenario(b)
    load = practice_loader(store)
    return first, second, compare(run_allocation(first, load), run_allocation(second, load))


def comparison_chart(comparison: Any) -> str:
    """An SVG chart of a what-if's gains and losses."""
    from carelens.fund.whatif import chart_svg

    return chart_svg(comparison)


def running_costs(
    year: str,
    actuals: Any = None,
    population_year: str = "2024-25",
    rules: Any = None,
    store: sa.Engine | None = None,
) -> tuple[pd.DataFrame, Any, Any, bool]:
    """Each commissioner's running-cost allowance for ``year`` against the modelled cost (and its
    ``actuals`` file, when given): the table, the floor summary, the rules and whether actuals were
    given. Populations come from the actuals, else from ``population_year``'s practices."""
    from carelens.fund.running_costs import floor_summary, load_rules, read_actuals
    from carelens.fund.running_costs import running_costs as table_of
    from carelens.fund.service import practice_loader

    the_rules = load_rules(rules)
    wanted = parse_year(year)
    spent = read_actuals(actuals) if actuals else None
    if spent is not None and "population" in spent:
        commissioners = spent[["commissioner_code", "population"]]
    else:
        practices = practice_loader(store)(parse_year(population_year, "--population-year"))
        commissioners = practices.groupby("commissioner_code", as_index=False)["population"].sum()
    table = table_of(commissioners, wanted, the_rules, spent)
    return table, floor_summary(table, wanted, the_rules), the_rules, spent is not None


def record_budgets(db: sa.Engine, actor: Actor, path: Any) -> dict[str, int]:
    """Record the budget lines of a file, audited as the actor's: counts inserted, superseded, unchanged."""
    from carelens.fund.budgets import read_budgets
    from carelens.fund.budgets import record_budgets as record

    return record(db, read_budgets(path), _national(actor), str(path))


def budget_summary(db: sa.Engine, actor: Actor, year: str | None = None) -> pd.DataFrame:
    """Delegated and pooled budgets per commissioner (of one financial year, when given), for roles
    that see every commissioner."""
    from carelens.fund.budgets import budget_summary as summary

    if actor.rules.confidential_data is not Scope.ALL:
        raise Forbidden("budgets are the national board's")
    return summary(db, parse_year(year) if year else None)


def assess_commissioners(
    store: sa.Engine | None,
    year: int,
    observations: Any = None,
    finance: Any = None,
    leadership: Any = None,
    rules: Any = None,
    settings: Any = None,
) -> Any:
    """Every commissioner of a financial year (its first calendar year) assessed against its peers, finance and leadership
    (:func:`carelens.fund.service.assess_year`), from files (observations, finance, leadership; rules
    and monitoring settings, default packaged) or, without an observations file, the store's."""
    from carelens.fund.assessment import load_rules
    from carelens.fund.service import assess_year
    from carelens.monitor.settings import load_settings
    from carelens.tables import read_table

    obs = None
    if observations is not None:
        obs = read_table(observations)
        obs["period"] = pd.to_datetime(obs["period"])
    return assess_year(
        store,
        year,
        obs,
        read_table(finance) if finance else None,
        read_table(leadership) if leadership else None,
        load_rules(rules),
        load_settings(settings),
    )


def by_rating(card: pd.DataFrame) -> pd.DataFrame:
    """A scorecard best rating first (not assessed last), then by commissioner code."""
    from carelens.fund.assessment import RATINGS

    order = [*RATINGS, NOT_ASSESSED]
    return card.sort_values(
        ["overall", "commissioner_code"], key=lambda s: s.map(lambda v: order.index(v) if v in order else v)
    )


def record_assessments(db: sa.Engine, actor: Actor, assessed: Any) -> list[int]:
    """Record every commissioner's assessment of the year, audited as the actor's (the national board's):
    the evidence a commissioner intervention is closed on."""
    from carelens.fund.assessment import record_assessments as record

    return record(db, assessed.assessment.scorecard, assessed.year, _national(actor))


def intervene(db: sa.Engine, actor: Actor, assessed: Any, codes: list[str], decision: str) -> list[int]:
    """Record an intervention in each assessed commissioner of ``codes``, audited as the actor's: all or
    none, every commissioner not assessed named (:func:`carelens.fund.service.intervene`)."""
    from carelens.fund.service import intervene as record

    return record(db, assessed, list(codes), decision, _national(actor))
