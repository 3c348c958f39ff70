"""The supervised crash campaign: programs and recovery processes SIGKILLed at random, respawned.

A *program* (``saga_program.py``) owns a lane of planned workflows and takes each in turn
through create, saga mode and run. Each program process is started with one random checkpoint
(``crashapp.chaos``) and a hit number, so it usually dies somewhere: in ``create_workflow``
after the insert, between ``create_workflow`` and ``enable_saga_mode()``, in a claim, in a step
or compensation, after a commit. The supervisor (this module, in the test process) respawns a
killed program at once with the same arguments from the workflow it was on (the program prints
``begin <index>``), so with the same idempotency key and the same choices, as a process
supervisor would. After ``Settings.kills_per_workflow`` kills on the same workflow, the respawn
has no checkpoint: every program eventually finishes its lane, so no workflow is left at
version 0 for want of a respawn.

Meanwhile ``Settings.recovery_lanes`` recovery processes (``chaos_recover.py``) recover in a
loop, each also started with a random checkpoint (``claim``, ``commit``, a step or
compensation), and respawned when killed. When the programs have finished, kills stop: the
recovery processes then started have no checkpoint, and the campaign waits until every
workflow is terminal or nothing is left that recovery could pick up (the *drain*).

Rounds: a round plans ``Settings.workflows`` workflows; while fewer than
``Settings.kills_min`` processes were killed, another round follows (keys keep counting).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from campaign_check import CHOICES, Item
from crashapp.effects import read_log
from recovery_harness import (
    APP_DIR,
    HERE,
    LEASE,
    PROCESS_TIMEOUT,
    STEPS,
    UNWIND,
    Job,
    Proc,
    Target,
    collect,
    spawn,
    still_recoverable,
    workflow_statuses,
)

PROGRAM = HERE / "saga_program.py"
RECOVERY = HERE / "chaos_recover.py"
KEY_PREFIX = "s-"

_FUNCTIONS = (*(fn for _, fn, _ in STEPS), *UNWIND)
_FN_CHECKPOINTS = tuple(f"fn:{fn}:{when}" for fn in _FUNCTIONS for when in ("before", "after"))
# a program's checkpoint is drawn from one of these groups (weights in _draw)
PROGRAM_CHECKPOINTS = {
    "create/enable": (
        "program:before-create",
        "commit:1",  # inside create_workflow: the row is inserted, the call has not returned
        "program:after-create",  # create_workflow returned, enable_saga_mode() not called
        "program:after-enable",
    ),
    "step": _FN_CHECKPOINTS,
    "transition": ("claim", *(f"commit:{n}" for n in range(2, 10))),
}
RECOVERY_CHECKPOINTS = {
    "claim": ("claim",),
    "transition": ("commit",),
    "step": _FN_CHECKPOINTS,
}


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The campaign's size. ``from_env`` reads the ``RUVON_RECOVERY_*`` variables."""

    seed: int
    workflows: int = 60  # per round
    kills_min: int = 0  # rounds go on until this many processes were killed
    program_lanes: int = 3
    recovery_lanes: int = 2
    max_hit: int = 3  # a program's checkpoint fires at its hit 1..max_hit in the process
    recovery_max_hit: int = 2  # the same for a recovery process (it has less to do)
    kills_per_workflow: int = 4  # then the program's respawn has no checkpoint
    max_rounds: int = 200
    drain_timeout: float = 60.0

    @classmethod
    def from_env(cls, seed: int, **defaults: int) -> Settings:
        values = dict(defaults)
        for key, name in (
            ("workflows", "RUVON_RECOVERY_WORKFLOWS"),
            ("kills_min", "RUVON_RECOVERY_KILLS_MIN"),
            ("program_lanes", "RUVON_RECOVERY_PROGRAM_LANES"),
            ("recovery_lanes", "RUVON_RECOVERY_RECOVERY_LANES"),
        ):
            if name in os.environ:
                values[key] = int(os.environ[name])
        return cls(seed=seed, **values)


def plan(seed: int, start: int, count: int) -> list[Item]:
    """Workflows ``start`` .. ``start + count - 1``: about half fail their shipment; saga mode
    from the YAML, plain, awaited (3 in 10 each) or not at all (1 in 10)."""
    rng = random.Random(f"{seed}:plan:{start}")
    return [
        Item(
            index=start + i,
            variant=rng.choice("SF"),
            choice=rng.choices(CHOICES, weights=(3, 3, 3, 1))[0],
        )
        for i in range(count)
    ]


