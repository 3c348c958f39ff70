"""The end-of-campaign check of the supervised crash test: every workflow, against its plan.

A workflow may have been run by many processes, several of them killed (its program and the
program's respawns, recovery processes), so the check does not compare with one snapshot taken
between a kill and recovery, as ``recovery_harness.check_workflow`` does. It relies on three
records made outside the engine, in the side-effect file (``crashapp.effects``):

- ``effects``: every run of a step or compensation function (its pid, in order);
- ``commits``: every transition that settled a step or compensation as COMPLETED, logged by
  the store wrapper when the store's commit returned, or as in doubt by a kill that came while
  it was in flight; each with the ``ended_at`` of the record it wrote;
- ``kills``: every SIGKILL, with the pid.

For each step and compensation, the store's COMPLETED record (its ``ended_at``) names the
logged commit that went through, hence the process whose run counted; a commit that returned
must be in the store. Any run after that run (in the effect log's order) is a repeat of a
finished step or compensation. Every run before it must belong to a killed process: a side
effect done by a process that died before its commit (at-least-once); a run by a live process
that did not commit means two runners at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from crashapp.effects import Commit, Effect
from recovery_harness import STEPS, UNWIND, Snap

from ruvon.models import CompensationStatus, StepStatus
from ruvon.runtime.status import WorkflowStatus

S = WorkflowStatus
_Row = TypeVar("_Row", Effect, Commit)
CHOICES = ("yaml", "plain", "await", "none")
"""How a program turns saga mode on: the YAML flag, ``enable_saga_mode()`` plain or awaited,
or not at all."""

ROLLED_BACK_JOURNAL = [
    ("Create_Shipment", "cancel_shipment", CompensationStatus.SKIPPED),
    ("Reserve_Inventory", "release_inventory", CompensationStatus.COMPLETED),
    ("Charge_Payment", "refund_payment", CompensationStatus.COMPLETED),
    ("Create_Order", "cancel_order", CompensationStatus.COMPLETED),
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Item:
    """One planned workflow: its index (key ``<prefix><index>``), fate and saga choice."""

    index: int
    variant: str  # "S": succeeds, "F": Create_Shipment fails
    choice: str  # one of CHOICES

    @property
    def saga(self) -> bool:
        return self.choice != "none"

    @property
    def expected(self) -> WorkflowStatus:
        if self.variant == "S":
            return S.COMPLETED
        return S.FAILED_ROLLED_BACK if self.saga else S.FAILED

    def as_arg(self) -> list[object]:
        return [self.index, self.variant, self.choice]


@dataclass
class Counts:
    """What the check found over all workflows of a campaign."""

    workflows: int = 0
    lost: int = 0  # no row for the key
    unfinished: int = 0  # a row that is not terminal
    stranded_v0: int = 0  # of those: version 0 without saga mode (only its program can start it)
    wrong_final: int = 0  # terminal, but not the planned status
    forward_reruns: int = 0  # runs of a forward step by a process killed before its commit
    compensation_reruns: int = 0  # the same for compensations
    finished_steps_repeated: int = 0  # runs of a forward step after the run that was committed
    finished_compensations_repeated: int = 0  # the same for compensations
    problems: list[str] = field(default_factory=list)


def by_workflow(rows: Sequence[_Row]) -> dict[str, list[_Row]]:
    out: dict[str, list[_Row]] = defaultdict(list)
    for row in rows:
        out[row.workflow_id].append(row)
    return out


def check_campaign(
    items: list[Item],
    snaps: dict[str, Snap],
    effects: list[Effect],
    commits: list[Commit],
    killed: set[int],
    key_prefix: str,
) -> Counts:
    """Check every planned workflow; ``snaps`` is the store's final view, ``killed`` the pids
    of the processes that were SIGKILLed."""
    counts = Counts()
    by_key = {s.key: s for s in snaps.values()}
    effects_of, commits_of = by_workflow(effects), by_workflow(commits)
    for item in items:
        counts.workflows += 1
        snap = by_key.get(f"{key_prefix}{item.index}")
        if snap is None:
            counts.lost += 1
            counts.problems.append(f"{key_prefix}{item.index}: lost (no workflow in the store)")
            continue
        _Workflow(
            counts, item, snap, effects_of.get(snap.id, []), commits_of.get(snap.id, []), killed
        ).check()
    return counts


@dataclass
class _Workflow:
    counts: Counts
    item: Item
    snap: Snap
    effects: list[Effect]
    commits: list[Commit]
    killed: set[int]

    def problem(self, text: str) -> None:
        self.counts.problems.append(
            f"{self.snap.id} ({self.snap.key}, {self.item.variant}/{self.item.choice}): {text}"
        )

    def check(self) -> None:
        snap, expected = self.snap, self.item.expected
        if not snap.status.is_terminal:
            self.counts.unfinished += 1
            if snap.version == 0 and not snap.saga_mode:
                self.counts.stranded_v0 += 1
            self.problem(f"unfinished: {snap.status.value} at version {snap.version}")
        elif snap.status is not expected:
            self.counts.wrong_final += 1
            self.problem(f"ended {snap.status.value}, expected {expected.value}")
        finished = snap.status is expected
        forward = STEPS if self.item.variant == "S" else STEPS[:3]
        for step, function, _ in forward:
            self.runs("step", step, function, f"{snap.id}:{step}", must=finished)
        if self.item.variant == "F":
            self.never("create_shipment")  # it raises before its side effect
        if expected is S.FAILED_ROLLED_BACK:
            for step, _, function in reversed(STEPS[:3]):
                key = f"{snap.id}:{step}:compensate"
                self.runs("compensation", function, function, key, must=finished)
            self.never("cancel_shipment")
            if finished:
                self.rolled_back()
        else:
            for function in (*UNWIND, "cancel_shipment"):
                self.never(function)
        if finished:
            self.history(forward)

    def never(self, function: str) -> None:
        rows = [e for e in self.effects if e.function == function]
        if rows:
            self.problem(f"{function} ran {len(rows)} time(s), should not have run")

    def runs(self, kind: str, name: str, function: str, key: str, *, must: bool) -> None:
        """Check the runs of one step (``kind`` ``step``) or compensation against its commit."""
        rows = [e for e in self.effects if e.function == function]
        if {e.idempotency_key for e in rows} - {key}:
            self.problem(f"{function}: keys {sorted({e.idempotency_key for e in rows})} != {key}")
        stored = [t for k, n, t in self.snap.completed_at if (k, n) == (kind, name)]
        logged = [c for c in self.commits if (c.kind, c.name) == (kind, name)]
        through = [c for c in logged if c.ended_at in stored]
        if len(stored) > 1:
            self.problem(f"{function}: COMPLETED {len(stored)} times in the store")
        for c in logged:
            if c.sure and c not in through:
                self.problem(f"{function}: a commit that returned is not in the store: {c}")
        if not stored:
            if must:
                self.problem(f"{function} never completed")
            self.unjustified(function, rows, None)
            return
        if len(through) != 1:
            self.problem(f"{function}: the stored completion matches {len(through)} commits")
            return
        counted = [i for i, e in enumerate(rows) if e.pid == through[0].pid]
        if not counted:
            self.problem(f"{function}: committed by pid {through[0].pid}, which never ran it")
            return
        last = counted[-1]
        after = rows[last + 1 :]
        if kind == "step":
            self.counts.finished_steps_repeated += len(after)
            self.counts.forward_reruns += last
        else:
            self.counts.finished_compensations_repeated += len(after)
            self.counts.compensation_reruns += last
        if after:
            self.problem(f"{function} ran again after its committed run: {after}")
        self.unjustified(function, rows[:last], through[0].pid)

    def unjustified(self, function: str, rows: list[Effect], committer: int | None) -> None:
        """Runs that did not count must each belong to a process killed before its commit."""
        for e in rows:
            if e.pid == committer or e.pid not in self.killed:
                self.problem(f"{function}: run by pid {e.pid} neither counted nor killed: {e}")

    def history(self, forward: tuple[tuple[str, str, str], ...]) -> None:
        completed = [name for name, st in self.snap.history if st is StepStatus.COMPLETED]
        want = [step for step, _, _ in forward]
        if completed != want:
            self.problem(f"completed step records {completed}, expected {want}")

    def rolled_back(self) -> None:
        snap = self.snap
        settled = [e for e in snap.journal if e[2] is not CompensationStatus.STARTED]
        if settled != ROLLED_BACK_JOURNAL:
            self.problem(f"journal {snap.journal}")
        done = sorted((t, n) for k, n, t in snap.completed_at if k == "compensation")
        if [n for _, n in done] != list(UNWIND):
            self.problem(f"compensations ran in the order {done}, expected {UNWIND}")
        state = snap.state
        if state.get("compensations_run") != list(UNWIND) or any(
            state.get(flag) for flag in ("order_created", "payment_charged", "inventory_reserved")
        ):
            self.problem(f"rolled-back state {state}")
