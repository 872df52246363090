"""Funnel plots with overdispersion, vectorised over many groups at once (docs/methods/funnel-plots.md,
docs/methods/shmi.md).

One call computes every unit of every funnel: a funnel is a *group* (indicator × period × peer group)
and each row is one unit (trust, practice...). Per group the kernel estimates the target, the
dispersion ratio φ and the between-unit variance τ² (DerSimonian–Laird), then gives each unit its
z-scores, control limits at each confidence level and a flag. Reference behaviour is FunnelPlotR 0.6.0
and, for SHMI, NHS Digital's published banding (reproduced exactly).

Data types (``kind``) and the variance-stabilising scale on which z-scores and limits are built:

- ``"sr"`` indirectly standardised ratio O/E (target 1); ``method="shmi"``: log scale, z = √E·ln(O/E),
  10% rank *trim* before estimating φ; ``method="cqc"``: square-root scale, z Winsorised.
- ``"pr"`` proportion O/n (target ΣO/Σn): arcsine-square-root scale, z Winsorised.
- ``"rc"`` ratio of counts O/E (target ΣO/ΣE): log scale with ½ continuity corrections, z Winsorised.

Unlike FunnelPlotR, which silently falls back to unadjusted limits when it finds no overdispersion,
each group reports whether the adjustment was applied (``od_adjusted``) and why not (``od_note``).
When the additive adjustment applies is a documented choice (``adjust_when``): whenever τ² > 0 (carelens's
default), or only when φ > 1 (FunnelPlotR's rule). Proportions may instead take Fingertips' Wilson score
funnel limits (``limits="wilson"``), which make no overdispersion adjustment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Literal

import numpy as np

from carelens.stats.groups import Groups
from carelens.stats.intervals import (
    as_fraction,
    check_not_above,
    check_values,
    poisson_exact,
    wilson_funnel_limits,
    z_for_level,
)

Kind = Literal["sr", "pr", "rc"]
Method = Literal["shmi", "cqc"]
Overdispersion = Literal["additive", "multiplicative"] | None
Polarity = Literal["lower-is-better", "higher-is-better", "neutral"]
AdjustWhen = Literal["tau2_positive", "phi_above_one"]
LimitMethod = Literal["stabilised", "wilson"]

KINDS: tuple[str, ...] = ("sr", "pr", "rc")
METHODS: tuple[str, ...] = ("shmi", "cqc")
OVERDISPERSION: tuple[str | None, ...] = ("additive", "multiplicative", None)
POLARITIES: tuple[str, ...] = ("lower-is-better", "higher-is-better", "neutral")
ADJUST_WHEN: tuple[str, ...] = ("tau2_positive", "phi_above_one")
"""When the additive adjustment applies: whenever DerSimonian–Laird τ² > 0, i.e. m·φ > m − 1 (carelens's
default), or only when φ > 1 (FunnelPlotR). They differ only for (m − 1)/m < φ ≤ 1, where the first
applies a small τ² and the second gives unadjusted limits."""
LIMIT_METHODS: tuple[str, ...] = ("stabilised", "wilson")
"""``stabilised``: limits on the variance-stabilising scale of the data type (exact Poisson for unadjusted
ratios); ``wilson``: Fingertips' Wilson score funnel for proportions (no overdispersion adjustment)."""

DEFAULT_LEVELS: tuple[float, ...] = (95.0, 99.8)
"""Confidence levels of the limits (%): the usual 2 and 3 sigma funnel (z = 1.959964 and 3.090232)."""
DEFAULT_TRIM = 0.1
"""Share of units trimmed (SHMI) or Winsorised (others) in *each* tail before estimating φ."""
DEFAULT_POLARITY: Polarity = "neutral"
"""No value judgement unless the caller says which direction is good."""
SHMI_EXPECTED_DECIMALS = 2
"""``round_expected=True`` rounds expected counts to this many decimals (FunnelPlotR's SHMI convention)."""

