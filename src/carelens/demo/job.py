"""The demo job: the statistics engine run end to end on the packaged real NHS data.

1. SHMI (HSCIC, five releases Oct 2011 – Oct 2012): the funnel with the SHMI method, compared with the
   published bandings for every trust.
2. A&E four-hour breaches (NHS England's monthly files, Apr 2019 – Mar 2026, type 1 departments, booked
   appointments counted as NHS England counts them; months failing a data-quality check left out): a
   funnel per month across NHS trusts (overdispersed, arcsine scale), outliers in the latest month.
3. The same trusts' monthly four-hour performance as Making Data Count control charts, with the
   variation and assurance icons against the 95% standard.

Results are written as CSV files to an output folder and summarised as tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from carelens.packaged import DATA_DIR

SHMI_FILE = DATA_DIR / "shmi" / "shmi_trust_2011-2012_hscic.csv"
AE_MONTHLY = DATA_DIR / "ae_monthly" / "csv"
AE_SOURCE = "NHS England monthly A&E files (ae_monthly/csv)"
INDICATOR = "ae_4hr_breach_type1"
FOUR_HOUR_STANDARD = 0.95
"""The NHS constitutional standard: 95% of A&E attendances admitted, transferred or discharged in 4 hours."""


@dataclass
class DemoResult:
    """What the demo produced: output files and the summary tables shown to the user."""

    files: list[Path] = field(default_factory=list)
    shmi_summary: pd.DataFrame | None = None
    ae_outliers: pd.DataFrame | None = None
    spc_summary: pd.DataFrame | None = None


def ae_type1_performance() -> pd.DataFrame:
    """NHS trusts' monthly type 1 (major A&E) 4-hour figures, booked appointments counted as NHS England
    counts them, from the packaged monthly files (each month's latest vintage): attendances, breaches and
    performance. Figures failing a data-quality check (the field-test trusts' months with no breaches
    reported) are left out, as monitoring leaves them out: they are not assessed, not 100%."""
    from carelens.ingest.sources.ae_monthly import folder, read
    from carelens.model.data_quality import failing, packaged_rules
    from carelens.model.organisations import OrgKind

    months, _skipped = folder(AE_MONTHLY)
    frames = []
    for path in months:
        batch = read(path)
        trusts = batch.organisations.loc[batch.organisations["kind"] == OrgKind.NHS_TRUST.value, "code"]
        rows = batch.observations
        frames.append(rows[(rows["indicator_id"] == INDICATOR) & rows["org_code"].isin(trusts)])
    ae = pd.concat(frames, ignore_index=True)
    ae = ae[~failing(ae["indicator_id"], ae["numerator"], ae["denominator"], packaged_rules())]
    ae = ae.rename(columns={"numerator": "breaches", "denominator": "attendances"})
    ae["period"] = pd.to_datetime(ae["period"])
    ae["performance"] = 1 - ae["breaches"] / ae["attendances"]
    return ae[["org_code", "period", "attendances", "breaches", "performance"]].sort_values(
        ["org_code", "period"], ignore_index=True
    )


def run_demo(out_dir: Path) -> DemoResult:
    """Run the three demo analyses on the packaged data and write their results to ``out_dir``."""
    from carelens.monitor.control_charts import spc_table
    from carelens.monitor.funnels import funnel_table
    from carelens.tables import read_table, write_table

    out_dir.mkdir(parents=True, exist_ok=True)
    result = DemoResult()

    shmi = read_table(SHMI_FILE)
    shmi_funnel = funnel_table(
        shmi,
        type="sr",
        numerator="OBSERVED",
        denominator="EXPECTED",
        unit="PROVIDER",
        by=["DATE"],
        method="shmi",
        levels=[95],  # SHMI bands are set by the 95% overdispersed limits
        polarity="lower-is-better",
        source=str(SHMI_FILE.name),
    )
    published = shmi.set_index(["DATE", "PROVIDER"])["OD_BANDING"]
    shmi_funnel["published_band"] = published.loc[
        list(zip(shmi_funnel["DATE"], shmi_funnel["unit"], strict=True))
    ].to_numpy()
    result.shmi_summary = (
        shmi_funnel.assign(
            higher=shmi_funnel["band"] == 1,
            lower=shmi_funnel["band"] == 3,
            agrees=shmi_funnel["band"] == shmi_funnel["published_band"],
        )
        .groupby("DATE")
        .agg(
            trusts=("unit", "size"),
            higher_than_expected=("higher", "sum"),
            lower_than_expected=("lower", "sum"),
            bands_matching_published=("agrees", "sum"),
            tau2=("tau2", "first"),
        )
        .reset_index()
    )
    result.files.append(write_table(shmi_funnel, out_dir / "shmi_funnel.csv"))

    ae = ae_type1_performance()
    ae_funnel = funnel_table(
        ae,
        type="pr",
        numerator="breaches",
        denominator="attendances",
        unit="org_code",
        by=["period"],
        levels=[95, 99.8],
        polarity="lower-is-better",
        source=AE_SOURCE,
    )
    result.files.append(write_table(ae_funnel, out_dir / "ae_4hr_breach_funnel.csv"))
    latest = ae_funnel[ae_funnel["period"] == ae_funnel["period"].max()]
    # The flag column is at the widest level (99.8%); list what lies outside the 95% limits too.
    outside_95 = (latest["value"] > latest["upper_95"]) | (latest["value"] < latest["lower_95"])
    outliers = latest[outside_95].sort_values("z_adjusted", ascending=False)
    result.ae_outliers = outliers[
        ["unit", "denominator", "numerator", "value", "z_adjusted", "lower_95", "upper_95", "flag"]
    ].rename(
        columns={
            "unit": "org_code",
            "denominator": "attendances",
            "numerator": "breaches",
            "flag": "flag_99_8",
        }
    )

    spc = spc_table(
        ae,
        value="performance",
        date="period",
        facet="org_code",
        improvement="increase",
        target=FOUR_HOUR_STANDARD,
        source=AE_SOURCE,
    )
    result.files.append(write_table(spc, out_dir / "ae_4hr_performance_spc.csv"))
    last_points = spc.groupby("org_code").tail(1)
    result.spc_summary = (
        last_points.groupby(["variation_icon", "assurance_icon"], dropna=False)
        .size()
        .rename("trusts")
        .reset_index()
        .sort_values("trusts", ascending=False)
    )
    return result
