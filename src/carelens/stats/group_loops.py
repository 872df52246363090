"""Compiled loops behind :class:`carelens.stats.groups.Groups` and the funnel fit: order statistics,
ranks and the fit's sums, for every group in one pass over the rows.

Each loop gives the very numbers of the NumPy form it replaces, to the last bit: sums add each group's
values in row order, as ``np.bincount`` does; selection and sorting find the same order statistics as
``np.partition`` or ``np.sort`` (whatever the algorithm, the k-th smallest value is one number; only
-0.0 and 0.0, which compare equal, may be found either way round, as with those); there is no
transcendental function here (those stay in NumPy), only comparisons, + - * / and moves, and division
follows NumPy (``error_model="numpy"``: x/0 is ±inf or NaN, never an exception). Compiled with
``cache=True``: the first call in a fresh environment compiles (a few seconds), later processes load
the machine code from the cache. Import this module where it is used, not at the top of a module the
command line imports (importing numba takes a few tenths of a second).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, error_model="numpy")
def blocks_of(codes: np.ndarray, n_groups: int, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The non-NaN ``values`` gathered group by group (each group's in row order) and each group's
    start in them: group ``g`` is ``grouped[starts[g]:starts[g + 1]]`` (a stable counting sort)."""
    starts = np.zeros(n_groups + 1, dtype=np.int64)
    for i in range(len(values)):
        if not np.isnan(values[i]):
            starts[codes[i] + 1] += 1
    for g in range(n_groups):
        starts[g + 1] += starts[g]
    fill = starts[:-1].copy()
    grouped = np.empty(starts[n_groups], dtype=np.float64)
    for i in range(len(values)):
        if not np.isnan(values[i]):
            g = codes[i]
            grouped[fill[g]] = values[i]
            fill[g] += 1
    return grouped, starts


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _finite_range(a: np.ndarray, left: int, right: int) -> tuple[float, float]:
    """The smallest and largest finite value of ``a[left:right]`` (no NaN; +inf, -inf if none), with
    four independent running extremes, so the comparisons need not wait for one another."""
    low0 = low1 = low2 = low3 = np.inf
    high0 = high1 = high2 = high3 = -np.inf
    i = left
    while i + 4 <= right:
        x0, x1, x2, x3 = a[i], a[i + 1], a[i + 2], a[i + 3]
        low0 = x0 if (x0 < low0) & (x0 > -np.inf) else low0
        low1 = x1 if (x1 < low1) & (x1 > -np.inf) else low1
        low2 = x2 if (x2 < low2) & (x2 > -np.inf) else low2
        low3 = x3 if (x3 < low3) & (x3 > -np.inf) else low3
        high0 = x0 if (x0 > high0) & (x0 < np.inf) else high0
        high1 = x1 if (x1 > high1) & (x1 < np.inf) else high1
        high2 = x2 if (x2 > high2) & (x2 < np.inf) else high2
        high3 = x3 if (x3 > high3) & (x3 < np.inf) else high3
        i += 4
    while i < right:
        x = a[i]
        low0 = x if (x < low0) & (x > -np.inf) else low0
        high0 = x if (x > high0) & (x < np.inf) else high0
        i += 1
    return min(min(low0, low1), min(low2, low3)), max(max(high0, high1), max(high2, high3))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _select(a: np.ndarray, left: int, right: int, k: int) -> None:
    """Rearrange ``a[left:right]`` (no NaN) so that ``a[k]`` holds its (k - left)-th smallest value, none
    larger before it and none smaller after it (Hoare's selection with a median-of-three pivot; should a
    range shrink too slowly, as on an adversarial input, it is sorted instead: linear time expected,
    never worse than a sort)."""
    right -= 1
    budget = 16
    size = right - left + 1
    while size > 1:
        budget += 2
        size >>= 1
    while right > left:
        budget -= 1
        if budget < 0:
            a[left : right + 1] = np.sort(a[left : right + 1])
            return
        mid = (left + right) >> 1
        if a[mid] < a[left]:
            a[mid], a[left] = a[left], a[mid]
        if a[right] < a[left]:
            a[right], a[left] = a[left], a[right]
        if a[right] < a[mid]:
            a[right], a[mid] = a[mid], a[right]
        pivot = a[mid]
        i, j = left, right
        while i <= j:
            while a[i] < pivot:
                i += 1
            while pivot < a[j]:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        # Now a[left..j] <= pivot <= a[i..right], and anything between j and i equals the pivot.
        if k <= j:
            right = j
        elif k >= i:
            left = i
        else:
            return


