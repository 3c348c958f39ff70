"""Child process of the kill fuzzer: create generated workflows, run them, die at a checkpoint.

    python fuzz_driver.py --db URL --jobs FILE [--lease 0.2]

``FILE`` (JSON) lists the workflows: ``{"type", "definition", "initial", "key"}`` each. All are
created first (with ``idempotency_key`` = ``key``), then each is run the way ``fuzz_model.drive``
does. The kill comes from ``crashapp.chaos`` (``CRASHAPP_CRASH_AT`` / ``CRASHAPP_CRASH_HIT``):
``commit:<n>`` after a workflow's n-th committed transition, or ``fwd:before``, ``fwd:mid``,
``comp:before``, ``comp:mid`` inside a step or compensation attempt (see ``fuzzapp.steps``). If
it never fires the script prints a JSON summary and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "recovery")]

from crashapp.chaos import checkpoint, kill_after_commits  # noqa: E402
from fuzzapp import steps  # noqa: E402

from ruvon.builder import WorkflowBuilder  # noqa: E402
from ruvon.implementations.persistence import store_from_url  # noqa: E402


async def main(args: argparse.Namespace) -> dict[str, object]:
    jobs = json.loads(Path(args.jobs).read_text())
    steps.HOOK = checkpoint
    store = kill_after_commits(store_from_url(args.db))
    builder = WorkflowBuilder(
        workflow_registry={job["type"]: job["definition"] for job in jobs},
        persistence_provider=store,
        lease_seconds=args.lease,
    )
    workflows = [
        await builder.create_workflow(job["type"], job["initial"], idempotency_key=job["key"])
        for job in jobs
    ]
    for wf in workflows:
        while wf.status in ("ACTIVE", "PAUSED"):
            if wf.status == "PAUSED":
                await wf.resume({})
            else:
                await wf.next_step()
    await store.close()
    return {"pid": os.getpid(), "workflows": {wf.id: wf.status.value for wf in workflows}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--jobs", required=True)
    parser.add_argument("--lease", type=float, default=0.2)
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
