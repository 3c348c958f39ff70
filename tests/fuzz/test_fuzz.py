"""Random workflows on the in-memory store and on SQLite end exactly as the reference model says.

Each example is a generated :class:`fuzz_model.Plan` (1-6 steps; random results over fields of
several types, raises, retry policies, pauses, results and in-place changes that do not fit the
model, compensations that fail; saga mode off, from the YAML or switched on by a call). The
workflow is driven to its end; then the live workflow and the one loaded back from the store
must both match :func:`fuzz_model.expect`: status, state, compensation journal, step history
and error.

``RUVON_FUZZ_EXAMPLES`` sets the number of examples per store (default below, a few seconds
each); the long run is ``RUVON_FUZZ_EXAMPLES=10000``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import test_regressions
from fuzz_model import Plan, Space, plans, run_plan
from hypothesis import HealthCheck, given, settings

from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.providers.persistence import PersistenceProvider

EXAMPLES = int(os.environ.get("RUVON_FUZZ_EXAMPLES", "400"))

# Parts of the space left out while a bug found there is being fixed: Space flag -> the
# regression test (in test_regressions.py, marked xfail) that shows the bug. When the fix lands,
# that test passes, its marker goes, and test_open_findings_are_still_open says to delete the
# entry here, which puts the part back into the fuzzed space.
OPEN_FINDINGS: dict[str, str] = {}  # every finding so far is fixed
SPACE = Space(**dict.fromkeys(OPEN_FINDINGS, False))


@pytest.fixture
def loop() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as runner:
        yield runner


def _store(kind: str, directory: Path) -> PersistenceProvider:
    if kind == "memory":
        return InMemoryPersistenceProvider()
    return SQLitePersistenceProvider(f"sqlite:///{directory / 'fuzz.db'}")


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_random_workflows_end_as_the_reference_model_says(
    kind: str, tmp_path: Path, loop: asyncio.Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _store(kind, tmp_path)
    cases = Counter[str]()
    started = time.monotonic()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(plan=plans(SPACE))
    def one(plan: Plan) -> None:
        cases["cases"] += 1
        cases[f"saga {plan.saga}"] += 1
        problems = loop.run(run_plan(store, plan))
        assert not problems, "\n".join([repr(plan), *problems])

    try:
        one()
    finally:
        loop.run(store.close())
        with capsys.disabled():
            print(f"\n[fuzz {kind}] {dict(cases)} in {time.monotonic() - started:.1f}s")


def _xfail_marked(test: object) -> bool:
    """Whether the test, or one of its parametrized cases, is still marked ``xfail``."""
    for mark in getattr(test, "pytestmark", []):
        if mark.name == "xfail":
            return True
        if mark.name == "parametrize":
            for case in mark.args[1]:
                if any(m.name == "xfail" for m in getattr(case, "marks", ())):
                    return True
    return False


@pytest.mark.parametrize("flag", sorted(OPEN_FINDINGS))
def test_open_findings_are_still_open(flag: str) -> None:
    test = getattr(test_regressions, OPEN_FINDINGS[flag])
    assert _xfail_marked(test), (
        f"{OPEN_FINDINGS[flag]} is no longer marked xfail: the bug is fixed, so delete "
        f"'{flag}' from OPEN_FINDINGS in {__file__} to fuzz that part again"
    )
