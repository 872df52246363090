"""Synthetic national-scale observations with known structure, for scale tests and benchmarks.

Organisations of several kinds with log-normal sizes; indicators of three value types (proportion,
rate, indirectly standardised ratio) with their own baseline, seasonality, secular trend and
between-organisation overdispersion (a random effect on the logit or log scale, calibrated so funnel
plots show φ in a realistic range); a known set of planted deteriorating organisations (a step change
or a linear trend); some missing months. Every distribution and its defaults: ``docs/synthetic-data.md``
and :class:`SynthConfig`.

Generation is fully vectorised and runs one indicator at a time (memory ∝ organisations × months), each
indicator from its own random stream derived from the seed, so the same seed gives byte-identical files
and indicator *k* does not depend on how many indicators are generated.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.special import expit, logit
from scipy.stats import norm

from carelens.errors import InputError, Problem
from carelens.model.indicators import PeerGroup, Polarity, ValueType
from carelens.model.observations import OBSERVATION_SCHEMA
from carelens.model.organisations import OrgKind


@dataclass(frozen=True)
class OrgKindSpec:
    """One kind of organisation: how common it is, how big, and its peer groups.

    ``median_size`` and ``size_sigma`` give the log-normal size (people served in a month: spells for a
    trust, registered list for a practice, beds for a care home). ``peer_groups`` are (label, share)
    pairs; when empty the organisation's size band is its peer group.
    """

    kind: OrgKind
    label: str
    code_prefix: str
    share: float
    median_size: float
    size_sigma: float
    peer_groups: tuple[tuple[str, float], ...] = ()


DEFAULT_ORG_KINDS: tuple[OrgKindSpec, ...] = (
    OrgKindSpec(
        OrgKind.NHS_TRUST,
        "NHS trust",
        "R",
        0.004,
        9000,
        0.6,
        (
            ("acute", 0.55),
            ("mental health", 0.25),
            ("community", 0.08),
            ("ambulance", 0.05),
            ("specialist", 0.07),
        ),
    ),
    OrgKindSpec(OrgKind.GP_PRACTICE, "GP practice", "G", 0.126, 8500, 0.55),
    OrgKindSpec(
        OrgKind.CARE_HOME,
        "care home",
        "C",
        0.29,
        35,
        0.6,
        (("with nursing", 0.28), ("without nursing", 0.72)),
    ),
    OrgKindSpec(
        OrgKind.LOCATION,
        "location",
        "L",
        0.58,
        300,
        1.0,
        (("home care agency", 0.38), ("dental practice", 0.36), ("independent clinic", 0.26)),
    ),
)
"""Roughly England's mix of CQC-registered services scaled to 50,000 organisations (about 200 NHS
trusts, 6,300 GP practices, 14,500 care homes, 29,000 other locations)."""

DEFAULT_REGIONS: tuple[tuple[str, float], ...] = (
    ("London", 0.16),
    ("South East", 0.16),
    ("South West", 0.10),
    ("Midlands", 0.19),
    ("East of England", 0.12),
    ("North West", 0.13),
    ("North East and Yorkshire", 0.14),
)
"""NHS England's seven regions with their approximate shares of the population."""


