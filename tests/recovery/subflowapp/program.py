"""The process of the SUB_WORKFLOW crash tests: start, resume or recover workflows, and die at
the checkpoint named by ``SUBFLOW_KILL_AT`` / ``SUBFLOW_KILL_HIT`` (see :mod:`subflowapp.ledger`).

    python -m subflowapp.program --db URL [OPTIONS] start --type T --key K [--data JSON]
    python -m subflowapp.program --db URL [OPTIONS] resume --id ID --input JSON
    python -m subflowapp.program --db URL [OPTIONS] recover [--barrier DIR --parties N]

``start`` creates a workflow (``idempotency_key`` K) and runs it until it finishes or waits.
``resume`` loads a workflow that waits for a person (a fresh process: nothing but the store) and
``resume()``\\ s it. ``recover`` is one ``builder.recover()`` pass, with the same short lease
(``--concurrency`` workflows at once); with ``--barrier`` it first waits until ``--parties``
processes have arrived there (each leaves a file in that directory), so that they race.
OPTIONS: ``--lease S`` (default 0.4), ``--after FUNCTION=SECONDS`` (first wait for another
process's effect of that function, then that long).
Run with ``tests/recovery`` on ``PYTHONPATH``. If no checkpoint fires, the process prints one
JSON line ``{"pid", "workflow_id", "status"}`` (``recover``: ``{"pid", "recovered"}``) and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence import store_from_url
from subflowapp.ledger import ENV_LEDGER, checkpoint, read

if TYPE_CHECKING:
    from ruvon.providers.persistence import PersistenceProvider, Transition, WorkflowRecord

APP = Path(__file__).resolve().parent


def watch(store: PersistenceProvider) -> PersistenceProvider:
    """Pass the ``created:<type>`` and ``commit:<type>:<status>`` checkpoints of ``store``."""
    types: dict[str, str] = {}
    create, load, commit = store.create_workflow, store.load_workflow, store.commit

    async def create_workflow(record: WorkflowRecord) -> WorkflowRecord:
        stored = await create(record)
        types[stored.id] = stored.workflow_type
        if stored.id == record.id:  # a new row, not the one its idempotency key names
            checkpoint(f"created:{stored.workflow_type}", stored.id)
        return stored

    async def load_workflow(workflow_id: str) -> WorkflowRecord:
        row = await load(workflow_id)
        types[row.id] = row.workflow_type
        return row

    async def commit_and_announce(transition: Transition) -> str | None:
        cancel = await commit(transition)
        kind = types.get(transition.workflow_id, "?")
        checkpoint(f"commit:{kind}:{transition.status.value}", transition.workflow_id)
        return cancel

    wrapped: Any = store
    wrapped.create_workflow = create_workflow
    wrapped.load_workflow = load_workflow
    wrapped.commit = commit_and_announce
    return store


def meet(barrier: Path, parties: int) -> None:
    """Wait until ``parties`` processes (this one included) have reached ``barrier``."""
    barrier.mkdir(parents=True, exist_ok=True)
    (barrier / str(os.getpid())).touch()
    deadline = time.monotonic() + 30.0
    while len(list(barrier.iterdir())) < parties:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(list(barrier.iterdir()))} of {parties} arrived")
        time.sleep(0.002)


async def after_effect(spec: str) -> None:
    """``FUNCTION=SECONDS``: wait until the ledger has an effect of that function (another
    process made it), then that many seconds more."""
    function, _, seconds = spec.partition("=")
    deadline = time.monotonic() + 30.0
    while not any(e.function == function for e in read(os.environ[ENV_LEDGER])[0]):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no effect of {function} in 30 s")
        await asyncio.sleep(0.01)
    await asyncio.sleep(float(seconds))


async def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.after:
        await after_effect(args.after)
    store = watch(store_from_url(args.db))
    builder = WorkflowBuilder(config_dir=APP, persistence_provider=store, lease_seconds=args.lease)
    try:
        if args.command == "recover":
            if args.barrier:
                meet(Path(args.barrier), args.parties)
            ids = await builder.recover(concurrency=args.concurrency)
            return {"pid": os.getpid(), "recovered": ids}
        if args.command == "start":
            wf = await builder.create_workflow(
                args.type, initial_data=json.loads(args.data), idempotency_key=args.key
            )
            await wf.run()
        else:
            wf = await builder.load_workflow(args.id)
            await wf.resume(json.loads(args.input))
        return {"pid": os.getpid(), "workflow_id": wf.id, "status": wf.status.value}
    finally:
        await store.close()


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--lease", type=float, default=0.4)
    parser.add_argument("--after", default=None, help="FUNCTION=SECONDS: see after_effect()")
    commands = parser.add_subparsers(dest="command", required=True)
    begin = commands.add_parser("start")
    begin.add_argument("--type", required=True)
    begin.add_argument("--key", required=True)
    begin.add_argument("--data", default="{}")
    again = commands.add_parser("resume")
    again.add_argument("--id", required=True)
    again.add_argument("--input", required=True)
    heal = commands.add_parser("recover")
    heal.add_argument("--concurrency", type=int, default=None)
    heal.add_argument("--barrier", default=None)
    heal.add_argument("--parties", type=int, default=1)
    return parser.parse_args()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(parse()))), flush=True)
