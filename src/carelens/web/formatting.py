"""How the pages and the report write figures, dates and codes for people: one place, used by every page
(as Jinja filters, :func:`filters`) and by the page modules.

Proportions as percentages ("2.7%"), money with its unit ("£11.3 billion", or in full "£11,314,562,056"),
dates in words ("18 December 2019"), the CQC's names for its core services instead of the codes its API
uses, key questions in the CQC's order (Safe, Effective, Caring, Responsive, Well-led), and the
monitoring pass's reasons as sentences. Month names are written out here rather than by ``strftime``,
whose names follow the server's locale.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from carelens.model.dates import as_date, date_in_words, month_in_words

MISSING = "–"
"""What a missing value reads as."""

KIND_NAMES = {
    "nhs_trust": "NHS trust",
    "location": "hospital or clinic",
    "independent_provider": "independent provider",
    "care_home": "care home",
    "gp_practice": "GP practice",
    "pcn": "primary care network",
    "commissioner": "commissioner",
    "local_authority": "local authority",
    "region": "region",
    "place": "place",
    "aco": "accountable care organisation",
    "country": "country",
}
"""Display names of the organisation kinds."""


def peer_group_name(group: str | None) -> str:
    """A peer group as people say it: an organisation kind's group as "every NHS trust", others (England,
    a region's or commissioner's name) as they are."""
    if not group:
        return MISSING
    return f"every {KIND_NAMES[group]}" if group in KIND_NAMES else group


def count_labels(value_format: str) -> tuple[str, str]:
    """What an indicator's numerator and denominator are called on a page: observed and expected for a
    standardised ratio, a count out of a total for the rest."""
    return ("Observed", "Expected") if value_format == "ratio" else ("Count", "Out of")


KEY_QUESTIONS = ("Overall", "Safe", "Effective", "Caring", "Responsive", "Well-led")
"""The CQC's five key questions in the order it always lists them, after the overall rating."""


def number(value: Any, digits: int = 3) -> str:
    """A figure for display: text as is (e.g. "suppressed"), whole numbers with thousands separators,
    numbers of 100 or more rounded to whole numbers, others to ``digits`` significant figures but never
    more than three decimals from 0.001 up (0.0667 → "0.067"); missing values as an en dash."""
    if _missing(value):
        return MISSING
    if isinstance(value, str):
        return value
    if abs(value) >= 100 or (float(value).is_integer() and abs(value) >= 1):
        return f"{round(value):,}"
    text = f"{value:.{digits}g}"
    if abs(value) >= 0.001 and len(text.partition(".")[2]) > 3:
        return f"{value:.3f}"
    return text


def percent(value: Any, decimals: int = 1) -> str:
    """A proportion (0 to 1) as a percentage: 0.0267 → "2.7%"; text as is, missing as an en dash."""
    if _missing(value) or isinstance(value, str):
        return MISSING if _missing(value) else value
    return f"{float(value) * 100:,.{decimals}f}%"


def figure(value: Any, style: str = "number") -> str:
    """An indicator's figure as readers expect it: a proportion as a percentage ("2.7%"), a ratio to two
    decimals, other numbers as :func:`number`; text as is; missing as an en dash."""
    if _missing(value) or isinstance(value, str):
        return MISSING if _missing(value) else value
    if style == "percent":
        return percent(value)
    if style == "ratio":
        return f"{float(value):,.2f}"
    return number(value)


def money(value: Any, style: str = "short") -> str:
    """Pounds: ``short`` rounds to millions or billions ("£11.3 billion", "£452.1 million"), ``full``
    writes every pound ("£11,314,562,056"); a negative amount keeps its sign ("−£1.2 million")."""
    if _missing(value) or isinstance(value, str):
        return MISSING if _missing(value) else value
    amount = float(value)
    sign = "−" if amount < 0 else ""
    amount = abs(amount)
    if style == "short":
        for size, word in ((1e9, "billion"), (1e6, "million")):
            if amount >= size:
                return f"{sign}£{amount / size:,.1f} {word}"
    return f"{sign}£{round(amount):,}"


def signed_percent(value: Any, decimals: int = 1) -> str:
    """A proportion that is a difference, with its sign: 0.00133 → "+0.1%", −0.0121 → "−1.2%"."""
    if _missing(value) or isinstance(value, str):
        return MISSING if _missing(value) else value
    text = percent(abs(float(value)), decimals)
    return ("−" if value < 0 else "+") + text if round(float(value) * 100, decimals) else text


