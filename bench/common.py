"""What the benchmark scripts share: the tutorial workload and a timed Ruvon run."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE / "engines"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from harness import INITIAL, WORKFLOW_YAML, drive_async, percentile  # noqa: E402
from workloads.payment import steps_noprint as steps  # noqa: E402

from ruvon.builder import WorkflowBuilder  # noqa: E402
from ruvon.implementations.execution.sync import SyncExecutor  # noqa: E402
from ruvon.implementations.observability.logging import LoggingObserver  # noqa: E402

__all__ = ["INITIAL", "Result", "builder", "percentile", "run_one", "steps", "timed_runs"]


@dataclass
class Result:
    workflows_per_s: float
    latencies_ms: list[float]
    commits_per_workflow: float


def builder() -> WorkflowBuilder:
    b = WorkflowBuilder(workflow_registry={"PaymentProcessing": str(WORKFLOW_YAML)})
    b.get_definition("PaymentProcessing")  # load and import outside the timed part
    return b


async def run_one(b: WorkflowBuilder, store: Any, executor: Any, observer: Any) -> str:
    wf = await b.create_workflow(
        "PaymentProcessing",
        INITIAL,
        persistence_provider=store,
        execution_provider=executor,
        workflow_observer=observer,
    )
    wf.enable_saga_mode()
    while wf.status == "ACTIVE":
        await wf.next_step()
    return str(wf.status)


async def timed_runs(
    make_store: Callable[[], Any], n: int, *, fail: bool, concurrency: int = 1
) -> Result:
    """Run ``n`` tutorial sagas (``concurrency`` at a time) and time them."""
    steps.FAIL_AT["shipment"] = fail
    expected = "FAILED_ROLLED_BACK" if fail else "COMPLETED"
    store = make_store()
    await store.initialize()
    b, executor, observer = builder(), SyncExecutor(), LoggingObserver()
    assert await run_one(b, store, executor, observer) == expected  # warm-up
    commits_before = store.commits

    async def one() -> None:
        status = await run_one(b, store, executor, observer)
        assert status == expected, status

    elapsed, latencies = await drive_async(one, n, concurrency)
    commits = (store.commits - commits_before) / n
    await store.close()
    return Result(n / elapsed, latencies, commits)
