"""Places (systems) and ACOs from the store's dated relationships, and their transition indicators.

A place is an organisation of kind ``place`` (a local authority footprint or an integrated care system);
its members (NHS bodies, the council, partners) are the ``place_member`` links valid on a date. ACOs
are the same with ``aco`` and ``aco_member``. Transition indicators (``config/indicators/
transitions.yaml``) are read from the observation table and judged by the monitoring kernel
(:func:`carelens.monitor.kernel.judge`) with each indicator's one comparison specification
(:func:`carelens.monitor.comparison.comparison_for`: its definition plus the monitoring settings;
docs/methods/comparison.md), so a place's verdict on an indicator is the one a monitoring run stores:

* proportions (readmissions, reablement, usual residence): ``pr`` funnel on the arcsine scale;
* rates (delayed days per adult, admissions per person 65+): observed O against expected
  E = n x the peers' rate ΣO/Σn, compared as a ratio (the CQC method: square-root scale, Winsorised,
  since their method is not ``_trimmed``), shown on the rate scale;

with DerSimonian-Laird overdispersion, verdicts at the definition's first level (else the monitoring
setting ``flags.risk_z``) and the small-number rule of the monitoring settings. Peers follow the
definition's peer-group rule as a monitoring pass labels it (``org_kind``: organisations of the same
kind, and subtype where one is recorded, e.g. every place). Only the display is the systems
configuration's: values, targets and limits are shown times each indicator's ``multiplier`` (per
100,000, %, per 1,000).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import sqlalchemy as sa

from carelens.model.indicators import IndicatorDefinition
from carelens.model.organisations import OrgKind, RelationshipKind
from carelens.monitor.comparison import Comparison, comparisons_for
from carelens.monitor.inputs import UNKNOWN, attach_peer_groups
from carelens.monitor.kernel import judge
from carelens.monitor.settings import MonitorSettings, load_settings
from carelens.store import schema
from carelens.store.engine import reading
from carelens.systems.config import SystemsConfig

MEMBERSHIP = {OrgKind.PLACE: RelationshipKind.PLACE_MEMBER, OrgKind.ACO: RelationshipKind.ACO_MEMBER}
ASSESSMENT = {
    "worse": "worse",
    "better": "better",
    "as expected": "within",
    "higher": "higher",
    "lower": "lower",
    "not compared": "not compared",
}
"""A judgement's verdict -> the place comparison's ``assessment`` (``higher``/``lower``: neutral polarity)."""
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
    "peer_group",
    "peers",
    "verdict",
    "reason",
)
"""Columns of :func:`compare` (``lower``/``upper``: limits at the verdict level; ``verdict`` and ``reason``
exactly as the judgement gives them)."""
ALL_GIVEN = "all given"
"""Peer-group label when the rows given carry none: every row of an indicator and period is a peer."""


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


def place_codes(connection: sa.Connection, kind: OrgKind = OrgKind.PLACE) -> list[str]:
    """Every organisation of ``kind`` (a place, by default) in the store, by code: the places a ranking
    lists, whether or not they have indicators in its period."""
    org = schema.organisation
    return list(
        connection.execute(
            sa.select(org.c.code).where(org.c.kind == kind.value).order_by(org.c.code)
        ).scalars()
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
        sa.select(
            obs.c.indicator_id,
            obs.c.org_code,
            obs.c.period,
            obs.c.numerator,
            obs.c.denominator,
            org.c.kind.label("org_kind"),
            org.c.subtype,
        )
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
    frame = pd.DataFrame(
        rows,
        columns=["indicator_id", "org_code", "period", "numerator", "denominator", "org_kind", "subtype"],
    )
    frame = frame.astype({"numerator": float, "denominator": float})
    # the organisation's kind as a monitoring pass labels it (carelens.monitor.inputs.sql_inputs)
    subtype = frame.pop("subtype").astype(object)
    frame["peer_kind"] = np.where(
        subtype.notna(),
        frame["org_kind"].astype(str) + ": " + subtype.fillna("").astype(str),
        frame["org_kind"],
    )
    return frame


def comparisons(
    config: SystemsConfig, definitions: Mapping[str, IndicatorDefinition], settings: MonitorSettings
) -> dict[str, Comparison]:
    """The one comparison specification of each transition indicator."""
    return comparisons_for({i.id: definitions[i.id] for i in config.indicators}, settings)


def with_peer_groups(frame: pd.DataFrame, specs: Mapping[str, Comparison]) -> pd.DataFrame:
    """``frame`` (from :func:`observations`) with the ``peer_group`` label of each row by its indicator's
    peer-group rule, labelled as a monitoring pass labels it (a place's region and commissioner are not
    recorded, so those rules compare within "unknown", as the pass does)."""
    organisations = (
        frame[["org_code", "peer_kind"]]
        .drop_duplicates("org_code")
        .rename(columns={"org_code": "code"})
        .assign(region=UNKNOWN, commissioner=UNKNOWN)
    )
    labelled = attach_peer_groups(frame.reset_index(drop=True), organisations, dict(specs))
    return labelled.assign(peer_group=labelled["peer_group"].astype(object))


def compare(
    frame: pd.DataFrame,
    config: SystemsConfig,
    definitions: Mapping[str, IndicatorDefinition],
    settings: MonitorSettings | None = None,
) -> pd.DataFrame:
    """Judge every organisation against its peers on each indicator and period (pure, vectorised).

    ``frame`` has ``indicator_id``, ``org_code``, ``period``, ``numerator``, ``denominator`` and, to
    follow the indicators' peer-group rules, ``peer_group`` (:func:`with_peer_groups`); without it all
    rows of the same indicator and period are peers. Each indicator is judged by its comparison
    specification under ``settings`` (the monitoring settings, default the packaged ones), by the
    monitoring kernel's :func:`judge`. Values, targets and limits (at the verdict level) are shown times
    each indicator's ``multiplier`` (per 100,000, %, per 1,000). ``adverse_z`` is the
    overdispersion-adjusted z signed so that positive is worse (zero for neutral indicators);
    ``assessment`` is ``worse``/``better``/``within`` (``higher``/``lower`` for neutral indicators) from
    the verdict, or ``not compared`` (``reason`` says why).
    """
    settings = settings or load_settings()
    configured = {i.id: i for i in config.indicators}
    frame = frame[frame["indicator_id"].isin(list(configured))].reset_index(drop=True)
    out = pd.DataFrame({c: pd.Series(dtype=object) for c in COMPARISON_COLUMNS})
    if frame.empty:
        return out
    specs = comparisons(config, definitions, settings)
    rows = frame[["indicator_id", "org_code", "period", "numerator", "denominator"]].assign(
        expected=np.nan,
        value=np.nan,
        period=pd.to_datetime(frame["period"]),
        peer_group=frame["peer_group"] if "peer_group" in frame else ALL_GIVEN,
    )
    judged = judge(rows, {k: specs[k] for k in rows["indicator_id"].unique()}, settings)
    multiplier = judged["indicator_id"].map({k: i.multiplier for k, i in configured.items()}).astype(float)
    sign = judged["indicator_id"].map({k: s.adverse_sign for k, s in specs.items()}).astype(float)
    out = judged[["indicator_id", "org_code", "period", "numerator", "denominator"]].copy()
    for name in ("value", "target", "lower", "upper"):
        out[name] = judged[name].astype(float) * multiplier
    out["z_adjusted"] = judged["z_adjusted"].astype(float)
    out["adverse_z"] = out["z_adjusted"] * sign
    out["assessment"] = judged["verdict"].map(ASSESSMENT)
    for name in ("tau2", "peer_group", "peers", "verdict", "reason"):
        out[name] = judged[name]
    return out[list(COMPARISON_COLUMNS)]


def place_indicators(
    bind: sa.Engine | sa.Connection,
    config: SystemsConfig,
    definitions: Mapping[str, IndicatorDefinition],
    period: dt.date | None = None,
    kinds: Sequence[OrgKind] = (OrgKind.PLACE,),
    settings: MonitorSettings | None = None,
) -> pd.DataFrame:
    """Transition indicators of every place for ``period`` (default: the latest stored), judged against
    the peers each indicator's peer-group rule gives (:func:`compare`)."""
    settings = settings or load_settings()
    with reading(bind) as connection:
        frame = observations(connection, [i.id for i in config.indicators], kinds)
    if frame.empty:
        return compare(frame, config, definitions, settings)
    wanted = period or max(frame["period"])
    frame = frame[frame["period"] == wanted]
    return compare(
        with_peer_groups(frame, comparisons(config, definitions, settings)), config, definitions, settings
    )


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