@dataclass(frozen=True)
class SynthConfig:
    """Every parameter of the synthetic data, with its default. Effects are on the link scale
    (logit for proportions, log for rates and ratios). See ``docs/synthetic-data.md``."""

    start_month: str = "2019-04"
    """First period (YYYY-MM); periods are consecutive months."""
    org_kinds: tuple[OrgKindSpec, ...] = DEFAULT_ORG_KINDS
    regions: tuple[tuple[str, float], ...] = DEFAULT_REGIONS
    size_band_edges: tuple[float, float] = (0.5, 2.0)
    """Size relative to the kind's median below/above which an organisation is small/large."""
    size_band_labels: tuple[str, str, str] = ("small", "medium", "large")
    late_start_share: float = 0.03
    """Organisations that open during the period (no rows before their first month)."""
    missing_share: float = 0.02
    """Organisation-months left out at random (late or missing submissions)."""
    value_type_shares: tuple[tuple[ValueType, float], ...] = (
        (ValueType.PROPORTION, 0.5),
        (ValueType.RATE, 0.3),
        (ValueType.INDIRECTLY_STANDARDISED_RATIO, 0.2),
    )
    proportion_range: tuple[float, float] = (0.02, 0.95)
    """Baseline proportions, uniform on the logit scale."""
    rate_range: tuple[float, float] = (0.0005, 0.02)
    """Baseline events per person per month, uniform on the log scale."""
    risk_range: tuple[float, float] = (0.01, 0.1)
    """Baseline risk per case for standardised ratios (e.g. death after admission), log-uniform."""
    rate_multiplier: float = 1000.0
    """Rates are reported per this many people."""
    typical_count_range: tuple[float, float] = (5.0, 500.0)
    """Expected monthly numerator of a median-sized organisation, log-uniform per indicator."""
    phi_range: tuple[float, float] = (2.0, 8.0)
    """Target funnel overdispersion φ per indicator (uniform); sets the random-effect SD."""
    phi_winsorise: float = 0.1
    """Share Winsorised in each tail when funnels estimate φ (as ``carelens.stats.funnel``); the
    calibration allows for the variance it removes."""
    max_effect_sd: float = 1.0
    """Cap on the between-organisation SD (link scale) for indicators with very small counts."""
    persistent_share: float = 0.8
    """Share of between-organisation variance that persists over time (the rest varies by month)."""
    case_mix_sd: float = 0.15
    """SD of log case-mix (expected deaths per case) between organisations, for standardised ratios."""
    seasonal_amplitude_max: float = 0.15
    """Seasonal amplitude per indicator is uniform on [0, this]; peak month uniform."""
    trend_sd_per_year: float = 0.03
    """SD of the secular trend per year across indicators."""
    higher_is_better_share: tuple[tuple[ValueType, float], ...] = (
        (ValueType.PROPORTION, 0.5),
        (ValueType.RATE, 0.2),
        (ValueType.INDIRECTLY_STANDARDISED_RATIO, 0.0),
    )
    """Chance an indicator of each value type is "higher is better" (else lower is better)."""
    peer_group_shares: tuple[tuple[PeerGroup, float], ...] = (
        (PeerGroup.ORG_KIND, 0.6),
        (PeerGroup.NATIONAL, 0.2),
        (PeerGroup.REGION, 0.2),
    )
    planted_share: float = 0.004
    """Organisations planted as deteriorating per indicator (at least one step and one trend)."""
    planted_effect_range: tuple[float, float] = (0.3, 0.7)
    """Size of a planted deterioration (link scale), uniform; the sign points to "worse"."""
    planted_start_window: tuple[float, float] = (0.4, 0.7)
    """Deteriorations start between these fractions of the series."""
    planted_min_expected: float = 10.0
    """Only organisations expecting at least this monthly numerator are planted (so it is detectable);
    if too few qualify, the largest others are used."""


DEFAULT_CONFIG = SynthConfig()


@dataclass(frozen=True)
class Organisations:
    """Sampled organisations: the table written to ``organisations.parquet`` and the arrays generation needs."""

    table: pa.Table
    codes: pa.Array
    relative_size: np.ndarray
    """Size divided by the median for the kind (log-normal with median 1)."""
    start_month: np.ndarray
    """Index of the first month with data (0 for organisations open throughout)."""

    @functools.cached_property
    def code_order(self) -> np.ndarray:
        """Organisation indices in order of their codes: observations are written in this order (then by
        month), the order the monitoring kernel reads rows in, so a pass over the files needs no sort."""
        return np.argsort(np.asarray(self.codes.to_pylist(), dtype=object), kind="stable")


@dataclass(frozen=True)
class Indicators:
    """Sampled indicators: the table written to ``indicators.parquet`` and its generation parameters."""

    table: pa.Table
    ids: list[str]
    value_type: np.ndarray
    baseline: np.ndarray
    typical_count: np.ndarray
    effect_sd: np.ndarray
    seasonal_amplitude: np.ndarray
    seasonal_peak_month: np.ndarray
    trend_per_year: np.ndarray
    worse_sign: np.ndarray
    """+1 when higher values are worse, -1 when lower values are worse."""
    multiplier: np.ndarray


@dataclass
class SynthSummary:
    """What :func:`write_synthetic` wrote."""

    organisations: int
    indicators: int
    months: int
    observations: int = 0
    planted: int = 0
    files: list[Path] = field(default_factory=list)