def day(value: Any) -> dt.date | None:
    """The date a value stands for (a date, a datetime or ISO text; None for nothing)."""
    return as_date(value)


def date(value: Any) -> str:
    """A date in words: "2019-12-18" → "18 December 2019"; missing as an en dash."""
    return date_in_words(value, MISSING)


def month(value: Any) -> str:
    """A month in words (a period is its first day): "2024-03-01" → "March 2024"."""
    return month_in_words(value, MISSING)


def key_question_order(question: str | None) -> int:
    """Where a key question comes (the CQC's order, overall first; anything else after them)."""
    return KEY_QUESTIONS.index(question) if question in KEY_QUESTIONS else len(KEY_QUESTIONS)


def by_key_question(rows: list[dict[str, Any]], *first: str) -> list[dict[str, Any]]:
    """``rows`` sorted by the fields ``first`` (e.g. the service) and then by key question in the CQC's
    order, never alphabetically."""
    return sorted(
        rows, key=lambda r: (*(str(r.get(f) or "") for f in first), key_question_order(r.get("key_question")))
    )


def service_name(code: str | None) -> str:
    """The CQC's name of a core service or population group from the code its API uses ("npimaternity"
    → "Maternity"), as listed in the web settings; an unknown code as it is."""
    from carelens.web.settings import web_settings

    if not code:
        return MISSING
    return web_settings().service_names.get(code, code)


OVERDISPERSION = {
    "additive random effects (tau2)": (
        "widened for the differences between organisations that chance alone does not explain",
        "an additive random-effects adjustment (τ², DerSimonian and Laird): the limits are widened by "
        "the variance between organisations beyond chance",
    ),
    "multiplicative (phi)": (
        "widened for the differences between organisations that chance alone does not explain",
        "a multiplicative adjustment (φ, the overdispersion factor): the limits are widened by √φ",
    ),
}
"""How the limits were adjusted for overdispersion (the kernel's note): for everyone, and for analysts
(the method named and explained)."""


def limits_note(note: str | None, analyst: bool = False) -> str:
    """The funnel's overdispersion note as a phrase: plain for everyone, the method named and explained
    for analysts; notes with nothing to explain ("...: unadjusted limits") say the limits are not widened."""
    if not note:
        return "no adjustment recorded"
    if note in OVERDISPERSION:
        return OVERDISPERSION[note][1 if analyst else 0]
    if analyst:
        return note
    return (
        "not widened: the organisations differ no more than chance would explain"
        if "overdispersion" in note
        else "not widened"
    )


def level(value: Any) -> str:
    """A confidence level as people write it: 95.0004 → "95%", 99.73 → "99.73%"."""
    if _missing(value):
        return MISSING
    value = float(value)
    return f"{round(value, 1):g}%" if abs(value - round(value, 1)) < 1e-3 else f"{value:.4g}%"


METHOD_TERMS = {
    "|z|": "|z| is how many standard errors a figure lies from its peers' value, after the overdispersion "
    "adjustment (the stored z_adjusted)",
    "arcsine scale": "proportions are compared on the arcsine square-root scale, where their spread hardly "
    "depends on the proportion",
    "log scale": "ratios are compared on the log scale, where higher and lower are symmetrical",
    "square-root scale": "ratios are compared on the square-root scale, where a count's spread is steady",
    "Winsorised": "Winsorised: the most extreme z-scores in each tail are pulled in to the trimming point "
    "before the overdispersion is estimated",
    "rank trim": "rank trim: the highest and lowest ranked organisations in each tail are left out when the "
    "overdispersion is estimated (the SHMI method)",
    "O/E": "O/E is the observed count over the count expected from the organisation's case mix",
    "overdispersion additive": "additive overdispersion: the limits are widened by τ² (tau2), the variance "
    "between organisations beyond chance (DerSimonian and Laird)",
    "overdispersion multiplicative": "multiplicative overdispersion: the limits are widened by √φ (phi)",
    "org_kind": "peers org_kind: organisations of the same kind",
    "SPC XmR": "SPC XmR: a statistical process control chart of the organisation's own values and their "
    "moving ranges (NHS Making Data Count)",
    "CUSUM": "CUSUM: a cumulative sum of observed minus expected counts that signals a sustained shift",
}
"""The shorthand of a stored comparison method (:func:`carelens.monitor.kernel.method_text`), explained."""


