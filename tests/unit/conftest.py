"""Shared setup of the unit tests."""

from __future__ import annotations

import sys
from pathlib import Path

# Definition tests name step functions by dotted path (``defs_fixtures.steps.ok_step``), so
# ``tests/unit`` must be importable whatever directory pytest runs from.
_UNIT_DIR = str(Path(__file__).resolve().parent)
if _UNIT_DIR not in sys.path:
    sys.path.insert(0, _UNIT_DIR)