def _stream(seed: int, *key: int) -> np.random.Generator:
    """An independent random stream for one part of the data (organisations, indicators, indicator k)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _streams(seed: int, *key: int) -> Iterator[np.random.Generator]:
    """A fresh stream for each quantity drawn, so organisation or indicator k gets the same values
    whatever the total number drawn (NumPy's first k draws of a size-n sample equal a size-k sample)."""
    for quantity in itertools.count():
        yield _stream(seed, *key, quantity)


def _shares(pairs: tuple[tuple[object, float], ...]) -> tuple[list, np.ndarray]:
    labels = [label for label, _ in pairs]
    weights = np.array([w for _, w in pairs], dtype=float)
    return labels, weights / weights.sum()


def _cumulative(weights: np.ndarray) -> np.ndarray:
    cumulative = np.cumsum(weights / weights.sum())
    cumulative[-1] = 1.0
    return cumulative


def make_organisations(n: int, months: int, seed: int, config: SynthConfig = DEFAULT_CONFIG) -> Organisations:
    """Sample ``n`` organisations: kind, log-normal size, size band, peer group, region, opening month."""
    draw = _streams(seed, 0)
    kinds = config.org_kinds
    _, kind_weights = _shares(tuple((k.kind, k.share) for k in kinds))
    kind_index = next(draw).choice(len(kinds), size=n, p=kind_weights)
    relative_size = np.exp(
        np.array([k.size_sigma for k in kinds])[kind_index] * next(draw).standard_normal(n)
    )
    size = np.maximum(1, np.rint(np.array([k.median_size for k in kinds])[kind_index] * relative_size))
    band_index = np.digitize(relative_size, config.size_band_edges)

    # Peer groups: a categorical draw per kind (a matrix of cumulative shares, one row per kind), or
    # the size band for kinds without categories. Labels are prefixed by the kind so they are unique.
    width = max(max(len(k.peer_groups) for k in kinds), 1)
    cumulative = np.ones((len(kinds), width))
    labels: list[str] = []
    offsets = np.zeros(len(kinds), dtype=np.int64)
    for row, spec in enumerate(kinds):  # one pass per kind of organisation, not per organisation
        offsets[row] = len(labels)
        groups = spec.peer_groups or tuple((b, 1.0) for b in config.size_band_labels)
        labels += [f"{spec.label}: {g}" for g, _ in groups]
        if spec.peer_groups:
            cumulative[row, : len(groups)] = _cumulative(np.array([w for _, w in groups]))
    by_size = np.array([not k.peer_groups for k in kinds])
    drawn = (next(draw).random(n)[:, None] > cumulative[kind_index]).sum(axis=1)
    peer_group = offsets[kind_index] + np.where(by_size[kind_index], band_index, drawn)

    region_labels, region_weights = _shares(config.regions)
    region = next(draw).choice(len(region_labels), size=n, p=region_weights)
    opens_late = next(draw).random(n) < config.late_start_share
    start_month = np.where(opens_late, next(draw).integers(1, max(months, 2), size=n), 0)
    start_month = np.minimum(start_month, max(months - 1, 0))

    serial = np.char.zfill(np.arange(1, n + 1).astype(str), max(6, len(str(n))))
    codes = pa.array(np.char.add(np.array([k.code_prefix for k in kinds])[kind_index], serial), pa.string())
    names = np.char.add(np.array([f"Synthetic {k.label} " for k in kinds])[kind_index], serial)
    first_period = (np.datetime64(config.start_month, "M") + start_month).astype("datetime64[D]")
    table = pa.table(
        {
            "code": codes,
            "name": pa.array(names, pa.string()),
            "kind": pa.array(np.array([str(k.kind) for k in kinds])[kind_index], pa.string()),
            "peer_group": pa.array(np.array(labels)[peer_group], pa.string()),
            "size_band": pa.array(np.array(config.size_band_labels)[band_index], pa.string()),
            "region": pa.array(np.array(region_labels)[region], pa.string()),
            "size": pa.array(size, pa.float64()),
            "first_period": pa.array(first_period, pa.date32()),
        }
    )
    return Organisations(table, codes, relative_size, start_month)


def _winsorised_variance(tail: float) -> float:
    """Variance of a standard normal Winsorised at its ``tail`` and ``1 - tail`` quantiles."""
    c = norm.ppf(1 - tail)
    return float((1 - 2 * tail) - 2 * c * norm.pdf(c) + 2 * tail * c**2)


def make_indicators(n: int, seed: int, config: SynthConfig = DEFAULT_CONFIG) -> Indicators:
    """Sample ``n`` indicator definitions and the parameters their observations are generated from."""
    draw = _streams(seed, 1)
    types, type_weights = _shares(config.value_type_shares)
    type_index = next(draw).choice(len(types), size=n, p=type_weights)
    value_type = np.array([str(t) for t in types])[type_index]
    is_proportion = value_type == ValueType.PROPORTION
    is_rate = value_type == ValueType.RATE

    position = next(draw).random(n)
    p_lo, p_hi = logit(config.proportion_range)
    r_lo, r_hi = np.log(config.rate_range)
    k_lo, k_hi = np.log(config.risk_range)
    baseline = np.where(
        is_proportion,
        expit(p_lo + position * (p_hi - p_lo)),
        np.exp(np.where(is_rate, r_lo + position * (r_hi - r_lo), k_lo + position * (k_hi - k_lo))),
    )
    typical_count = np.exp(next(draw).uniform(*np.log(config.typical_count_range), size=n))
    phi = next(draw).uniform(*config.phi_range, size=n)
    # Funnel z² ≈ 1 + information × σ² at the typical size (information = n·p(1−p) for a proportion,
    # the expected count for a Poisson count); Winsorising z keeps a share w of that variance, so the
    # estimated φ ≈ w·(1 + information·σ²) and σ² = (φ/w − 1) / information.
    information = np.where(is_proportion, typical_count * (1 - baseline), typical_count)
    kept = _winsorised_variance(config.phi_winsorise)
    effect_sd = np.minimum(config.max_effect_sd, np.sqrt(np.maximum(phi / kept - 1, 0) / information))

    seasonal_amplitude = next(draw).uniform(0, config.seasonal_amplitude_max, size=n)
    seasonal_peak_month = next(draw).integers(1, 13, size=n)
    trend_per_year = next(draw).normal(0, config.trend_sd_per_year, size=n)
    higher_share = dict(config.higher_is_better_share)
    higher_is_better = (
        next(draw).random(n) < np.array([higher_share.get(ValueType(t), 0.0) for t in types])[type_index]
    )
    polarity = np.where(higher_is_better, str(Polarity.HIGHER_IS_BETTER), str(Polarity.LOWER_IS_BETTER))
    rules, rule_weights = _shares(config.peer_group_shares)
    peer_group = np.array([str(r) for r in rules])[next(draw).choice(len(rules), size=n, p=rule_weights)]
    multiplier = np.where(is_rate, config.rate_multiplier, 1.0)

    width = max(3, len(str(n)))
    ids = [f"synth_{k:0{width}d}" for k in range(1, n + 1)]  # one id per indicator, not per row
    titles = np.char.add(np.char.add(np.char.replace(value_type, "_", " "), " "), np.array(ids))
    table = pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "title": pa.array(np.char.add("Synthetic ", titles), pa.string()),
            "value_type": pa.array(value_type, pa.string()),
            "polarity": pa.array(polarity, pa.string()),
            "peer_group": pa.array(peer_group, pa.string()),
            "multiplier": pa.array(multiplier),
            "baseline": pa.array(baseline),
            "typical_count": pa.array(typical_count),
            "target_phi": pa.array(phi),
            "effect_sd": pa.array(effect_sd),
            "seasonal_amplitude": pa.array(seasonal_amplitude),
            "seasonal_peak_month": pa.array(seasonal_peak_month.astype(np.int64)),
            "trend_per_year": pa.array(trend_per_year),
        }
    )
    return Indicators(
        table=table,
        ids=ids,
        value_type=value_type,
        baseline=baseline,
        typical_count=typical_count,
        effect_sd=effect_sd,
        seasonal_amplitude=seasonal_amplitude,
        seasonal_peak_month=seasonal_peak_month,
        trend_per_year=trend_per_year,
        worse_sign=np.where(higher_is_better, -1.0, 1.0),
        multiplier=multiplier,
    )


