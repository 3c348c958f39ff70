"""The rounds of the SUB_WORKFLOW crash tests (``test_recovery_subworkflow.py``).

A :class:`Scenario` is a list of rounds; each round is one or more :class:`Act`\\ s run side by
side, each in a fresh process: a start (``subflowapp.program start``), a resume of the child
that waits for a person, or recovery (``builder.recover()`` in ``subflowapp.program``, or the
``ruvon recover`` command line), maybe killed at a checkpoint. Every scenario has a database of
its own (a SQLite file, or a PostgreSQL schema) and a ledger of its own, so :func:`play` runs
the rounds of all scenarios side by side: round ``n`` of every scenario, then, once the killed
processes' leases have run out, the store of each scenario is read (a :class:`World`), then
round ``n + 1``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recovery_harness import HERE, RUVON_CLI, Job, Proc, Target, make_target, run_jobs

from ruvon.implementations.persistence import store_from_url
from ruvon.models import CompensationStatus, StepStatus
from ruvon.runtime.status import WorkflowStatus
from subflowapp.ledger import ENV_AT, ENV_HIT, ENV_LEDGER, Effect, Kill
from subflowapp.ledger import read as read_ledger
from subflowapp.steps import SLOW

APP = Path(__file__).resolve().parent
LEASE = 0.4  # every process's lease: a dead one's runs out this long after its last write
PARALLEL = 6


@dataclass(frozen=True, kw_only=True)
class Act:
    """One process. ``command``: ``start``, ``resume`` (the child that waits for a person,
    found by its status, is resumed with ``answer``), ``recover`` (``builder.recover()``) or
    ``cli`` (``ruvon recover``)."""

    command: str
    kill_at: str | None = None
    hit: int = 1
    workflow_type: str = "SubParent"
    key: str = "trip"
    data: dict[str, Any] = field(default_factory=dict)
    answer: dict[str, Any] | None = None
    race: int = 0  # recover: wait at the scenario's barrier for this many recoverers
    after: str | None = None  # ``<function>=<seconds>``: act that long after its effect
    slow: str | None = None  # ``<function>=<seconds>``: that function is this slow


@dataclass(frozen=True)
class Scenario:
    id: str
    rounds: tuple[tuple[Act, ...], ...]


@dataclass(frozen=True, kw_only=True)
class Wf:
    """What the store says about one workflow."""

    id: str
    workflow_type: str
    key: str | None
    parent_id: str | None
    status: WorkflowStatus
    state: dict[str, Any]
    saga_mode: bool
    version: int
    lease_owner: str | None
    frames: list[dict[str, Any]]
    metadata: dict[str, Any]
    error_type: str | None
    history: list[tuple[str, StepStatus]]  # (scope, status) per attempt, in order
    results: dict[str, Any]  # scope -> result of its COMPLETED attempt
    journal: list[tuple[str, CompensationStatus]]  # (scope, status) per entry, in order
    details: dict[str, str | None]  # scope -> detail of its journal entry

    def scopes(self, status: StepStatus = StepStatus.COMPLETED) -> list[str]:
        return [scope for scope, st in self.history if st is status]


@dataclass(frozen=True)
class World:
    """Every workflow of one scenario's database."""

    workflows: dict[str, Wf]

    def of_type(self, workflow_type: str) -> list[Wf]:
        return [w for w in self.workflows.values() if w.workflow_type == workflow_type]

    def one(self, workflow_type: str, key: str | None = None) -> Wf:
        """The only workflow of that type (with ``key``: the parent started with that key, or
        a workflow below it)."""
        found = self.of_type(workflow_type)
        if key is not None:
            found = [w for w in found if self.root(w).key == key]
        assert len(found) == 1, (workflow_type, key, found)
        return found[0]

    def root(self, wf: Wf) -> Wf:
        while wf.parent_id is not None:
            wf = self.workflows[wf.parent_id]
        return wf

    def children(self, parent_id: str) -> list[Wf]:
        return [w for w in self.workflows.values() if w.parent_id == parent_id]


@dataclass
class Outcome:
    """One scenario: its processes and the store after each round, its ledger and kills."""

    scenario: Scenario
    procs: list[list[Proc]] = field(default_factory=list)
    worlds: list[World] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    kills: list[Kill] = field(default_factory=list)

    @property
    def final(self) -> World:
        return self.worlds[-1]

    def proc(self, round_: int, index: int = 0) -> Proc:
        return self.procs[round_][index]

    def runs(self, function: str, workflow_id: str | None = None) -> list[Effect]:
        return [
            e
            for e in self.effects
            if e.function == function and workflow_id in (None, e.workflow_id)
        ]