@dataclass
class _Running:
    name: str
    role: str  # "program" or "recovery"
    lane: int
    job: Job
    popen: subprocess.Popen[bytes]
    started: float
    checkpoint: str | None
    work: list[Item] = field(default_factory=list)


@dataclass
class Report:
    """What the supervisor did and saw (the checks are in :mod:`campaign_check`)."""

    items: list[Item] = field(default_factory=list)
    rounds: int = 0
    processes: Counter[str] = field(default_factory=Counter)  # role -> started
    killed: dict[int, str] = field(default_factory=dict)  # pid -> role
    kill_groups: Counter[str] = field(default_factory=Counter)  # "role/group" -> kills
    outcomes: Counter[str] = field(default_factory=Counter)  # program outcomes per item
    chaos_ended: float = 0.0  # when the last program finished (kills stop being armed)
    last_kill: float = 0.0
    drained: float = 0.0  # when every workflow was terminal (or nothing was recoverable)
    wall: float = 0.0


class Supervisor:
    """Runs the campaign on ``target``; child output goes to ``logs``."""

    def __init__(self, target: Target, logs: Path, settings: Settings) -> None:
        self.target, self.logs, self.s = target, logs, settings
        self.stop_file = logs / "stop"
        self.report = Report()
        self.chaos = True
        self.programs: dict[int, _Running] = {}
        self.recoveries: dict[int, _Running] = {}
        self.kills_at: Counter[int] = Counter()  # item index -> program kills on it
        self.rngs = {
            role: [random.Random(f"{settings.seed}:{role}:{lane}") for lane in range(lanes)]
            for role, lanes in (
                ("program", settings.program_lanes),
                ("recovery", settings.recovery_lanes),
            )
        }
        self.groups: dict[str, str] = {}  # process name -> checkpoint group

    # --- the campaign ----------------------------------------------------------------------

    def run(self) -> Report:
        started = time.monotonic()
        self.logs.mkdir(parents=True, exist_ok=True)
        try:
            for lane in range(self.s.recovery_lanes):
                self.start_recovery(lane)
            start = 0
            while self.report.rounds < self.s.max_rounds:
                items = plan(self.s.seed, start, self.s.workflows)
                self.report.items += items
                self.report.rounds += 1
                start += len(items)
                self.run_programs(items)
                if len(self.report.killed) >= self.s.kills_min:
                    break
            self.chaos = False
            self.report.chaos_ended = time.time()
            self.drain()
            self.stop_recoveries()
        finally:
            for proc in [*self.programs.values(), *self.recoveries.values()]:
                proc.popen.kill()
                proc.popen.wait()
        self.report.wall = time.monotonic() - started
        return self.report

    def run_programs(self, items: list[Item]) -> None:
        lanes = self.s.program_lanes
        size = -(-len(items) // lanes)
        for lane in range(lanes):
            work = items[lane * size : (lane + 1) * size]
            if work:
                self.start_program(lane, work)
        while self.programs:
            self.tick()

    def drain(self) -> None:
        """Wait until every workflow is terminal, or no unfinished one is recoverable."""
        deadline = time.monotonic() + self.s.drain_timeout
        while time.monotonic() < deadline:
            self.tick()
            statuses = workflow_statuses(self.target)
            if len(statuses) == len(self.report.items) and all(
                s not in ("ACTIVE", "COMPENSATING") for s in statuses
            ):
                break
            if not still_recoverable(self.target) and not self.any_recovery_busy():
                break
            time.sleep(0.1)
        self.report.drained = time.time()

    def any_recovery_busy(self) -> bool:
        """A recovery process was just respawned and may not have made its first pass."""
        return any(time.monotonic() - r.started < 1.0 for r in self.recoveries.values())

    def stop_recoveries(self) -> None:
        self.stop_file.touch()
        deadline = time.monotonic() + PROCESS_TIMEOUT
        while self.recoveries and time.monotonic() < deadline:
            self.tick()
        assert not self.recoveries, "recovery processes did not stop"

    # --- processes -------------------------------------------------------------------------

    def tick(self) -> None:
        """Handle every child that ended; respawn the killed ones."""
        for lane, proc in list(self.programs.items()):
            if proc.popen.poll() is not None:
                del self.programs[lane]
                self.program_ended(proc, collect(proc.job, proc.popen))
            elif time.monotonic() - proc.started > PROCESS_TIMEOUT:
                raise AssertionError(f"{proc.name} hung for {PROCESS_TIMEOUT}s")
        for lane, proc in list(self.recoveries.items()):
            if proc.popen.poll() is not None:
                del self.recoveries[lane]
                self.recovery_ended(proc, collect(proc.job, proc.popen))
        time.sleep(0.01)

    def died(self, running: _Running, proc: Proc) -> bool:
        if proc.returncode == -9:
            self.report.killed[proc.pid] = running.role
            group = self.groups.get(running.name, "unarmed")
            self.report.kill_groups[f"{running.role}/{group}"] += 1
            return True
        return False

    def program_ended(self, running: _Running, proc: Proc) -> None:
        if not self.died(running, proc):
            assert proc.returncode == 0, proc.describe()
            self.report.outcomes.update(proc.json()["outcomes"].values())
            return
        ended = [line.split() for line in proc.stdout.splitlines() if line.startswith("end ")]
        self.report.outcomes.update(outcome for _, _, outcome in ended)
        finished = {int(index) for _, index, _ in ended}
        work = [item for item in running.work if item.index not in finished]
        if work:  # respawn it on the workflow it was on: same key, same choices
            self.kills_at[work[0].index] += 1
            self.start_program(running.lane, work)

    def recovery_ended(self, running: _Running, proc: Proc) -> None:
        if not self.died(running, proc):
            assert proc.returncode == 0 and self.stop_file.exists(), proc.describe()
            return
        self.start_recovery(running.lane)

    def draw(self, role: str, lane: int, groups: dict[str, tuple[str, ...]]) -> tuple[str, str]:
        rng = self.rngs[role][lane]
        weights = {"create/enable": 3, "step": 4, "transition": 3, "claim": 2}
        names = list(groups)
        group = rng.choices(names, weights=[weights[g] for g in names])[0]
        return group, rng.choice(groups[group])

    def _spawn(
        self, role: str, lane: int, argv: list[str], armed: bool, groups: dict[str, tuple[str, ...]]
    ) -> tuple[str, Job, subprocess.Popen[bytes], str | None]:
        number = self.report.processes[role]
        self.report.processes[role] += 1
        name = f"{role}{lane}-{number:04d}"
        env = {"CRASHAPP_LOG_COMMITS": "1"}
        checkpoint = None
        if armed:
            group, checkpoint = self.draw(role, lane, groups)
            self.groups[name] = group
            env["CRASHAPP_CRASH_AT"] = checkpoint
            top = self.s.max_hit if role == "program" else self.s.recovery_max_hit
            env["CRASHAPP_CRASH_HIT"] = str(self.rngs[role][lane].randint(1, top))
        job = Job(name, argv, self.target.env(**env), self.logs)
        return name, job, spawn(job), checkpoint

    def start_program(self, lane: int, work: list[Item]) -> None:
        armed = self.chaos and self.kills_at[work[0].index] < self.s.kills_per_workflow
        argv = [
            sys.executable,
            str(PROGRAM),
            "--db",
            self.target.url,
            "--work",
            json.dumps([item.as_arg() for item in work]),
            "--lease",
            str(LEASE),
            "--key-prefix",
            KEY_PREFIX,
        ]
        name, job, popen, cp = self._spawn("program", lane, argv, armed, PROGRAM_CHECKPOINTS)
        self.programs[lane] = _Running(
            name, "program", lane, job, popen, time.monotonic(), cp, work
        )

    def start_recovery(self, lane: int) -> None:
        argv = [
            sys.executable,
            str(RECOVERY),
            "--db",
            self.target.url,
            "--app-dir",
            str(APP_DIR),
            "--stop-file",
            str(self.stop_file),
        ]
        name, job, popen, cp = self._spawn("recovery", lane, argv, self.chaos, RECOVERY_CHECKPOINTS)
        self.recoveries[lane] = _Running(name, "recovery", lane, job, popen, time.monotonic(), cp)


def last_kill_at(target: Target) -> float:
    _, kills = read_log(target.effects)
    return max((k.at for k in kills), default=0.0)
