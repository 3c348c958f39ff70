"""Random control-flow workflows (DECISION, LOOP, STANDARD; saga off and on) on the in-memory
store and on SQLite end exactly as the reference model ``flow_model.expect`` says.

Each example is a generated :class:`flow_plan.FlowPlan`: 1-5 top-level steps, each a STANDARD
step, a DECISION (random routes over random state values, with or without a default and a
function, forward and guarded backward targets, jump directives, no match) or a LOOP (ITERATE
over a random list, empty included, or WHILE with a counter; ``max_iterations`` hit or not; a
body of 1-3 steps of any kind, one nested loop deep, that may replace the list it runs over),
functions that raise on a chosen visit (retried or not), compensations that fail. The workflow
is driven to its end; the live workflow and the one loaded back from the store must both match
the model: status, state, step history (scope, step, attempt, status, item), compensation
journal (scope, step, status, attempts, in order), error and cursor.

``RUVON_FUZZ_EXAMPLES`` sets the number of examples per store (default below: a few seconds
each); ``RUVON_FUZZ_EXAMPLES=3000`` is the long run.
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
from flow_gen import FlowSpace, flow_plans
from flow_model import check, expect
from flow_plan import FlowPlan
from hypothesis import HealthCheck, given, settings
from test_fuzz import _xfail_marked

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.providers.persistence import PersistenceProvider
from ruvon.workflow import Workflow

EXAMPLES = int(os.environ.get("RUVON_FUZZ_EXAMPLES", "500"))

# Parts of the space left out while a bug found there is open: FlowSpace flag -> the regression
# test (in test_regressions.py, marked xfail) that shows it. When the fix lands, that test
# passes, its marker goes, and test_open_findings_are_still_open says to delete the entry.
OPEN_FINDINGS: dict[str, str] = {}
SPACE = FlowSpace(**dict.fromkeys(OPEN_FINDINGS, False))


@pytest.fixture
def loop() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as runner:
        yield runner


def _store(kind: str, directory: Path) -> PersistenceProvider:
    if kind == "memory":
        return InMemoryPersistenceProvider()
    return SQLitePersistenceProvider(f"sqlite:///{directory / 'flow.db'}")


async def drive(wf: Workflow, plan: FlowPlan) -> None:
    """``next_step()`` while the workflow is ``ACTIVE`` (no generated step waits for input)."""
    if plan.saga == "call" and not wf.saga_mode:
        wf.enable_saga_mode()
    while wf.status == "ACTIVE":
        await wf.next_step()


async def run_plan(store: PersistenceProvider, plan: FlowPlan) -> list[str]:
    builder = WorkflowBuilder(
        workflow_registry={"Flow": plan.definition()}, persistence_provider=store
    )
    wf = await builder.create_workflow("Flow", plan.initial_data())
    await drive(wf, plan)
    want = expect(plan)
    problems = check(wf, want, where="live")
    loaded = await builder.load_workflow(wf.id)
    return problems + check(loaded, want, where="loaded")


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_random_control_flow_ends_as_the_reference_model_says(
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
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(plan=flow_plans(SPACE))
    def one(plan: FlowPlan) -> None:
        want = expect(plan)
        cases["cases"] += 1
        cases[want.status] += 1
        cases.update(want.events)
        problems = loop.run(run_plan(store, plan))
        assert not problems, "\n".join([repr(plan), *problems])

    try:
        one()
    finally:
        loop.run(store.close())
        with capsys.disabled():
            tally = ", ".join(f"{k}: {v}" for k, v in sorted(cases.items()))
            print(f"\n[fuzz flow {kind}] {tally} in {time.monotonic() - started:.1f}s")


@pytest.mark.parametrize("flag", sorted(OPEN_FINDINGS))
def test_open_findings_are_still_open(flag: str) -> None:
    test = getattr(test_regressions, OPEN_FINDINGS[flag])
    assert _xfail_marked(test), (
        f"{OPEN_FINDINGS[flag]} is no longer marked xfail: the bug is fixed, so delete "
        f"'{flag}' from OPEN_FINDINGS in {__file__} to fuzz that part again"
    )
