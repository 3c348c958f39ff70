"""The rounds of the control-flow crash tests (``test_recovery_control_flow.py``).

A :class:`Case` is one workflow: a child starts it (and SIGKILLs itself at the case's
checkpoint), then each of its acts runs in a fresh process: recovery, or a person's answers
given with ``resume()``. :func:`run` plays every case's start side by side, then one round per
act, reads the store after each round and the ledger at the end, and returns what each case
saw (:class:`Outcome`).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crashapp.effects import Kill
from crashapp.effects import read as read_kills
from recovery_harness import (
    HERE,
    LEASE,
    Job,
    Proc,
    Target,
    make_target,
    recover_job,
    recovered_ids,
    run_jobs,
    sleep_past_lease,
)

from flowapp.ledger import Row
from flowapp.ledger import read as read_ledger
from ruvon.implementations.persistence import store_from_url
from ruvon.models import CompensationStatus as C
from ruvon.models import StepStatus
from ruvon.runtime.status import WorkflowStatus as S

PARALLEL = 8


@dataclass(frozen=True, kw_only=True)
class Resume:
    """A fresh process loads the workflow and ``resume()``\\ s it with each answer in turn
    (while it waits), maybe killed at ``crash_at``."""

    answers: tuple[dict[str, Any], ...]
    crash_at: str | None = None


RECOVER = "recover"  # an act: recovery in a fresh process
Act = Resume | str


@dataclass(frozen=True, kw_only=True)
class Case:
    id: str
    workflow_type: str
    crash_at: str | None  # of the starting child
    hit: int = 1
    data: dict[str, Any] = field(default_factory=dict)
    cli: bool = False  # recovered by ``ruvon recover`` (else ``builder.recover()``)
    route: str | None = None  # CRASHAPP_ROUTE of the starting child
    acts: tuple[Act, ...] = (RECOVER,)  # what happens after the start, in turn


@dataclass(frozen=True, kw_only=True)
class View:
    """What the store says about a case's workflow."""

    id: str
    status: S
    state: dict[str, Any]
    current_step: int
    frames: list[dict[str, Any]]
    lease_owner: str | None
    history: list[tuple[str, StepStatus]]  # (scope, status) per attempt, in order
    journal: list[tuple[str, C]]  # (scope, status) per entry, in order

    def scopes(self, status: StepStatus = StepStatus.COMPLETED) -> list[str]:
        return [scope for scope, st in self.history if st is status]


async def _views(url: str) -> dict[str, View]:
    """Every workflow of the database, by idempotency key (the case's id)."""
    store = store_from_url(url)
    try:
        out: dict[str, View] = {}
        for row in await store.list_workflows(limit=1000):
            assert row.idempotency_key is not None
            out[row.idempotency_key] = View(
                id=row.id,
                status=row.status,
                state=json.loads(row.state),
                current_step=row.current_step,
                frames=list(row.frames),
                lease_owner=row.lease_owner,
                history=[(h.scope, h.status) for h in await store.step_history(row.id)],
                journal=[(j.scope, j.status) for j in await store.compensation_journal(row.id)],
            )
        return out
    finally:
        await store.close()


def views(target: Target) -> dict[str, View]:
    return asyncio.run(_views(target.url))


@dataclass
class Outcome:
    """One case: its processes (the starting child first, then one per act), the store after
    each, and its ledger."""

    case: Case
    procs: list[Proc] = field(default_factory=list)
    views: list[View] = field(default_factory=list)
    ledger: list[Row] = field(default_factory=list)
    kills: list[Kill] = field(default_factory=list)

    @property
    def start(self) -> Proc:
        return self.procs[0]

    @property
    def pre(self) -> View:
        """The store after the starting child (killed, or waiting)."""
        return self.views[0]

    @property
    def final(self) -> View:
        return self.views[-1]

    def recovered(self, proc: Proc) -> list[str]:
        """This case's workflow if the recovery process says it continued it, else nothing."""
        ids = recovered_ids(proc, proc.name.endswith("-cli"))
        return [w for w in ids if w == self.pre.id]

    def runs(self, function: str, index: int | None = None) -> list[Row]:
        return [r for r in self.ledger if r.function == function and r.index == index]