def recovered(proc: Proc) -> list[str]:
    """The ids a recovery process (``builder.recover()`` or ``ruvon recover``) continued."""
    assert proc.returncode == 0, proc.describe()
    if proc.name.endswith("-cli"):
        lines = proc.stdout.splitlines()
        ids = [line.split(" ", 1)[1] for line in lines if line.startswith("recovered ")]
        assert lines and lines[-1] == f"{len(ids)} workflow(s) recovered", proc.describe()
        return ids
    return list(proc.json()["recovered"])


async def _world(url: str) -> World:
    store = store_from_url(url)
    try:
        out: dict[str, Wf] = {}
        for row in await store.list_workflows(limit=1000):
            history = await store.step_history(row.id)
            journal = await store.compensation_journal(row.id)
            out[row.id] = Wf(
                id=row.id,
                workflow_type=row.workflow_type,
                key=row.idempotency_key,
                parent_id=row.parent_id,
                status=row.status,
                state=json.loads(row.state),
                saga_mode=row.saga_mode,
                version=row.version,
                lease_owner=row.lease_owner,
                frames=list(row.frames),
                metadata=dict(row.metadata),
                error_type=row.error.type if row.error is not None else None,
                history=[(h.scope, h.status) for h in history],
                results={h.scope: h.result for h in history if h.status is StepStatus.COMPLETED},
                journal=[(j.scope, j.status) for j in journal],
                details={j.scope: j.detail for j in journal},
            )
        return World(out)
    finally:
        await store.close()


async def _worlds(urls: list[str]) -> list[World]:
    return list(await asyncio.gather(*(_world(url) for url in urls)))


def _job(name: str, act: Act, target: Target, world: World | None, logs: Path) -> Job:
    env = target.env(PYTHONPATH=str(HERE), **{ENV_LEDGER: str(target.effects)})
    if act.kill_at:
        env.update({ENV_AT: act.kill_at, ENV_HIT: str(act.hit)})
    if act.slow:
        env[SLOW] = act.slow
    if act.command == "cli":
        env["RUVON_CONFIG_DIR"] = str(APP)  # a parent may have to create its child
        argv = [*RUVON_CLI, "recover", "--db", target.url, "--app-dir", str(HERE)]
        argv += ["--lease-seconds", str(LEASE)]
        return Job(f"{name}-cli", argv, env, logs)
    argv = [sys.executable, "-m", "subflowapp.program", "--db", target.url, "--lease", str(LEASE)]
    if act.after:
        argv += ["--after", act.after]
    if act.command == "start":
        argv += ["start", "--type", act.workflow_type, "--key", act.key]
        argv += ["--data", json.dumps(act.data)]
    elif act.command == "resume":
        assert world is not None
        (waiting,) = [
            w for w in world.workflows.values() if w.status is WorkflowStatus.WAITING_HUMAN
        ]
        argv += ["resume", "--id", waiting.id, "--input", json.dumps(act.answer)]
    else:
        argv.append("recover")
        if act.race:
            argv += ["--concurrency", "1", "--parties", str(act.race)]
            argv += ["--barrier", str(target.effects.with_suffix(".barrier"))]
    return Job(f"{name}-{act.command}", argv, env, logs)


def play(
    scenarios: list[Scenario], kind: str, pg_url: str | None, directory: Path
) -> dict[str, Outcome]:
    """Play every scenario's rounds, side by side; return what each saw."""
    logs = directory / "logs"
    targets = {
        s.id: make_target(kind, f"subflow_{s.id.replace('-', '_')}", directory, pg_url)
        for s in scenarios
    }
    out = {s.id: Outcome(scenario=s) for s in scenarios}
    rounds = max(len(s.rounds) for s in scenarios)
    for n in range(rounds):
        acting = [s for s in scenarios if len(s.rounds) > n]
        jobs: dict[str, list[str]] = {}
        all_jobs: list[Job] = []
        for s in acting:
            world = out[s.id].worlds[-1] if out[s.id].worlds else None
            for i, act in enumerate(s.rounds[n]):
                job = _job(f"{s.id}-r{n}-{i}", act, targets[s.id], world, logs)
                jobs.setdefault(s.id, []).append(job.name)
                all_jobs.append(job)
        procs = run_jobs(all_jobs, PARALLEL)
        if n + 1 < rounds:  # the killed processes' leases run out before the next round
            last = max(p.ended_at for p in procs.values())
            time.sleep(max(0.0, last + LEASE + 0.25 - time.time()))
        worlds = asyncio.run(_worlds([targets[s.id].url for s in acting]))
        for s, world in zip(acting, worlds, strict=True):
            out[s.id].procs.append([procs[name] for name in jobs[s.id]])
            out[s.id].worlds.append(world)
    for s in scenarios:
        out[s.id].effects, out[s.id].kills = read_ledger(targets[s.id].effects)
    return out
