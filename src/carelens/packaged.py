"""Where the data shipped inside the package lives.

``DATA_DIR`` holds the real public data sets (each folder's README gives publisher, licence and
provenance) and the documented synthetic ones the demo, the tests and the planning defaults read. It is a
plain location, so any layer may name it without depending on the demo.
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
"""The packaged data sets (``src/carelens/data``)."""
