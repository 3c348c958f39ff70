"""One of two processes racing to advance the same workflows.

    python race_worker.py --db URL --ids-file FILE [--start-at EPOCH] [--one-step] [--pause S]

Waits until ``--start-at`` (so both racers start together), then passes over every workflow
until all are finished: load it, ``run()`` it (``next_step()`` with ``--one-step``), and on
``ConcurrentModificationError`` (the other racer holds it or moved it on) go to the next one,
after ``--pause`` seconds. Prints ``{"pid", "runs", "conflicts", "passes"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

from ruvon.builder import WorkflowBuilder
from ruvon.errors import ConcurrentModificationError
from ruvon.implementations.persistence import store_from_url


async def main(args: argparse.Namespace) -> dict[str, object]:
    ids: list[str] = json.loads(Path(args.ids_file).read_text())
    store = store_from_url(args.db)
    await store.initialize()
    builder = WorkflowBuilder(persistence_provider=store, lease_seconds=args.lease)
    time.sleep(max(0.0, args.start_at - time.time()))
    runs = conflicts = passes = 0
    pending = list(ids)
    while pending and passes < 1000:
        passes += 1
        left: list[str] = []
        for workflow_id in pending:
            wf = await builder.load_workflow(workflow_id)
            if wf.status.is_terminal:
                continue
            try:
                runs += 1
                await (wf.next_step() if args.one_step else wf.run())
            except ConcurrentModificationError:
                conflicts += 1
            if args.pause:
                time.sleep(args.pause)  # outside any transaction: lets the other racer in
            if not wf.status.is_terminal:
                left.append(workflow_id)
        pending = left
    await store.close()
    return {"pid": os.getpid(), "runs": runs, "conflicts": conflicts, "passes": passes}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--ids-file", required=True)
    parser.add_argument("--start-at", type=float, default=0.0)
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--one-step", action="store_true", help="next_step() instead of run()")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between workflows")
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
