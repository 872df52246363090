"""Accountable care organisations: settlement against a benchmark, quality gate, market concentration,
bundled payments. The pure functions here work on whole tables (no loop per ACO); :func:`settle_year`
reads the store, settles every ACO of a year in one transaction and audits each settlement.

**Settlement** (after the Medicare Shared Savings Program; rates in ``config/systems/systems.yaml``):

* benchmark £ = attributed population x per-capita benchmark x risk score (the population's expected
  cost relative to the reference population, 1.00 = average): the *risk-adjusted* benchmark;
* savings £ = benchmark − expenditure; savings rate = savings / benchmark (negative = loss);
* minimum savings rate (MSR) from the population's size band: smaller populations have larger random
  variation, so a higher rate must be reached before savings count as real;
* savings rate ≥ MSR and quality gate passed: the ACO is paid savings x shared-savings rate, at most
  ``savings_cap`` x benchmark; quality gate failed: nothing is paid;
* loss beyond the minimum loss rate (default: the MSR) in a two-sided model: the ACO repays
  loss x shared-loss rate, at most ``loss_cap`` x benchmark; one-sided models repay nothing;
* population below ``min_population``: not settled.

**Quality gate**: the ACO's quality indicators are judged against every place and ACO (the gate's
peers: does the ACO's population fare worse than places'?) by each indicator's one comparison
specification, as monitoring judges (:func:`carelens.systems.places.compare`); the gate fails if more
than ``max_worse`` are worse, or fewer than ``min_assessed`` could be compared (no data, no payment).

**Market concentration**: Herfindahl-Hirschman index = Σ (provider % share)² per ACO and service line
(0-10,000); above ``high_above`` (2,500) is highly concentrated and flagged: patient choice at risk.

**Bundled payment**: the whole-pathway price = mean cost of a pathway (sum of its episodes), pathway
costs Winsorised at the configured percentile, less a discount.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from carelens.errors import InputError, Problem
from carelens.model.indicators import IndicatorDefinition
from carelens.model.organisations import OrgKind
from carelens.monitor.settings import MonitorSettings
from carelens.store import repository
from carelens.store.engine import reading
from carelens.store.schema_fund import fund_budget
from carelens.store.schema_systems import systems_aco_settlement
from carelens.systems.config import SystemsConfig
from carelens.systems.places import compare, members, observations

RISK_MODELS = ("one_sided", "two_sided")
QUALITY_PEERS = "places and ACOs"
"""Peer group of the quality gate: every place and ACO with the indicator in the year."""
OUTCOMES = (
    "not settled: population below minimum",
    "shared savings paid",
    "savings not paid: quality gate failed",
    "savings below minimum savings rate",
    "loss within minimum loss rate",
    "shared losses repaid",
    "loss not shared: one-sided model",
)


def minimum_savings_rate(population, config: SystemsConfig) -> np.ndarray:
    """MSR of each population from the configured size bands (NaN below ``min_population``)."""
    population = np.asarray(population, dtype=float)
    bounds = np.array([b[0] for b in config.msr_bands])
    rates = np.array([b[1] for b in config.msr_bands])
    band = np.searchsorted(bounds, population, side="right") - 1
    eligible = (band >= 0) & (population >= config.min_population)
    return np.where(eligible, rates[np.clip(band, 0, None)], np.nan)


def settle(frame: pd.DataFrame, config: SystemsConfig) -> pd.DataFrame:
    """Settle every ACO row (pure). Input columns: ``aco_code``, ``population``,
    ``benchmark_per_capita_gbp``, ``risk_score``, ``expenditure_gbp``, ``risk_model`` (one_sided /
    two_sided), ``quality_passed``. Adds ``benchmark_gbp``, ``savings_gbp``, ``savings_rate``,
    ``minimum_rate``, ``outcome`` and ``payment_gbp`` (+ paid to the ACO, − repaid by it)."""
    out = frame.copy()
    population = out["population"].to_numpy(float)
    benchmark = (
        population * out["benchmark_per_capita_gbp"].to_numpy(float) * out["risk_score"].to_numpy(float)
    )
    spend = out["expenditure_gbp"].to_numpy(float)
    savings = benchmark - spend
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(benchmark > 0, savings / benchmark, np.nan)
    msr = minimum_savings_rate(population, config)
    mlr = msr if config.min_loss_rate is None else np.where(np.isnan(msr), np.nan, config.min_loss_rate)
    passed = out["quality_passed"].to_numpy(bool)
    two_sided = out["risk_model"].to_numpy(object) == "two_sided"
    eligible = ~np.isnan(msr)
    saving = eligible & (rate >= 0)
    outcome = np.select(
        [
            ~eligible,
            saving & (rate >= msr) & passed,
            saving & (rate >= msr),
            saving,
            ~two_sided,
            -rate < mlr,
        ],
        [0, 1, 2, 3, 6, 4],
        5,
    )
    paid = np.minimum(savings * config.shared_savings_rate, benchmark * config.savings_cap)
    repaid = np.minimum(-savings * config.shared_loss_rate, benchmark * config.loss_cap)
    payment = np.select([outcome == 1, outcome == 5], [paid, -repaid], 0.0)
    out["benchmark_gbp"] = benchmark
    out["savings_gbp"] = savings
    out["savings_rate"] = rate
    out["minimum_rate"] = np.where(rate < 0, mlr, msr)
    out["outcome"] = np.array(OUTCOMES, dtype=object)[outcome]
    out["payment_gbp"] = np.round(payment, 2)
    return out


def quality_gate(compared: pd.DataFrame, codes, config: SystemsConfig) -> pd.DataFrame:
    """Per ACO code: quality indicators assessed, how many worse than peers, and whether the gate passed."""
    rows = compared[
        compared["org_code"].isin(list(codes)) & compared["indicator_id"].isin(config.quality_indicators)
    ]
    rows = rows[~rows["assessment"].isin(["", "not compared"])]
    counts = (
        rows.assign(worse=rows["assessment"] == "worse")
        .groupby("org_code")
        .agg(assessed=("indicator_id", "nunique"), worse=("worse", "sum"))
        .reindex(list(codes), fill_value=0)
    )
    worse_ids = (
        rows[rows["assessment"] == "worse"].groupby("org_code")["indicator_id"].agg(lambda s: sorted(set(s)))
    )
    counts["worse_indicators"] = worse_ids.reindex(counts.index).map(
        lambda v: v if isinstance(v, list) else []
    )
    too_few = counts["assessed"] < config.quality_min_assessed
    too_bad = counts["worse"] > config.quality_max_worse
    counts["quality_passed"] = ~too_few & ~too_bad
    counts["quality_reason"] = np.where(
        too_few,
        "fewer than " + str(config.quality_min_assessed) + " quality indicators assessed",
        np.where(too_bad, "worse than peers on: " + counts["worse_indicators"].map(", ".join), "passed"),
    )
    return counts.rename_axis("aco_code").reset_index()


def hhi(market: pd.DataFrame, config: SystemsConfig) -> pd.DataFrame:
    """Herfindahl-Hirschman index per ``aco_code`` x ``service_line`` from provider ``activity``.

    Returns ``providers``, ``hhi`` (Σ squared % shares), ``largest_share``, ``concentration`` and
    ``flagged`` (HHI above the configured high threshold: patient choice at risk).
    """
    key = ["aco_code", "service_line"]
    by_provider = market.groupby([*key, "provider_code"], as_index=False)["activity"].sum()
    total = by_provider.groupby(key)["activity"].transform("sum")
    by_provider["share"] = 100.0 * by_provider["activity"] / total
    by_provider["share2"] = by_provider["share"] ** 2
    out = by_provider.groupby(key, as_index=False).agg(
        providers=("provider_code", "nunique"), hhi=("share2", "sum"), largest_share=("share", "max")
    )
    out["hhi"] = out["hhi"].round(6)
    out["concentration"] = np.select(
        [out["hhi"] > config.hhi_high_above, out["hhi"] > config.hhi_moderate_above],
        ["highly concentrated", "moderately concentrated"],
        "unconcentrated",
    )
    out["flagged"] = out["hhi"] > config.hhi_high_above
    return out


def bundle_prices(episodes: pd.DataFrame, config: SystemsConfig) -> pd.DataFrame:
    """A bundled price per ``pathway`` from episode costs (``pathway``, ``pathway_id``, ``stage``, ``cost_gbp``).

    Each pathway instance's cost is the sum of its episodes; instance costs are Winsorised at the
    configured upper percentile within the pathway; price = mean x (1 − discount). Also gives the mean
    cost per instance of each stage (the components the bundle replaces).
    """
    instances = episodes.groupby(["pathway", "pathway_id"], as_index=False)["cost_gbp"].sum()
    cap = instances.groupby("pathway")["cost_gbp"].transform(
        lambda s: s.quantile(config.bundle_winsorise_percentile / 100.0)
    )
    instances["capped"] = np.minimum(instances["cost_gbp"], cap)
    out = instances.groupby("pathway", as_index=False).agg(
        instances=("pathway_id", "nunique"),
        mean_cost_gbp=("cost_gbp", "mean"),
        winsorised_mean_gbp=("capped", "mean"),
    )
    out["bundle_price_gbp"] = (out["winsorised_mean_gbp"] * (1 - config.bundle_discount)).round(2)
    stages = episodes.groupby(["pathway", "stage"])["cost_gbp"].sum().unstack(fill_value=0.0)
    stages = stages.div(out.set_index("pathway")["instances"], axis=0).add_prefix("stage_")
    return out.merge(stages.reset_index(), on="pathway", how="left")


# -- inputs and the store -----------------------------------------------------------------------

FINANCE_COLUMNS = (
    "aco_code",
    "population",
    "benchmark_per_capita_gbp",
    "risk_score",
    "expenditure_gbp",
    "risk_model",
)


def read_finance(path: str | Path) -> pd.DataFrame:
    """An ACO year's finance (columns :data:`FINANCE_COLUMNS`), every bad row reported."""
    from carelens.tables import Column, check_unique, read_table, validate

    source = str(path)
    frame = read_table(path, list(FINANCE_COLUMNS))
    problems: list[Problem] = []
    for check in (
        lambda: validate(
            frame,
            [
                Column("aco_code", "text"),
                Column("population", "count", positive=True),
                Column("benchmark_per_capita_gbp", "number", positive=True),
                Column("risk_score", "number", positive=True),
                Column("expenditure_gbp", "number", min_value=0),
                Column("risk_model", "text", allowed=RISK_MODELS),
            ],
            source,
        ),
        lambda: check_unique(frame, ["aco_code"], source),
    ):
        try:
            check()
        except InputError as error:
            problems += error.problems
    if problems:
        raise InputError(problems)
    frame["aco_code"] = frame["aco_code"].astype(str).str.strip()
    frame["risk_model"] = frame["risk_model"].astype(str).str.strip()
    return frame.astype({c: float for c in FINANCE_COLUMNS[1:5]}).astype(
        {"aco_code": object, "risk_model": object}
    )


