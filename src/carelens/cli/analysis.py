"""Statistics on any table: funnel plots, control charts, risk-adjusted CUSUM, synthetic national data."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from carelens.cli._common import (
    OutTableOption,
    app,
    handles_errors,
    stderr_console,
)


@app.command()
@handles_errors
def funnel(
    input: Path = typer.Argument(..., help="Table of units: .csv or .parquet."),
    type: Literal["sr", "pr", "rc"] = typer.Option(
        ..., "--type", help="sr: standardised ratio O/E; pr: proportion O/n; rc: ratio of counts."
    ),
    numerator: str = typer.Option(..., "--numerator", help="Column of observed counts."),
    denominator: str = typer.Option(
        ...,
        "--denominator",
        help="Column of expected counts (sr), counts at risk (pr) or comparison counts (rc).",
    ),
    unit: str = typer.Option(..., "--unit", help="Column naming each unit (trust, practice...)."),
    by: list[str] | None = typer.Option(
        None, "--by", help="Column(s) splitting the table into separate funnels (indicator, period...)."
    ),
    method: Literal["shmi", "cqc"] = typer.Option(
        "shmi", "--method", help="For sr: shmi (log scale, rank trim) or cqc (square root, Winsorised)."
    ),
    level: list[float] | None = typer.Option(
        None,
        "--level",
        help="Confidence level(s) in % of the limits; repeat for several. Default 95 and 99.8.",
    ),
    trim: float = typer.Option(
        0.1, "--trim", help="Share trimmed/Winsorised in each tail before estimating phi."
    ),
    overdispersion: bool = typer.Option(
        True, "--overdispersion/--no-overdispersion", help="Widen limits for overdispersion (additive tau2)."
    ),
    polarity: Literal["higher-is-better", "lower-is-better", "neutral"] = typer.Option(
        "neutral", "--polarity", help="Which direction is good: turns flags into better/worse."
    ),
    limits: Literal["stabilised", "wilson"] = typer.Option(
        "stabilised",
        "--limits",
        help="stabilised: limits on the variance-stabilising scale; wilson (pr only): Wilson score limits "
        "around the group's proportion, as Fingertips draws them (no overdispersion adjustment).",
    ),
    round_expected: bool = typer.Option(
        False,
        "--round-expected",
        help="Round denominators to 2 decimals for z, phi, tau2 and the limits (SHMI convention); the value "
        "stays O/E unrounded.",
    ),
    adjust_when: Literal["tau2-positive", "phi-above-one"] = typer.Option(
        "tau2-positive",
        "--adjust-when",
        help="Apply the additive adjustment whenever tau2 > 0, or only when phi > 1 (FunnelPlotR).",
    ),
    aggregate: bool = typer.Option(
        False,
        "--aggregate",
        help="Rows are records: sum numerator and denominator per unit (and --by group) instead of "
        "refusing repeated units.",
    ),
    out: OutTableOption = ...,
) -> None:
    """Funnel plot limits, z-scores and outlier flags for every unit, with overdispersion."""
    from carelens.errors import InputError, Problem
    from carelens.services.analysis import funnel_table, summarise_funnels
    from carelens.tables import check_output_table, read_table, write_table

    by = list(by or [])
    levels = tuple(level) if level else (95.0, 99.8)
    check_output_table(out)
    if limits == "wilson" and type != "pr":
        raise InputError(
            Problem("--limits", None, None, "Wilson limits are for proportions (--type pr) only")
        )
    columns = list(dict.fromkeys([unit, *by, numerator, denominator]))
    with stderr_console().status(f"Reading {input}...") as status:
        frame = read_table(input, columns)
        status.update(f"Computing funnels for {len(frame):,} rows...")
        table = funnel_table(
            frame,
            type=type,
            numerator=numerator,
            denominator=denominator,
            unit=unit,
            by=by,
            method=method,
            levels=levels,
            trim=trim,
            overdispersion="additive" if overdispersion else None,
            polarity=polarity,
            source=str(input),
            round_expected=round_expected,
            adjust_when="tau2_positive" if adjust_when == "tau2-positive" else "phi_above_one",
            limits=limits,
            aggregate=aggregate,
        )
        status.update(f"Writing {out}...")
        write_table(table, out)
    summary = summarise_funnels(table, by)
    records = f" (from {len(frame):,} records)" if aggregate else ""
    stderr_console().print(
        f"[bold]funnel[/]: {summary.units:,} units{records} in {summary.groups:,} group(s); "
        f"outliers at {max(levels):g}%: {summary.higher:,} higher, {summary.lower:,} lower; "
        f"{summary.groups_unadjusted:,} group(s) with unadjusted limits; wrote {out}",
        highlight=False,
    )


@app.command()
@handles_errors
def spc(
    input: Path = typer.Argument(..., help="Time series table (.csv or .parquet), one row per period."),
    value: str = typer.Option(
        ...,
        "--value",
        help="Column of values to chart (empty cells = missing): the count for p, u and c charts, the time "
        "between events for t, the opportunities between events for g.",
    ),
    date: str = typer.Option(..., "--date", help="Column of period dates."),
    facet: str | None = typer.Option(None, "--facet", help="Column splitting the table into series."),
    chart: Literal["xmr", "run", "p", "pp", "u", "up", "c", "t", "g"] = typer.Option(
        "xmr",
        "--chart",
        help="xmr (Making Data Count); run (median, Anhøj rules); p, pp (Laney p'), u, up (Laney u'), c; "
        "t (time between rare events), g (opportunities between rare events).",
    ),
    denominator: str | None = typer.Option(
        None, "--denominator", help="Column of denominators (p, pp: counts at risk; u, up: exposure)."
    ),
    improvement: Literal["increase", "decrease", "neutral"] = typer.Option(
        "increase", "--improvement", help="Which direction is good: special causes become better/worse."
    ),
    target: float | None = typer.Option(None, "--target", help="Target value for the assurance icon."),
    target_column: str | None = typer.Option(
        None,
        "--target-column",
        help="Column holding each series' own target (the same on every row of a series; empty = none).",
    ),
    rebase: list[str] | None = typer.Option(
        None, "--rebase", help="Date from which limits are recalculated (a new phase); repeat for several."
    ),
    rebase_column: str | None = typer.Option(
        None,
        "--rebase-column",
        help="Column of 0/1 (empty = 0): 1 where the point starts a new phase of its own series.",
    ),
    fix_after: int | None = typer.Option(
        None, "--fix-after", min=2, help="Limits from the first N points of each phase (N >= 12 recommended)."
    ),
    screen: bool = typer.Option(
        True, "--screen/--no-screen", help="Drop moving ranges >= 3.267 x mean once (off: the Excel tool)."
    ),
    missing: Literal["break", "skip"] = typer.Option(
        "break", "--missing", help="break: a missing value or gap breaks runs; skip: ignore it."
    ),
    out: OutTableOption = ...,
) -> None:
    """Control charts per series: XmR (NHS Making Data Count), run, p, p', u, u', c, t and g charts, with
    limits, special-cause rules and icons."""
    from carelens.services.analysis import CHART_TITLES, MIN_POINTS, spc_summary, spc_table
    from carelens.tables import check_output_table, read_table, write_table

    check_output_table(out)
    options = (facet, date, value, denominator, target_column, rebase_column)
    columns = list(dict.fromkeys(c for c in options if c is not None))
    with stderr_console().status(f"Reading {input}...") as status:
        frame = read_table(input, columns)
        status.update(f"Computing control charts for {len(frame):,} points...")
        table = spc_table(
            frame,
            value=value,
            date=date,
            facet=facet,
            chart=chart,
            denominator=denominator,
            improvement=improvement,
            target=target,
            target_column=target_column,
            rebase=list(rebase or []),
            rebase_column=rebase_column,
            fix_after=fix_after,
            screen=screen,
            missing=missing,
            source=str(input),
        )
        status.update(f"Writing {out}...")
        write_table(table, out)
    from rich.table import Table

    s = spc_summary(table, facet)

    def counts(d: dict) -> str:
        return ", ".join(f"{name.removeprefix('special_cause_')} {n:,}" for name, n in d.items()) or "none"

    summary = Table(title="spc summary", title_justify="left", show_header=False)
    if chart != "xmr":
        summary.add_row("chart", CHART_TITLES[chart])
    summary.add_row("series", f"{s['series']:,}")
    summary.add_row("points", f"{s['points']:,}")
    summary.add_row("special-cause points", f"{s['special_cause_points']:,}")
    summary.add_row("  by rule", counts(s["by_rule"]))
    summary.add_row("  by type", counts(s["by_point_type"]))
    summary.add_row("missing values", f"{s['missing_values']:,}")
    summary.add_row("gaps (missing periods)", f"{s['gaps']:,} ({s['missing_periods']:,})")
    if chart != "run":
        summary.add_row(f"short series (< {MIN_POINTS} points)", f"{s['short_series']:,}")
    if "runs_signals" in s:
        summary.add_row("runs signals (Anhøj, last phase)", f"{s['runs_signals']:,}")
    summary.add_row("variation icons", counts(s["variation_icons"]))
    if chart != "run":
        has_target = target is not None or target_column is not None
        summary.add_row("assurance icons", counts(s["assurance_icons"]) if has_target else "no target")
    console = stderr_console()
    console.print(summary)
    if s["short_series"]:
        console.print(
            f"[yellow]warning[/]: {s['short_series']:,} series have a phase with fewer than {MIN_POINTS} "
            "points: their limits are trial limits",
            highlight=False,
        )
    console.print(f"wrote {out}", highlight=False)


@app.command()
@handles_errors
def cusum(
    input: Path = typer.Argument(
        ..., help="Table of records (.csv or .parquet), one row per patient or episode."
    ),
    series: str = typer.Option(
        ..., "--series", help="Column naming each chart's series (unit, or unit and diagnosis group)."
    ),
    outcome: str = typer.Option(..., "--outcome", help="Column of outcomes: 1 = the event (death), 0 = not."),
    risk: str = typer.Option(
        ..., "--risk", help="Column of each record's predicted risk of the event, in [0, 1]."
    ),
    date: str | None = typer.Option(
        None, "--date", help="Column of record dates: records are charted in date order (else file order)."
    ),
    odds_ratio: float = typer.Option(
        2.0, "--odds-ratio", help="The odds ratio to detect: 2 = odds of death doubled, 0.5 = halved."
    ),
    threshold: float | None = typer.Option(
        None, "--threshold", help="Signal when the statistic reaches this value (h), for every series."
    ),
    false_alarm_rate: float | None = typer.Option(
        None,
        "--false-alarm-rate",
        help="Instead of --threshold: each series' threshold gives an in-control series this chance of any "
        "signal over its records (default 0.05), by simulation.",
    ),
    horizon: int | None = typer.Option(
        None, "--horizon", help="With --false-alarm-rate: the chance is over this many records instead."
    ),
    simulations: int = typer.Option(
        2000, "--simulations", min=1, help="Simulated charts per series for the threshold."
    ),
    seed: int = typer.Option(
        20000, "--seed", help="Seed of the threshold simulation (same seed, same thresholds)."
    ),
    reset: bool = typer.Option(True, "--reset/--no-reset", help="Restart the chart from 0 after a signal."),
    out: OutTableOption = ...,
) -> None:
    """Risk-adjusted CUSUM (Steiner) per series of patient records: statistic, threshold and signals."""
    from rich.table import Table

    from carelens.cli._common import cell_text
    from carelens.services.analysis import cusum_table, summarise_cusum
    from carelens.tables import check_output_table, read_table, write_table

    check_output_table(out)
    columns = list(dict.fromkeys(c for c in (series, date, outcome, risk) if c is not None))
    with stderr_console().status(f"Reading {input}...") as status:
        frame = read_table(input, columns)
        status.update(f"Computing CUSUM charts for {len(frame):,} records...")
        table = cusum_table(
            frame,
            series=series,
            outcome=outcome,
            risk=risk,
            date=date,
            odds_ratio=odds_ratio,
            threshold=threshold,
            false_alarm_rate=false_alarm_rate,
            horizon=horizon,
            n_simulations=simulations,
            seed=seed,
            reset=reset,
            source=str(input),
        )
        status.update(f"Writing {out}...")
        write_table(table, out)
    s = summarise_cusum(table)
    alpha = table.attrs["false_alarm_rate"]
    summary = Table(title="cusum summary", title_justify="left", show_header=False)
    summary.add_row("series", f"{s.series:,}")
    summary.add_row("records", f"{s.records:,}")
    summary.add_row("events (observed / expected)", f"{s.deaths:,} / {s.expected:,.1f}")
    summary.add_row("odds ratio to detect", f"{odds_ratio:g}")
    if alpha is None:
        summary.add_row("threshold", f"{threshold:g} (given)")
    else:
        over = f"{horizon:,} records" if horizon else "each series' records"
        summary.add_row(
            "threshold",
            f"{s.threshold_min:.3f} to {s.threshold_max:.3f} (false-alarm rate {alpha:g} over {over})",
        )
    summary.add_row(
        "signals", f"{s.signals:,} in {s.series_signalled:,} series" + ("" if reset else " (no reset)")
    )
    console = stderr_console()
    console.print(summary)
    if s.series_signalled:
        shown = s.signalled.head(10)
        columns = [series, "records", "deaths", "expected", "signals", "first_signal_row"]
        signalled = Table(title=f"series with a signal (first {len(shown)})", title_justify="left")
        for name in [series, "records", "deaths", "expected", "signals", "first signal: row"]:
            signalled.add_column(name)
        if date:
            signalled.add_column("first signal: date")
        for row in shown.itertuples(index=False):
            cells = [cell_text(getattr(row, c) if c != series else row[0]) for c in columns]
            if date:
                cells.append(f"{getattr(row, 'first_signal_' + date):%Y-%m-%d}")
            signalled.add_row(*cells)
        console.print(signalled)
    console.print(f"wrote {out}", highlight=False)


@app.command()
@handles_errors
def synth(
    orgs: int = typer.Option(50_000, "--orgs", min=1, help="Number of organisations."),
    indicators: int = typer.Option(100, "--indicators", min=1, help="Number of indicators."),
    months: int = typer.Option(60, "--months", min=1, help="Number of monthly periods."),
    seed: int = typer.Option(1, "--seed", help="Random seed: the same seed writes byte-identical files."),
    out: Path = typer.Option(..., "--out", "-o", help="New or empty folder to write the data set to."),
) -> None:
    """Write a synthetic national-scale data set (partitioned Parquet) with planted deteriorations."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from carelens.services.analysis import check_request, write_synthetic

    check_request(out, orgs, indicators, months)
    started = time.perf_counter()
    with Progress(
        TextColumn("synth"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("indicators, {task.fields[rows]:,} rows"),
        TimeRemainingColumn(),
        console=stderr_console(),
    ) as progress:
        task = progress.add_task("synth", total=indicators, rows=0)
        written = 0

        def advance(rows: int) -> None:
            nonlocal written
            written += rows
            progress.update(task, advance=1, rows=written)

        summary = write_synthetic(out, orgs, indicators, months, seed, on_indicator=advance)
    seconds = time.perf_counter() - started
    stderr_console().print(
        f"synth: {summary.observations:,} observations for {summary.organisations:,} organisations x "
        f"{summary.indicators:,} indicators x {summary.months} months, {summary.planted:,} planted "
        f"deteriorations, in {seconds:.1f} s ({summary.observations / max(seconds, 1e-9):,.0f} rows/s); wrote {out}",
        highlight=False,
    )
