"""Monitoring results: runs, per organisation x indicator flags with everything that explains them,
per-organisation scores and bands, and counts by key question (``carelens.monitor``).

Rows are written once per run and never updated; runs are compared by run id. Indicator and
organisation codes are not foreign keys: a pass over a Parquet store may cover indicators and
organisations the database does not hold.
"""

from __future__ import annotations

import sqlalchemy as sa

from carelens.store.schema import Code, Number, RowId, metadata

RISK_FLAGS = ("elevated risk", "risk")
"""Flags that count as a risk (the monitoring settings' names), listed first in this order (``position``)."""

monitor_run = sa.Table(
    "monitor_run",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("user_name", sa.String(100), nullable=False),
    sa.Column("source", sa.String(500), nullable=False, comment="database or Parquet folder read"),
    sa.Column("period_from", sa.Date, nullable=True),
    sa.Column("period_to", sa.Date, nullable=True),
    sa.Column("settings", sa.Text, nullable=False, comment="monitoring settings as canonical JSON"),
    sa.Column("special_measures", sa.Text, nullable=False, comment="JSON list of codes forced to band 1"),
    sa.Column("recently_inspected", sa.Text, nullable=False, comment="JSON list of codes not banded"),
    sa.Column("indicators", sa.Integer, nullable=False),
    sa.Column("organisations", sa.Integer, nullable=False),
    sa.Column("flags", sa.Integer, nullable=False, comment="rows in monitor_flag for this run"),
    sa.Column("inputs_digest", sa.String(64), nullable=False, comment="SHA-256 of inputs and settings"),
    sa.Column("results_digest", sa.String(64), nullable=False, comment="SHA-256 of flags and scores"),
    sa.Column("previous_run_id", RowId, sa.ForeignKey("monitor_run.id"), nullable=True),
    sa.Column(
        "scope",
        sa.String(20),
        nullable=False,
        server_default="complete",
        comment="complete (every indicator, organisation and period), partial or what-if",
    ),
    sa.Column("scope_note", sa.String(500), nullable=False, server_default="", comment="why not complete"),
)

monitor_indicator = sa.Table(
    "monitor_indicator",
    metadata,
    sa.Column("run_id", RowId, sa.ForeignKey("monitor_run.id"), primary_key=True),
    sa.Column("indicator_id", sa.String(80), primary_key=True),
    sa.Column("latest_period", sa.Date, nullable=False, comment="the indicator's latest period in the run"),
    sa.Column("first_judged", sa.Date, nullable=False, comment="earliest period with stored judgements"),
    sa.Column("judged_periods", sa.Integer, nullable=False),
    sa.Column("value_type", sa.String(40), nullable=False),
    sa.Column("polarity", sa.String(20), nullable=False),
    sa.Column("peer_group", sa.String(20), nullable=False, comment="the peer-group rule"),
    sa.Column("verdict_level", Number, nullable=False, comment="% level deciding worse/better"),
    sa.Column("elevated_level", Number, nullable=False),
    sa.Column("method", sa.String(400), nullable=False, comment="how it was compared, in one line"),
    sa.Column(
        "out_of_date_kinds",
        sa.String(400),
        nullable=False,
        comment="organisation kinds it is out of date for",
    ),
)
"""How each indicator was compared in a run (its :class:`carelens.monitor.comparison.Comparison`) and
which periods the run judged."""