FLAG_LABELS = np.array(["lower", "within", "higher"])
"""Flag text indexed by flag code + 1 (-1 lower, 0 within, +1 higher)."""
ASSESSMENT_LABELS: dict[str, np.ndarray] = {
    "lower-is-better": np.array(["better", "within", "worse"]),
    "higher-is-better": np.array(["worse", "within", "better"]),
    "neutral": FLAG_LABELS,
}
"""Assessment text by polarity, indexed like :data:`FLAG_LABELS`."""

OD_NOTES = np.array(
    [
        "additive random effects (tau2)",
        "multiplicative (phi)",
        "overdispersion adjustment not requested: unadjusted limits",
        "fewer than 2 units with a finite z left after trimming: unadjusted limits",
        "no overdispersion (n*phi <= n-1, tau2 = 0): unadjusted limits",
        "no overdispersion (phi <= 1): unadjusted limits",
        "Wilson score limits (Fingertips): no overdispersion adjustment",
    ]
)
"""Per-group explanation of the limits used; index is the group's note code."""
(
    _NOTE_ADDITIVE,
    _NOTE_MULTIPLICATIVE,
    _NOTE_OFF,
    _NOTE_TOO_FEW,
    _NOTE_TAU2_ZERO,
    _NOTE_PHI_LE_1,
    _NOTE_WILSON,
) = range(7)


@dataclass(frozen=True)
class FunnelFit:
    """What a funnel fit gives before any limits: per-row z-scores, per-group target and dispersion.

    Per row: ``value`` (O/E, O/n or O/E), ``target``, ``z`` (unadjusted), ``z_adjusted`` (equals ``z``
    where the group is not adjusted), ``group_codes``. Per group (index = group code): ``group_target``,
    ``phi``, ``tau2``, ``units_used`` (units left after trimming that estimate φ and τ²),
    ``od_adjusted``, ``od_note``. φ and τ² are always the estimates, even where the adjustment was not
    applied (``od_adjusted`` says whether it was).
    """

    value: np.ndarray
    target: np.ndarray
    z: np.ndarray
    z_adjusted: np.ndarray
    group_codes: np.ndarray
    group_target: np.ndarray
    phi: np.ndarray
    tau2: np.ndarray
    units_used: np.ndarray
    od_adjusted: np.ndarray
    od_note: np.ndarray


