"""Tutorial saga on the durable stores: SQLite (synchronous FULL and NORMAL, WAL) and Postgres.

    .venv/bin/python bench/engine_sql.py [--runs 1000] [--pg postgresql://postgres@127.0.0.1/test]

Sequential workflows in one process (and 50 in flight on Postgres); prints workflows/s,
p50/p95 latency and commits per workflow, each measured in this run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile

from common import Result, percentile, timed_runs

from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider


async def reset_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    await conn.execute(
        "DROP TABLE IF EXISTS ruvon_schedules, ruvon_metrics, ruvon_audit, ruvon_logs, "
        "ruvon_compensations, ruvon_step_attempts, ruvon_workflows, ruvon_definitions, "
        "ruvon_schema CASCADE"
    )
    await conn.close()


def row(name: str, variant: str, r: Result) -> str:
    return (
        f"| {name} | {variant} | {r.workflows_per_s:,.0f} | "
        f"{statistics.median(r.latencies_ms):.2f} | {percentile(r.latencies_ms, 0.95):.2f} | "
        f"{r.commits_per_workflow:.1f} |"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument(
        "--pg",
        default=os.environ.get("RUVON_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--skip-pg", action="store_true")
    args = parser.parse_args()
    print("| store | variant | workflows/s | p50 ms | p95 ms | commits/workflow |")
    print("|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for sync in ("FULL", "NORMAL"):
            for variant in ("success", "rollback"):
                path = os.path.join(tmp, f"{sync}-{variant}.db")
                r = await timed_runs(
                    lambda p=path, s=sync: SQLitePersistenceProvider(p, synchronous=s),
                    args.runs,
                    fail=variant == "rollback",
                )
                print(row(f"SQLite {sync}", variant, r), flush=True)
    if args.skip_pg:
        return
    for concurrency in (1, 50):
        for variant in ("success", "rollback"):
            await reset_postgres(args.pg)
            r = await timed_runs(
                lambda c=concurrency: PostgresPersistenceProvider(
                    args.pg, max_size=50 if c > 1 else 2
                ),
                args.runs,
                fail=variant == "rollback",
                concurrency=concurrency,
            )
            label = "Postgres" if concurrency == 1 else f"Postgres, {concurrency} in flight"
            print(row(label, variant, r), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
