"""The per-workflow check of the recovery tests fails when it should (no processes involved).

A hand-made history: a shipment-failure saga whose runner died right after refund_payment's
side effect; recovery ran refund_payment again and then cancel_order. Each mutation below is
something a broken recovery could do, and the check must report it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from crashapp.effects import Effect, Kill
from recovery_harness import Snap, Tally, check_workflow

from ruvon.models import CompensationStatus as C
from ruvon.models import StepStatus
from ruvon.runtime.status import WorkflowStatus as S

W, CHILD, RECOVERY = "w1", 100, 200
KILL = Kill("fn:refund_payment:after", W, CHILD)
FORWARD = (
    ("Create_Order", StepStatus.COMPLETED),
    ("Charge_Payment", StepStatus.COMPLETED),
    ("Reserve_Inventory", StepStatus.COMPLETED),
    ("Create_Shipment", StepStatus.FAILED),
)
PRE = Snap(
    W,
    "k",
    S.COMPENSATING,
    {},
    FORWARD,
    (
        ("Create_Shipment", "cancel_shipment", C.SKIPPED),
        ("Reserve_Inventory", "release_inventory", C.COMPLETED),
        ("Charge_Payment", "refund_payment", C.STARTED),
    ),
)
POST = replace(
    PRE,
    status=S.FAILED_ROLLED_BACK,
    journal=(
        ("Create_Shipment", "cancel_shipment", C.SKIPPED),
        ("Reserve_Inventory", "release_inventory", C.COMPLETED),
        ("Charge_Payment", "refund_payment", C.COMPLETED),
        ("Create_Order", "cancel_order", C.COMPLETED),
    ),
)
RUNS = [  # (function, step, pid)
    ("create_order", "Create_Order", CHILD),
    ("charge_payment", "Charge_Payment", CHILD),
    ("reserve_inventory", "Reserve_Inventory", CHILD),
    ("release_inventory", "Reserve_Inventory:compensate", CHILD),
    ("refund_payment", "Charge_Payment:compensate", CHILD),
    ("refund_payment", "Charge_Payment:compensate", RECOVERY),
    ("cancel_order", "Create_Order:compensate", RECOVERY),
]


def _effects(runs: list[tuple[str, str, int]]) -> dict[str, list[Effect]]:
    out: dict[str, list[Effect]] = {}
    for i, (fn, key, pid) in enumerate(runs):
        out.setdefault(fn, []).append(Effect(i + 1, W, fn, f"{W}:{key}", 1, pid))
    return out


def _check(
    runs: list[tuple[str, str, int]] = RUNS,
    post: Snap = POST,
    kill: Kill | None = KILL,
    fail: bool = True,
) -> Tally:
    tally = Tally()
    check_workflow(
        tally,
        fail=fail,
        pre=PRE,
        post=post,
        effects=_effects(runs),
        kill=kill,
        recovery_pids={RECOVERY},
    )
    return tally


def test_a_correct_recovery_passes_and_counts_the_rerun() -> None:
    tally = _check()
    assert tally.problems == []
    assert (tally.forward_reruns, tally.compensation_reruns) == (0, 1)
    assert tally.finished_compensations_repeated == 0


MUTATIONS: dict[str, Callable[[], Tally]] = {
    "finished compensation run again": lambda: _check(
        [*RUNS, ("release_inventory", "Reserve_Inventory:compensate", RECOVERY)]
    ),
    "committed step run again": lambda: _check(
        [*RUNS, ("charge_payment", "Charge_Payment", RECOVERY)]
    ),
    "re-run with another idempotency key": lambda: _check(
        [*RUNS[:5], ("refund_payment", "Charge_Payment:compensate#2", RECOVERY), RUNS[6]]
    ),
    "a compensation never ran": lambda: _check(RUNS[:6]),
    "compensations out of order": lambda: _check([*RUNS[:4], RUNS[6], RUNS[4], RUNS[5]]),
    "a second run without a kill in flight": lambda: _check(kill=None),
    "wrong final status": lambda: _check(post=replace(POST, status=S.COMPENSATION_FAILED)),
    "journal entry left STARTED": lambda: _check(
        post=replace(POST, journal=(*POST.journal[:2], PRE.journal[2], POST.journal[3]))
    ),
    "compensations on a success": lambda: _check(fail=False),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_a_broken_recovery_is_reported(mutation: str) -> None:
    assert MUTATIONS[mutation]().problems != []