@dataclass(frozen=True)
class FunnelResult(FunnelFit):
    """A :class:`FunnelFit` with control limits and flags.

    ``lower``/``upper`` have shape levels × rows, in the order of ``levels``; ``flag_code`` is -1 below
    the lower, +1 above the upper limit at the widest level, else 0. Text views of it: ``flag``
    (``"higher"``/``"lower"``/``"within"``), ``band`` (SHMI convention: 1 higher, 2 as expected,
    3 lower) and ``assessment`` (``"worse"``/``"better"``/``"within"``, or the flag for neutral polarity).
    """

    levels: tuple[float, ...]
    lower: np.ndarray
    upper: np.ndarray
    flag_code: np.ndarray
    polarity: str

    @property
    def flag(self) -> np.ndarray:
        return FLAG_LABELS[self.flag_code + 1]

    @property
    def band(self) -> np.ndarray:
        return (2 - self.flag_code).astype(np.int8)

    @property
    def assessment(self) -> np.ndarray:
        return ASSESSMENT_LABELS[self.polarity][self.flag_code + 1]

    def limits(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper limits at one of the computed ``levels``."""
        i = self._level_index(level)
        return self.lower[i], self.upper[i]

    def flag_at(self, level: float) -> np.ndarray:
        """Flag (``"higher"``/``"lower"``/``"within"``) of each row at one of the computed ``levels``."""
        lower, upper = self.limits(level)
        return FLAG_LABELS[_flag_code(self.value, lower, upper) + 1]

    def _level_index(self, level: float) -> int:
        wanted = as_fraction(level)
        for i, computed in enumerate(self.levels):
            if np.isclose(as_fraction(computed), wanted, rtol=0, atol=1e-12):
                return i
        raise KeyError(f"level {level} was not computed (levels: {', '.join(map(str, self.levels))})")


def funnel(
    numerator,
    denominator,
    *,
    groups: Groups | np.ndarray | Sequence | None = None,
    kind: Kind = "sr",
    method: Method = "shmi",
    levels: Sequence[float] = DEFAULT_LEVELS,
    trim: float = DEFAULT_TRIM,
    overdispersion: Overdispersion = "additive",
    cqc_reference_limits: bool = False,
    round_expected: bool = False,
    polarity: Polarity = DEFAULT_POLARITY,
    exact_poisson: bool = True,
    adjust_when: AdjustWhen = "tau2_positive",
    limits: LimitMethod = "stabilised",
) -> FunnelResult:
    """Funnel-plot limits, z-scores and flags for every unit of every group in one vectorised pass.

    ``numerator``: observed count O. ``denominator``: expected count E (``sr``; a positive real number),
    the number at risk n (``pr``) or the comparison count/exposure (``rc``). ``groups``: a :class:`Groups`,
    or one key per row (any values, factorised), or ``None`` for a single funnel.
    ``method`` applies to ``sr`` only (``shmi``: log scale and rank trim; ``cqc``: square-root scale and
    Winsorisation). ``levels``: confidence levels in % (any, e.g. 95, 99.8); the widest sets the flag.
    ``trim``: share cut from each tail before estimating φ (SHMI trims by rank, others Winsorise at the
    ``trim`` and ``1 - trim`` quantiles). ``overdispersion``: ``"additive"`` (DerSimonian–Laird τ²),
    ``"multiplicative"`` (z/√φ, limits widened by √φ on the transformed scale) or ``None``.
    ``cqc_reference_limits``: give FunnelPlotR's unsquared CQC limits 1 ± z·√(1/(4E)+τ²) (its issue #33)
    instead of the correct (1 ± z·√(1/(4E)+τ²))². ``round_expected``: round the denominator to 2 dp for z,
    φ, τ² and the limits (FunnelPlotR's SHMI convention); the reported value stays O/E with the unrounded
    E, as the published SHMI. ``polarity`` turns flags into ``"worse"``/``"better"``.
    ``exact_poisson``: limits of a ratio group without an overdispersion adjustment are exact Poisson
    limits (FunnelPlotR's); ``False`` gives the normal limits on the ratio's scale instead, the ones
    that agree with its z-score (a value lies beyond them exactly when its z does), as monitoring needs.
    ``adjust_when``: see :data:`ADJUST_WHEN`. ``limits="wilson"`` (proportions only): each level's limits
    are the proportions at which a unit's Wilson score interval just reaches the group target (Fingertips'
    funnel), with no overdispersion adjustment (``od_note`` says so; φ and τ² are still estimated).
    """
    kind, method, levels = _check_options(kind, method, levels, trim, overdispersion, polarity)
    _check_limit_options(kind, adjust_when, limits)
    o, d, raw_d, grouping = _prepare(numerator, denominator, groups, kind, round_expected)
    if limits == "wilson":
        fit, _ = _fit(o, d, grouping, kind, method, trim, None, adjust_when, raw_d)
        fit = replace(fit, od_note=np.full(grouping.n, OD_NOTES[_NOTE_WILSON], dtype=OD_NOTES.dtype))
        lower = np.empty((len(levels), len(o)))
        upper = np.empty((len(levels), len(o)))
        for i, level in enumerate(levels):
            lower[i], upper[i] = wilson_funnel_limits(fit.target, d, level)
        return _result(fit, levels, lower, upper, polarity)
    fit, scale = _fit(o, d, grouping, kind, method, trim, overdispersion, adjust_when, raw_d)
    codes = grouping.codes
    spread = _spread(fit, overdispersion)

    # Limits per level on the transformed scale, mapped back; exact Poisson for unadjusted SR.
    row_adjusted = fit.od_adjusted[codes]
    lower = np.empty((len(levels), len(o)))
    upper = np.empty((len(levels), len(o)))
    sigma = np.sqrt(scale.s_limits() ** 2 + spread.row_tau2) * spread.row_phi_factor
    centre = scale.centre(codes)
    poisson_rows = (
        np.flatnonzero(~row_adjusted) if kind == "sr" and exact_poisson else np.empty(0, dtype=np.int64)
    )
    for i, level in enumerate(levels):
        zq = z_for_level(level)
        lower[i] = scale.back(centre - zq * sigma)
        upper[i] = scale.back(centre + zq * sigma)
        if len(poisson_rows):
            e = d[poisson_rows]
            lo, hi = poisson_exact(e, level)
            lower[i, poisson_rows] = lo / e
            upper[i, poisson_rows] = hi / e
    if kind == "sr" and method == "cqc" and cqc_reference_limits:
        # FunnelPlotR reports the adjusted CQC limits on the square-root scale, not squared back.
        for i, level in enumerate(levels):
            zq = z_for_level(level)
            lower[i] = np.where(row_adjusted, 1.0 - zq * sigma, lower[i])
            upper[i] = np.where(row_adjusted, 1.0 + zq * sigma, upper[i])

    return _result(fit, levels, lower, upper, polarity)


def _result(fit: FunnelFit, levels, lower: np.ndarray, upper: np.ndarray, polarity: str) -> FunnelResult:
    """A fit with its limits per level, flagged at the widest level."""
    widest = int(np.argmax([as_fraction(level) for level in levels]))
    return FunnelResult(
        **{f.name: getattr(fit, f.name) for f in fields(FunnelFit)},
        levels=tuple(levels),
        lower=lower,
        upper=upper,
        flag_code=_flag_code(fit.value, lower[widest], upper[widest]).astype(np.int8),
        polarity=polarity,
    )


def funnel_fit(
    numerator,
    denominator,
    *,
    groups: Groups | np.ndarray | Sequence | None = None,
    kind: Kind = "sr",
    method: Method = "shmi",
    trim: float = DEFAULT_TRIM,
    overdispersion: Overdispersion = "additive",
    round_expected: bool = False,
    adjust_when: AdjustWhen = "tau2_positive",
) -> FunnelFit:
    """The z-scores and overdispersion estimates of :func:`funnel` (same arguments), without limits.

    For work that needs only z, such as charting each period's z_adjusted over time: it skips the
    limits, their back-transform and exact Poisson intervals, and gives the very same numbers."""
    kind, method, _ = _check_options(kind, method, DEFAULT_LEVELS, trim, overdispersion, DEFAULT_POLARITY)
    _check_limit_options(kind, adjust_when, "stabilised")
    o, d, raw_d, grouping = _prepare(numerator, denominator, groups, kind, round_expected)
    return _fit(o, d, grouping, kind, method, trim, overdispersion, adjust_when, raw_d)[0]


@dataclass(frozen=True)
class _Spread:
    """Per-row overdispersion terms of the limits: τ² added to the variance, or √φ multiplying s."""

    row_tau2: np.ndarray
    row_phi_factor: np.ndarray


def _spread(fit: FunnelFit, overdispersion) -> _Spread:
    """The overdispersion terms of each row's limits (none where its group is not adjusted)."""
    codes = fit.group_codes
    row_adjusted = fit.od_adjusted[codes]
    size = len(codes)
    with np.errstate(invalid="ignore"):
        if overdispersion == "multiplicative":
            return _Spread(np.zeros(size), np.where(row_adjusted, np.sqrt(fit.phi)[codes], 1.0))
        return _Spread(np.where(row_adjusted, fit.tau2[codes], 0.0), np.ones(size))


def _prepare(
    numerator, denominator, groups, kind: str, round_expected: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Groups]:
    """Checked numerators, the denominators the model uses (rounded with ``round_expected``), the
    denominators as given (for the reported value) and the groups."""
    o, raw_d = _check_counts(numerator, denominator, kind)
    d = raw_d
    if round_expected:
        d = np.round(raw_d, SHMI_EXPECTED_DECIMALS)
        if np.any(d <= 0):
            i = int(np.flatnonzero(d <= 0)[0])
            raise ValueError(
                f"denominator {raw_d[i]:g} at index {i} rounds to 0 at 2 decimals: cannot use round_expected"
            )
    return o, d, raw_d, _as_groups(groups, len(o))


def _fit(
    o: np.ndarray,
    d: np.ndarray,
    grouping: Groups,
    kind: str,
    method: str,
    trim: float,
    overdispersion,
    adjust_when: str = "tau2_positive",
    raw_d: np.ndarray | None = None,
) -> tuple[FunnelFit, _Scale]:
    """Target, z, φ, τ² and z_adjusted per group and row (the part of the funnel before limits).

    ``d`` is the denominator of the model (z, φ, τ², limits); ``raw_d`` the one of the reported value."""
    from carelens.stats import group_loops  # compiled loops: numba is slow to import

    codes = grouping.codes
    codes64 = np.ascontiguousarray(codes, dtype=np.int64)  # the one code type the compiled loops take
    scale = _transform(o, d, grouping, kind, method)
    if raw_d is not None and raw_d is not d:
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = replace(scale, value=o / raw_d)
    z = scale.z
    keep, low, high = _robust_z(z, grouping, trim, trim_by_rank=(kind == "sr" and method == "shmi"))

    # φ and DerSimonian–Laird τ² per group, over the units kept by the robust step (z clipped to its
    # group's bounds), with the weights 1/s²: the sums of all four in one pass over the rows.
    units_used, sum_z2, sum_w, sum_w2 = group_loops.dispersion_sums(
        codes64, grouping.n, z, scale.s, keep, low, high
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = np.where(units_used > 0, sum_z2 / np.maximum(units_used, 1), np.nan)
        spread = sum_w - sum_w2 / sum_w
        tau2_raw = (units_used * phi - (units_used - 1)) / spread
    estimable = (units_used >= 2) & (spread > 0)
    tau2 = np.where(estimable, np.maximum(0.0, np.nan_to_num(tau2_raw, nan=0.0)), 0.0)

    note = np.full(grouping.n, _NOTE_OFF, dtype=np.int64)
    if overdispersion == "additive":
        note = np.where(estimable, np.where(tau2 > 0, _NOTE_ADDITIVE, _NOTE_TAU2_ZERO), _NOTE_TOO_FEW)
        if adjust_when == "phi_above_one":
            note = np.where((note == _NOTE_ADDITIVE) & ~(phi > 1), _NOTE_PHI_LE_1, note)
    elif overdispersion == "multiplicative":
        note = np.where(
            units_used >= 2, np.where(phi > 1, _NOTE_MULTIPLICATIVE, _NOTE_PHI_LE_1), _NOTE_TOO_FEW
        )
    adjusted = (note == _NOTE_ADDITIVE) | (note == _NOTE_MULTIPLICATIVE)

    # z adjusted for overdispersion (the unadjusted z where the group is not adjusted).
    if overdispersion == "multiplicative":
        with np.errstate(invalid="ignore", divide="ignore"):
            z_adjusted = z / np.where(adjusted[codes], np.sqrt(phi)[codes], 1.0)
    elif adjusted.any():  # additive: residual / √(s² + τ²), the square root taken by NumPy
        root = group_loops.adjusted_variance(codes64, scale.s, tau2, adjusted)
        with np.errstate(invalid="ignore", divide="ignore"):
            np.sqrt(root, out=root)
        z_adjusted = group_loops.adjusted_z(codes64, z, scale.residual, root, adjusted)
    else:
        z_adjusted = z.copy()
    fit = FunnelFit(
        value=scale.value,
        target=scale.target[codes],
        z=z,
        z_adjusted=z_adjusted,
        group_codes=codes,
        group_target=scale.target,
        phi=phi,
        tau2=tau2,
        units_used=units_used,
        od_adjusted=adjusted,
        od_note=OD_NOTES[note],
    )
    return fit, scale


# -- steps ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scale:
    """Values on the variance-stabilised scale of one data type.

    ``residual`` = Y − target on that scale, ``s`` its standard error (so z = residual / s) and
    ``group_centre`` each group's target on that scale. For the limits: :meth:`centre` per row and
    :meth:`s_limits`, the standard error they use (the same as ``s`` except for ``rc``, whose limits
    follow FunnelPlotR's 1/(2√n)), computed only when limits are wanted.
    """

    kind: str
    method: str
    value: np.ndarray
    target: np.ndarray  # per group
    residual: np.ndarray
    s: np.ndarray
    group_centre: np.ndarray
    d: np.ndarray
    """The model's denominators (for ``rc``'s limits)."""

    @property
    def z(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.residual / self.s

    def centre(self, codes: np.ndarray) -> np.ndarray:
        """The target on the transformed scale, per row."""
        return self.group_centre[codes]

    def s_limits(self) -> np.ndarray:
        if self.kind == "rc":
            return 0.5 / np.sqrt(self.d)
        return self.s

    def back(self, x: np.ndarray) -> np.ndarray:
        """Map a limit on the transformed scale back to the scale of ``value``."""
        if self.kind == "pr":
            return np.sin(np.clip(x, 0.0, np.pi / 2)) ** 2
        if self.kind == "sr" and self.method == "cqc":
            return np.maximum(x, 0.0) ** 2
        return np.exp(x)


def _transform(o: np.ndarray, d: np.ndarray, grouping: Groups, kind: str, method: str) -> _Scale:
    """Values, targets, residuals and standard errors on the data type's scale. Row-sized intermediate
    results are computed in place (``out=``): the same operations on the same numbers, fewer arrays."""
    from carelens.stats import group_loops  # compiled loops: numba is slow to import

    codes = np.ascontiguousarray(grouping.codes, dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = o / d
        if kind == "sr":
            target = np.ones(grouping.n)
            if method == "shmi":
                # O = 0 has ln(0) = -inf: keep z = -inf (below every limit) instead of a NaN.
                residual = np.where(o > 0, np.log(np.where(o > 0, value, 1.0)), -np.inf)
                s = np.sqrt(d)
                np.divide(1.0, s, out=s)  # 1 / √E
                return _Scale(kind, method, value, target, residual, s, np.zeros(grouping.n), d)
            residual = np.sqrt(value)
            residual -= 1.0
            s = np.sqrt(d)
            np.divide(0.5, s, out=s)  # 1 / (2√E)
            return _Scale(kind, method, value, target, residual, s, np.ones(grouping.n), d)
        total_o, total_d = group_loops.sums2(codes, grouping.n, o, d)
        target = total_o / total_d
        if kind == "pr":
            centre = np.arcsin(np.sqrt(target))
            residual = np.sqrt(value)
            np.arcsin(residual, out=residual)
            group_loops.subtract_per_group(residual, centre, codes)  # arcsin √p − arcsin √target
            s = np.sqrt(d)
            np.divide(0.5, s, out=s)  # 1 / (2√n)
            return _Scale(kind, method, value, target, residual, s, centre, d)
        centre = np.log(target)
        residual = o + 0.5
        np.divide(residual, d + 0.5, out=residual)
        np.log(residual, out=residual)
        group_loops.subtract_per_group(residual, centre, codes)  # ln((O+½)/(E+½)) − ln target
        s = o + 0.5
        np.square(s, out=s)
        np.divide(o, s, out=s)
        variance_d = d + 0.5
        np.square(variance_d, out=variance_d)
        np.divide(d, variance_d, out=variance_d)
        s += variance_d
        np.sqrt(s, out=s)  # √(O/(O+½)² + E/(E+½)²)
        return _Scale(kind, method, value, target, residual, s, centre, d)


def _robust_z(
    z: np.ndarray, grouping: Groups, trim: float, trim_by_rank: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which rows take part in estimating φ, and per group the bounds their z is clipped to for it:
    SHMI rank trim, or Winsorisation.

    Trim: with k = 1/trim and rank r among the N units of the group (ties averaged), keep units with
    1 ≤ ⌊r·k/(N+1)⌋ < k − 1 (1..8 for trim 0.1); z is not clipped (bounds ±inf). Winsorise: clip z to
    the group's ``trim`` and ``1 − trim`` quantiles (type 7). Non-finite z (O = 0 on the log scale) never
    takes part.
    """
    finite = np.isfinite(z)
    if trim == 0 or trim_by_rank:
        low, high = np.full(grouping.n, -np.inf), np.full(grouping.n, np.inf)
        if trim == 0:
            return finite, low, high
        k = 1.0 / trim
        n = grouping.count()[grouping.codes]
        bucket = np.floor(grouping.rank(z) * k / (n + 1))
        return finite & (bucket >= 1) & (bucket < k - 1), low, high
    low, high = grouping.quantiles(z, (trim, 1.0 - trim))
    return finite, low, high


def _flag_code(value: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """+1 strictly above the upper limit, -1 strictly below the lower limit, 0 otherwise."""
    return (value > upper).astype(np.int64) - (value < lower).astype(np.int64)


# -- argument checks -------------------------------------------------------------------------------


def _check_options(kind, method, levels, trim, overdispersion, polarity):
    kind = str(kind).lower()
    method = str(method).lower()
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if overdispersion not in OVERDISPERSION:
        raise ValueError(f"overdispersion must be one of {OVERDISPERSION}, got {overdispersion!r}")
    if polarity not in POLARITIES:
        raise ValueError(f"polarity must be one of {POLARITIES}, got {polarity!r}")
    if not 0 <= trim < 0.5:
        raise ValueError(f"trim must be in [0, 0.5), got {trim}")
    levels = tuple(float(level) for level in np.atleast_1d(levels))
    if not levels:
        raise ValueError("at least one confidence level is required")
    for level in levels:
        as_fraction(level)  # raises on a level outside (0, 100)
    return kind, method, levels


def _check_limit_options(kind: str, adjust_when, limits) -> None:
    if adjust_when not in ADJUST_WHEN:
        raise ValueError(f"adjust_when must be one of {ADJUST_WHEN}, got {adjust_when!r}")
    if limits not in LIMIT_METHODS:
        raise ValueError(f"limits must be one of {LIMIT_METHODS}, got {limits!r}")
    if limits == "wilson" and kind != "pr":
        raise ValueError(f"Wilson score limits are for proportions (kind 'pr'), not kind {kind!r}")


def _check_counts(numerator, denominator, kind: str) -> tuple[np.ndarray, np.ndarray]:
    o = np.ascontiguousarray(numerator, dtype=float)  # contiguous: the layout the compiled loops take
    d = np.ascontiguousarray(denominator, dtype=float)
    if o.ndim != 1 or o.shape != d.shape:
        raise ValueError(
            f"numerator and denominator must be 1-D of equal length, got {o.shape} and {d.shape}"
        )
    check_values(o, "numerator", allow_missing=False)
    check_values(d, "denominator", positive=True, allow_missing=False)
    if kind == "pr":
        check_not_above(o, d)  # a proportion cannot exceed 1
    return o, d


def _as_groups(groups, size: int) -> Groups:
    if groups is None:
        return Groups.single(size)
    if isinstance(groups, Groups):
        if len(groups.codes) != size:
            raise ValueError(f"groups has {len(groups.codes)} rows, data has {size}")
        return groups
    keys = np.asarray(groups)
    if len(keys) != size:
        raise ValueError(f"groups has {len(keys)} rows, data has {size}")
    return Groups.from_keys(keys)
