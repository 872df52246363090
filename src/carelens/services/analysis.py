"""Statistics on a user's own table (``carelens funnel``, ``spc``, ``cusum``) and the synthetic national
data set (``carelens synth``).

The table is the user's own file, not the store, so no role rule applies: this module only names the
kernels of :mod:`carelens.monitor` and :mod:`carelens.ingest.synth` that do the work, so that the
command line, like the API and the pages, reaches the domain through the services alone.
"""

from __future__ import annotations

from carelens.ingest.synth import check_request, write_synthetic
from carelens.monitor.control_charts import CHART_TITLES, spc_summary, spc_table
from carelens.monitor.cusum import cusum_table, summarise_cusum
from carelens.monitor.funnels import funnel_table, summarise_funnels
from carelens.stats.spc import MIN_POINTS

__all__ = [
    "CHART_TITLES",
    "MIN_POINTS",
    "check_request",
    "cusum_table",
    "funnel_table",
    "spc_summary",
    "spc_table",
    "summarise_cusum",
    "summarise_funnels",
    "write_synthetic",
]
