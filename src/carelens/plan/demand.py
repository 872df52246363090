"""Inspection demand: each organisation's statutory deadline and due date, vectorised over all of them.

The deadline is the rating date plus the maximum interval for that rating (by inspection type or sector,
``planning.yaml``), or registration plus the new-registration interval when never rated. Triggers bring
the due date forward: monitoring priority bands and SPC alerts (``carelens.monitor``), whistleblowing and
concerns, never-rated and stale ratings. The risk weight (what the scheduler maximises) is a base by
rating plus points per trigger. No Python loop per organisation: every step is a column operation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
import pandas as pd
import sqlalchemy as sa

from carelens.errors import InputError, Problem
from carelens.model.dates import date_in_words
from carelens.plan.config import RATINGS, PlanSettings, load_settings

INPUT_COLUMNS = ("org_code", "kind", "sector", "region", "registered", "rating", "rating_date")
"""Required columns of the organisations frame; optional: band, spc_alerts, concerns, size."""
NO_REGION = {
    "nhs_trust": "no region on record: the ODS trust file loaded into the store (carelens ingest ods-trusts) "
    "does not list the trust, or gives it no NHS England region (a trust outside England), and no --regions "
    "file does",
    "gp_practice": "no region on record: no commissioner with a region is linked to the practice, "
    "nor is it in a --regions file",
    "other": "no region on record for this organisation: not in the packaged or --regions file, "
    "nor linked to a region in the store",
}
"""Why an organisation has no region, by kind: what the plan looked for (its reason it cannot schedule)."""
TRIGGERS = ("band_1", "band_2", "band_3", "spc_alert", "concern", "never_rated", "stale_rating")


def add_months(dates: np.ndarray, months: np.ndarray) -> np.ndarray:
    """``dates`` (datetime64[D]) plus whole ``months``, the day clipped to the month's end (31 Jan + 1 = 28 Feb)."""
    dates = dates.astype("datetime64[D]")
    month = dates.astype("datetime64[M]")
    day = (dates - month.astype("datetime64[D]")).astype(int)
    target = month + months.astype("timedelta64[M]")
    last = (
        (target + np.timedelta64(1, "M")).astype("datetime64[D]") - np.timedelta64(1, "D")
    ) - target.astype("datetime64[D]")
    return target.astype("datetime64[D]") + np.minimum(day, last.astype(int)).astype("timedelta64[D]")


