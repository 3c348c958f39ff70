"""Tutorial saga, 1,000 workflows in one process on the in-memory store, vs a plain function.

    .venv/bin/python bench/engine_memory.py [--runs 1000] [--repeat 5]

Prints workflows/s for Ruvon (success and rollback) and for a plain Python function doing the
same saga with the same step bodies and the same Pydantic state, measured in this run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import steps, timed_runs  # noqa: E402  (puts bench/engines on the path)
from plain_worker import plain_saga  # noqa: E402

from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider  # noqa: E402


async def ruvon_runs(n: int) -> float:
    """Workflows/s of ``n`` tutorial sagas in one process on the in-memory store."""
    result = await timed_runs(InMemoryPersistenceProvider, n, fail=steps.FAIL_AT["shipment"])
    return result.workflows_per_s


def plain_runs(n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        plain_saga()
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"tutorial saga, {args.runs} workflows, in-memory store, median of {args.repeat}")
    print(f"{'variant':<10} {'ruvon wf/s':>12} {'plain wf/s':>12} {'plain/ruvon':>12}")
    for variant in ("success", "rollback"):
        steps.FAIL_AT["shipment"] = variant == "rollback"
        ours = statistics.median(asyncio.run(ruvon_runs(args.runs)) for _ in range(args.repeat))
        floor = statistics.median(plain_runs(args.runs) for _ in range(args.repeat))
        print(f"{variant:<10} {ours:>12,.0f} {floor:>12,.0f} {floor / ours:>12.2f}")


if __name__ == "__main__":
    main()
