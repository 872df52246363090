"""Places (systems) and ACOs from the store's dated relationships, and their transition indicators.

A place is an organisation of kind ``place`` (a local authority footprint or an integrated care system);
its members (NHS bodies, the council, partners) are the ``place_member`` links valid on a date. ACOs
are the same with ``aco`` and ``aco_member``. Transition indicators (``config/indicators/
transitions.yaml``) are read from the observation table and compared across places with the funnel
kernel (:func:`carelens.stats.funnel.funnel`), one vectorised call per funnel type over every
indicator x period at once:

* proportions (readmissions, reablement, usual residence): ``pr`` funnel on the arcsine scale;
* rates (delayed days per adult, admissions per person 65+): observed O against expected
  E = n x the peers' rate ΣO/Σn, an indirectly standardised ratio on the log scale (SHMI method),
  mapped back to the rate scale by multiplying value and limits by the peers' rate.

Both use DerSimonian-Laird additive overdispersion, as provider monitoring does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import nullcontext

import numpy as np
import pandas as pd
import sqlalchemy as sa

from carelens.model.indicators import IndicatorDefinition, Polarity
from carelens.model.organisations import OrgKind, RelationshipKind
from carelens.stats.funnel import funnel
from carelens.stats.groups import Groups
from carelens.store import schema
from carelens.systems.config import SystemsConfig

MEMBERSHIP = {OrgKind.PLACE: RelationshipKind.PLACE_MEMBER, OrgKind.ACO: RelationshipKind.ACO_MEMBER}
POLARITY = {
    Polarity.LOWER_IS_BETTER: "lower-is-better",
    Polarity.HIGHER_IS_BETTER: "higher-is-better",
    Polarity.NEUTRAL: "neutral",
}
COMPARISON_COLUMNS = (
    "indicator_id",
    "org_code",
    "period",
    "numerator",
    "denominator",
    "value",
    "target",
    "lower",
    "upper",
    "z_adjusted",
    "adverse_z",
    "assessment",
    "tau2",
)


def read_connection(bind: sa.Engine | sa.Connection):
    """A connection to read with: a new one from an engine, or the caller's own (left open)."""
    return bind.connect() if isinstance(bind, sa.Engine) else nullcontext(bind)


def members(
    connection: sa.Connection, kind: OrgKind = OrgKind.PLACE, on: dt.date | None = None
) -> pd.DataFrame:
    """Every place (or ACO) with its members valid on ``on`` (default today).

    Columns: ``group_code``, ``group_name``, ``member_code``, ``member_name``, ``member_kind``,
    ``valid_from``, ``valid_to``. A place with no member on that date appears once with null members.
    """
    on = on or dt.date.today()
    org, rel = schema.organisation, schema.org_relationship
    member = org.alias("member")
    valid = sa.and_(
        rel.c.kind == MEMBERSHIP[kind].value,
        rel.c.object_code == org.c.code,
        sa.or_(rel.c.valid_from.is_(None), rel.c.valid_from <= on),
        sa.or_(rel.c.valid_to.is_(None), rel.c.valid_to >= on),
    )
    query = (
        sa.select(
            org.c.code.label("group_code"),
            org.c.name.label("group_name"),
            rel.c.subject_code.label("member_code"),
            member.c.name.label("member_name"),
            member.c.kind.label("member_kind"),
            rel.c.valid_from,
            rel.c.valid_to,
        )
        .select_from(org.outerjoin(rel, valid).outerjoin(member, member.c.code == rel.c.subject_code))
        .where(org.c.kind == kind.value)
        .order_by(org.c.code, rel.c.subject_code)
    )
    rows = connection.execute(query).mappings().all()
    return pd.DataFrame(
        rows,
        columns=[
            "group_code",
            "group_name",
            "member_code",
            "member_name",
            "member_kind",
            "valid_from",
            "valid_to",
        ],
    )


def observations(
    connection: sa.Connection,
    indicator_ids: Sequence[str],
    kinds: Sequence[OrgKind] = (OrgKind.PLACE,),
    period: dt.date | None = None,
) -> pd.DataFrame:
    """Current observations of the given indicators for organisations of the given kinds."""
    obs, org = schema.observation, schema.organisation
    query = (
        sa.select(obs.c.indicator_id, obs.c.org_code, obs.c.period, obs.c.numerator, obs.c.denominator)
        .join(org, org.c.code == obs.c.org_code)
        .where(
            obs.c.superseded_by.is_(None),
            obs.c.indicator_id.in_(list(indicator_ids)),
            org.c.kind.in_([k.value for k in kinds]),
        )
    )
    if period is not None:
        query = query.where(obs.c.period == period)
    rows = connection.execute(query).mappings().all()
    frame = pd.DataFrame(rows, columns=["indicator_id", "org_code", "period", "numerator", "denominator"])
    return frame.astype({"numerator": float, "denominator": float})


