"""The rating scale and key questions, with vectorised conversion between labels and ordinal codes.

Codes order the scale so that "no better than" is a minimum: Outstanding 4, Good 3, Requires
improvement 2, Inadequate 1; 0 means no rating (not rated, insufficient evidence, no published rating).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

OUTSTANDING = "Outstanding"
GOOD = "Good"
REQUIRES_IMPROVEMENT = "Requires improvement"
INADEQUATE = "Inadequate"

RATINGS = (OUTSTANDING, GOOD, REQUIRES_IMPROVEMENT, INADEQUATE)
"""The four ratings, best first."""
CODES = {OUTSTANDING: 4, GOOD: 3, REQUIRES_IMPROVEMENT: 2, INADEQUATE: 1}
"""Ordinal code of each rating (higher is better)."""
NOT_RATED = 0
"""Code of anything that is not one of the four ratings."""
NOT_RATED_LABELS = (
    "Not rated",
    "No published rating",
    "Inspected but not rated",
    "Insufficient evidence to rate",
    "No action",
)
"""Values CQC publishes in a rating column that are not ratings (all map to code 0)."""
ALL_LABELS = RATINGS + NOT_RATED_LABELS

KEY_QUESTIONS = ("Safe", "Effective", "Caring", "Responsive", "Well-led")
"""The five key questions, in CQC's order."""
OVERALL = "Overall"
USE_OF_RESOURCES = "Use of resources"

_LABELS = np.array(["Not rated", INADEQUATE, REQUIRES_IMPROVEMENT, GOOD, OUTSTANDING], dtype=object)


def to_codes(labels: Iterable | pd.Series) -> np.ndarray:
    """Rating labels -> int8 codes (0 for anything not one of the four ratings, including missing)."""
    series = pd.Series(labels, dtype="object") if not isinstance(labels, pd.Series) else labels
    text = series.astype("string").str.strip()
    codes = text.map(CODES).astype("Float64").fillna(NOT_RATED)
    return codes.to_numpy(dtype=np.int8)


def to_labels(codes: Iterable[int] | np.ndarray) -> np.ndarray:
    """int codes -> labels ("Not rated" for 0)."""
    return _LABELS[np.asarray(codes, dtype=np.int64)]


def label(code: int) -> str:
    return str(_LABELS[int(code)])


def is_rating(labels: pd.Series) -> np.ndarray:
    """True where the label is one of the four ratings."""
    return to_codes(labels) > NOT_RATED
