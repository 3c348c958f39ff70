"""Our engine now against our engine at an earlier commit: same workload, same machine, same run.

    .venv/bin/python bench/regression.py [--base 61f6d5a] [--rounds 5] [--skip-pg]

Figures from another day or another machine can not tell a real loss from a slower machine, so
this checks the base commit out into a temporary worktree and times the tutorial saga with each
``ruvon`` package in turn (``PYTHONPATH`` picks the package; the bench code is this one), rounds
interleaved so that a slow spell hits both. Prints, per store and variant, each side's median
workflows/s and now ÷ base (below 1: slower now).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"

# (label, store, variant, workflows per timed run)
CASES = [
    ("In memory", "memory", "success", 2000),
    ("In memory", "memory", "rollback", 2000),
    ("SQLite NORMAL", "NORMAL", "success", 400),
    ("SQLite NORMAL", "NORMAL", "rollback", 300),
    ("SQLite FULL", "FULL", "success", 100),
    ("SQLite FULL", "FULL", "rollback", 80),
    ("PostgreSQL", "pg", "success", 150),
    ("PostgreSQL", "pg", "rollback", 100),
]

# runs in a child whose PYTHONPATH selects the ruvon package under test
CHILD = r"""
import asyncio, json, os, sys, tempfile
sys.path.insert(0, sys.argv[1])
import common
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider

store, variant, n, pg = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]

async def reset_pg():
    import asyncpg
    conn = await asyncpg.connect(pg)
    await conn.execute(
        "DROP TABLE IF EXISTS ruvon_metrics, ruvon_audit, ruvon_logs, ruvon_compensations, "
        "ruvon_step_attempts, ruvon_workflows, ruvon_definitions, ruvon_schema CASCADE")
    await conn.close()

async def main():
    with tempfile.TemporaryDirectory() as tmp:
        if store == "memory":
            make = InMemoryPersistenceProvider
        elif store == "pg":
            from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider
            await reset_pg()
            make = lambda: PostgresPersistenceProvider(pg)
        else:
            path = os.path.join(tmp, "bench.db")
            make = lambda: SQLitePersistenceProvider(path, synchronous=store)
        result = await common.timed_runs(make, n, fail=variant == "rollback")
    print(json.dumps(result.workflows_per_s))

asyncio.run(main())
"""


def checkout(base: str, into: Path) -> None:
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(into), base],
        check=True,
        capture_output=True,
    )


def measure(src: Path, store: str, variant: str, n: int, pg: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(HERE), store, variant, str(n), pg],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{store}/{variant} with {src} failed:\n{done.stderr[-2000:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="61f6d5a", help="commit to compare against")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated stores: memory,NORMAL,FULL,pg")
    parser.add_argument("--pg", default=os.environ.get("RUVON_BENCH_POSTGRES", DEFAULT_PG))
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    cases = [c for c in CASES if (not only or c[1] in only) and not (args.skip_pg and c[1] == "pg")]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        checkout(args.base, base)
        try:
            sides = {"now": ROOT / "src", "base": base / "src"}
            print(f"now: working tree of {ROOT}; base: {args.base}; {args.rounds} rounds")
            print("| store | variant | now wf/s | base wf/s | now ÷ base | spread of now ÷ base |")
            print("|---|---|---:|---:|---:|---|")
            for label, store, variant, n in cases:
                figures: dict[str, list[float]] = {"now": [], "base": []}
                for i in range(args.rounds):
                    order = ("now", "base") if i % 2 == 0 else ("base", "now")
                    for side in order:
                        figures[side].append(measure(sides[side], store, variant, n, args.pg))
                now, then = statistics.median(figures["now"]), statistics.median(figures["base"])
                ratios = sorted(a / b for a, b in zip(figures["now"], figures["base"], strict=True))
                print(
                    f"| {label} | {variant} | {now:,.0f} | {then:,.0f} | {now / then:.2f} | "
                    f"{ratios[0]:.2f} to {ratios[-1]:.2f} |",
                    flush=True,
                )
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)],
                check=False,
                capture_output=True,
            )


if __name__ == "__main__":
    main()
