"""Child process of the control-flow crash tests: start a workflow, or resume one, and die at
the checkpoint named by ``CRASHAPP_CRASH_AT`` / ``CRASHAPP_CRASH_HIT`` (see :mod:`crashapp.chaos`
and :mod:`flowapp.chaos`).

    python -m flowapp.driver --db URL start --type T --key K --data JSON
    python -m flowapp.driver --db URL resume --id WORKFLOW_ID --input JSON [--input JSON ...]

``start`` creates the workflow (``idempotency_key`` K) and runs it until it finishes or waits.
``resume`` loads it (a fresh process: nothing but the store), then ``resume()``\\ s it with each
input in turn while it waits for a person. Run with ``tests/recovery`` on ``PYTHONPATH``. If no
checkpoint fires it prints ``{"pid", "workflow_id", "status", "waiting_for"}`` (the step the
workflow waited at when loaded, for ``resume``) and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path
from typing import Any

from flowapp.chaos import announce_commits
from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence import store_from_url
from ruvon.status import WorkflowStatus

APP = Path(__file__).resolve().parent


async def start(builder: WorkflowBuilder, args: argparse.Namespace) -> dict[str, Any]:
    wf = await builder.create_workflow(
        args.type, initial_data=json.loads(args.data), idempotency_key=args.key
    )
    await wf.run()
    return {"workflow_id": wf.id, "status": wf.status.value, "waiting_for": None}


async def resume(builder: WorkflowBuilder, args: argparse.Namespace) -> dict[str, Any]:
    wf = await builder.load_workflow(args.id)
    waiting = wf.waiting_for
    for given in args.input:
        if wf.status is not WorkflowStatus.WAITING_HUMAN:
            break
        await wf.resume(json.loads(given))
    return {
        "workflow_id": wf.id,
        "status": wf.status.value,
        "waiting_for": None if waiting is None else waiting.get("step"),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    store = announce_commits(store_from_url(args.db))
    builder = WorkflowBuilder(config_dir=APP, persistence_provider=store, lease_seconds=args.lease)
    try:
        out = await (start if args.command == "start" else resume)(builder, args)
    finally:
        await store.close()
    return {"pid": os.getpid(), **out}


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--lease", type=float, default=0.5)
    commands = parser.add_subparsers(dest="command", required=True)
    begin = commands.add_parser("start")
    begin.add_argument("--type", required=True)
    begin.add_argument("--key", required=True)
    begin.add_argument("--data", default="{}")
    again = commands.add_parser("resume")
    again.add_argument("--id", required=True)
    again.add_argument("--input", action="append", default=[])
    return parser.parse_args()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(parse()))), flush=True)
