"""Dates as people write them ("18 December 2019", "March 2024"), for every sentence carelens writes:
the services' explanations and the pages (:mod:`carelens.web.formatting` uses these). Month names are
written out here rather than by ``strftime``, whose names follow the server's locale."""

from __future__ import annotations

import datetime as dt
from typing import Any

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def as_date(value: Any) -> dt.date | None:
    """The date a value stands for: a date, a datetime, or ISO text (a timestamp's first ten
    characters); None for nothing."""
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def date_in_words(value: Any, missing: str = "–") -> str:
    """ "2019-12-18" → "18 December 2019"."""
    when = as_date(value)
    return missing if when is None else f"{when.day} {MONTHS[when.month - 1]} {when.year}"


def month_in_words(value: Any, missing: str = "–") -> str:
    """A month (a period is its first day): "2024-03-01" → "March 2024"."""
    when = as_date(value)
    return missing if when is None else f"{MONTHS[when.month - 1]} {when.year}"
