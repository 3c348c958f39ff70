"""What every benchmark worker shares. Standard library only: it is imported in every venv.

A worker is run as a fresh process (``python bench/engines/X_worker.py --store ... --variant
...``), runs ``--runs`` workflows of the tutorial saga after one warm-up workflow, and prints one
JSON line on its real stdout (see :func:`emit`). Everything the engine itself prints or logs goes
to /dev/null while it runs (:func:`quiet`), so the line is the only output.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BENCH = Path(__file__).resolve().parents[1]
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))  # ``workloads.payment`` is imported by module path

INITIAL = {"order_id": "ORD-12345", "customer_id": "CUST-789", "amount": 299.99, "currency": "USD"}
WORKFLOW_YAML = BENCH / "workloads" / "payment" / "workflow.yaml"
STORES = ("memory", "sqlite-full", "sqlite-normal", "postgres")
_REAL_STDOUT = os.dup(1)


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--store", choices=STORES, required=True)
    parser.add_argument("--variant", choices=("success", "rollback"), required=True)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--db", default="", help="SQLite file, or postgresql:// URL of a fresh DB")
    parser.add_argument("--commits", type=int, default=0, help="floors: commits per workflow")
    return parser.parse_args()


def sqlite_sync(store: str) -> str:
    return {"sqlite-full": "FULL", "sqlite-normal": "NORMAL"}[store]


def set_variant(variant: str) -> str:
    """Arm (or disarm) the failure in step 4; returns the engine-neutral expected outcome."""
    from workloads.payment import steps_noprint as steps

    steps.FAIL_AT["shipment"] = variant == "rollback"
    return variant


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Send fd 1 and 2 to /dev/null (the engines' own prints and logs); restore on the way out."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def emit(
    n: int,
    elapsed: float,
    latencies_ms: list[float],
    commits: float | None,
    **extra: Any,
) -> None:
    """Print the worker's one JSON line (workflows/s, p50/p95, peak RSS, commits per workflow)."""
    assert len(latencies_ms) == n, (len(latencies_ms), n)
    line = {
        "n": n,
        "elapsed_s": elapsed,
        "workflows_per_s": n / elapsed,
        "p50_ms": percentile(latencies_ms, 0.50),
        "p95_ms": percentile(latencies_ms, 0.95),
        # Linux reports ru_maxrss in KiB
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "commits_per_workflow": commits,
        **extra,
    }
    os.write(_REAL_STDOUT, (json.dumps(line) + "\n").encode())


# -- driving n workflows, k in flight -------------------------------------------------------


async def drive_async(
    one: Callable[[], Awaitable[None]], n: int, concurrency: int
) -> tuple[float, list[float]]:
    """Run ``one()`` n times, ``concurrency`` at a time; (elapsed s, per-workflow latency ms)."""
    latencies: list[float] = []

    async def timed() -> None:
        t0 = time.perf_counter()
        await one()
        latencies.append((time.perf_counter() - t0) * 1000)

    start = time.perf_counter()
    if concurrency == 1:
        for _ in range(n):
            await timed()
    else:
        sem = asyncio.Semaphore(concurrency)

        async def limited() -> None:
            async with sem:
                await timed()

        await asyncio.gather(*(limited() for _ in range(n)))
    return time.perf_counter() - start, latencies


def drive_threads(one: Callable[[], None], n: int, concurrency: int) -> tuple[float, list[float]]:
    """The same for blocking engines: ``concurrency`` threads share the n workflows."""
    latencies: list[float] = []

    def timed(_: int = 0) -> None:
        t0 = time.perf_counter()
        one()
        latencies.append((time.perf_counter() - t0) * 1000)

    start = time.perf_counter()
    if concurrency == 1:
        for _ in range(n):
            timed()
    else:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(timed, range(n)))
    return time.perf_counter() - start, latencies


# -- counting commits ------------------------------------------------------------------------


class SQLiteCommits:
    """Counts the write transactions SQLite commits on the connections it is attached to.

    A ``sqlite3`` trace callback sees every statement SQLite runs, including the ``COMMIT`` that
    ``Connection.commit()`` issues itself. A commit is a ``COMMIT``/``END`` statement, or a
    write statement run outside any transaction (SQLite's autocommit makes it its own).
    """

    _WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def attach(self, conn: Any) -> None:
        def trace(sql: str) -> None:
            head = sql.lstrip()[:8].upper()
            if head.startswith(("COMMIT", "END")) or (
                head.startswith(self._WRITES) and not conn.in_transaction
            ):
                with self._lock:
                    self.count += 1

        conn.set_trace_callback(trace)


def admin_url(db_url: str) -> str:
    """The same server, database ``postgres``: where the statistics are read from."""
    return urlunsplit(urlsplit(db_url)._replace(path="/postgres"))


def db_name(db_url: str) -> str:
    return urlsplit(db_url).path.lstrip("/")


def _pg_fetchval(url: str, sql: str, arg: str) -> Any:
    """One value from one query, with whichever Postgres driver this venv has."""
    try:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(sql.replace("$1", "%s"), (arg,)).fetchone()
            return row[0] if row else None
    except ImportError:
        pass
    try:
        import psycopg2

        conn = psycopg2.connect(url)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql.replace("$1", "%s"), (arg,))
                row = cur.fetchone()
                return row[0] if row else None
        finally:
            conn.close()
    except ImportError:
        pass
    import asyncpg

    async def fetch() -> Any:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval(sql, arg)
        finally:
            await conn.close()

    # may be called from inside a running event loop: use a thread with its own loop
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(asyncio.run(fetch())))
    thread.start()
    thread.join()
    return box[0]


def pg_counters(db_url: str, timeout: float = 15.0) -> dict[str, int]:
    """``pg_stat_database.xact_commit`` / ``xact_rollback`` of the database, read once no
    session is connected to it.

    Both count every transaction of that database, read-only ones included (a statement run
    outside ``BEGIN`` is a transaction of its own). A backend flushes these counters when it
    exits (otherwise at most once a second, or ten seconds after it goes idle), so they are
    read after the engine's connections have all gone: then they are exact.
    """
    admin, name = admin_url(db_url), db_name(db_url)
    deadline = time.monotonic() + timeout
    while _pg_fetchval(admin, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", name):
        if time.monotonic() > deadline:
            raise RuntimeError(f"sessions still connected to {name} after {timeout}s")
        time.sleep(0.05)
    time.sleep(0.05)
    stats = "SELECT {} FROM pg_stat_database WHERE datname = $1"
    return {
        "xact_commit": int(_pg_fetchval(admin, stats.format("xact_commit"), name)),
        "xact_rollback": int(_pg_fetchval(admin, stats.format("xact_rollback"), name)),
    }


def pg_per_workflow(before: dict[str, int], after: dict[str, int], n: int) -> dict[str, float]:
    """Per workflow: ``commits`` (the ``xact_commit`` delta) and the rolled-back ones."""
    return {
        "commits": (after["xact_commit"] - before["xact_commit"]) / n,
        "pg_xact_rollback_per_workflow": (after["xact_rollback"] - before["xact_rollback"]) / n,
    }
