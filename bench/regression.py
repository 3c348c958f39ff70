"""Our engine now against our engine at an earlier commit: same workload, same machine, same run.

    .venv/bin/python bench/regression.py [--base 61f6d5a] [--rounds 5] [--skip-pg] [--only memory]

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
import uuid
from pathlib import Path

import pg

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
# the commit issue 8 (harden the core) was filed against: its "no throughput loss" is measured
# against our engine there
BASE = "61f6d5a"

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
        "DROP TABLE IF EXISTS ruvon_schedules, ruvon_metrics, ruvon_audit, ruvon_logs, "
        "ruvon_compensations, ruvon_step_attempts, ruvon_workflows, ruvon_definitions, "
        "ruvon_schema CASCADE")
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


def compare(
    base: str, rounds: int, cases: list[tuple[str, str, str, int]], pg_admin: str | None
) -> list[dict]:
    """Each case timed ``rounds`` times with each package, interleaved; one dict per case.
    Postgres cases run in a database of their own, created on ``pg_admin``'s server."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "base"
        checkout(base, tree)
        dbname = f"bench_regression_{uuid.uuid4().hex[:8]}"
        url = pg.create_database(pg_admin, dbname) if pg_admin else ""
        try:
            sides = {"now": ROOT / "src", "base": tree / "src"}
            for label, store, variant, n in cases:
                figures: dict[str, list[float]] = {"now": [], "base": []}
                for i in range(rounds):
                    order = ("now", "base") if i % 2 == 0 else ("base", "now")
                    for side in order:
                        figures[side].append(measure(sides[side], store, variant, n, url))
                rows.append({"label": label, "variant": variant, **figures})
                print(f"  {label} {variant}: {ratio_text(rows[-1])}", flush=True)
        finally:
            if pg_admin:
                pg.drop_database(pg_admin, dbname)
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                check=False,
                capture_output=True,
            )
    return rows


def ratio_text(row: dict) -> str:
    now, then = statistics.median(row["now"]), statistics.median(row["base"])
    return f"{now:,.0f} vs {then:,.0f} wf/s, now ÷ base {now / then:.2f}"


def markdown(rows: list[dict], base: str, rounds: int) -> list[str]:
    """The comparison as a section of docs/benchmarks.md."""
    lines = [
        f"## Against our own engine at `{base}`",
        "",
        f"The tutorial saga with our package now and at commit `{base}`, in turns, {rounds} "
        "rounds, same machine, same run (`bench/regression.py`): a change in our own speed, "
        "whatever the machine. Median workflows/s; below 1, slower now.",
        "",
        "| store | variant | now | base | now ÷ base | lowest to highest of the rounds |",
        "|---|---|---:|---:|---:|---|",
    ]
    for row in rows:
        now, then = statistics.median(row["now"]), statistics.median(row["base"])
        ratios = sorted(a / b for a, b in zip(row["now"], row["base"], strict=True))
        lines.append(
            f"| {row['label']} | {row['variant']} | {now:,.0f} | {then:,.0f} | "
            f"{now / then:.2f} | {ratios[0]:.2f} to {ratios[-1]:.2f} |"
        )
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default=BASE, help="commit to compare against")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated stores: memory,NORMAL,FULL,pg")
    parser.add_argument(
        "--pg-admin",
        default=os.environ.get("RUVON_BENCH_POSTGRES", DEFAULT_ADMIN),
        help="server to create a scratch database on",
    )
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    cases = [c for c in CASES if (not only or c[1] in only) and not (args.skip_pg and c[1] == "pg")]
    wants_pg = any(store == "pg" for _, store, _, _ in cases)
    rows = compare(args.base, args.rounds, cases, args.pg_admin if wants_pg else None)
    print("\n".join(markdown(rows, args.base, args.rounds)))


if __name__ == "__main__":
    main()