SMALL_BLOCK = 32
"""Blocks of up to this many values are sorted (insertion sort) rather than bucketed."""


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _insertion_sort(a: np.ndarray, left: int, right: int) -> None:
    for i in range(left + 1, right):
        x = a[i]
        j = i - 1
        while j >= left and x < a[j]:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = x


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _select_positions(a: np.ndarray, left: int, right: int, positions: np.ndarray, count: int) -> None:
    """Put the right order statistics of ``a[left:right]`` at the first ``count`` of ``positions``
    (absolute, ascending): a small range is sorted, a larger one selected position by position."""
    if right - left <= SMALL_BLOCK:
        _insertion_sort(a, left, right)
        return
    done = left  # values before ``done`` are all <= those from it on
    for j in range(count):
        at = positions[j]
        if at >= done:
            _select(a, done, right, at)
            done = at + 1


@numba.njit(cache=True, nogil=True, error_model="numpy")
def order_statistics(grouped: np.ndarray, starts: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """``out[j, g]``: the ``ranks[j, g]``-th smallest (0-based) of group ``g`` of :func:`blocks_of`'s
    ``grouped`` (0 for a group without values). Reorders ``grouped`` within each group.

    A bucket selection: each group's finite range is cut into about half as many equal buckets as it
    has values (a value's bucket only grows with the value, infinities going to the end buckets), one
    pass counts them, which tells the bucket of each wanted rank, and a second pass gathers just those
    buckets' values, among which the ranks are selected. A group with fewer than two distinct finite
    values, or a range too wide for arithmetic, is selected directly."""
    n_wanted, n_groups = ranks.shape
    out = np.zeros((n_wanted, n_groups), dtype=np.float64)
    largest = 0
    for g in range(n_groups):
        largest = max(largest, starts[g + 1] - starts[g])
    bucket = np.empty(largest, dtype=np.int32)
    counts = np.zeros(largest // 2 + 1, dtype=np.int64)
    cluster_of = np.full(largest // 2 + 1, -1, dtype=np.int64)
    gathered = np.empty(largest, dtype=np.float64)
    wanted = np.empty(n_wanted, dtype=np.int64)
    positions = np.empty(n_wanted, dtype=np.int64)
    # Clusters: the distinct buckets holding a wanted rank, their values gathered one after another.
    c_bucket = np.empty(n_wanted, dtype=np.int64)
    c_below = np.empty(n_wanted, dtype=np.int64)  # values in lower buckets
    c_start = np.empty(n_wanted, dtype=np.int64)  # where its values start in ``gathered``
    c_end = np.empty(n_wanted, dtype=np.int64)
    for g in range(n_groups):
        a, b = starts[g], starts[g + 1]
        m = b - a
        if m == 0:
            continue
        for j in range(n_wanted):
            if ranks[j, g] < 0 or ranks[j, g] >= m:
                raise ValueError("rank outside its group")
            wanted[j] = ranks[j, g]
        wanted.sort()
        n_buckets = m // 2
        bottom, top_value = _finite_range(grouped, a, b) if m > SMALL_BLOCK else (np.inf, -np.inf)
        scale = n_buckets / (top_value - bottom) if top_value > bottom else 0.0
        if not (0.0 < scale < np.inf):  # small, (nearly) constant or too wide: select directly
            for j in range(n_wanted):
                positions[j] = a + wanted[j]
            _select_positions(grouped, a, b, positions, n_wanted)
            for j in range(n_wanted):
                out[j, g] = grouped[a + ranks[j, g]]
            continue
        counts[:n_buckets] = 0
        top = n_buckets - 1.0
        for i in range(a, b):
            t = (grouped[i] - bottom) * scale  # ±inf for an infinite value, never NaN
            t = t if t > 0.0 else 0.0
            t = t if t < top else top
            k = np.int32(t)
            bucket[i - a] = k
            counts[k] += 1
        n_clusters = 0
        below = 0
        k = 0
        for j in range(n_wanted):
            while below + counts[k] <= wanted[j]:
                below += counts[k]
                k += 1
            if n_clusters > 0 and c_bucket[n_clusters - 1] == k:
                continue
            c_bucket[n_clusters] = k
            c_below[n_clusters] = below
            c_start[n_clusters] = 0 if n_clusters == 0 else c_end[n_clusters - 1]
            c_end[n_clusters] = c_start[n_clusters] + counts[k]
            cluster_of[k] = n_clusters
            n_clusters += 1
        for c in range(n_clusters):
            c_end[c] = c_start[c]  # now the fill point
        for i in range(a, b):
            c = cluster_of[bucket[i - a]]
            if c >= 0:
                gathered[c_end[c]] = grouped[i]
                c_end[c] += 1
        for c in range(n_clusters):
            cluster_of[c_bucket[c]] = -1
            first, size = c_start[c], c_end[c] - c_start[c]
            count = 0
            for j in range(n_wanted):
                if c_below[c] <= wanted[j] < c_below[c] + size:
                    positions[count] = first + wanted[j] - c_below[c]
                    count += 1
            _select_positions(gathered, first, first + size, positions, count)
            for j in range(n_wanted):
                if c_below[c] <= ranks[j, g] < c_below[c] + size:
                    out[j, g] = gathered[first + ranks[j, g] - c_below[c]]
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def average_ranks(codes: np.ndarray, n_groups: int, values: np.ndarray) -> np.ndarray:
    """1-based rank of each row's value within its group, ties given the mean of their positions
    (summed in position order, as ``np.bincount`` adds them); NaN for a NaN value."""
    n = len(values)
    starts = np.zeros(n_groups + 1, dtype=np.int64)
    for i in range(n):
        if not np.isnan(values[i]):
            starts[codes[i] + 1] += 1
    for g in range(n_groups):
        starts[g + 1] += starts[g]
    fill = starts[:-1].copy()
    rows = np.empty(starts[n_groups], dtype=np.int64)
    for i in range(n):
        if not np.isnan(values[i]):
            g = codes[i]
            rows[fill[g]] = i
            fill[g] += 1
    ranks = np.full(n, np.nan)
    for g in range(n_groups):
        members = rows[starts[g] : starts[g + 1]]
        block = values[members]
        order = np.argsort(block)
        m = len(block)
        p = 0
        while p < m:
            q = p + 1
            while q < m and block[order[q]] == block[order[p]]:
                q += 1
            total = 0.0
            for t in range(p, q):
                total += t + 1.0
            mean = total / (q - p)
            for t in range(p, q):
                ranks[members[order[t]]] = mean
            p = q
    return ranks


@numba.njit(cache=True, nogil=True, error_model="numpy")
def sums2(codes: np.ndarray, n_groups: int, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-group sums of two columns in one pass (each ``np.bincount(codes, weights=...)``)."""
    sum_x = np.zeros(n_groups, dtype=np.float64)
    sum_y = np.zeros(n_groups, dtype=np.float64)
    for i in range(len(codes)):
        g = codes[i]
        sum_x[g] += x[i]
        sum_y[g] += y[i]
    return sum_x, sum_y


@numba.njit(cache=True, nogil=True, error_model="numpy")
def dispersion_sums(
    codes: np.ndarray,
    n_groups: int,
    z: np.ndarray,
    s: np.ndarray,
    keep: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What a funnel's φ and τ² are made of, per group over the rows ``keep`` selects: their number,
    Σ clip(z, low, high)², Σ w and Σ w² for the weights w = 1/s², each added in row order.

    The clip is ``np.clip``'s to the bit (``min(max(z, low), high)``, a NaN z or bound giving NaN); bounds
    of ±inf leave z as it is. The sums are those of ``np.bincount`` over the values with 0 for rows not
    kept: adding +0 changes no sum that starts at +0, so those rows are skipped."""
    count = np.zeros(n_groups, dtype=np.int64)
    sum_z2 = np.zeros(n_groups, dtype=np.float64)
    sum_w = np.zeros(n_groups, dtype=np.float64)
    sum_w2 = np.zeros(n_groups, dtype=np.float64)
    for i in range(len(codes)):
        if not keep[i]:
            continue
        g = codes[i]
        x = z[i]
        # np.clip's max then min, NaN kept (x != x), written as selects: no branch to mispredict.
        x = x if (x > low[g]) | (x != x) else low[g]
        x = x if (x < high[g]) | (x != x) else high[g]
        w = 1.0 / (s[i] * s[i])
        count[g] += 1
        sum_z2[g] += x * x
        sum_w[g] += w
        sum_w2[g] += w * w
    return count, sum_z2, sum_w, sum_w2


@numba.njit(cache=True, nogil=True, error_model="numpy")
def adjusted_variance(codes: np.ndarray, s: np.ndarray, tau2: np.ndarray, adjusted: np.ndarray) -> np.ndarray:
    """s² + τ² of each row's group where the group is adjusted for overdispersion, else s²."""
    out = np.empty(len(codes), dtype=np.float64)
    for i in range(len(codes)):
        g = codes[i]
        out[i] = s[i] * s[i] + tau2[g] if adjusted[g] else s[i] * s[i]
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def adjusted_z(
    codes: np.ndarray, z: np.ndarray, residual: np.ndarray, root: np.ndarray, adjusted: np.ndarray
) -> np.ndarray:
    """z adjusted for overdispersion: residual / root (``root`` = √(s² + τ²), overwritten with the
    result) where the row's group is adjusted, z itself elsewhere."""
    for i in range(len(codes)):
        root[i] = residual[i] / root[i] if adjusted[codes[i]] else z[i]
    return root


@numba.njit(cache=True, nogil=True, error_model="numpy")
def subtract_per_group(values: np.ndarray, per_group: np.ndarray, codes: np.ndarray) -> None:
    """``values -= per_group[codes]``, in place and without the row-sized gathered array."""
    for i in range(len(values)):
        values[i] -= per_group[codes[i]]