monitor_judgement = sa.Table(
    "monitor_judgement",
    metadata,
    sa.Column("run_id", RowId, sa.ForeignKey("monitor_run.id"), primary_key=True),
    sa.Column("indicator_id", sa.String(80), primary_key=True),
    sa.Column("period", sa.Date, primary_key=True),
    sa.Column("org_code", Code, primary_key=True),
    sa.Column("peer_group", sa.String(200), nullable=False),
    sa.Column("numerator", Number, nullable=True),
    sa.Column("denominator", Number, nullable=True),
    sa.Column("expected", Number, nullable=True),
    sa.Column("value", Number, nullable=True, comment="the compared value: O/n or O/E"),
    sa.Column("target", Number, nullable=True, comment="the peers' value (funnel centre)"),
    sa.Column("z", Number, nullable=True),
    sa.Column("z_adjusted", Number, nullable=True),
    sa.Column("lower", Number, nullable=True, comment="limits at the verdict level"),
    sa.Column("upper", Number, nullable=True),
    sa.Column("elevated_lower", Number, nullable=True),
    sa.Column("elevated_upper", Number, nullable=True),
    sa.Column("phi", Number, nullable=True),
    sa.Column("tau2", Number, nullable=True),
    sa.Column("peers", sa.Integer, nullable=False, comment="organisations in the funnel"),
    sa.Column("od_adjusted", sa.Boolean, nullable=False),
    sa.Column("od_note", sa.String(200), nullable=False),
    sa.Column(
        "direction", sa.String(10), nullable=False, comment="higher, lower, within; empty: not compared"
    ),
    sa.Column("verdict", sa.String(20), nullable=False),
    sa.Column("reason", sa.String(200), nullable=False, comment="why not compared"),
    sa.Index("ix_monitor_judgement_org", "org_code", "run_id", "indicator_id", "period"),
)
"""Every organisation's judgement on every indicator in each judged period of a run: what pages, the
API, league tables and reports show (docs/methods/judgements.md)."""

monitor_flag = sa.Table(
    "monitor_flag",
    metadata,
    sa.Column("run_id", RowId, sa.ForeignKey("monitor_run.id"), primary_key=True),
    sa.Column("indicator_id", sa.String(80), primary_key=True),
    sa.Column("org_code", Code, primary_key=True),
    sa.Column("period", sa.Date, nullable=False, comment="the indicator's latest period in the run"),
    sa.Column("peer_group", sa.String(200), nullable=False),
    sa.Column("numerator", Number, nullable=True),
    sa.Column("denominator", Number, nullable=True),
    sa.Column("expected", Number, nullable=True),
    sa.Column("reported_value", Number, nullable=True, comment="the observation's value as published"),
    sa.Column("value", Number, nullable=True, comment="the compared value: O/n or O/E"),
    sa.Column("target", Number, nullable=True, comment="the peers' value (funnel centre)"),
    sa.Column("z", Number, nullable=True),
    sa.Column("z_adjusted", Number, nullable=True),
    sa.Column("risk_lower", Number, nullable=True),
    sa.Column("risk_upper", Number, nullable=True),
    sa.Column("elevated_lower", Number, nullable=True),
    sa.Column("elevated_upper", Number, nullable=True),
    sa.Column("phi", Number, nullable=True),
    sa.Column("tau2", Number, nullable=True),
    sa.Column("peer_units", sa.Integer, nullable=False),
    sa.Column("od_adjusted", sa.Boolean, nullable=False),
    sa.Column("od_note", sa.String(200), nullable=False),
    sa.Column("method", sa.String(400), nullable=False),
    sa.Column("benchmark_value", Number, nullable=True, comment="England value"),
    sa.Column("ci_lower", Number, nullable=True),
    sa.Column("ci_upper", Number, nullable=True),
    sa.Column("benchmark", sa.String(20), nullable=False),
    sa.Column("flag", sa.String(30), nullable=False),
    sa.Column("flag_code", sa.Integer, nullable=False),
    sa.Column("reason", sa.String(200), nullable=False),
    sa.Column("spc_points", sa.Integer, nullable=False),
    sa.Column("spc_mean", Number, nullable=True),
    sa.Column("spc_lower", Number, nullable=True),
    sa.Column("spc_upper", Number, nullable=True),
    sa.Column("spc_variation", sa.String(40), nullable=False),
    sa.Column("spc_alert", sa.Boolean, nullable=False),
    sa.Column("spc_rule", sa.String(20), nullable=False),
    sa.Column("import_id", RowId, nullable=True, comment="import that wrote the observation"),
    sa.Column("previous_flag", sa.String(30), nullable=True, comment="flag in the previous run"),
    sa.Column(
        "out_of_date",
        sa.Boolean,
        nullable=False,
        server_default=sa.false(),
        comment="not counted in the score",
    ),
    sa.Column(
        "position",
        sa.Integer,
        nullable=False,
        server_default="0",
        comment="place in the run's flags listing: risks first, then control-chart alerts, by organisation",
    ),
    sa.Index("ix_monitor_flag_org", "org_code", "run_id", "indicator_id"),
    sa.Index("ix_monitor_flag_position", "run_id", "position", unique=True),
    sa.Index("ix_monitor_flag_flag_position", "run_id", "flag", "position"),
    sa.Index("ix_monitor_flag_indicator_position", "run_id", "indicator_id", "position"),
)
"""A run's flags. ``position`` numbers them 1, 2, ... in the order every listing gives (risks first), so a
page of the listing is a range of positions found through ``ix_monitor_flag_position`` (and a page of one
flag's or one indicator's rows through ``ix_monitor_flag_flag_position`` or
``ix_monitor_flag_indicator_position``), never a scan of the run (docs/scale.md)."""

