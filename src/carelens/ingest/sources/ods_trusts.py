"""``ods-trusts``: the ODS trust file (``etr.csv``) under the name carelens first gave its reader; the same
reader as ``ods-etr`` (:func:`carelens.ingest.sources.ods.read_etr`): trusts with names, close dates, NHS
England regions and integrated care boards."""

from __future__ import annotations

from dataclasses import replace

from carelens.ingest.sources.ods import ETR, read_etr

read = read_etr
SOURCE = replace(ETR, name="ods-trusts")
