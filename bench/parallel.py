"""What a PARALLEL task costs: a fan-out of 100 trivial tasks, in memory, per task.

    .venv/bin/python bench/parallel.py [--runs 20] [--repeat 3]

Measured in this run (best of ``--repeat``): one workflow whose only step fans out over 100
items with a task that returns ``{}``, on ``ThreadPoolExecutor(max_workers=8)`` and on
``SyncExecutor``, against a workflow of one STANDARD step. The overhead per task is (fan-out
workflow - one-step workflow) / 100: the task's record, its own state copy, its commit, the
thread hop, the merge.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from ruvon.builder import WorkflowBuilder  # noqa: E402
from ruvon.implementations.execution.sync import SyncExecutor  # noqa: E402
from ruvon.implementations.execution.thread_pool import ThreadPoolExecutor  # noqa: E402
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider  # noqa: E402

STATE = "workloads.flow.steps.FlowState"
FAN = {
    "workflow_type": "Fan",
    "initial_state_model": STATE,
    "steps": [
        {
            "name": "Each",
            "type": "PARALLEL",
            "iterate_over": "state.items",
            "task_function": "workloads.flow.steps.trivial",
        }
    ],
}
ONE = {
    "workflow_type": "Fan",
    "initial_state_model": STATE,
    "steps": [{"name": "One", "function": "workloads.flow.steps.work"}],
}


async def per_workflow_us(definition: dict[str, Any], executor: Any, runs: int) -> float:
    builder = WorkflowBuilder(
        workflow_registry={"Fan": definition},
        persistence_provider=InMemoryPersistenceProvider(),
        execution_provider=executor,
    )
    data = {"items": list(range(100))}
    for _ in range(3):
        wf = await builder.create_workflow("Fan", data)
        await wf.next_step()
    start = time.perf_counter()
    for _ in range(runs):
        wf = await builder.create_workflow("Fan", data)
        await wf.next_step()
        assert wf.status == "COMPLETED", wf.error
    return (time.perf_counter() - start) / runs * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    best: dict[str, float] = {}
    for _ in range(args.repeat):
        for name, definition, executor in (
            ("one step", ONE, SyncExecutor()),
            ("fan-out, threads", FAN, ThreadPoolExecutor(max_workers=8)),
            ("fan-out, sync", FAN, SyncExecutor()),
        ):
            runs = args.runs * 20 if name == "one step" else args.runs
            us = asyncio.run(per_workflow_us(definition, executor, runs))
            best[name] = min(best.get(name, us), us)
    print(f"in memory, best of {args.repeat} rounds (µs per workflow)")
    for name, us in best.items():
        per_task = "" if name == "one step" else f"   per task {(us - best['one step']) / 100:7.1f}"
        print(f"  {name:<18} {us:10.1f}{per_task}")


if __name__ == "__main__":
    main()
