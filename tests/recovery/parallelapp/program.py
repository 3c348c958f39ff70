"""``python program.py DB start|recover [threads|sync]``: start the fan-out, or recover it."""

from __future__ import annotations

import asyncio
import json
import sys

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.execution.thread_pool import ThreadPoolExecutor
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider

DEFINITION = {
    "workflow_type": "Fan",
    "initial_state_model": "parallelapp.app.Fan",
    "steps": [
        {
            "name": "Each",
            "type": "PARALLEL",
            "iterate_over": "state.items",
            "task_function": "parallelapp.app.work",
            "merge_strategy": "DEEP",
            "automate_next": True,
        },
        {"name": "Finish", "function": "parallelapp.app.finish"},
    ],
}


async def main(db: str, command: str, mode: str) -> None:
    store = SQLitePersistenceProvider(db)
    executor = ThreadPoolExecutor(max_workers=4) if mode == "threads" else SyncExecutor()
    builder = WorkflowBuilder(
        workflow_registry={"Fan": DEFINITION},
        persistence_provider=store,
        execution_provider=executor,
        lease_seconds=0.5,
    )
    if command == "start":
        wf = await builder.create_workflow("Fan", {"items": list(range(6))})
        print(json.dumps({"id": wf.id}), flush=True)
        await wf.run()
    else:
        print(json.dumps({"recovered": await builder.recover()}), flush=True)
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
