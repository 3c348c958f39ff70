"""A user's program, run (and respawned) by the supervised crash campaign: create, saga, run.

    python saga_program.py --db URL --work '[[index, "S"|"F", choice], ...]' [--lease 0.5]
                           [--key-prefix P] [--wait SECONDS]

For each item, in order, it does what a program that owns one workflow does, so that running it
again after a crash (a supervisor respawning it with the same arguments) is harmless:

1. ``create_workflow`` with ``idempotency_key`` ``<prefix><index>`` (a respawned program gets
   the existing workflow back); a finished workflow is left as it is;
2. saga mode, by ``choice``: ``yaml`` (type ``PaymentProcessing``, ``saga_mode: true``),
   ``plain`` (``PaymentProcessingTutorial``, then ``workflow.enable_saga_mode()`` not awaited,
   as the tutorial does), ``await`` (the same type, ``await workflow.enable_saga_mode()``) or
   ``none`` (the same type, no saga mode);
3. ``run()``.

``ConcurrentModificationError`` means another runner holds the lease: a recovery process, or
the dead predecessor of this program until its lease runs out. A workflow recovery can run
(started, or saga mode from the YAML) is then left to that runner; one only this program can
start (version 0 without saga mode: recovery does not run it) is tried again until ``--wait``
seconds have passed.

It prints ``begin <index>`` before each item and ``end <index> <outcome>`` after it (flushed,
so a supervisor reads where a killed program was), then a JSON summary. Checkpoints
(``crashapp.chaos``): ``program:before-create``, ``program:after-create`` (between
``create_workflow`` and ``enable_saga_mode``), ``program:after-enable``, plus every checkpoint
of the store wrapper and the step functions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

from crashapp.chaos import checkpoint, kill_after_commits

from ruvon.builder import WorkflowBuilder
from ruvon.errors import ConcurrentModificationError
from ruvon.implementations.persistence import store_from_url
from ruvon.providers.persistence import PersistenceProvider

APP = Path(__file__).resolve().parent / "crashapp"
TYPES = {
    "yaml": "PaymentProcessing",
    "plain": "PaymentProcessingTutorial",
    "await": "PaymentProcessingTutorial",
    "none": "PaymentProcessingTutorial",
}
RETRY_PAUSE = 0.05


def _data(index: int, variant: str) -> dict[str, object]:
    return {
        "order_id": f"ORD-{index}",
        "customer_id": f"CUST-{index}",
        "amount": 10.0 + index,
        "fail_shipment": variant == "F",
    }


async def _only_we_can_start(store: PersistenceProvider, workflow_id: str) -> bool:
    """Recovery does not run a workflow at version 0 without saga mode: its program must."""
    record = await store.load_workflow(workflow_id)
    return not record.status.is_terminal and record.version == 0 and not record.saga_mode


async def drive(
    builder: WorkflowBuilder, store: PersistenceProvider, args: argparse.Namespace, item: list[str]
) -> str:
    """Take one workflow as far as this program should; return what became of it."""
    index, variant, choice = int(item[0]), str(item[1]), str(item[2])
    deadline = time.monotonic() + args.wait
    while True:
        checkpoint("program:before-create", None)
        wf = await builder.create_workflow(
            TYPES[choice],
            initial_data=_data(index, variant),
            idempotency_key=f"{args.key_prefix}{index}",
        )
        if wf.status.is_terminal:
            return f"found-{wf.status.value}"
        checkpoint("program:after-create", wf.id)
        try:
            if choice == "plain":
                wf.enable_saga_mode()  # the tutorial's plain call
            elif choice == "await":
                await wf.enable_saga_mode()
            checkpoint("program:after-enable", wf.id)
            return (await wf.run()).value
        except ConcurrentModificationError:
            if not await _only_we_can_start(store, wf.id):
                return "handed"  # another runner has it (a recovery process): it finishes it
            if time.monotonic() > deadline:
                return "gave-up"
            await asyncio.sleep(RETRY_PAUSE)  # the dead predecessor's lease has not run out


async def main(args: argparse.Namespace) -> dict[str, object]:
    store = kill_after_commits(store_from_url(args.db))
    builder = WorkflowBuilder(config_dir=APP, persistence_provider=store, lease_seconds=args.lease)
    outcomes: dict[str, str] = {}
    try:
        for item in json.loads(args.work):
            print(f"begin {item[0]}", flush=True)
            outcomes[str(item[0])] = outcome = await drive(builder, store, args, item)
            print(f"end {item[0]} {outcome}", flush=True)
    finally:
        await store.close()
    return {"pid": os.getpid(), "outcomes": outcomes}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--work", required=True, help="JSON list of [index, variant, choice]")
    parser.add_argument("--lease", type=float, default=0.5)
    parser.add_argument("--key-prefix", default="s-")
    parser.add_argument("--wait", type=float, default=30.0)
    print(json.dumps(asyncio.run(main(parser.parse_args()))), flush=True)
