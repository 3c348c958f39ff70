"""The end-of-campaign check of the supervised crash test fails when it should (no processes).

A hand-made history: a shipment-failure saga (saga mode enabled by a plain call) whose program
was killed right after reserve_inventory's side effect; a recovery process ran
reserve_inventory again and unwound. Each mutation below is something a broken engine could
do, and the check must report it, with the right counter where there is one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest
from campaign_check import ROLLED_BACK_JOURNAL, Counts, Item, check_campaign
from crashapp.effects import Commit, Effect
from recovery_harness import Snap

from ruvon.models import StepStatus
from ruvon.runtime.status import WorkflowStatus as S

W, PROGRAM, RECOVERY, OTHER = "w1", 100, 200, 300
ITEM = Item(index=7, variant="F", choice="plain")


@dataclass
class Case:
    items: list[Item]
    snap: Snap
    effects: list[Effect]
    commits: list[Commit]
    killed: set[int]

    def check(self) -> Counts:
        snaps = {self.snap.id: self.snap} if self.snap.key else {}
        return check_campaign(
            self.items, snaps, self.effects, self.commits, self.killed, key_prefix="s-"
        )


def _effect(n: int, function: str, step: str, pid: int, compensate: bool = False) -> Effect:
    key = f"{W}:{step}:compensate" if compensate else f"{W}:{step}"
    return Effect(n, W, function, key, 1, pid)


def baseline() -> Case:
    effects = [
        _effect(1, "create_order", "Create_Order", PROGRAM),
        _effect(2, "charge_payment", "Charge_Payment", PROGRAM),
        _effect(3, "reserve_inventory", "Reserve_Inventory", PROGRAM),  # then killed
        _effect(4, "reserve_inventory", "Reserve_Inventory", RECOVERY),
        _effect(5, "release_inventory", "Reserve_Inventory", RECOVERY, compensate=True),
        _effect(6, "refund_payment", "Charge_Payment", RECOVERY, compensate=True),
        _effect(7, "cancel_order", "Create_Order", RECOVERY, compensate=True),
    ]
    commits = [
        Commit(1, W, "step", "Create_Order", 1.0, True, PROGRAM),
        Commit(2, W, "step", "Charge_Payment", 2.0, True, PROGRAM),
        Commit(3, W, "step", "Reserve_Inventory", 3.0, False, PROGRAM),  # in doubt: killed
        Commit(4, W, "step", "Reserve_Inventory", 4.0, True, RECOVERY),
        Commit(5, W, "compensation", "release_inventory", 5.0, True, RECOVERY),
        Commit(6, W, "compensation", "refund_payment", 6.0, True, RECOVERY),
        Commit(7, W, "compensation", "cancel_order", 7.0, True, RECOVERY),
    ]
    snap = Snap(
        W,
        "s-7",
        S.FAILED_ROLLED_BACK,
        {
            "compensations_run": ["release_inventory", "refund_payment", "cancel_order"],
            "order_created": False,
            "payment_charged": False,
            "inventory_reserved": False,
        },
        (
            ("Create_Order", StepStatus.COMPLETED),
            ("Charge_Payment", StepStatus.COMPLETED),
            ("Reserve_Inventory", StepStatus.COMPLETED),
            ("Create_Shipment", StepStatus.FAILED),
        ),
        tuple(ROLLED_BACK_JOURNAL),
        version=9,
        saga_mode=True,
        completed_at=(
            ("step", "Create_Order", 1.0),
            ("step", "Charge_Payment", 2.0),
            ("step", "Reserve_Inventory", 4.0),
            ("compensation", "release_inventory", 5.0),
            ("compensation", "refund_payment", 6.0),
            ("compensation", "cancel_order", 7.0),
        ),
    )
    return Case([ITEM], snap, effects, commits, {PROGRAM})


def test_check__accepts_a_rerun_after_a_kill() -> None:
    counts = baseline().check()
    assert counts.problems == []
    assert (counts.forward_reruns, counts.compensation_reruns) == (1, 0)


def _status(status: S, version: int = 9, saga: bool = True) -> Callable[[Case], None]:
    def mutate(case: Case) -> None:
        case.snap = replace(case.snap, status=status, version=version, saga_mode=saga)

    return mutate


def _add_effect(
    function: str, step: str, pid: int, compensate: bool = False
) -> Callable[[Case], None]:
    def mutate(case: Case) -> None:
        case.effects.append(_effect(99, function, step, pid, compensate))

    return mutate


def _lost(case: Case) -> None:
    case.snap = replace(case.snap, key=None)


def _first_run_not_killed(case: Case) -> None:
    case.killed = set()


def _compensation_never_completed(case: Case) -> None:
    done = tuple(c for c in case.snap.completed_at if c[1] != "refund_payment")
    case.snap = replace(case.snap, completed_at=done)


def _compensations_out_of_order(case: Case) -> None:
    done = {"release_inventory": 6.0, "refund_payment": 5.0}
    case.snap = replace(
        case.snap, completed_at=tuple((k, n, done.get(n, t)) for k, n, t in case.snap.completed_at)
    )
    case.commits = [replace(c, ended_at=done.get(c.name, c.ended_at)) for c in case.commits]


def _doubtful_commit_went_through(case: Case) -> None:
    """The killed program's commit of Reserve_Inventory did go through; recovery redid it."""
    done = tuple(
        (k, n, 3.0 if n == "Reserve_Inventory" else t) for k, n, t in case.snap.completed_at
    )
    case.snap = replace(case.snap, completed_at=done)


def _returned_commit_not_stored(case: Case) -> None:
    case.commits.append(Commit(8, W, "step", "Create_Order", 8.0, True, RECOVERY))


def _wrong_key(case: Case) -> None:
    case.effects[0] = replace(case.effects[0], idempotency_key=f"{W}:Create_Order:2")


def _state_not_undone(case: Case) -> None:
    case.snap = replace(case.snap, state={**case.snap.state, "payment_charged": True})


def _step_completed_twice(case: Case) -> None:
    case.snap = replace(
        case.snap, completed_at=(*case.snap.completed_at, ("step", "Create_Order", 9.0))
    )


def _saga_not_chosen_but_rolled_back(case: Case) -> None:
    case.items = [replace(ITEM, choice="none")]


@pytest.mark.parametrize(
    ("mutate", "counter"),
    [
        (_status(S.FAILED), "wrong_final"),
        (_status(S.ACTIVE, version=0, saga=False), "stranded_v0"),
        (_status(S.COMPENSATING), "unfinished"),
        (_lost, "lost"),
        (
            _add_effect("refund_payment", "Charge_Payment", OTHER, compensate=True),
            "finished_compensations_repeated",
        ),
        (_add_effect("create_order", "Create_Order", OTHER), "finished_steps_repeated"),
        (_add_effect("cancel_shipment", "Create_Shipment", RECOVERY, compensate=True), None),
        (_first_run_not_killed, None),
        (_compensation_never_completed, None),
        (_compensations_out_of_order, None),
        (_doubtful_commit_went_through, "finished_steps_repeated"),
        (_returned_commit_not_stored, None),
        (_wrong_key, None),
        (_state_not_undone, None),
        (_step_completed_twice, None),
        (_saga_not_chosen_but_rolled_back, "wrong_final"),
    ],
)
def test_check__reports_each_broken_history(
    mutate: Callable[[Case], None], counter: str | None
) -> None:
    case = baseline()
    mutate(case)
    counts = case.check()
    assert counts.problems, f"{mutate} went unnoticed"
    if counter is not None:
        assert getattr(counts, counter) == 1, counts