TECHNICAL_READERS = ("analyst",)
"""Roles shown the comparison method's technical text (explained) beside the plain words."""


def reads_technical_detail(actor: Any) -> bool:
    """Whether the page shows ``actor`` (an actor or a role) the methods' technical text (analysts do)."""
    return str(getattr(actor, "role", actor)) in TECHNICAL_READERS


def method_in_words(comparison: dict[str, Any], analyst: bool = False) -> str:
    """How an indicator was compared (a stored judgement's ``comparison``), in a sentence for everyone;
    for analysts the stored method follows, its shorthand explained."""
    if not comparison.get("method"):
        return "not compared with similar organisations."
    text = (
        f"on a funnel plot against similar organisations ({peer_group_name(comparison.get('peer_group'))}). "
        f"A figure outside the range expected at {level(comparison.get('level'))} is flagged as higher or "
        f"lower than chance alone is likely to explain, and one outside "
        f"{level(comparison.get('elevated_level'))} as even more clearly so"
    )
    if comparison.get("od_note"):
        text += f"; the range is {limits_note(comparison['od_note'])}"
    text += (
        ". The organisation's own figures over time are drawn on a control chart, which shows unusual "
        "changes whatever its peers do."
    )
    if analyst:
        method = comparison["method"]
        terms = [meaning for term, meaning in METHOD_TERMS.items() if term in method]
        text += f" Technical detail: {method}." + (f" Where {'; '.join(terms)}." if terms else "")
    return text


FLAG_NAMES = {
    "risk": "a risk",
    "elevated risk": "an elevated risk",
    "no evidence of risk": "no evidence of risk",
}


def flag_reason(row: dict[str, Any], value_format: str = "number") -> str:
    """Why an organisation has a flag on an indicator, in sentences (a flag row of the monitoring
    service): the figure against its peers' and the range expected, in the indicator's units."""

    def fig(value: Any) -> str:
        return figure(value, value_format)

    flag = str(row.get("flag") or "")
    parts: list[str] = []
    if row.get("value") is not None and row.get("target") is not None:
        peers = f" across {int(row['peer_units']):,} similar organisations" if row.get("peer_units") else ""
        sentence = f"The figure, {fig(row['value'])}, compares with {fig(row['target'])}{peers}"
        if row.get("risk_lower") is not None and row.get("risk_upper") is not None:
            sentence += f"; a risk is flagged outside {fig(row['risk_lower'])} to {fig(row['risk_upper'])}"
        parts.append(sentence + ".")
    if flag in ("risk", "elevated risk"):
        parts.append(
            f"It is {FLAG_NAMES[flag]}: further from its peers, in the worse direction, than chance alone "
            "is likely to explain."
        )
    elif flag:
        parts.append(f"Flag: {FLAG_NAMES.get(flag, flag)}.")
    if row.get("benchmark") and row["benchmark"] not in ("", "not compared"):
        parts.append(f"Compared with England it is {row['benchmark']}.")
    if row.get("spc_alert"):
        parts.append(
            f"Its own control chart shows a special cause ({str(row.get('spc_rule') or 'unusual variation').replace('_', ' ')})."
        )
    if row.get("previous_flag") not in (None, row.get("flag")):
        parts.append(
            f"In the previous run it was {FLAG_NAMES.get(row['previous_flag'], row['previous_flag'])}."
        )
    if row.get("out_of_date"):
        parts.append("The figure is much older than the organisation's others, so it is not scored.")
    return " ".join(parts)


def sentence(text: Any) -> str:
    """Text as a sentence: a capital first letter and a full stop ("organisation not found" → "Organisation
    not found.")."""
    text = str(text or "").strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return isinstance(value, float) and math.isnan(value)
    except TypeError:
        return False


def filters() -> dict[str, Any]:
    """The Jinja filters every template may use."""
    return {
        "number": number,
        "figure": figure,
        "percent": percent,
        "signed_percent": signed_percent,
        "money": money,
        "date": date,
        "month": month,
        "service_name": service_name,
        "limits_note": limits_note,
        "method_in_words": method_in_words,
        "level": level,
        "sentence": sentence,
    }
