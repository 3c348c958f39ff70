"""Our engine (this repository's ``ruvon``), main venv: the tutorial saga on one store.

    .venv/bin/python bench/engines/ruvon_worker.py --store sqlite-normal --variant success \
        --runs 1000 --db /tmp/x.db

Stores: ``InMemoryPersistenceProvider`` (``memory://``), ``SQLitePersistenceProvider(path,
synchronous=FULL|NORMAL)`` (WAL), ``PostgresPersistenceProvider(url)``. The workflow is driven
as the tutorial's ``main.py`` drives it (``bench/common.py``'s ``run_one``).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness

sys.path.insert(0, str(harness.BENCH))
from common import builder, run_one

from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.observability.logging import LoggingObserver

EXPECTED = {"success": "COMPLETED", "rollback": "FAILED_ROLLED_BACK"}


def make_store(args: Any) -> Any:
    if args.store == "memory":
        from ruvon.implementations.persistence import store_from_url

        return store_from_url("memory://")
    if args.store == "postgres":
        from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

        return PostgresPersistenceProvider(args.db, max_size=max(10, args.concurrency))
    from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider

    return SQLitePersistenceProvider(args.db, synchronous=harness.sqlite_sync(args.store))


async def main() -> None:
    args = harness.parse_args(__doc__ or "")
    expected = EXPECTED[harness.set_variant(args.variant)]
    b, executor, observer = builder(), SyncExecutor(), LoggingObserver()

    async def one(store: Any) -> None:
        status = await run_one(b, store, executor, observer)
        assert status == expected, status

    store = make_store(args)
    await store.initialize()
    await one(store)  # warm-up: imports, caches, schema
    if args.store == "postgres":
        # count the server's commits over a second store instance whose connections all close
        await store.close()
        before = harness.pg_counters(args.db)
        store = make_store(args)
        await store.initialize()
    sqlite_commits = harness.SQLiteCommits()
    if args.store.startswith("sqlite"):
        sqlite_commits.attach(store._db)
    own_before = store.commits

    elapsed, latencies = await harness.drive_async(lambda: one(store), args.runs, args.concurrency)

    own = (store.commits - own_before) / args.runs
    await store.close()
    extra: dict[str, Any] = {}
    if args.store == "postgres":
        extra = harness.pg_per_workflow(before, harness.pg_counters(args.db), args.runs)
        commits: float | None = extra.pop("commits")
    elif args.store.startswith("sqlite"):
        commits = sqlite_commits.count / args.runs
    else:
        commits = own  # in memory: the transitions the store applies atomically
    harness.emit(args.runs, elapsed, latencies, commits, store_commits_per_workflow=own, **extra)


if __name__ == "__main__":
    with harness.quiet():
        asyncio.run(main())
