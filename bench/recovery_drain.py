"""Drain a backlog: 1,000 tutorial sagas left unfinished by a killed runner, then recovered.

    .venv/bin/python bench/recovery_drain.py [--workflows 1000] [--concurrency 1 10]
                                             [--synchronous FULL] [--lease 1.0]

For each ``--concurrency`` value, on a fresh SQLite file:

1. A *victim* process (this script with ``--victim``) creates the workflows (the tutorial's
   saga, ``bench/workloads/payment``) and runs them all at once with a short lease. Its
   execution provider parks each workflow, for good, inside one of its four steps (picked at
   random, seeded): the steps before it are committed, the one it is in is not. When every
   workflow is parked, the parent kills the victim with SIGKILL.
2. The parent waits until the victim's leases have expired and checks that every workflow is
   still unfinished.
3. It starts a fresh ``ruvon recover --db URL --app-dir bench --concurrency N`` process and
   measures, from the moment it starts that process, how long until every workflow is terminal
   (polling the database) and until the process exits.
4. It checks that every workflow is ``COMPLETED`` and no step completed twice, and prints one
   line per run.

Everything printed is measured in this run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
WORKFLOW_YAML = BENCH / "workloads" / "payment" / "workflow.yaml"
INITIAL = {"order_id": "ORD-12345", "customer_id": "CUST-789", "amount": 299.99, "currency": "USD"}
_SCRIPT = Path(sys.executable).with_name("ruvon")
RUVON = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "ruvon.cli"]
TERMINAL = ("COMPLETED", "FAILED", "FAILED_ROLLED_BACK", "COMPENSATION_FAILED", "CANCELLED")


# --- the victim: runs the workflows and is killed while every one is inside a step -------------


class ParkingExecutor:
    """Calls the tutorial's (synchronous) steps like ``SyncExecutor``, except that a workflow
    reaching the step it was given to die in waits there forever."""

    def __init__(self, park_at: dict[str, int], total: int) -> None:
        self.park_at = park_at
        self.total = total
        self.parked = 0
        self.all_parked = asyncio.Event()

    async def execute(self, call: Any) -> Any:
        if call.context.step_index == self.park_at.get(call.context.workflow_id):
            self.parked += 1
            if self.parked == self.total:
                self.all_parked.set()
            await asyncio.Event().wait()  # until SIGKILL
        return call.function(call.state, call.context, **call.user_input)


async def victim(url: str, n: int, lease: float, seed: int) -> None:
    sys.path.insert(0, str(BENCH))
    from ruvon.builder import WorkflowBuilder
    from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider

    store = SQLitePersistenceProvider(url)
    await store.initialize()
    builder = WorkflowBuilder(
        workflow_registry={"PaymentProcessing": str(WORKFLOW_YAML)},
        persistence_provider=store,
        lease_seconds=lease,
    )
    rng = random.Random(seed)
    park_at: dict[str, int] = {}
    executor = ParkingExecutor(park_at, n)
    workflows = []
    for _ in range(n):
        wf = await builder.create_workflow(
            "PaymentProcessing", INITIAL, execution_provider=executor
        )
        park_at[wf.id] = rng.randrange(4)  # the step it dies in
        workflows.append(wf)
    tasks = [asyncio.create_task(wf.next_step()) for wf in workflows]
    await executor.all_parked.wait()
    print(f"parked {n}", flush=True)
    await asyncio.gather(*tasks)  # never returns: the parent kills this process


# --- the parent -------------------------------------------------------------------------------


def _query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path, timeout=30)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def _unfinished(path: Path) -> int:
    marks = ", ".join(f"'{s}'" for s in TERMINAL)
    return int(
        _query(path, f"SELECT count(*) FROM ruvon_workflows WHERE status NOT IN ({marks})")[0][0]
    )


def leave_unfinished(url: str, path: Path, n: int, lease: float, seed: int) -> dict[int, int]:
    """Run the victim until every workflow is parked in a step, SIGKILL it, let leases expire."""
    argv = [sys.executable, __file__, "--victim", "--db", url, "--workflows", str(n)]
    argv += ["--lease", str(lease), "--seed", str(seed)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != f"parked {n}":
        proc.kill()
        raise SystemExit(f"victim did not park its workflows: {line!r}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = time.time()
    time.sleep(lease + 0.3)  # the last renewal of the lease keeper ran out
    expired = _query(
        path,
        "SELECT count(*) FROM ruvon_workflows WHERE status = 'ACTIVE' "
        f"AND lease_owner IS NOT NULL AND lease_expires_at < {time.time()}",
    )[0][0]
    assert expired == n == _unfinished(path), (expired, n, _unfinished(path))
    assert time.time() > killed_at + lease
    return {
        int(step): int(count)
        for step, count in _query(
            path, "SELECT current_step, count(*) FROM ruvon_workflows GROUP BY current_step"
        )
    }


def drain(
    url: str, path: Path, n: int, concurrency: int, timeout: float
) -> tuple[float, float, float]:
    """Start a recovery process; seconds until all workflows are terminal, until it exits, and
    the CPU seconds it used (user + system: a figure that other load on the machine does not
    inflate the way it inflates wall time)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    argv = [*RUVON, "recover", "--db", url, "--app-dir", str(BENCH), "--limit", str(n)]
    argv += ["--concurrency", str(concurrency)]
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    all_terminal = None
    while all_terminal is None:
        if _unfinished(path) == 0:
            all_terminal = time.monotonic() - started
        elif time.monotonic() - started > timeout:
            proc.kill()
            raise SystemExit(f"{_unfinished(path)} workflows still unfinished after {timeout}s")
        else:
            time.sleep(0.02)
    out, err = proc.communicate(timeout=timeout)
    exited = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0 or not out.strip().endswith(f"{n} workflow(s) recovered"):
        raise SystemExit(f"recovery failed (rc {proc.returncode}):\n{out[-2000:]}\n{err[-2000:]}")
    return all_terminal, exited, cpu