def _in_words(days: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Dates in words ("31 July 2018") where ``known``, for the reasons people read."""
    return np.array(
        [date_in_words(str(d)) if k else "" for d, k in zip(days, known, strict=True)], dtype=object
    )


def _dates(series: pd.Series) -> np.ndarray:
    return np.array(pd.to_datetime(series, errors="coerce").to_numpy(), dtype="datetime64[D]")


def compute_demand(orgs: pd.DataFrame, as_of: dt.date, settings: PlanSettings | None = None) -> pd.DataFrame:
    """Due dates, deadlines, risk weights, team and days for every inspectable organisation in ``orgs``.

    Returns one row per organisation whose kind is inspected (``demand.kinds``), with columns org_code,
    kind, sector, region, no_region (why there is none, when ``orgs`` says), inspection_type, rating, rating_date, deadline, due_date, overdue, risk,
    high_risk, reasons, team, days, skill, unannounced.
    """
    settings = settings or load_settings()
    missing = [c for c in INPUT_COLUMNS if c not in orgs.columns]
    if missing:
        raise InputError(Problem("organisations", None, ", ".join(missing), "missing column(s)"))
    frame = orgs[orgs["kind"].isin(list(settings.kinds))].reset_index(drop=True).copy()
    for column, default in (("band", np.nan), ("spc_alerts", 0), ("concerns", 0), ("size", np.nan)):
        if column not in frame.columns:
            frame[column] = default
    n = len(frame)
    today = np.datetime64(as_of, "D")
    frame["inspection_type"] = frame["kind"].map(settings.kinds)
    types = settings.types
    frame["sector"] = (
        frame["inspection_type"].map({k: t.sector for k, t in types.items()}).fillna(frame["sector"])
    )
    rated = frame["rating"].isin(RATINGS).to_numpy().copy()
    rating_date = _dates(frame["rating_date"])
    rated &= ~np.isnat(rating_date)
    rating_key = np.where(rated, frame["rating"].astype(object), "none")

    # interval by inspection type when configured, else by sector, else default
    table = pd.DataFrame(
        [
            (key, rating, months)
            for key in {*frame["inspection_type"], *frame["sector"].dropna()}
            for rating, months in settings.intervals(key).items()
        ],
        columns=["key", "rating_key", "months"],
    )
    key = np.where(
        frame["inspection_type"].isin(list(settings.interval_months)),
        frame["inspection_type"],
        frame["sector"],
    )
    wanted = pd.DataFrame({"key": key, "rating_key": rating_key})
    months = wanted.merge(table, on=["key", "rating_key"], how="left")["months"]
    months = months.fillna(settings.new_registration_months).to_numpy(dtype=int)
    registered = _dates(frame["registered"])
    start_new = np.where(np.isnat(registered), today, registered)
    deadline = np.where(
        rated,
        add_months(np.where(rated, rating_date, today), months),
        add_months(start_new, np.full(n, settings.new_registration_months)),
    ).astype("datetime64[D]")

    band = pd.to_numeric(frame["band"], errors="coerce").to_numpy()
    age_months = (
        today.astype("datetime64[M]") - np.where(rated, rating_date, today).astype("datetime64[M]")
    ).astype(int)
    flags = {
        "band_1": band == 1,
        "band_2": band == 2,
        "band_3": band == 3,
        "spc_alert": pd.to_numeric(frame["spc_alerts"], errors="coerce").fillna(0).to_numpy() > 0,
        "concern": pd.to_numeric(frame["concerns"], errors="coerce").fillna(0).to_numpy() > 0,
        "never_rated": ~rated,
        "stale_rating": rated & (age_months >= settings.stale_rating_months),
    }
    due = deadline.copy()
    reasons = np.where(
        rated,
        "rated " + frame["rating"].astype(str) + " on " + _in_words(rating_date, rated),
        "no rating on record",
    )
    reasons = reasons.astype(object)
    risk = (
        frame["rating"]
        .where(rated, "none")
        .map(settings.risk_base)
        .fillna(0)
        .to_numpy(dtype=float, copy=True)
    )
    for trigger in TRIGGERS:
        hit = flags[trigger]
        if trigger in settings.bring_forward_months:
            forward = add_months(np.full(n, today), np.full(n, settings.bring_forward_months[trigger]))
            due = np.where(hit, np.minimum(due, forward), due)
        risk += hit * float(settings.risk_points.get(trigger, 0))
        reasons = np.where(hit, reasons + "; " + trigger.replace("_", " "), reasons)
    overdue = deadline < today
    risk += overdue * float(settings.risk_points.get("overdue", 0))
    reasons = np.where(overdue, reasons + "; overdue", reasons)

    team = np.zeros(n, dtype=int)
    days = np.zeros(n, dtype=int)
    size = pd.to_numeric(frame["size"], errors="coerce").to_numpy()
    for name, spec in types.items():
        mine = (frame["inspection_type"] == name).to_numpy()
        team[mine] = spec.sizes["default"]["team"]
        days[mine] = spec.sizes["default"]["days"]
        bands = sorted(
            ((s["min"], s) for b, s in spec.sizes.items() if b != "default" and "min" in s),
            key=lambda x: x[0],
        )
        for minimum, s in bands:
            hit = mine & (size >= minimum)
            team[hit] = s["team"]
            days[hit] = s["days"]
    out = pd.DataFrame(
        {
            "org_code": frame["org_code"].astype(str),
            "kind": frame["kind"],
            "sector": frame["sector"],
            "region": frame["region"],
            "no_region": frame["no_region"] if "no_region" in frame else None,
            "inspection_type": frame["inspection_type"],
            "rating": np.where(rated, frame["rating"], None),
            "rating_date": pd.to_datetime(np.where(rated, rating_date, np.datetime64("NaT"))),
            "deadline": pd.to_datetime(deadline),
            "due_date": pd.to_datetime(due),
            "overdue": overdue,
            "risk": risk,
            "high_risk": risk >= settings.high_risk_min,
            "reasons": reasons.astype(str),
            "team": team,
            "days": days,
            "skill": frame["inspection_type"].map({k: t.skill for k, t in types.items()}),
            "unannounced": frame["inspection_type"]
            .map({k: t.unannounced for k, t in types.items()})
            .astype(bool),
        }
    )
    return out.sort_values(["due_date", "risk", "org_code"], ascending=[True, False, True]).reset_index(
        drop=True
    )


def due_within(demand: pd.DataFrame, as_of: dt.date, weeks: int) -> pd.DataFrame:
    """The inspections due by the end of a ``weeks``-week horizon starting at ``as_of``."""
    end = pd.Timestamp(as_of) + pd.Timedelta(weeks=weeks)
    return demand[demand["due_date"] < end].reset_index(drop=True)


# --- reading the organisations frame from the store ----------------------------------------------


def _frame(connection: sa.Connection, query: sa.Select) -> pd.DataFrame:
    return pd.DataFrame(
        connection.execute(query).mappings().all(), columns=list(query.selected_columns.keys())
    )


def default_as_of(engine: sa.Engine) -> dt.date:
    """The Monday after the newest published rating in the store (a plan on a snapshot is planned as
    of that snapshot), or the coming Monday when the store holds no ratings."""
    from carelens.store import schema

    with engine.connect() as connection:
        newest = connection.execute(sa.select(sa.func.max(schema.rating.c.report_date))).scalar()
    base = newest or dt.date.today()
    return base + dt.timedelta(days=7 - base.weekday())


def organisations_from_store(
    engine: sa.Engine,
    as_of: dt.date,
    settings: PlanSettings | None = None,
    regions: pd.DataFrame | None = None,
    concerns: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The organisations frame for :func:`compute_demand` from the store: inspectable organisations open
    on ``as_of`` (none closed before it), their overall rating in effect at ``as_of`` (``carelens.assess``),
    region, the latest monitoring run's band and SPC alerts, concerns (org_code per row) and list size.

    Region, first that applies: the given org_code -> region table (``regions``: it adds to and overrides
    the store, per organisation); the organisation's own region link (``organisation_region``: NHS trusts
    from the ODS trust file); practice -> commissioner -> region links; the commissioner's own region.
    ``no_region`` says, where there is none, what was looked for (the plan's reason it cannot schedule)."""
    from carelens.assess.history import ratings_at
    from carelens.model.organisations import RelationshipKind
    from carelens.monitor.service import latest_run_id
    from carelens.store import schema, schema_monitor

    settings = settings or load_settings()
    org, rel = schema.organisation, schema.org_relationship
    with engine.connect() as connection:
        orgs = _frame(
            connection,
            sa.select(
                org.c.code.label("org_code"), org.c.kind, org.c.sector, org.c.valid_from.label("registered")
            )
            .where(
                org.c.kind.in_(list(settings.kinds)),
                sa.or_(org.c.valid_to.is_(None), org.c.valid_to >= as_of),
            )
            .order_by(org.c.code),
        )
        links = _frame(
            connection,
            sa.select(rel.c.kind, rel.c.subject_code, rel.c.object_code).where(
                rel.c.valid_to.is_(None),
                rel.c.kind.in_(
                    [
                        RelationshipKind.PRACTICE_COMMISSIONER,
                        RelationshipKind.COMMISSIONER_REGION,
                        RelationshipKind.ORGANISATION_REGION,
                    ]
                ),
            ),
        )
        run_id = latest_run_id(connection)
        monitor = pd.DataFrame(columns=["org_code", "band", "spc_alerts"])
        if run_id is not None:
            m = schema_monitor.monitor_org
            monitor = _frame(
                connection, sa.select(m.c.org_code, m.c.band, m.c.spc_alerts).where(m.c.run_id == run_id)
            )
        measures = {t.size_measure for t in settings.types.values() if t.size_measure}
        pop = schema.population
        sizes = _frame(
            connection,
            sa.select(pop.c.org_code, pop.c.year, pop.c.count.label("size")).where(
                pop.c.superseded_by.is_(None),
                pop.c.measure.in_(sorted(measures)),
                pop.c.age_band == "all",
                pop.c.sex == "all",
            ),
        )
        ratings = ratings_at(connection, as_of)
    overall = ratings[
        ratings["level"].isin(["location", "provider"])
        & (ratings["service"] == "Overall")
        & (ratings["key_question"] == "Overall")
    ]
    overall = overall.sort_values(["org_code", "level"]).drop_duplicates("org_code", keep="first")
    orgs = orgs.merge(
        overall[["org_code", "rating", "date"]].rename(columns={"date": "rating_date"}),
        on="org_code",
        how="left",
    )
    region_of = links[links["kind"] == RelationshipKind.COMMISSIONER_REGION].set_index("subject_code")[
        "object_code"
    ]
    region_of = region_of[~region_of.index.duplicated()]
    practice = links[links["kind"] == RelationshipKind.PRACTICE_COMMISSIONER].drop_duplicates("subject_code")
    via = practice.set_index("subject_code")["object_code"].map(region_of)
    own = links[links["kind"] == RelationshipKind.ORGANISATION_REGION].drop_duplicates("subject_code")
    region = pd.Series(None, index=orgs.index, dtype=object)
    for source in (region_of, via, own.set_index("subject_code")["object_code"]):  # the later, the stronger
        found = orgs["org_code"].map(source).astype(object)
        region = region.where(found.isna(), found)
    orgs["region"] = region
    if regions is not None and len(regions):
        given = regions.drop_duplicates("org_code", keep="last").set_index("org_code")["region"]
        orgs["region"] = orgs["org_code"].map(given).fillna(orgs["region"])
    orgs["no_region"] = np.where(
        orgs["region"].isna(), orgs["kind"].map(NO_REGION).fillna(NO_REGION["other"]), None
    )
    if len(monitor):
        orgs = orgs.merge(monitor, on="org_code", how="left")
    if len(sizes):
        latest = sizes.sort_values("year").drop_duplicates("org_code", keep="last")[["org_code", "size"]]
        orgs = orgs.merge(latest, on="org_code", how="left")
    if concerns is not None and len(concerns):
        counts = concerns.groupby("org_code").size().rename("concerns")
        orgs["concerns"] = orgs["org_code"].map(counts).fillna(0).astype(int)
    return orgs


def read_codes_table(path, columns: Iterable[str]) -> pd.DataFrame:
    """A small CSV of codes (regions, concerns) validated with :mod:`carelens.tables`."""
    from carelens.tables import Column, read_table, validate

    frame = read_table(path, list(columns))
    validate(frame, [Column(c, "text") for c in columns], str(path))
    return frame