def _child_env(target: Target, crash_at: str | None, hit: int = 1, **extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p)
    if crash_at:
        extra.update(CRASHAPP_CRASH_AT=crash_at, CRASHAPP_CRASH_HIT=str(hit))
    return target.env(PYTHONPATH=path, **extra)


def _driver(target: Target, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "flowapp.driver",
        "--db",
        target.url,
        "--lease",
        str(LEASE),
        *args,
    ]


def _start_job(case: Case, target: Target, logs: Path) -> Job:
    route = {"CRASHAPP_ROUTE": case.route} if case.route else {}
    argv = _driver(target, "start", "--type", case.workflow_type, "--key", case.id)
    argv += ["--data", json.dumps(case.data)]
    env = _child_env(target, case.crash_at, case.hit, **route)
    return Job(name=f"start-{case.id}", argv=argv, env=env, logs=logs)


def _act_jobs(
    cases: list[Case], n: int, targets: dict[bool, Target], logs: Path, ids: dict[str, str]
) -> list[Job]:
    """Act ``n`` of each case that has one: its own resuming process, or the recovery of its
    group (one process recovers all the workflows of a database)."""
    jobs: list[Job] = []
    for case in cases:
        act = case.acts[n - 1]
        if isinstance(act, Resume):
            argv = _driver(targets[case.cli], "resume", "--id", ids[case.id])
            for answer in act.answers:
                argv += ["--input", json.dumps(answer)]
            env = _child_env(targets[case.cli], act.crash_at)
            jobs.append(Job(name=f"act{n}-resume-{case.id}", argv=argv, env=env, logs=logs))
    for cli in sorted({c.cli for c in cases if c.acts[n - 1] == RECOVER}):
        name = f"act{n}-recover-{'cli' if cli else 'api'}"
        jobs.append(recover_job(name, targets[cli], logs, cli=cli))
    return jobs


def _mine(case: Case, job_name: str) -> bool:
    """Whether the process of that name acted on the case's workflow."""
    rest = job_name.split("-", 1)[1]  # after "start" or "act<n>"
    return rest in (case.id, f"resume-{case.id}", f"recover-{'cli' if case.cli else 'api'}")


def run(cases: list[Case], kind: str, pg_url: str | None, directory: Path) -> dict[str, Outcome]:
    """Start every case's workflow side by side, then play the acts, one round per act.

    The cases share two databases, one per recovery command (``ruvon recover``, or
    ``builder.recover()``), each with its ledger; each case checks its own workflow."""
    logs = directory / "logs"
    targets = {
        cli: make_target(kind, "cli" if cli else "api", directory, pg_url) for cli in (False, True)
    }
    out = {c.id: Outcome(case=c) for c in cases}
    procs = run_jobs([_start_job(c, targets[c.cli], logs) for c in cases], PARALLEL)
    for n in range(1 + max(len(c.acts) for c in cases)):
        sleep_past_lease(max(p.ended_at for p in procs.values()))  # the dead children's leases
        seen = {cli: views(t) for cli, t in targets.items()}
        for c in (c for c in cases if len(c.acts) >= n):
            (proc,) = [p for name, p in procs.items() if _mine(c, name)]
            out[c.id].procs.append(proc)
            out[c.id].views.append(seen[c.cli][c.id])
        acting = [c for c in cases if len(c.acts) > n]
        if acting:
            ids = {c.id: out[c.id].pre.id for c in acting}
            procs = run_jobs(_act_jobs(acting, n + 1, targets, logs, ids), PARALLEL)
    for cli, target in targets.items():
        ledger, (_, kills) = read_ledger(target.effects), read_kills(target.effects)
        for c in (c for c in cases if c.cli == cli):
            wid = out[c.id].pre.id
            out[c.id].ledger = [r for r in ledger if r.workflow_id == wid]
            out[c.id].kills = kills
    return out
