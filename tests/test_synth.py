"""The synthetic generator: determinism, schema, partitions, distributions, planted deteriorations, CLI."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from scipy.special import logit
from typer.testing import CliRunner

from carelens.cli import app
from carelens.errors import InputError
from carelens.ingest.synth import (
    DEFAULT_CONFIG,
    PLANTED_SCHEMA,
    SynthConfig,
    generate_indicator,
    make_indicators,
    make_organisations,
    write_synthetic,
)
from carelens.model.indicators import PeerGroup, Polarity, ValueType
from carelens.model.observations import OBSERVATION_SCHEMA
from carelens.model.organisations import OrgKind
from carelens.stats.funnel import funnel
from carelens.stats.groups import Groups
from carelens.store.parquet import FILE_SCHEMA, ObservationStore

ORGS, INDICATORS, MONTHS = 200, 5, 24


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*.parquet")}


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "data"
    write_synthetic(out, ORGS, INDICATORS, MONTHS, seed=1)
    return out


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(small: Path, tmp_path: Path) -> None:
    write_synthetic(tmp_path / "again", ORGS, INDICATORS, MONTHS, seed=1)
    write_synthetic(tmp_path / "other", ORGS, INDICATORS, MONTHS, seed=2)
    first, again, other = files_of(small), files_of(tmp_path / "again"), files_of(tmp_path / "other")
    assert len(first) == 3 + INDICATORS
    assert again == first
    assert other.keys() == first.keys()
    assert all(other[name] != first[name] for name in first)


def test_indicator_k_does_not_depend_on_how_many_indicators_are_generated(
    small: Path, tmp_path: Path
) -> None:
    write_synthetic(tmp_path / "fewer", ORGS, 2, MONTHS, seed=1)
    fewer = files_of(tmp_path / "fewer")
    first = files_of(small)
    for name in ("organisations.parquet", "observations/indicator_id=synth_002/part-000000.parquet"):
        assert fewer[name] == first[name]


def test_files_schemas_and_partitions(small: Path) -> None:
    assert sorted(p.name for p in (small / "observations").iterdir() if not p.name.startswith(".")) == [
        f"indicator_id=synth_00{k}" for k in range(1, INDICATORS + 1)
    ]
    store = ObservationStore(small / "observations")
    for path in store.files():
        assert pq.read_schema(path).names == FILE_SCHEMA.names
    observations = store.read()
    assert observations.schema == OBSERVATION_SCHEMA
    assert pq.read_schema(small / "planted.parquet").names == PLANTED_SCHEMA.names
    organisations = pq.read_table(small / "organisations.parquet")
    assert organisations.schema.names == [
        "code", "name", "kind", "peer_group", "size_band", "region", "size", "first_period"
    ]  # fmt: skip
    assert organisations.num_rows == ORGS
    assert pc.count_distinct(organisations["code"]).as_py() == ORGS
    assert set(organisations["kind"].to_pylist()) <= set(OrgKind)
    indicators = pq.read_table(small / "indicators.parquet")
    assert indicators["id"].to_pylist() == [f"synth_00{k}" for k in range(1, INDICATORS + 1)]
    assert set(indicators["value_type"].to_pylist()) <= set(ValueType)
    assert set(indicators["polarity"].to_pylist()) <= set(Polarity)
    assert set(indicators["peer_group"].to_pylist()) <= set(PeerGroup)
    # Every observation belongs to a known organisation and lies in the 24 months from April 2019.
    assert pc.all(pc.is_in(observations["org_code"], organisations["code"])).as_py()
    periods = pc.unique(observations["period"]).to_pylist()
    assert len(periods) == MONTHS and str(min(periods)) == "2019-04-01" and str(max(periods)) == "2021-03-01"
    # A few rows are missing (2% at random, late openers), none of the rest.
    per_indicator = pc.value_counts(observations["indicator_id"]).field("counts").to_numpy()
    assert np.all((per_indicator >= 0.9 * ORGS * MONTHS) & (per_indicator < ORGS * MONTHS))


def test_values_follow_from_counts_and_expected_is_calibrated(small: Path) -> None:
    indicators = pq.read_table(small / "indicators.parquet").to_pandas().set_index("id")
    frame = ObservationStore(small / "observations").read().to_pandas()
    for indicator_id, rows in frame.groupby("indicator_id"):
        kind, multiplier = indicators.loc[indicator_id, ["value_type", "multiplier"]]
        if kind == ValueType.INDIRECTLY_STANDARDISED_RATIO:
            assert rows["denominator"].isna().all()
            np.testing.assert_allclose(rows["value"], rows["numerator"] / rows["expected"])
            monthly = rows.groupby("period")[["numerator", "expected"]].sum()
            np.testing.assert_allclose(monthly["numerator"], monthly["expected"])  # national O = E
        else:
            assert rows["expected"].isna().all() and (rows["denominator"] > 0).all()
            np.testing.assert_allclose(rows["value"], rows["numerator"] / rows["denominator"] * multiplier)
            assert multiplier == (1000.0 if kind == ValueType.RATE else 1.0)
            if kind == ValueType.PROPORTION:
                assert (rows["numerator"] <= rows["denominator"]).all()


def test_no_rows_before_an_organisation_opens(small: Path) -> None:
    organisations = pq.read_table(small / "organisations.parquet").to_pandas()
    frame = ObservationStore(small / "observations").read(columns=["org_code", "period"]).to_pandas()
    first = frame.groupby("org_code")["period"].min()
    opened = organisations.set_index("code")["first_period"].reindex(first.index)
    assert (first >= opened).all()
    assert (organisations["first_period"] > organisations["first_period"].min()).sum() > 0  # some open late


def test_organisation_mix_and_log_normal_sizes_match_the_configuration() -> None:
    organisations = make_organisations(40_000, 60, seed=5)
    frame = organisations.table.to_pandas()
    shares = frame["kind"].value_counts(normalize=True)
    for spec in DEFAULT_CONFIG.org_kinds:
        assert shares.get(str(spec.kind), 0) == pytest.approx(spec.share, abs=0.01)
        log_size = np.log(frame.loc[frame["kind"] == spec.kind, "size"] / spec.median_size)
        if spec.share > 0.1:
            assert np.median(log_size) == pytest.approx(0, abs=0.04)
            assert np.std(log_size) == pytest.approx(spec.size_sigma, rel=0.05)
    care_homes = frame.loc[frame["kind"] == OrgKind.CARE_HOME, "peer_group"].value_counts(normalize=True)
    assert care_homes["care home: with nursing"] == pytest.approx(0.28, abs=0.02)
    assert set(frame.loc[frame["kind"] == OrgKind.GP_PRACTICE, "peer_group"]) == {
        "GP practice: small", "GP practice: medium", "GP practice: large"
    }  # fmt: skip
    assert (frame["first_period"] > frame["first_period"].min()).mean() == pytest.approx(0.03, abs=0.005)
    assert frame["region"].value_counts(normalize=True)["London"] == pytest.approx(0.16, abs=0.01)


def _funnel_phi(observations: pa.Table, value_type: str) -> float:
    """Median over periods of the funnel dispersion ratio φ (carelens.stats.funnel, 10% Winsorised)."""
    numerator = observations["numerator"].to_numpy()
    by_period = Groups.from_keys(observations["period"].to_numpy())
    if value_type == ValueType.PROPORTION:
        result = funnel(numerator, observations["denominator"].to_numpy(), groups=by_period, kind="pr")
    elif value_type == ValueType.RATE:  # indirectly standardise against the national rate of each month
        denominator = observations["denominator"].to_numpy()
        rate = by_period.sum(numerator) / by_period.sum(denominator)
        expected = denominator * by_period.broadcast(rate)
        result = funnel(numerator, expected, groups=by_period, kind="sr", method="cqc")
    else:
        result = funnel(
            numerator, observations["expected"].to_numpy(), groups=by_period, kind="sr", method="cqc"
        )
    return float(np.median(result.phi))


def test_funnels_are_overdispersed_like_real_indicators_and_not_without_the_random_effect() -> None:
    months = 12
    organisations = make_organisations(3000, months, seed=7)
    indicators = make_indicators(12, seed=7)
    flat = SynthConfig(phi_range=(1.0, 1.0))
    no_effect = dataclasses.replace(indicators, effect_sd=np.zeros(12))
    phis, flat_phis = [], []
    for k in range(12):
        observations, _ = generate_indicator(k, organisations, indicators, months, 7)
        phis.append(_funnel_phi(observations, indicators.value_type[k]))
        observations, _ = generate_indicator(k, organisations, no_effect, months, 7, flat)
        flat_phis.append(_funnel_phi(observations, indicators.value_type[k]))
    phis = np.array(phis)
    assert sorted(set(indicators.value_type)) == ["indirectly_standardised_ratio", "proportion", "rate"]
    assert np.all((phis > 1.5) & (phis < 16)), phis
    assert 2.5 < np.median(phis) < 8, phis
    # Without the random effect only sampling noise remains: Winsorised φ ≈ 0.68 (below 1).
    assert np.all(np.array(flat_phis) < 1.0), flat_phis


def _link(value_type: str, numerator: float, denominator: float) -> float:
    p = numerator / denominator
    return float(logit(p)) if value_type == ValueType.PROPORTION else float(np.log(p))


def test_planted_deteriorations_are_present_and_shift_values_by_the_stated_effect(tmp_path: Path) -> None:
    config = SynthConfig(
        seasonal_amplitude_max=0.0,
        trend_sd_per_year=0.0,
        persistent_share=1.0,  # organisation effects constant over time: only the planted shift moves
        planted_share=0.05,
        planted_effect_range=(0.6, 0.6),
    )
    months = 36
    write_synthetic(tmp_path / "planted", 400, 6, months, seed=11, config=config)
    planted = pq.read_table(tmp_path / "planted" / "planted.parquet").to_pandas()
    indicators = pq.read_table(tmp_path / "planted" / "indicators.parquet").to_pandas().set_index("id")
    frame = ObservationStore(tmp_path / "planted" / "observations").read().to_pandas()
    frame["period"] = pd.to_datetime(frame["period"])
    planted["start_period"] = pd.to_datetime(planted["start_period"])
    assert len(planted) == 6 * 20
    assert (planted["kind"].value_counts() == 60).all()
    # The shift points to "worse": up when lower is better, down when higher is better.
    worse_up = indicators.loc[planted["indicator_id"], "polarity"].to_numpy() == Polarity.LOWER_IS_BETTER
    np.testing.assert_array_equal(np.sign(planted["effect_size"]), np.where(worse_up, 1.0, -1.0))
    assert (planted["effect_size"].abs() == 0.6).all()

    keyed = frame.set_index(["indicator_id", "org_code"]).sort_index()
    errors, standard_errors = [], []
    for row in planted.itertuples():  # one check per planted series (120), not per observation
        series = keyed.loc[(row.indicator_id, row.org_code)]
        assert len(series) >= months - 4  # present: at most a few random missing months
        value_type = indicators.loc[row.indicator_id, "value_type"]
        base = "expected" if value_type == ValueType.INDIRECTLY_STANDARDISED_RATIO else "denominator"
        after = series["period"] >= row.start_period
        month = (series["period"].dt.year * 12 + series["period"].dt.month).to_numpy()
        start = row.start_period.year * 12 + row.start_period.month
        # The mean planted shift over the months after the start: 1 for a step, the ramp's mean for a trend.
        profile = (
            np.clip((month - start + 1) / (month.max() - start + 1), 0, 1) if row.kind == "trend" else 1.0
        )
        weight = series["numerator"].to_numpy() * np.where(after, profile, 0)
        share = weight.sum() / series.loc[after, "numerator"].sum()
        before_o, before_d = series.loc[~after, "numerator"].sum(), series.loc[~after, base].sum()
        after_o, after_d = series.loc[after, "numerator"].sum(), series.loc[after, base].sum()
        shift = _link(value_type, after_o, after_d) - _link(value_type, before_o, before_d)
        errors.append(shift - row.effect_size * share)
        standard_errors.append(np.sqrt(1 / before_o + 1 / after_o))
    errors, standard_errors = np.array(errors), np.array(standard_errors)
    assert np.mean(np.abs(errors) < 3 * standard_errors + 0.05) > 0.95, errors
    assert abs(np.mean(errors)) < 0.05
    # Detectable: the planted organisations are big enough that a 0.6 step is at least 3 SE.
    assert np.median(0.6 / standard_errors) > 3


def test_bad_requests_are_rejected_before_writing(tmp_path: Path) -> None:
    with pytest.raises(InputError) as error:
        write_synthetic(tmp_path / "new", 0, 5, 0, seed=1)
    assert {p.field for p in error.value.problems} == {"orgs", "months"}
    assert not (tmp_path / "new").exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="new or empty"):
        write_synthetic(tmp_path / "full", 10, 1, 2, seed=1)


def test_cli_synth_writes_the_data_set_and_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli"
    args = ["synth", "--orgs", "50", "--indicators", "2", "--months", "12", "--seed", "3", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "planted deteriorations" in result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "indicators.parquet", "observations", "organisations.parquet", "planted.parquet"
    ]  # fmt: skip
    assert ObservationStore(out / "observations").indicators() == ["synth_001", "synth_002"]
    again = runner.invoke(app, args)
    assert again.exit_code == 2
    assert "new or empty" in again.output


def test_duckdb_read_back_equals_the_generated_batches(small: Path) -> None:
    organisations = make_organisations(ORGS, MONTHS, seed=1)
    indicators = make_indicators(INDICATORS, seed=1)
    store = ObservationStore(small / "observations")
    for k in (0, INDICATORS - 1):
        generated, _ = generate_indicator(k, organisations, indicators, MONTHS, seed=1)
        keys = [("org_code", "ascending"), ("period", "ascending")]
        assert store.read(indicator_ids=[indicators.ids[k]]).equals(generated.sort_by(keys))
        assert store.read_partition(indicators.ids[k]).equals(generated)
