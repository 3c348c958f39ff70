"""The dashboard's first page with 10,000 workflows in the store (target: under 200 ms).

    .venv/bin/python bench/dashboard.py [--workflows 10000] [--repeat 50]
                                        [--postgres postgresql://...]

1. Seeds a fresh SQLite file (WAL; ``synchronous=NORMAL`` while seeding, to save time) with
   ``--workflows`` runs of the tutorial's saga (``bench/workloads/payment``, prints removed),
   through the engine: 80% complete, 15% fail at ``Create_Shipment`` and are rolled back (three
   compensations each), 5% are created and left ``ACTIVE``. With ``--postgres`` the same goes
   into that database too (its ruvon tables are emptied first).
2. Starts ``ruvon serve`` on each store and, over HTTP on loopback with one kept-alive
   connection, requests: the list page (``/``), the API's first page (``/api/workflows``), and
   both filtered to the rarest status (``ACTIVE``, 5%: the rows are found by scanning the
   newest first) and to a type. The first request of each is the cold one; then ``--repeat``
   more. Also times the two store calls a first page makes (``list_workflows`` of 50 and
   ``count_workflows``), in this process.
3. Prints one line per measurement: cold, median, p95 and max, in milliseconds.

The target is the median of ``/`` under 200 ms. Everything printed is measured in this run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH / "engines"))

from harness import INITIAL, WORKFLOW_YAML, percentile  # noqa: E402
from workloads.payment import steps_noprint as steps  # noqa: E402

from ruvon.builder import WorkflowBuilder  # noqa: E402
from ruvon.implementations.persistence import store_from_url  # noqa: E402
from ruvon.providers.persistence import PersistenceProvider  # noqa: E402

TARGET_MS = 200.0
PAGES = {
    "list page /": "/",
    "api /api/workflows": "/api/workflows",
    "list page ?status=ACTIVE": "/?status=ACTIVE",
    "api ?status=ACTIVE": "/api/workflows?status=ACTIVE",
    "list page ?type=PaymentProcessing": "/?type=PaymentProcessing",
}


@contextlib.contextmanager
def _shipment_fails() -> Iterator[None]:
    original = steps.create_shipment

    def failing(state: object, context: object, **kwargs: object) -> dict[str, object]:
        raise RuntimeError("Carrier API unavailable")

    steps.create_shipment = failing
    try:
        yield
    finally:
        steps.create_shipment = original


def _builder(store: PersistenceProvider) -> WorkflowBuilder:
    b = WorkflowBuilder(config_dir=WORKFLOW_YAML.parent, persistence_provider=store)
    b.get_definition("PaymentProcessing")  # imports the step functions now
    return b


async def seed(url: str, total: int) -> dict[str, int]:
    """``total`` tutorial sagas through the engine; the count of each outcome."""
    store = store_from_url(url)
    await store.initialize()
    counts = {"COMPLETED": 0, "FAILED_ROLLED_BACK": 0, "ACTIVE": 0}
    ok = _builder(store)
    with _shipment_fails():
        failing = _builder(store)  # compiled while create_shipment raises
    for i in range(total):
        data = {**INITIAL, "order_id": f"ORD-{i:06d}"}
        kind = i % 20
        if kind == 0:  # 5%: created, not advanced
            await ok.create_workflow("PaymentProcessing", data)
            counts["ACTIVE"] += 1
            continue
        b = failing if kind <= 3 else ok  # 15% fail and roll back
        wf = await b.create_workflow("PaymentProcessing", data)
        await wf.run()
        counts[wf.status.value] += 1
    await store.close()
    return counts


async def store_calls(url: str, repeat: int) -> dict[str, list[float]]:
    """The two queries behind a first page, timed in this process."""
    store = store_from_url(url)
    await store.initialize()
    times: dict[str, list[float]] = {
        "store list_workflows(limit=50)": [],
        "store count_workflows()": [],
    }
    try:
        for _ in range(repeat + 1):
            t = time.perf_counter()
            rows = await store.list_workflows(limit=50)
            times["store list_workflows(limit=50)"].append((time.perf_counter() - t) * 1000)
            assert len(rows) == 50
            t = time.perf_counter()
            await store.count_workflows()
            times["store count_workflows()"].append((time.perf_counter() - t) * 1000)
    finally:
        await store.close()
    return times


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(url: str) -> Iterator[str]:
    """``ruvon serve`` on ``url`` (the step functions importable from bench/)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUVON_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ruvon.cli", "serve", "--db", url, "--port", str(port),
         "--app-dir", str(BENCH), "--config-dir", str(WORKFLOW_YAML.parent)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"ruvon serve exited: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise SystemExit("ruvon serve did not start in 30 s") from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def http_times(base: str, repeat: int) -> dict[str, list[float]]:
    """Per page: the cold request first, then ``repeat`` more (one kept-alive connection)."""
    times: dict[str, list[float]] = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        for name, path in PAGES.items():
            samples = []
            for _ in range(repeat + 1):
                t = time.perf_counter()
                answer = client.get(path)
                samples.append((time.perf_counter() - t) * 1000)
                assert answer.status_code == 200, (path, answer.status_code, answer.text[:200])
            times[name] = samples
    return times


def measure(
    name: str, seed_url: str, serve_url: str, workflows: int, repeat: int
) -> dict[str, list[float]]:
    t = time.perf_counter()
    counts = asyncio.run(seed(seed_url, workflows))
    print(f"  seeded {name} in {time.perf_counter() - t:.1f} s: {counts}")
    times = asyncio.run(store_calls(serve_url, repeat))
    with serving(serve_url) as base:
        times.update(http_times(base, repeat))
    return times


def report(store: str, times: dict[str, list[float]]) -> None:
    for name, samples in times.items():
        cold, warm = samples[0], samples[1:]
        print(
            f"  {store:<8} {name:<36} {cold:8.1f} {statistics.median(warm):8.1f} "
            f"{percentile(warm, 0.95):8.1f} {max(warm):8.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workflows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument(
        "--postgres",
        metavar="SERVER_URL",
        help="also measure on PostgreSQL: a database of its own is created on this server "
        "(the URL names the maintenance database) and dropped afterwards",
    )
    args = parser.parse_args()

    print(f"the dashboard's first page, {args.workflows:,} workflows in the store")
    results: list[tuple[str, dict[str, list[float]]]] = []
    with tempfile.TemporaryDirectory(prefix="ruvon-dashboard-bench-") as folder:
        db = Path(folder) / "dashboard.db"
        sqlite = (f"sqlite:///{db}?synchronous=NORMAL", f"sqlite:///{db}")
        results.append(("SQLite", measure("SQLite", *sqlite, args.workflows, args.repeat)))
    if args.postgres:
        with bench_database(args.postgres) as url:
            results.append(("Postgres", measure("Postgres", url, url, args.workflows, args.repeat)))
    print(f"  {'store':<8} {'request':<36} {'cold':>8} {'median':>8} {'p95':>8} {'max':>8}  (ms)")
    for name, times in results:
        report(name, times)
    worst = max(statistics.median(t["list page /"][1:]) for _, t in results)
    verdict = "meets" if worst < TARGET_MS else "MISSES"
    print(f"the list page's median: {worst:.1f} ms: {verdict} the {TARGET_MS:.0f} ms target")


@contextlib.contextmanager
def bench_database(server_url: str) -> Iterator[str]:
    """A database of its own on the server (created, then dropped): nothing else is touched."""
    import asyncpg

    name = f"ruvon_dashboard_bench_{os.getpid()}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