def compare(
    frame: pd.DataFrame,
    config: SystemsConfig,
    definitions: dict[str, IndicatorDefinition],
    level: float | None = None,
) -> pd.DataFrame:
    """Compare every organisation with its peers on each indicator and period (pure, vectorised).

    ``frame`` has ``indicator_id``, ``org_code``, ``period``, ``numerator``, ``denominator``; peers are
    all rows of the same indicator and period. Values, targets and limits are shown scaled by each
    indicator's ``multiplier`` (per 100,000, %, per 1,000). ``adverse_z`` is the overdispersion-adjusted
    z-score signed so that positive is worse (zero for neutral indicators); ``assessment`` is
    ``worse``/``better``/``within`` at ``level`` (default: the configured level).
    """
    level = config.level if level is None else level
    configured = {i.id: i for i in config.indicators}
    frame = frame[frame["indicator_id"].isin(list(configured))].reset_index(drop=True)
    frame = frame[(frame["denominator"] > 0) & frame["numerator"].notna()].reset_index(drop=True)
    out = pd.DataFrame({c: pd.Series(dtype=object) for c in COMPARISON_COLUMNS})
    if frame.empty:
        return out
    ids = frame["indicator_id"].to_numpy()
    kind = np.array([configured[i].funnel for i in ids])
    multiplier = np.array([configured[i].multiplier for i in ids])
    polarity = np.array([POLARITY[definitions[i].polarity] for i in ids])
    sign = np.select([polarity == "lower-is-better", polarity == "higher-is-better"], [1.0, -1.0], 0.0)
    o = frame["numerator"].to_numpy(float)
    n = frame["denominator"].to_numpy(float)
    result = {
        c: np.full(len(frame), np.nan) for c in ("value", "target", "lower", "upper", "z_adjusted", "tau2")
    }
    result["assessment"] = np.full(len(frame), "", dtype=object)
    for funnel_kind in ("pr", "rate"):
        rows = np.flatnonzero(kind == funnel_kind)
        if not len(rows):
            continue
        groups = Groups.from_keys(ids[rows], frame["period"].to_numpy()[rows])
        if funnel_kind == "pr":
            res = funnel(o[rows], n[rows], groups=groups, kind="pr", levels=(level,))
            scale = np.ones(len(rows))
        else:
            rate = groups.sum(o[rows]) / groups.sum(n[rows])
            scale = rate[groups.codes]
            res = funnel(o[rows], n[rows] * scale, groups=groups, kind="sr", method="shmi", levels=(level,))
        lower, upper = res.limits(level)
        result["value"][rows] = res.value * scale
        result["target"][rows] = res.target * scale
        result["lower"][rows] = lower * scale
        result["upper"][rows] = upper * scale
        result["z_adjusted"][rows] = res.z_adjusted
        result["tau2"][rows] = res.tau2[groups.codes]
        flag = res.flag  # higher / lower / within
        worse = ((flag == "higher") & (sign[rows] > 0)) | ((flag == "lower") & (sign[rows] < 0))
        better = ((flag == "lower") & (sign[rows] > 0)) | ((flag == "higher") & (sign[rows] < 0))
        text = np.where(
            worse, "worse", np.where(better, "better", np.where(flag == "within", "within", flag))
        )
        result["assessment"][rows] = text
    out = frame[["indicator_id", "org_code", "period", "numerator", "denominator"]].copy()
    for name in ("value", "target", "lower", "upper"):
        out[name] = result[name] * multiplier
    out["z_adjusted"] = result["z_adjusted"]
    out["adverse_z"] = result["z_adjusted"] * sign
    out["assessment"] = result["assessment"]
    out["tau2"] = result["tau2"]
    return out[list(COMPARISON_COLUMNS)]


def place_indicators(
    bind: sa.Engine | sa.Connection,
    config: SystemsConfig,
    definitions: dict[str, IndicatorDefinition],
    period: dt.date | None = None,
    kinds: Sequence[OrgKind] = (OrgKind.PLACE,),
) -> pd.DataFrame:
    """Transition indicators of every place for ``period`` (default: the latest stored), compared."""
    with read_connection(bind) as connection:
        frame = observations(connection, [i.id for i in config.indicators], kinds)
    if frame.empty:
        return compare(frame, config, definitions)
    wanted = period or max(frame["period"])
    frame = frame[frame["period"] == wanted]
    return compare(frame, config, definitions)


def transition_periods(
    connection: sa.Connection, config: SystemsConfig, kinds: Sequence[OrgKind] = (OrgKind.PLACE,)
) -> list[dt.date]:
    """Periods with current transition indicators for organisations of ``kinds``, latest first."""
    obs, org = schema.observation, schema.organisation
    query = (
        sa.select(obs.c.period)
        .join(org, org.c.code == obs.c.org_code)
        .where(
            obs.c.superseded_by.is_(None),
            obs.c.indicator_id.in_([i.id for i in config.indicators]),
            org.c.kind.in_([k.value for k in kinds]),
        )
        .distinct()
        .order_by(obs.c.period.desc())
    )
    return list(connection.execute(query).scalars())


def dtoc_attribution(compared: pd.DataFrame) -> pd.DataFrame:
    """Share of each place's delayed days attributable to the NHS, social care or both (one row per place
    and period); the three shares add up to 1 where all three parts are present."""
    parts = compared[compared["indicator_id"].isin(["dtoc_nhs", "dtoc_social_care", "dtoc_both"])]
    wide = parts.pivot_table(
        index=["org_code", "period"], columns="indicator_id", values="numerator", aggfunc="sum"
    )
    wide = wide.reindex(columns=["dtoc_nhs", "dtoc_social_care", "dtoc_both"])
    total = wide.sum(axis=1, min_count=3)
    shares = wide.div(total, axis=0)
    shares.columns = ["nhs_share", "social_care_share", "both_share"]
    return shares.assign(delayed_days=total).reset_index()