PLANTED_SCHEMA = pa.schema(
    [
        pa.field("org_code", pa.string(), nullable=False),
        pa.field("indicator_id", pa.string(), nullable=False),
        pa.field("start_period", pa.date32(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("effect_size", pa.float64(), nullable=False),
    ]
)
"""``planted.parquet``: ``effect_size`` is the signed shift on the link scale (logit or log), reached
from ``start_period`` on for a ``step`` and at the last month (rising linearly) for a ``trend``."""


def _periods(config: SynthConfig, months: int) -> np.ndarray:
    return (np.datetime64(config.start_month, "M") + np.arange(months)).astype("datetime64[D]")


def generate_indicator(
    k: int,
    organisations: Organisations,
    indicators: Indicators,
    months: int,
    seed: int,
    config: SynthConfig = DEFAULT_CONFIG,
) -> tuple[pa.Table, pa.Table]:
    """Observations (canonical schema, rows by organisation code then month) and planted rows of indicator ``k``."""
    rng = _stream(seed, 2, k)
    n = len(organisations.relative_size)
    value_type = indicators.value_type[k]
    baseline = indicators.baseline[k]
    sd = indicators.effect_sd[k]
    month = np.arange(months)
    periods = _periods(config, months)
    month_of_year = periods.astype("datetime64[M]").astype(np.int64) % 12 + 1
    season = indicators.seasonal_amplitude[k] * np.cos(
        2 * np.pi * (month_of_year - indicators.seasonal_peak_month[k]) / 12
    )
    common = season + indicators.trend_per_year[k] * month / 12  # shared by all organisations

    persistent = np.sqrt(config.persistent_share) * sd * rng.standard_normal(n)
    monthly = np.sqrt(1 - config.persistent_share) * sd * rng.standard_normal((n, months))
    shift, planted = _plant(k, rng, organisations, indicators, months, config)
    link = (logit(baseline) if value_type == ValueType.PROPORTION else np.log(baseline)) + common
    eta = link[None, :] + persistent[:, None] + monthly + shift

    typical_denominator = indicators.typical_count[k] / baseline
    cases = rng.poisson(typical_denominator * organisations.relative_size[:, None] * np.ones((1, months)))
    denominator = cases.astype(float)
    expected = None
    if value_type == ValueType.PROPORTION:
        numerator = rng.binomial(cases, expit(eta)).astype(float)
    elif value_type == ValueType.RATE:
        numerator = rng.poisson(cases * np.exp(eta)).astype(float)
    else:  # indirectly standardised ratio: expected from case mix, calibrated so national O = E monthly
        case_mix = np.exp(config.case_mix_sd * rng.standard_normal(n))
        raw_expected = cases * baseline * case_mix[:, None]
        numerator = rng.poisson(raw_expected * np.exp(eta - np.log(baseline))).astype(float)
        denominator = None
    keep = (month[None, :] >= organisations.start_month[:, None]) & (
        rng.random((n, months)) >= config.missing_share
    )
    keep &= cases > 0
    if denominator is None:
        observed = np.where(keep, numerator, 0).sum(axis=0)
        raw = np.where(keep, raw_expected, 0).sum(axis=0)
        expected = raw_expected * np.where(raw > 0, observed / np.where(raw > 0, raw, 1), 1.0)[None, :]
        value = numerator / np.where(keep, expected, 1.0)
    else:
        value = numerator / np.maximum(denominator, 1.0) * indicators.multiplier[k]

    by_code = organisations.code_order
    rows = keep[by_code].ravel()
    count = int(rows.sum())
    org_index = np.repeat(by_code.astype(np.int32), months)[rows]
    nulls = pa.nulls(count, pa.float64())

    def column(values: np.ndarray | None) -> pa.Array:
        """Organisations x months values as one column of the kept rows, by organisation code then month."""
        return nulls if values is None else pa.array(values[by_code].ravel()[rows])

    observations = pa.Table.from_arrays(
        [
            pa.repeat(pa.scalar(indicators.ids[k], pa.string()), count),
            organisations.codes.take(pa.array(org_index)),
            pa.array(np.tile(periods, n)[rows], pa.date32()),
            column(numerator),
            column(denominator),
            column(expected),
            column(value),
        ],
        schema=OBSERVATION_SCHEMA,
    )
    return observations, planted


def _plant(
    k: int,
    rng: np.random.Generator,
    organisations: Organisations,
    indicators: Indicators,
    months: int,
    config: SynthConfig,
) -> tuple[np.ndarray, pa.Table]:
    """Choose the deteriorating organisations of indicator ``k``; return their shift (orgs × months)."""
    n = len(organisations.relative_size)
    count = 0 if config.planted_share <= 0 or months < 2 else min(n, max(2, round(config.planted_share * n)))
    expected = indicators.typical_count[k] * organisations.relative_size
    eligible = (organisations.start_month == 0) & (expected >= config.planted_min_expected)
    # Eligible organisations first in random order, then the rest largest first.
    order = np.lexsort((np.where(eligible, rng.random(n), -expected), ~eligible))
    chosen = order[:count]
    step = np.arange(count) % 2 == 0
    lo, hi = config.planted_start_window
    start = np.clip(rng.integers(int(lo * months), int(hi * months) + 1, size=count), 1, months - 1)
    effect = rng.uniform(*config.planted_effect_range, size=count) * indicators.worse_sign[k]

    month = np.arange(months)[None, :]
    ramp = np.clip((month - start[:, None] + 1) / (months - start[:, None]), 0.0, 1.0)
    profile = np.where(step[:, None], month >= start[:, None], ramp)
    shift = np.zeros((n, months))
    shift[chosen] = effect[:, None] * profile
    planted = pa.Table.from_arrays(
        [
            organisations.codes.take(pa.array(chosen.astype(np.int64))),
            pa.repeat(pa.scalar(indicators.ids[k], pa.string()), count),
            pa.array(_periods(config, months)[start], pa.date32()),
            pa.array(np.where(step, "step", "trend"), pa.string()),
            pa.array(effect, pa.float64()),
        ],
        schema=PLANTED_SCHEMA,
    )
    return shift, planted


def iter_batches(
    organisations: Organisations,
    indicators: Indicators,
    months: int,
    seed: int,
    config: SynthConfig = DEFAULT_CONFIG,
) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Yield ``(observations, planted)`` one indicator at a time."""
    for k in range(len(indicators.ids)):
        yield generate_indicator(k, organisations, indicators, months, seed, config)


def check_request(out_dir: str | Path, orgs: int, indicators: int, months: int) -> None:
    """Raise :class:`InputError` listing every problem with a request before anything is written."""
    out = Path(out_dir)
    problems = [
        Problem("synth", None, name, f"must be at least 1, got {number}")
        for name, number in (("orgs", orgs), ("indicators", indicators), ("months", months))
        if number < 1
    ]
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        problems.append(Problem(str(out), None, None, "output directory must be new or empty"))
    if problems:
        raise InputError(problems)


def write_synthetic(
    out_dir: str | Path,
    orgs: int,
    indicators: int,
    months: int,
    seed: int,
    config: SynthConfig = DEFAULT_CONFIG,
    on_indicator: Callable[[int], None] | None = None,
) -> SynthSummary:
    """Write a synthetic data set to ``out_dir`` (which must be empty or new).

    Files: ``organisations.parquet``, ``indicators.parquet``, ``planted.parquet`` and the observation
    store ``observations/indicator_id=.../part-*.parquet``. ``on_indicator(rows)`` is called after each
    indicator is written (for a progress bar).
    """
    from carelens.store.parquet import ObservationStore

    out = Path(out_dir)
    check_request(out, orgs, indicators, months)
    out.mkdir(parents=True, exist_ok=True)

    organisations = make_organisations(orgs, months, seed, config)
    definitions = make_indicators(indicators, seed, config)
    summary = SynthSummary(orgs, indicators, months)
    for name, table in (("organisations", organisations.table), ("indicators", definitions.table)):
        _write_table(table, out / f"{name}.parquet")
        summary.files.append(out / f"{name}.parquet")
    store = ObservationStore(out / "observations")
    planted_tables = []
    for observations, planted in iter_batches(organisations, definitions, months, seed, config):
        summary.observations += store.write(observations)
        planted_tables.append(planted)
        if on_indicator is not None:
            on_indicator(observations.num_rows)
    planted_all = pa.concat_tables(planted_tables) if planted_tables else PLANTED_SCHEMA.empty_table()
    _write_table(planted_all, out / "planted.parquet")
    summary.planted = planted_all.num_rows
    summary.files += [out / "planted.parquet", *store.files()]
    return summary


def _write_table(table: pa.Table, path: Path) -> None:
    """Write a small table atomically (temporary file, then rename)."""
    pending = path.with_suffix(".parquet.tmp")
    pq.write_table(table, pending, compression="zstd")
    pending.replace(path)
