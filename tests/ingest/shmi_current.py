"""Files in NHS England's current SHMI trust-level layout, made from a packaged HSCIC release.

No file in that layout is packaged, so tests write their own, as realistic as the packaged data allow:
each trust's published SHMI value, overdispersion-adjusted 95% limits (``OD_LL``/``OD_UL``) and banding
are those HSCIC published from the unrounded counts; the 95% exact Poisson limits come from the
unrounded expected deaths by the SHMI method; spells, observed and expected deaths are rounded to the
nearest 5, as NHS England publishes them. Files are written with a byte-order mark and CRLF line ends.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from carelens.stats.funnel import funnel

HEADER = (
    "INDICATOR_CODE,PROVIDER_CODE,PROVIDER_NAME,SHMI_VALUE,SHMI_BANDING,SPELLS,OBSERVED,EXPECTED,"
    "PO_LL,PO_UL,OD_LL,OD_UL"
).split(",")


def nearest_5(values) -> np.ndarray:
    """Counts rounded to the nearest 5 (halves up), as the publisher rounds them."""
    return (np.floor(np.asarray(values, dtype=float) / 5 + 0.5) * 5).astype(np.int64)


def current_layout(raw_release: Path) -> pd.DataFrame:
    """One packaged raw HSCIC release (its footer dropped) in the current layout, as text cells."""
    raw = pd.read_csv(raw_release)
    raw = raw[raw["INDICATOR_CODE"].notna()].reset_index(drop=True)
    raw.columns = [c.strip().upper().replace(" ", "_") for c in raw.columns]
    poisson = funnel(raw["OBSERVED"], raw["EXPECTED"], kind="sr", levels=(95,), overdispersion=None)
    po_ll, po_ul = poisson.limits(95)
    return pd.DataFrame(
        {
            "INDICATOR_CODE": "I00699",
            "PROVIDER_CODE": raw["PROVIDER"],
            "PROVIDER_NAME": raw["PROVIDER_NAME"],
            "SHMI_VALUE": raw["VALUE"].map("{:.4f}".format),
            "SHMI_BANDING": raw["OD_BANDING"].astype(str),
            "SPELLS": nearest_5(raw["DENOMINATOR"]).astype(str),
            "OBSERVED": nearest_5(raw["OBSERVED"]).astype(str),
            "EXPECTED": nearest_5(raw["EXPECTED"]).astype(str),
            "PO_LL": [f"{v:.4f}" for v in po_ll],
            "PO_UL": [f"{v:.4f}" for v in po_ul],
            "OD_LL": raw["OD_LL"].map("{:.4f}".format),
            "OD_UL": raw["OD_UL"].map("{:.4f}".format),
        }
    )[HEADER]


def csv_bytes(rows: list[list[str]]) -> bytes:
    """Rows as the publisher writes them: UTF-8 with a byte-order mark, CRLF line ends, names quoted."""

    def cell(text: str) -> str:
        return f'"{text}"' if ("," in text or '"' in text) else text

    lines = [
        ",".join(cell(str(c).replace('"', '""')) if '"' in str(c) else cell(str(c)) for c in row)
        for row in rows
    ]
    return b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8") + b"\r\n"


def write_current(path: Path, frame: pd.DataFrame) -> Path:
    """Write ``frame`` (the current layout's columns) to ``path`` as the publisher would."""
    path.write_bytes(csv_bytes([list(frame.columns), *frame.astype(str).to_numpy().tolist()]))
    return path
