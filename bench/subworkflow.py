"""What a SUB_WORKFLOW child costs: a parent with 10 children, against the same work inline.

    .venv/bin/python bench/subworkflow.py [--runs 10] [--repeat 20]

Three parents, each one LOOP over 10 items, measured in this run on the in-memory store and on a
SQLite file in a temporary directory (WAL, ``synchronous=NORMAL``; a fresh file per
measurement), best of ``--repeat`` interleaved rounds: many short rounds, so that the best of
them misses the spells in which other work on the machine takes the CPU:

- ``sub-workflows``: the loop's body is one SUB_WORKFLOW step whose child (its item passed as
  ``{{ context.loop_item }}``) runs two STANDARD steps; the parent keeps each child's outcome in
  ``sub_workflow_results`` (so its state, written at each of its commits, grows child by child);
- ``no results field``: the same, with a parent state without ``sub_workflow_results``;
- ``inline`` (the baseline): the loop's body is those two STANDARD steps.

Per child: the parent's time / 10, and its commits (``store.commits``, the store's own count of
atomic transitions, creations included) / 10. ``ratio``: sub-workflows ÷ inline, in time and in
commits; ``extra``: what a child adds to the same work done inline.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from ruvon.builder import WorkflowBuilder  # noqa: E402
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider  # noqa: E402
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider  # noqa: E402

CHILDREN = 10
STEPS = "workloads.subflow.steps"


def step(name: str, **keys: object) -> dict[str, object]:
    return {"name": name, "function": f"{STEPS}.work", "automate_next": True, **keys}


def parent(body: list[dict[str, object]], model: str = "Parent") -> dict[str, object]:
    loop = {"name": "Each", "type": "LOOP", "iterate_over": "state.items", "loop_body": body}
    return {"workflow_type": "Parent", "initial_state_model": f"{STEPS}.{model}", "steps": [loop]}


CHILD = {
    "workflow_type": "Child",
    "initial_state_model": f"{STEPS}.Child",
    "steps": [step("Reserve"), step("Charge")],
}
SUB = {
    "name": "Run_Child",
    "type": "SUB_WORKFLOW",
    "workflow_type": "Child",
    "initial_data_template": {"n": "{{ context.loop_item }}"},
}
REGISTRIES = {
    "sub-workflows": {"Parent": parent([SUB]), "Child": CHILD},
    "no results field": {"Parent": parent([SUB], "BareParent"), "Child": CHILD},
    "inline": {"Parent": parent([step("Reserve"), step("Charge")])},
}
DATA = {"items": list(range(CHILDREN))}


async def measure(variant: str, make_store: Callable[[], Any], runs: int) -> tuple[float, float]:
    """Microseconds and commits per parent, over ``runs`` parents after a warm-up."""
    store = make_store()
    await store.initialize()
    builder = WorkflowBuilder(workflow_registry=REGISTRIES[variant], persistence_provider=store)
    builder.get_definition("Parent")
    try:
        for _ in range(3):  # warm up
            wf = await builder.create_workflow("Parent", DATA)
            await wf.run()
        commits = store.commits
        start = time.perf_counter()
        for _ in range(runs):
            wf = await builder.create_workflow("Parent", DATA)
            await wf.run()
            assert wf.status == "COMPLETED", wf.error
        elapsed = time.perf_counter() - start
        children = [r for r in wf.history if (r.result or {}).get("sub_workflow_id")]
        assert len(children) == (0 if variant == "inline" else CHILDREN)
        return elapsed / runs * 1e6, (store.commits - commits) / runs
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10, help="parents per round (in memory x5)")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    best: dict[tuple[str, str], float] = {}
    commits: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        stores: dict[str, tuple[Callable[[], Any], int]] = {
            "in memory": (InMemoryPersistenceProvider, args.runs * 5),
            "SQLite NORMAL": (
                lambda: SQLitePersistenceProvider(
                    str(Path(tmp) / f"{time.monotonic_ns()}.db"), synchronous="NORMAL"
                ),
                args.runs,
            ),
        }
        for _ in range(args.repeat):  # interleaved rounds: a slow spell hits every row
            for store, (make, runs) in stores.items():
                for variant in REGISTRIES:
                    us, n = asyncio.run(measure(variant, make, runs))
                    key = (store, variant)
                    best[key] = min(best.get(key, us), us)
                    commits[key] = n
    print(
        f"a parent with {CHILDREN} children (2 steps each) against the same work inline, "
        f"best of {args.repeat} rounds"
    )
    print(f"  {'store':<14} {'variant':<17} {'µs/child':>9} {'commits/child':>14}")
    for store in stores:
        for variant in REGISTRIES:
            key = (store, variant)
            per_child = best[key] / CHILDREN
            print(f"  {store:<14} {variant:<17} {per_child:9.1f} {commits[key] / CHILDREN:14.2f}")
        sub, inline = best[(store, "sub-workflows")], best[(store, "inline")]
        sub_n, inline_n = commits[(store, "sub-workflows")], commits[(store, "inline")]
        print(
            f"  {store:<14} {'ratio':<17} {sub / inline:9.2f} {sub_n / inline_n:14.2f}"
            f"   extra per child: {(sub - inline) / CHILDREN:.1f} µs, "
            f"{(sub_n - inline_n) / CHILDREN:.2f} commits"
        )


if __name__ == "__main__":
    main()