def check(path: Path, n: int) -> None:
    completed = _query(path, "SELECT count(*) FROM ruvon_workflows WHERE status = 'COMPLETED'")
    twice = _query(
        path,
        "SELECT count(*) FROM (SELECT workflow_id, step_name FROM ruvon_step_attempts "
        "WHERE status = 'COMPLETED' GROUP BY workflow_id, step_name HAVING count(*) > 1)",
    )
    assert completed[0][0] == n, f"{completed[0][0]} of {n} COMPLETED"
    assert twice[0][0] == 0, f"{twice[0][0]} steps completed twice"


def fsync_ms(directory: str, n: int = 100) -> float:
    """Median time of an fsync of a 4 KiB write in ``directory`` now: under
    ``synchronous=FULL`` every commit waits for one, so it bounds the whole drain."""
    path = Path(directory) / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    times = []
    try:
        for _ in range(n):
            os.write(fd, b"x" * 4096)
            started = time.perf_counter()
            os.fsync(fd)
            times.append(time.perf_counter() - started)
    finally:
        os.close(fd)
        path.unlink()
    return sorted(times)[n // 2] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workflows", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL"])
    parser.add_argument("--lease", type=float, default=1.0, help="the victim's lease, seconds")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--victim", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.victim:
        asyncio.run(victim(args.db, args.workflows, args.lease, args.seed))
        return
    n = args.workflows
    print(f"{n} tutorial sagas on SQLite (WAL, synchronous={args.synchronous}), runner killed")
    print(
        f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
        f"fsync median now: {fsync_ms(tempfile.gettempdir()):.2f} ms"
    )
    print(
        "| concurrency | parked in step 1/2/3/4 | all terminal after | process exited after "
        "| recovery CPU |"
    )
    print("|---:|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for concurrency in args.concurrency:
            path = Path(tmp) / f"drain-{concurrency}.db"
            url = f"sqlite:///{path}?synchronous={args.synchronous}"
            steps = leave_unfinished(url, path, n, args.lease, args.seed)
            parked = "/".join(str(steps.get(i, 0)) for i in range(4))
            terminal, exited, cpu = drain(url, path, n, concurrency, args.timeout)
            check(path, n)
            print(
                f"| {concurrency} | {parked} | {terminal:.2f} s | {exited:.2f} s | {cpu:.2f} s |",
                flush=True,
            )


if __name__ == "__main__":
    main()