monitor_flag_count = sa.Table(
    "monitor_flag_count",
    metadata,
    sa.Column("run_id", RowId, sa.ForeignKey("monitor_run.id"), primary_key=True),
    sa.Column("indicator_id", sa.String(80), primary_key=True),
    sa.Column("flag", sa.String(30), primary_key=True),
    sa.Column("spc_alert", sa.Boolean, primary_key=True),
    sa.Column("flags", sa.Integer, nullable=False, comment="rows in monitor_flag with these values"),
)
"""How many flags a run has of each indicator, flag and control-chart alert, written with the run: the
counts of a listing over every organisation are sums of these rows, not counts of millions of flags."""

monitor_org = sa.Table(
    "monitor_org",
    metadata,
    sa.Column("run_id", RowId, sa.ForeignKey("monitor_run.id"), primary_key=True),
    sa.Column("org_code", Code, primary_key=True),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("indicators", sa.Integer, nullable=False),
    sa.Column("applicable", sa.Integer, nullable=False),
    sa.Column("risks", sa.Integer, nullable=False),
    sa.Column("elevated", sa.Integer, nullable=False),
    sa.Column("spc_alerts", sa.Integer, nullable=False),
    sa.Column("insufficient", sa.Integer, nullable=False),
    sa.Column(
        "out_of_date", sa.Integer, nullable=False, server_default="0", comment="indicators out of date"
    ),
    sa.Column("score", Number, nullable=True, comment="proportion of possible score"),
    sa.Column("band", sa.Integer, nullable=True, comment="priority band 1 (highest risk) to 6"),
    sa.Column("status", sa.String(30), nullable=False),
    sa.Column("previous_score", Number, nullable=True),
    sa.Column("previous_band", sa.Integer, nullable=True),
    sa.Column("change", sa.String(20), nullable=False, comment="new, higher risk, lower risk, same"),
)

monitor_org_question = sa.Table(
    "monitor_org_question",
    metadata,
    sa.Column("run_id", RowId, sa.ForeignKey("monitor_run.id"), primary_key=True),
    sa.Column("org_code", Code, primary_key=True),
    sa.Column("key_question", sa.String(80), primary_key=True),
    sa.Column("indicators", sa.Integer, nullable=False),
    sa.Column("applicable", sa.Integer, nullable=False),
    sa.Column("risks", sa.Integer, nullable=False),
    sa.Column("elevated", sa.Integer, nullable=False),
    sa.Column("spc_alerts", sa.Integer, nullable=False),
)
