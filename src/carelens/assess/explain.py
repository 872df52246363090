"""Plain-English explanations of rule outcomes, for the public pages and reports.

``explain(...)`` turns one aggregated result (the counts and names behind it, the rule that decided it
and any limiter) into a sentence such as "Good overall because no key question is Inadequate and only
one, Safe, Requires improvement."
"""

from __future__ import annotations

from collections.abc import Sequence

from carelens.assess.scale import CODES, NOT_RATED, label

_NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")

REASONS = (
    "not_rated",
    "inadequate_count",
    "some_inadequate",
    "requires_improvement_count",
    "outstanding",
    "good",
    "incomplete",
)
"""Which rule decided an aggregated rating (index = reason code stored in results)."""


def number(n: int) -> str:
    return _NUMBERS[n] if 0 <= n < len(_NUMBERS) else str(n)


def join_names(names: Sequence[str]) -> str:
    """ "Safe", "Safe and Caring", "Safe, Caring and Well-led"."""
    names = [str(n) for n in names]
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def _verb(code: int, plural: bool) -> str:
    if code == CODES["Requires improvement"]:
        return "Require improvement" if plural else "Requires improvement"
    return f"{'are' if plural else 'is'} {label(code)}"


def _some(names: Sequence[str], code: int, noun: str, nouns: str, with_noun: bool = True) -> str:
    """ "two key questions, Safe and Well-led, are Inadequate" / "only one, Safe, Requires improvement"."""
    n = len(names)
    head = f"{number(n)} {noun if n == 1 else nouns}" if with_noun else number(n)
    listed = f", {join_names(names)}," if names else ""
    return f"{head}{listed} {_verb(code, n != 1)}"


def explain(
    rating: int,
    reason: str,
    names: dict[int, Sequence[str]],
    thresholds: tuple[int, int, int],
    *,
    subject: str = "overall",
    noun: str = "key question",
    nouns: str = "key questions",
    rule_rating: int | None = None,
    limits: Sequence[str] = (),
    incomplete: tuple[Sequence[str], Sequence[str], int, int, bool] | None = None,
) -> str:
    """One sentence saying why a rating is what it is.

    ``names`` maps a rating code to the names of the underlying items with that rating; ``thresholds``
    are the (outstanding, requires improvement, inadequate) counts that applied; ``rule_rating`` is the
    rating before limiters, ``limits`` the texts of the limiters that applied. ``incomplete`` (for
    aggregations of key questions) is (the key questions rated, those not rated, how many a complete
    rating needs, the rating the rules give on the ones rated, whether that is enough for a complete
    rating): for ``reason`` "incomplete" (too few to rate) it is the whole sentence; for a rating on
    fewer than five key questions a sentence says so, and whether it is a complete rating.
    """
    x_out, x_ri, x_inad = thresholds
    out = list(names.get(CODES["Outstanding"], ()))
    ri = list(names.get(CODES["Requires improvement"], ()))
    inad = list(names.get(CODES["Inadequate"], ()))
    rule_rating = rating if rule_rating is None else rule_rating
    head = label(rule_rating)
    if reason == "incomplete" and incomplete is not None:
        rated, missing, needed, partial, _ = incomplete
        because = (
            f"Not rated {subject}: rated on {number(len(rated))} of {number(len(rated) + len(missing))} "
            f"key questions ({join_names(rated)}; not rated: {join_names(missing)}), and a complete rating needs "
            f"at least {number(needed)}, so this is not a complete rating (the rules on these "
            f"{number(len(rated))} alone would give {label(partial)})"
        )
    elif reason == "not_rated":
        because = f"Not rated {subject}: no {noun} has a rating"
    elif reason == "inadequate_count":
        because = f"{head} {subject} because {_some(inad, 1, noun, nouns)}"
    elif reason == "some_inadequate":
        because = (
            f"{head} {subject} because {_some(inad, 1, noun, nouns)}: an Inadequate rating cannot "
            f"aggregate to Good, and Inadequate {subject} needs at least {number(x_inad)}"
        )
    elif reason == "requires_improvement_count":
        because = f"{head} {subject} because {_some(ri, 2, noun, nouns)}"
        if x_ri > 1:
            because += f" (at least {number(x_ri)} limit the rating to Requires improvement)"
    elif reason == "outstanding":
        because = f"{head} {subject} because {_some(out, 4, noun, nouns)} and the rest are Good"
    else:
        if ri:
            because = f"{head} {subject} because no {noun} is Inadequate and only {_some(ri, 2, noun, nouns, False)}"
        else:
            because = f"{head} {subject} because no {noun} is Inadequate or Requires improvement"
        if out:
            why_not = (
                f"Outstanding needs at least {number(x_out)}"
                if len(out) < x_out
                else "the others are not all Good"
            )
            because += f"; {_some(out, 4, noun, nouns, False)} but {why_not}"
    sentence = because + "."
    if incomplete is not None and reason != "incomplete" and incomplete[1] and rating != NOT_RATED:
        rated, missing, needed, _, complete = incomplete
        sentence += (
            f" Rated on {number(len(rated))} of {number(len(rated) + len(missing))} key questions (not "
            f"rated: {join_names(missing)})"
            + ("." if complete else f": not a complete rating, which needs at least {number(needed)}.")
        )
    if limits:
        sentence += f" Limited to {label(rating) if rating != NOT_RATED else 'no rating'} because {join_names(limits)}."
        if rating == rule_rating:
            sentence = sentence.replace(" Limited to ", " It is no better than ", 1)
    return sentence
