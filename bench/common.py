"""What the benchmark scripts share: the tutorial workload and a timed Ruvon run."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from workloads.payment import steps_noprint as steps  # noqa: E402

from ruvon.builder import WorkflowBuilder  # noqa: E402
from ruvon.implementations.execution.sync import SyncExecutor  # noqa: E402
from ruvon.implementations.observability.logging import LoggingObserver  # noqa: E402

INITIAL = {"order_id": "ORD-12345", "customer_id": "CUST-789", "amount": 299.99, "currency": "USD"}
WORKFLOW_YAML = HERE / "workloads" / "payment" / "workflow.yaml"


@dataclass
class Result:
    workflows_per_s: float
    latencies_ms: list[float]
    commits_per_workflow: float


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


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
    latencies: list[float] = []

    async def one() -> None:
        t0 = time.perf_counter()
        status = await run_one(b, store, executor, observer)
        latencies.append((time.perf_counter() - t0) * 1000)
        assert status == expected, status

    start = time.perf_counter()
    if concurrency == 1:
        for _ in range(n):
            await one()
    else:
        sem = asyncio.Semaphore(concurrency)

        async def limited() -> None:
            async with sem:
                await one()

        await asyncio.gather(*(limited() for _ in range(n)))
    elapsed = time.perf_counter() - start
    commits = (store.commits - commits_before) / n
    await store.close()
    return Result(n / elapsed, latencies, commits)
