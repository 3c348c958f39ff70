"""Shared machinery of the crash-recovery tests: databases, child processes, snapshots, checks.

Every scenario (a test, or a group of checkpoint cases) gets its own database (a SQLite file,
or a schema of the session's PostgreSQL database reached with ``?search_path=<schema>``) and its
own side-effect counter file, so scenarios can run processes side by side without seeing each
other's workflows.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crashapp.effects import Effect, Kill

from ruvon.implementations.persistence import store_from_url
from ruvon.models import CompensationStatus, StepStatus
from ruvon.runtime.status import WorkflowStatus

HERE = Path(__file__).resolve().parent
APP_DIR = HERE  # holds the ``crashapp`` package: the --app-dir of recovery
DRIVER = HERE / "crash_driver.py"
RECOVER = HERE / "recover_script.py"
RACER = HERE / "race_worker.py"
_SCRIPT = Path(sys.executable).with_name("ruvon")  # the console script of this virtualenv
RUVON_CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "ruvon.cli"]

LEASE = 0.5  # the drivers' lease: recovery may take over this long after a kill
PROCESS_TIMEOUT = 90.0

# (step, forward function, compensation function), in definition order
STEPS = (
    ("Create_Order", "create_order", "cancel_order"),
    ("Charge_Payment", "charge_payment", "refund_payment"),
    ("Reserve_Inventory", "reserve_inventory", "release_inventory"),
    ("Create_Shipment", "create_shipment", "cancel_shipment"),
)
UNWIND = ("release_inventory", "refund_payment", "cancel_order")  # order of a shipment failure


# --- databases -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One scenario's database URL and side-effect counter file."""

    kind: str
    url: str
    effects: Path

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a child process working on this target."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RUVON_", "CRASHAPP_"))}
        env["CRASHAPP_EFFECTS"] = str(self.effects)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.update(extra)
        return env


