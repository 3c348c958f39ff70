"""The Postgres floor: the plain saga plus K raw asyncpg commits per workflow, main venv.

    .venv/bin/python bench/engines/floor_postgres.py --store postgres --variant success \
        --runs 300 --commits 5 --concurrency 50 --db postgresql://postgres@127.0.0.1/bench_x

K (``--commits``) is the number of commits our engine makes per workflow on this variant.
Each commit is one small UPDATE of the workflow's state (its JSON), a transaction of its own;
with ``--concurrency`` C, C workflows are in flight, each on its own connection and row
(connections held for the whole run, so no pool round trips).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
from plain_worker import plain_saga

UPDATE = "UPDATE floor SET step = $1, state = $2 WHERE id = $3"


async def main() -> None:
    args = harness.parse_args(__doc__ or "")
    assert args.store == "postgres" and args.commits > 0, args
    failing = harness.set_variant(args.variant) == "rollback"
    lanes = args.concurrency

    async def saga_and_commits(conn: asyncpg.Connection, lane: int) -> None:
        state = plain_saga()
        assert state.shipment_created != failing, state
        for step in range(args.commits):
            await conn.execute(UPDATE, step, state.model_dump_json(), lane)

    setup = await asyncpg.connect(args.db)
    await setup.execute("CREATE TABLE floor (id INT PRIMARY KEY, step INT, state TEXT)")
    await setup.executemany(
        "INSERT INTO floor VALUES ($1, 0, '{}')", [(lane,) for lane in range(lanes)]
    )
    await saga_and_commits(setup, 0)  # warm-up
    await setup.close()
    before = harness.pg_counters(args.db)

    # one connection per lane, held for the whole run: no pool round trips in the floor
    free: asyncio.Queue[tuple[int, asyncpg.Connection]] = asyncio.Queue()
    for lane in range(lanes):
        free.put_nowait((lane, await asyncpg.connect(args.db)))

    async def one() -> None:
        lane, conn = await free.get()
        await saga_and_commits(conn, lane)
        free.put_nowait((lane, conn))

    elapsed, latencies = await harness.drive_async(one, args.runs, lanes)
    while not free.empty():
        await free.get_nowait()[1].close()
    extra = harness.pg_per_workflow(before, harness.pg_counters(args.db), args.runs)
    harness.emit(args.runs, elapsed, latencies, extra.pop("commits"), **extra)


if __name__ == "__main__":
    asyncio.run(main())
