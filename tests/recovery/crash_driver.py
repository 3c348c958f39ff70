"""Child process of the recovery tests: create payment sagas, run them, die at a checkpoint.

    python crash_driver.py --db URL --variants SSF [--mode upfront|sequential] [--lease 0.5]
                           [--key-prefix P --start-index N] [--type T] [--create-only]

One workflow per character of ``--variants`` (``S``: succeeds, ``F``: Create_Shipment fails),
with ``idempotency_key`` ``<prefix><index>``. ``upfront`` creates them all, then runs them one
after the other; ``sequential`` creates and runs each in turn. Each is run the tutorial's way:
``enable_saga_mode()`` then ``next_step()`` while ``ACTIVE``. The checkpoint comes from
``CRASHAPP_CRASH_AT`` / ``CRASHAPP_CRASH_HIT`` (see ``crashapp.chaos``); if it never fires the
script prints a JSON summary and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path

from crashapp.chaos import kill_after_commits

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence import store_from_url
from ruvon.workflow import Workflow

APP = Path(__file__).resolve().parent / "crashapp"


def _data(index: int, variant: str) -> dict[str, object]:
    return {
        "order_id": f"ORD-{index}",
        "customer_id": f"CUST-{index}",
        "amount": 10.0 + index,
        "fail_shipment": variant == "F",
    }


async def _run_tutorial_way(wf: Workflow) -> None:
    wf.enable_saga_mode()  # not awaited, as in the tutorial (the YAML turns it on anyway)
    while wf.status == "ACTIVE":
        await wf.next_step()


async def main(args: argparse.Namespace) -> dict[str, object]:
    store = kill_after_commits(store_from_url(args.db))
    builder = WorkflowBuilder(config_dir=APP, persistence_provider=store, lease_seconds=args.lease)

    async def create(i: int, variant: str) -> Workflow:
        return await builder.create_workflow(
            args.type,
            initial_data=_data(args.start_index + i, variant),
            idempotency_key=f"{args.key_prefix}{args.start_index + i}",
        )

    done: dict[str, str] = {}
    if args.mode == "upfront" or args.create_only:
        workflows = [await create(i, v) for i, v in enumerate(args.variants)]
        if not args.create_only:
            for wf in workflows:
                await _run_tutorial_way(wf)
                done[wf.id] = wf.status.value
        else:
            done = {wf.id: wf.status.value for wf in workflows}
    else:
        for i, variant in enumerate(args.variants):
            wf = await create(i, variant)
            await _run_tutorial_way(wf)
            done[wf.id] = wf.status.value
    await store.close()
    return {"pid": os.getpid(), "workflows": done}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--variants", required=True)
    parser.add_argument("--mode", choices=("upfront", "sequential"), default="upfront")
    parser.add_argument("--lease", type=float, default=0.5)
    parser.add_argument("--key-prefix", default="wf-")
    parser.add_argument("--start-index", type=int, default=0)
    parser.add_argument("--type", default="PaymentProcessing")
    parser.add_argument("--create-only", action="store_true")
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