async def _create_schema(server_db_url: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server_db_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()


def make_target(kind: str, name: str, directory: Path, pg_url: str | None) -> Target:
    """A fresh, empty database for one scenario."""
    directory.mkdir(parents=True, exist_ok=True)
    effects = directory / f"{name}.effects.sqlite"
    if kind == "sqlite":
        return Target(kind, f"sqlite:///{directory / f'{name}.db'}", effects)
    assert pg_url is not None
    asyncio.run(_create_schema(pg_url, name))
    return Target(kind, f"{pg_url}?search_path={name}", effects)


# --- processes -------------------------------------------------------------------------------


@dataclass
class Proc:
    """A finished child process: its pid, return code and output."""

    name: str
    pid: int
    returncode: int
    stdout: str
    stderr: str
    ended_at: float

    def json(self) -> Any:
        lines = [line for line in self.stdout.splitlines() if line.startswith("{")]
        assert lines, f"{self.name}: no JSON on stdout\n{self.describe()}"
        return json.loads(lines[-1])

    def describe(self) -> str:
        return (
            f"[{self.name} pid={self.pid} rc={self.returncode}]\n"
            f"--- stdout ---\n{self.stdout[-3000:]}\n--- stderr ---\n{self.stderr[-3000:]}"
        )


@dataclass
class Job:
    name: str
    argv: list[str]
    env: dict[str, str]
    logs: Path


def spawn(job: Job) -> subprocess.Popen[bytes]:
    """Start the job; its stdout and stderr go to files under ``job.logs``."""
    job.logs.mkdir(parents=True, exist_ok=True)
    with (
        open(job.logs / f"{job.name}.out", "wb") as out,
        open(job.logs / f"{job.name}.err", "wb") as err,
    ):
        return subprocess.Popen(job.argv, env=job.env, stdout=out, stderr=err)


def collect(job: Job, popen: subprocess.Popen[bytes]) -> Proc:
    """Wait for a spawned job (at most ``PROCESS_TIMEOUT``) and read what it wrote."""
    try:
        rc = popen.wait(PROCESS_TIMEOUT)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait()
        raise AssertionError(f"{job.name} hung for {PROCESS_TIMEOUT}s: {job.argv}") from None
    return Proc(
        job.name,
        popen.pid,
        rc,
        (job.logs / f"{job.name}.out").read_text(errors="replace"),
        (job.logs / f"{job.name}.err").read_text(errors="replace"),
        time.time(),
    )


def run_jobs(
    jobs: list[Job], parallel: int = 1, then: Callable[[Proc], Job | None] | None = None
) -> dict[str, Proc]:
    """Run the jobs, at most ``parallel`` at a time, each one's output going to files.

    ``then`` is called as each job ends and may return one more job to run. If anything
    fails, the processes still running are killed.
    """
    done: dict[str, Proc] = {}
    waiting = list(jobs)
    running: list[tuple[Job, subprocess.Popen[bytes], float]] = []
    try:
        while waiting or running:
            while waiting and len(running) < parallel:
                job = waiting.pop(0)
                running.append((job, spawn(job), time.monotonic()))
            for item in list(running):
                job, popen, started = item
                rc = popen.poll()
                if rc is None:
                    if time.monotonic() - started > PROCESS_TIMEOUT:
                        raise AssertionError(f"{job.name} hung for {PROCESS_TIMEOUT}s: {job.argv}")
                    continue
                running.remove(item)
                proc = done[job.name] = collect(job, popen)
                follow = then(proc) if then is not None else None
                if follow is not None:
                    waiting.append(follow)
            if running:
                time.sleep(0.01)
    finally:
        for _, popen, _ in running:
            popen.kill()
            popen.wait()
    return done


def run_one(job: Job) -> Proc:
    return run_jobs([job])[job.name]


def driver_job(
    name: str,
    target: Target,
    logs: Path,
    variants: str,
    *,
    crash_at: str | None = None,
    hit: int = 1,
    mode: str = "upfront",
    start_index: int = 0,
    key_prefix: str = "wf-",
    fail_shipment: bool = False,
    extra: tuple[str, ...] = (),
) -> Job:
    env: dict[str, str] = {}
    if crash_at:
        env["CRASHAPP_CRASH_AT"], env["CRASHAPP_CRASH_HIT"] = crash_at, str(hit)
    if fail_shipment:
        env["CRASHAPP_FAIL_SHIPMENT"] = "1"
    argv = [
        sys.executable,
        str(DRIVER),
        "--db",
        target.url,
        "--variants",
        variants,
        "--mode",
        mode,
        "--lease",
        str(LEASE),
        "--start-index",
        str(start_index),
        "--key-prefix",
        key_prefix,
        *extra,
    ]
    return Job(name, argv, target.env(**env), logs)


def recover_job(
    name: str, target: Target, logs: Path, *, cli: bool = False, fail_shipment: bool = False
) -> Job:
    """Recovery in a fresh process: ``ruvon recover`` (``cli``) or ``recover_script.py``."""
    env = {"CRASHAPP_FAIL_SHIPMENT": "1"} if fail_shipment else {}
    if cli:
        argv = [*RUVON_CLI, "recover", "--db", target.url, "--app-dir", str(APP_DIR)]
    else:
        argv = [
            sys.executable,
            str(RECOVER),
            "--db",
            target.url,
            "--app-dir",
            str(APP_DIR),
            "--until-empty",
        ]
    return Job(name, argv, target.env(**env), logs)


def recovered_ids(proc: Proc, cli: bool) -> list[str]:
    """The workflow ids a recovery process says it continued."""
    assert proc.returncode == 0, proc.describe()
    if cli:
        lines = proc.stdout.splitlines()
        ids = [line.split(" ", 1)[1] for line in lines if line.startswith("recovered ")]
        assert lines and lines[-1] == f"{len(ids)} workflow(s) recovered", proc.describe()
        return ids
    return list(proc.json()["recovered"])


def sleep_past_lease(last_exit: float) -> None:
    """Wait until every lease a dead child held has run out (plus a margin)."""
    time.sleep(max(0.0, last_exit + LEASE + 0.3 - time.time()))


# --- snapshots -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snap:
    """What the store says about one workflow."""

    id: str
    key: str | None
    status: WorkflowStatus
    state: dict[str, Any]
    history: tuple[tuple[str, StepStatus], ...]  # (step name, status) per attempt
    journal: tuple[tuple[str, str | None, CompensationStatus], ...]  # (step, function, status)
    version: int = 0
    saga_mode: bool = False
    # (kind, name, ended_at) of each COMPLETED step attempt ("step", step name) and journal
    # entry ("compensation", function): tells which run's commit went through
    completed_at: tuple[tuple[str, str, float], ...] = ()

    @property
    def committed_steps(self) -> set[str]:
        return {name for name, status in self.history if status is StepStatus.COMPLETED}

    def finished_compensations(self) -> set[str]:
        return {fn for _, fn, st in self.journal if fn and st is CompensationStatus.COMPLETED}

    def started_entries(self) -> int:
        return sum(1 for *_, st in self.journal if st is CompensationStatus.STARTED)


def _short(function: str | None) -> str | None:
    return function.rsplit(".", 1)[-1] if function else None


async def _column(url: str, column: str) -> list[Any]:
    """One column of every workflow row, read with plain SQL so the checks do not depend on
    ``store.list_workflows()`` (which failed on PostgreSQL with AmbiguousParameterError on
    ``:status IS NULL`` when this suite was written; see tests/contract)."""
    sql = f"SELECT {column} FROM ruvon_workflows ORDER BY created_at, id"
    if url.startswith("sqlite:"):
        from ruvon.implementations.persistence.sqlite import parse_sqlite_url

        db = sqlite3.connect(parse_sqlite_url(url)[0])
        try:
            return [row[0] for row in db.execute(sql)]
        finally:
            db.close()
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return [row[0] for row in await conn.fetch(sql)]
    finally:
        await conn.close()


def workflow_keys(target: Target) -> list[str | None]:
    """The idempotency key of every workflow of the target."""
    return asyncio.run(_column(target.url, "idempotency_key"))


def workflow_statuses(target: Target) -> list[str]:
    """The status of every workflow of the target."""
    return list(asyncio.run(_column(target.url, "status")))


async def _snapshot(url: str) -> dict[str, Snap]:
    store = store_from_url(url)
    try:
        out: dict[str, Snap] = {}
        for workflow_id in await _column(url, "id"):
            rec = await store.load_workflow(workflow_id)
            history = await store.step_history(rec.id)
            journal = await store.compensation_journal(rec.id)
            out[rec.id] = Snap(
                rec.id,
                rec.idempotency_key,
                rec.status,
                json.loads(rec.state),
                tuple((h.step_name, h.status) for h in history),
                tuple((j.step_name, _short(j.function), j.status) for j in journal),
                rec.version,
                rec.saga_mode,
                (
                    *(
                        ("step", h.step_name, h.ended_at or -1.0)
                        for h in history
                        if h.status is StepStatus.COMPLETED
                    ),
                    *(
                        ("compensation", _short(j.function) or "", j.ended_at or -1.0)
                        for j in journal
                        if j.status is CompensationStatus.COMPLETED
                    ),
                ),
            )
        return out
    finally:
        await store.close()


def snapshot(target: Target) -> dict[str, Snap]:
    """Every workflow of the target, read in this process."""
    return asyncio.run(_snapshot(target.url))


async def _recoverable(url: str) -> list[str]:
    store = store_from_url(url)
    try:
        return await store.find_recoverable(time.time() + 3600.0, 100_000)
    finally:
        await store.close()


def still_recoverable(target: Target) -> list[str]:
    """ACTIVE/COMPENSATING workflows with a lease (expired or not): should be none."""
    return asyncio.run(_recoverable(target.url))


# --- checks ----------------------------------------------------------------------------------


@dataclass
class Tally:
    """What happened to the side effects of a set of workflows."""

    workflows: int = 0
    forward_reruns: int = 0
    compensation_reruns: int = 0
    finished_compensations_repeated: int = 0
    problems: list[str] = field(default_factory=list)


def effects_by_workflow(effects: list[Effect]) -> dict[str, dict[str, list[Effect]]]:
    out: dict[str, dict[str, list[Effect]]] = defaultdict(lambda: defaultdict(list))
    for e in effects:
        out[e.workflow_id][e.function].append(e)
    return out


def check_workflow(
    tally: Tally,
    *,
    fail: bool,
    pre: Snap | None,
    post: Snap,
    effects: dict[str, list[Effect]],
    kill: Kill | None,
    recovery_pids: set[int],
) -> None:
    """Check one workflow after recovery against what was committed before the kill.

    ``pre`` is the store's view between the kill and recovery (``None``: not created then);
    ``kill`` the checkpoint kill that hit this workflow, if any. Problems go to ``tally``.
    """
    _Check(tally, fail, pre, post, effects, kill, recovery_pids).run()


@dataclass
class _Check:
    tally: Tally
    fail: bool
    pre: Snap | None
    post: Snap
    effects: dict[str, list[Effect]]
    kill: Kill | None
    recovery_pids: set[int]

    def problem(self, text: str) -> None:
        self.tally.problems.append(f"{self.post.id} ({self.post.key}): {text}")

    def in_flight_after(self, function: str) -> bool:
        """The process died right after this function's side effect, before the commit."""
        return self.kill is not None and self.kill.checkpoint == f"fn:{function}:after"

    @property
    def recovered(self) -> bool:
        return self.pre is not None and not self.pre.status.is_terminal

    def run(self) -> None:
        self.tally.workflows += 1
        expected = WorkflowStatus.FAILED_ROLLED_BACK if self.fail else WorkflowStatus.COMPLETED
        if self.post.status is not expected:
            self.problem(f"status {self.post.status.value}, expected {expected.value}")
        if not self.recovered and any(
            r.pid in self.recovery_pids for rows in self.effects.values() for r in rows
        ):
            self.problem("recovery ran functions of a workflow that was not left unfinished")
        for step, forward, _ in STEPS:
            self.forward(step, forward)
        if self.fail:
            self.compensations()
        else:
            ran = {c: len(self.effects[c]) for _, _, c in STEPS if self.effects.get(c)}
            if ran:
                self.problem(f"compensations ran on a successful workflow: {ran}")

    def keys(self, function: str, want: str) -> list[Effect]:
        rows = self.effects.get(function, [])
        keys = {r.idempotency_key for r in rows}
        if keys and keys != {want}:  # a re-run must reuse the first run's key
            self.problem(f"{function}: idempotency keys {sorted(keys)}, expected ['{want}']")
        return rows

    def forward(self, step: str, function: str) -> None:
        rows = self.keys(function, f"{self.post.id}:{step}")
        committed = self.pre is not None and step in self.pre.committed_steps
        if self.fail and step == "Create_Shipment":
            want = 0  # it raises before any side effect
        elif committed:
            want = 1  # committed before the kill: recovery must not run it again
        elif self.in_flight_after(function):
            want = 2  # side effect done, process died before the commit: at-least-once
        else:
            want = 1
        if len(rows) != want:
            self.problem(f"{function} ran {len(rows)} time(s), expected {want}")
        if len(rows) == 2:
            self.tally.forward_reruns += 1
            if self.kill is None or rows[0].pid != self.kill.pid:
                self.problem(f"{function}: first run not by the killed child: {rows}")
            if rows[1].pid not in self.recovery_pids:
                self.problem(f"{function}: second run not by recovery: {rows}")
        if rows and self.recovered and not committed and rows[-1].pid not in self.recovery_pids:
            self.problem(f"{function} should have been run by recovery: {rows}")

    def compensations(self) -> None:
        wid = self.post.id
        if self.effects.get("cancel_shipment"):
            self.problem("cancel_shipment ran, but the failed Create_Shipment did nothing")
        finished = self.pre.finished_compensations() if self.pre is not None else set()
        firsts: list[int] = []
        for step, _, function in STEPS[:3]:
            rows = self.keys(function, f"{wid}:{step}:compensate")
            want = 2 if self.in_flight_after(function) and function not in finished else 1
            if function in finished:  # the journal said COMPLETED before the kill
                self.tally.finished_compensations_repeated += len(rows) > 1
            if len(rows) != want:
                self.problem(f"{function} ran {len(rows)} time(s), expected {want}")
            if len(rows) == 2:
                self.tally.compensation_reruns += 1
            if rows:
                firsts.append(rows[0].id)
        if len(firsts) != 3 or firsts != sorted(firsts, reverse=True):
            self.problem(f"compensations not run in reverse order of the steps: {self.effects}")
        self.journal()

    def journal(self) -> None:
        """One settled entry per undone step, in unwind order, and nothing left running (a
        STARTED entry of a killed compensation may stay only if a later entry settled it)."""
        post = self.post
        settled = [(s, f, st) for s, f, st in post.journal if st is not CompensationStatus.STARTED]
        if settled != [
            ("Create_Shipment", "cancel_shipment", CompensationStatus.SKIPPED),
            ("Reserve_Inventory", "release_inventory", CompensationStatus.COMPLETED),
            ("Charge_Payment", "refund_payment", CompensationStatus.COMPLETED),
            ("Create_Order", "cancel_order", CompensationStatus.COMPLETED),
        ]:
            self.problem(f"journal {post.journal}")
        before = self.pre.started_entries() if self.pre is not None else 0
        if post.started_entries() > before:
            self.problem(f"{post.started_entries()} STARTED entries left, {before} before")


def pg_url_for(request: Any, kind: str) -> str | None:
    """The session database URL when ``kind`` is postgres (skips, or fails in CI, if down)."""
    return str(request.getfixturevalue("pg_database")) if kind == "postgres" else None
