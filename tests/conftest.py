"""Shared pytest setup: make ``tests/`` importable for helpers such as ``seed_tutorial``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
