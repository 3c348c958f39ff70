"""Setup of the fuzz tests: ``fuzzapp`` and the recovery harness must be importable."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for _dir in (_HERE, _HERE.parent / "recovery"):
    if str(_dir) not in sys.path:
        sys.path.insert(0, str(_dir))