def read_market(path: str | Path) -> pd.DataFrame:
    """Provider activity by ACO and service line (``aco_code``, ``service_line``, ``provider_code``, ``activity``)."""
    from carelens.tables import Column, read_table, validate

    source = str(path)
    frame = read_table(path, ["aco_code", "service_line", "provider_code", "activity"])
    validate(
        frame,
        [
            Column("aco_code", "text"),
            Column("service_line", "text"),
            Column("provider_code", "text"),
            Column("activity", "number", min_value=0),
        ],
        source,
    )
    return frame.astype({"activity": float, "aco_code": str, "service_line": str, "provider_code": str})


def settle_year(
    engine: sa.Engine,
    finance: pd.DataFrame,
    year: int,
    config: SystemsConfig,
    definitions: dict[str, IndicatorDefinition],
    user: str,
    market: pd.DataFrame | None = None,
    source: str = "finance",
    settings: MonitorSettings | None = None,
) -> pd.DataFrame:
    """Settle every ACO in ``finance`` for financial year ``year`` (2024 = 2024/25) and store it.

    Members come from ``aco_member`` links valid on 1 April; the pooled budget from the pooled budget
    lines recorded for the ACO's code (``carelens allocate budgets``); the quality gate from the ACOs'
    stored quality indicators in the year, judged against every place and ACO (``settings``: the
    monitoring settings, default the packaged ones). One transaction: each
    ACO's previous settlement of the year is superseded and every settlement is audited.
    """
    start, end = dt.date(year, 4, 1), dt.date(year + 1, 3, 31)
    with engine.connect() as connection:
        acos = members(connection, OrgKind.ACO, on=start)
        obs = observations(connection, config.quality_indicators, (OrgKind.PLACE, OrgKind.ACO))
        pools = connection.execute(
            sa.select(fund_budget.c.commissioner_code, sa.func.sum(fund_budget.c.amount_gbp))
            .where(
                fund_budget.c.kind == "pooled",
                fund_budget.c.year == year,
                fund_budget.c.superseded_by.is_(None),
            )
            .group_by(fund_budget.c.commissioner_code)
        ).all()
    known = set(acos["group_code"])
    problems = [
        Problem(source, i + 1, "aco_code", f"{code!r} is not an ACO in the store")
        for i, code in enumerate(finance["aco_code"])
        if code not in known
    ]
    if problems:
        raise InputError(problems)
    obs = obs[(obs["period"] >= start) & (obs["period"] <= end)]
    peers = obs.assign(peer_group=QUALITY_PEERS)
    gate = quality_gate(compare(peers, config, definitions, settings), finance["aco_code"], config)
    settled = settle(finance.merge(gate[["aco_code", "quality_passed"]], on="aco_code"), config)
    settled = settled.merge(gate.drop(columns="quality_passed"), on="aco_code")
    settled["pooled_budget_gbp"] = settled["aco_code"].map(dict(pools))
    concentration = hhi(market, config) if market is not None else None
    member_lists = acos.dropna(subset=["member_code"]).groupby("group_code")["member_code"].agg(list)
    now = dt.datetime.now(dt.UTC)
    table = systems_aco_settlement
    with engine.begin() as connection:
        current = dict(
            connection.execute(
                sa.select(table.c.aco_code, table.c.id).where(
                    table.c.year == year,
                    table.c.superseded_by.is_(None),
                    table.c.aco_code.in_(list(finance["aco_code"])),
                )
            ).all()
        )
        for row in settled.to_dict("records"):
            code = row["aco_code"]
            lines = concentration[concentration["aco_code"] == code] if concentration is not None else None
            detail = {
                "inputs": {c: row[c] for c in FINANCE_COLUMNS[1:]},
                "members": member_lists.get(code, []),
                "quality": {
                    "assessed": int(row["assessed"]),
                    "worse": int(row["worse"]),
                    "reason": row["quality_reason"],
                },
                "hhi": None if lines is None else lines.drop(columns="aco_code").to_dict("records"),
                "config": config.source,
            }
            old = current.get(code)
            if old is not None:  # free the key (partial unique index) before inserting the new row
                connection.execute(table.update().where(table.c.id == old).values(superseded_by=old))
            values = {
                "aco_code": code,
                "year": year,
                "population": row["population"],
                "benchmark_gbp": row["benchmark_gbp"],
                "expenditure_gbp": row["expenditure_gbp"],
                "pooled_budget_gbp": None
                if pd.isna(row["pooled_budget_gbp"])
                else float(row["pooled_budget_gbp"]),
                "savings_gbp": row["savings_gbp"],
                "savings_rate": row["savings_rate"],
                "minimum_rate": None if pd.isna(row["minimum_rate"]) else float(row["minimum_rate"]),
                "quality_passed": bool(row["quality_passed"]),
                "outcome": row["outcome"],
                "payment_gbp": row["payment_gbp"],
                "detail": _plain(detail),
                "user_name": user,
                "settled_at": now,
            }
            new_id = connection.execute(table.insert().values(**values)).inserted_primary_key[0]
            if old is not None:
                connection.execute(table.update().where(table.c.id == old).values(superseded_by=new_id))
            repository.audit(
                connection,
                user,
                "aco.settled",
                table.name,
                f"{code}/{year}",
                {
                    "id": int(new_id),
                    "superseded_id": old,
                    "outcome": row["outcome"],
                    "payment_gbp": row["payment_gbp"],
                },
            )
    if concentration is not None:
        flagged = concentration[concentration["flagged"]].groupby("aco_code")["service_line"].agg(", ".join)
        settled["hhi_flagged_lines"] = settled["aco_code"].map(flagged).fillna("")
    return settled


def settlements(
    bind: sa.Engine | sa.Connection, year: int | None = None, history: bool = False
) -> pd.DataFrame:
    """Stored settlements (current ones unless ``history``)."""
    table = systems_aco_settlement
    query = sa.select(table).order_by(table.c.year, table.c.aco_code, table.c.id)
    if year is not None:
        query = query.where(table.c.year == year)
    if not history:
        query = query.where(table.c.superseded_by.is_(None))
    with reading(bind) as connection:
        return pd.DataFrame(
            connection.execute(query).mappings().all(), columns=[c.name for c in table.columns]
        )


def _plain(value):
    """JSON-safe copy (NumPy scalars to Python, NaN to None)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
