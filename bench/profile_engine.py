"""Where our engine spends its time on the in-memory tutorial saga, by component.

    .venv/bin/python bench/profile_engine.py [--runs 2000]

Runs the success and rollback variants under cProfile and adds up each function's own time
by the part of the system it belongs to. Prints one JSON line per variant. cProfile charges a
fixed cost per Python call, so call-heavy Python code (the engine's own) looks somewhat larger
than it is next to C code (pydantic-core, orjson): read the shares as an order, not to the
percent.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import time
from collections import Counter

import common

from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.observability.logging import LoggingObserver
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider

# (label, path fragments); the first that matches a function's file wins
COMPONENTS = [
    ("the workload's step functions (uuid4, f-strings)", ("workloads/payment", "uuid.py")),
    ("state validation (pydantic-core)", ("validate_python", "pydantic/")),
    ("state serialization (to_json)", ("to_json",)),
    ("in-memory store", ("ruvon/implementations/persistence",)),
    ("observer (LoggingObserver, logging)", ("observability", "logging/")),
    ("tracebacks of the failed step", ("traceback.py", "linecache")),
    ("engine: runner, saga, steps", ("ruvon/runtime", "ruvon/steps")),
    (
        "engine: workflow, builder, records",
        ("ruvon/workflow.py", "ruvon/builder.py", "ruvon/models.py", "ruvon/providers"),
    ),
    ("engine: executor", ("ruvon/implementations/execution",)),
]


def component(filename: str, name: str) -> str:
    where = f"{filename}:{name}"
    for label, fragments in COMPONENTS:
        if any(fragment in where for fragment in fragments):
            return label
    return "asyncio, builtins and the rest"


async def _run(variant: str, runs: int, profiler: cProfile.Profile) -> float:
    common.steps.FAIL_AT["shipment"] = variant == "rollback"
    b, store = common.builder(), InMemoryPersistenceProvider()
    executor, observer = SyncExecutor(), LoggingObserver()
    for _ in range(20):  # warm up outside the profile
        await common.run_one(b, store, executor, observer)
    profiler.enable()
    start = time.perf_counter()
    for _ in range(runs):
        await common.run_one(b, store, executor, observer)
    elapsed = time.perf_counter() - start
    profiler.disable()
    return runs / elapsed


def profile(variant: str, runs: int) -> dict[str, object]:
    profiler = cProfile.Profile()
    rate = asyncio.run(_run(variant, runs, profiler))
    shares: Counter[str] = Counter()
    for (filename, _, name), row in pstats.Stats(profiler).stats.items():
        shares[component(filename, name)] += row[2]  # own time
    total = sum(shares.values())
    return {
        "variant": variant,
        "runs": runs,
        "workflows_per_s_under_profiler": round(rate),
        "shares": {label: round(100 * t / total, 1) for label, t in shares.most_common()},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    for variant in ("success", "rollback"):
        print(json.dumps(profile(variant, args.runs)), flush=True)


if __name__ == "__main__":
    main()
