"""One of two processes racing to advance the same workflows.

    python race_worker.py --db URL --ids-file FILE --handshake DIR --role leader|follower
                          [--one-step] [--pause S]

Passes over every workflow until all are finished: load it, ``run()`` it (``next_step()`` with
``--one-step``), and on ``ConcurrentModificationError`` (the other racer holds it or moved it on)
go to the next one, after ``--pause`` seconds. Prints ``{"pid", "runs", "conflicts", "passes"}``.

The two racers shake hands through files in ``--handshake`` so that they provably overlap,
whatever the timing: the leader claims the first workflow and keeps its lease, writes
``holding`` and waits for ``go``; the follower starts once ``holding`` is there, so its first
``next_step()`` on that workflow must collide with the leader's lease; then it advances the
second workflow (free: the leader is waiting) and writes ``go``. From then on they race freely.
So each racer runs steps and the follower reports at least one conflict on every run (and if a
broken lease let the follower in, the doubled step shows in the side effects).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from ruvon.builder import WorkflowBuilder
from ruvon.errors import ConcurrentModificationError
from ruvon.implementations.persistence import store_from_url

HOLDING = "holding"  # written by the leader while it holds the first workflow's lease
GO = "go"  # written by the follower once it collided with that lease and ran a step itself
HANDSHAKE_TIMEOUT = 20.0  # well inside the 30 s lease the leader holds while it waits


async def wait_for(path: Path) -> None:
    deadline = time.monotonic() + HANDSHAKE_TIMEOUT
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"handshake: {path} did not appear in {HANDSHAKE_TIMEOUT} s")
        await asyncio.sleep(0.01)


def hold_first_claim(store: Any, handshake: Path) -> None:
    """Make the first claim this process wins keep its lease until the follower says ``go``."""
    claim = store.claim
    held = False

    async def claim_and_hold(*args: Any) -> None:
        nonlocal held
        await claim(*args)
        if not held:
            held = True
            (handshake / HOLDING).write_text(str(args[0]))
            await wait_for(handshake / GO)

    store.claim = claim_and_hold


async def main(args: argparse.Namespace) -> dict[str, object]:
    ids: list[str] = json.loads(Path(args.ids_file).read_text())
    handshake = Path(args.handshake)
    store = store_from_url(args.db)
    await store.initialize()
    builder = WorkflowBuilder(persistence_provider=store, lease_seconds=args.lease)
    held = ""
    if args.role == "leader":
        hold_first_claim(store, handshake)
    else:
        await wait_for(handshake / HOLDING)
        held = (handshake / HOLDING).read_text()
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
            else:
                if held and workflow_id != held and not (handshake / GO).exists():
                    (handshake / GO).write_text(workflow_id)  # the leader may go on
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
    parser.add_argument("--handshake", required=True, help="directory of the handshake files")
    parser.add_argument("--role", required=True, choices=("leader", "follower"))
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--one-step", action="store_true", help="next_step() instead of run()")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between workflows")
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
