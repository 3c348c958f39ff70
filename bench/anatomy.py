"""Where one workflow's time goes, store by store: the measured "why" behind missed targets.

    .venv/bin/python bench/anatomy.py [--runs 1000] [--pg postgresql://.../fresh_db]

Run by ``make bench`` after the timed runs, in one process of the main venv; prints one JSON
line per section (``memory``, ``sqlite-normal``, ``sqlite-full``, ``postgres``):

- **memory**: microseconds per workflow at three levels, measured interleaved in this process
  (best of 5 rounds): the plain function; the plain function plus the fixed work our contract
  adds to it (each step's result merged into a new, fully validated state; the state serialized
  once per commit); and our engine. The last difference is the engine's bookkeeping (records,
  journal, lease, status table, observer checks, store).
- **sqlite-***: microseconds per workflow spent in each kind of SQL statement, the ``COMMIT``
  apart, and how many WAL frames (pages) each kind of commit writes, against the one page of the
  floor's single-row ``UPDATE``.
- **postgres**: per variant, the time per workflow, its commits, and the median latency of one
  of our commits; and of a raw one-row ``UPDATE`` and of ``SELECT 1`` (the round trip) on the
  same server, interleaved with them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "engines"))

import common  # noqa: E402
from plain_worker import PAIRS, plain_saga  # noqa: E402
from workloads.payment.models import PaymentState  # noqa: E402

from ruvon.implementations.execution.sync import SyncExecutor  # noqa: E402
from ruvon.implementations.observability.logging import LoggingObserver  # noqa: E402
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider  # noqa: E402
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider  # noqa: E402
from ruvon.runtime.merge import merge_result  # noqa: E402

VARIANTS = ("success", "rollback")


def contract_saga() -> bytes:
    """The plain saga plus what our contract makes any engine do: every result merged into a
    new state validated as a whole from the JSON the commit writes (creation included)."""
    state = PaymentState(**common.INITIAL)
    last = PaymentState.__pydantic_serializer__.to_json(state)
    undo = []
    try:
        for forward, compensate in PAIRS:
            merged = merge_result(state, forward(state, None), "step")
            state, last = merged.state, merged.state_json
            undo.append(compensate)
    except Exception:
        state = PaymentState.model_validate_json(last)  # the failed step's changes are dropped
        for compensate in reversed(undo):
            merged = merge_result(state, compensate(state, None), "compensation", compensation=True)
            state, last = merged.state, merged.state_json
    return last


def _us_per(fn: Any, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


async def memory(runs: int) -> dict[str, Any]:
    b, executor, observer = common.builder(), SyncExecutor(), LoggingObserver()
    out: dict[str, Any] = {}
    for variant in VARIANTS:
        common.steps.FAIL_AT["shipment"] = variant == "rollback"
        best: dict[str, float] = {}
        for _ in range(5):
            store = InMemoryPersistenceProvider()
            start = time.perf_counter()
            for _ in range(runs):
                await common.run_one(b, store, executor, observer)
            ours = (time.perf_counter() - start) / runs * 1e6
            for key, value in (
                ("ours_us", ours),
                ("plain_us", _us_per(plain_saga, runs)),
                ("contract_us", _us_per(contract_saga, runs)),
            ):
                best[key] = min(best.get(key, value), value)
        out[variant] = {k: round(v, 1) for k, v in best.items()}
    return {"section": "memory", "runs": runs, **out}


class _Timed:
    """Wraps a ``sqlite3.Connection``: time spent per kind of statement."""

    def __init__(self, db: sqlite3.Connection, spent: Counter[str]) -> None:
        self._db = db
        self._spent = spent

    @staticmethod
    def kind(sql: str) -> str:
        words = sql.split()
        head = words[0].upper()
        if head in ("INSERT", "UPDATE") and len(words) > 2:
            table = words[2] if head == "INSERT" else words[1]
            return f"{head} {table}"
        return head

    def execute(self, sql: str, *args: Any) -> Any:
        start = time.perf_counter()
        try:
            return self._db.execute(sql, *args)
        finally:
            self._spent[self.kind(sql)] += time.perf_counter() - start

    def executemany(self, sql: str, *args: Any) -> Any:
        start = time.perf_counter()
        try:
            return self._db.executemany(sql, *args)
        finally:
            self._spent[self.kind(sql)] += time.perf_counter() - start

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def _wal_frames(path: str) -> int:
    try:
        size = os.path.getsize(path + "-wal")
    except OSError:
        return 0
    page = 4096  # our databases use SQLite's default page size
    return max(0, (size - 32) // (page + 24))


async def sqlite(sync: str, runs: int, workdir: str) -> dict[str, Any]:
    from ruvon.implementations.persistence import sqlite as sqlite_module

    common.steps.FAIL_AT["shipment"] = False
    path = os.path.join(workdir, f"anatomy-{sync.lower()}.db")
    store = SQLitePersistenceProvider(path, synchronous=sync)
    await store.initialize()
    b, executor, observer = common.builder(), SyncExecutor(), LoggingObserver()
    for _ in range(max(50, runs // 4)):  # a table of some size, as in the timed runs
        await common.run_one(b, store, executor, observer)

    spent: Counter[str] = Counter()
    assert store._db is not None
    store._db = _Timed(store._db, spent)  # type: ignore[assignment]
    store._conn = sqlite_module._Conn(store._db)  # type: ignore[arg-type]
    start = time.perf_counter()
    for _ in range(runs):
        await common.run_one(b, store, executor, observer)
    total = (time.perf_counter() - start) / runs * 1e6
    timed = dict(spent)  # the statements of the timed workflows only

    # frames per kind of commit: the WAL only grows while checkpoints are off
    store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store._db.execute("PRAGMA wal_autocheckpoint = 0")
    frames: dict[str, list[int]] = {}
    apply, insert = store._apply_transition, store._insert_workflow

    async def counted_apply(t: Any, values: dict[str, Any]) -> bool:
        before = _wal_frames(path)
        done = await apply(t, values)
        kind = "step" if t.status is t.previous_status else "status change"
        frames.setdefault(kind, []).append(_wal_frames(path) - before)
        return done

    async def counted_insert(values: dict[str, Any]) -> bool:
        before = _wal_frames(path)
        done = await insert(values)
        frames.setdefault("create", []).append(_wal_frames(path) - before)
        return done

    store._apply_transition = counted_apply  # type: ignore[method-assign]
    store._insert_workflow = counted_insert  # type: ignore[method-assign]
    for _ in range(100):
        await common.run_one(b, store, executor, observer)
    await store.close()

    floor = os.path.join(workdir, f"anatomy-floor-{sync.lower()}.db")
    db = sqlite3.connect(floor, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA wal_autocheckpoint = 0")
    db.execute("CREATE TABLE floor (id INTEGER PRIMARY KEY, step INTEGER, state TEXT)")
    db.execute("INSERT INTO floor VALUES (1, 0, '{}')")
    before = _wal_frames(floor)
    for step in range(100):
        db.execute("UPDATE floor SET step = ?, state = ? WHERE id = 1", (step, "{}"))
    floor_frames = (_wal_frames(floor) - before) / 100
    db.close()
    return {
        "section": f"sqlite-{sync.lower()}",
        "runs": runs,
        "total_us": round(total, 1),
        "statements_us": {
            k: round(v / runs * 1e6, 1)
            for k, v in sorted(timed.items(), key=lambda kv: kv[1], reverse=True)
        },
        "frames_per_commit": {k: round(sum(v) / len(v), 1) for k, v in sorted(frames.items())},
        "commits_per_workflow": {k: round(len(v) / 100, 2) for k, v in sorted(frames.items())},
        "floor_frames_per_commit": round(floor_frames, 1),
    }


async def postgres(url: str, runs: int) -> dict[str, Any]:
    import asyncpg

    from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

    store = PostgresPersistenceProvider(url, max_size=2)
    await store.initialize()
    b, executor, observer = common.builder(), SyncExecutor(), LoggingObserver()
    ours: list[float] = []
    commit = store.commit

    async def timed_commit(transition: Any) -> None:
        start = time.perf_counter()
        await commit(transition)
        ours.append(time.perf_counter() - start)

    store.commit = timed_commit  # type: ignore[method-assign]
    raw = await asyncpg.connect(url)
    await raw.execute("CREATE TABLE anatomy_floor (id INTEGER PRIMARY KEY, state TEXT)")
    await raw.execute("INSERT INTO anatomy_floor VALUES (1, '{}')")
    state = PaymentState(**common.INITIAL).model_dump_json()
    update: list[float] = []
    select: list[float] = []

    def median_us(values: list[float]) -> float:
        ordered = sorted(values)
        return round(ordered[len(ordered) // 2] * 1e6, 1)

    out: dict[str, Any] = {"section": "postgres", "runs": runs}
    for variant in VARIANTS:
        common.steps.FAIL_AT["shipment"] = variant == "rollback"
        for _ in range(20):
            await common.run_one(b, store, executor, observer)
        ours.clear()
        commits_before, spent = store.commits, 0.0
        for _ in range(runs):  # interleaved: a slow spell hits ours and the raw statements alike
            start = time.perf_counter()
            await common.run_one(b, store, executor, observer)
            spent += time.perf_counter() - start
            start = time.perf_counter()
            await raw.execute("UPDATE anatomy_floor SET state = $1 WHERE id = 1", state)
            update.append(time.perf_counter() - start)
            start = time.perf_counter()
            await raw.fetchval("SELECT 1")
            select.append(time.perf_counter() - start)
        out[variant] = {
            "workflow_us": round(spent / runs * 1e6, 1),
            "commits_per_workflow": round((store.commits - commits_before) / runs, 2),
            "our_commit_us": median_us(ours),  # creation is not a commit(): not in here
        }
    await raw.execute("DROP TABLE anatomy_floor")
    await raw.close()
    await store.close()
    out["raw_update_us"] = median_us(update)
    out["round_trip_us"] = median_us(select)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--pg", default="", help="postgresql:// URL of a fresh database")
    args = parser.parse_args()
    print(json.dumps(await memory(args.runs)), flush=True)
    with tempfile.TemporaryDirectory(prefix="ruvon-anatomy-") as workdir:
        for sync in ("NORMAL", "FULL"):
            runs = args.runs if sync == "NORMAL" else max(50, args.runs // 5)
            print(json.dumps(await sqlite(sync, runs, workdir)), flush=True)
    if args.pg:
        print(json.dumps(await postgres(args.pg, max(50, args.runs // 5))), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
