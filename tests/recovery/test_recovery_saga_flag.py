"""Saga mode turned on the tutorial's way must survive a crash of the runner.

``PaymentProcessingTutorial`` has no ``saga_mode`` in its YAML, exactly like the tutorial; the
runner (``crash_driver.py``) calls ``workflow.enable_saga_mode()`` without ``await``, as the
tutorial's ``main.py`` does. Create_Shipment fails, so the saga must unwind. The runner is
killed inside the first step, before or after its side effect, or right after its second
committed transition; recovery must then still unwind the saga.

Found with this suite: the flag used to reach the store only with the first step's commit, so a
kill inside the first step lost it and the recovered workflow ended ``FAILED`` with nothing
compensated. Fixed in 75e731c ("Store saga mode switched on after creation before the first
step runs"); this is the regression test.

The engine code concerned is store-independent, so this runs on SQLite only.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from crashapp.effects import read as read_effects
from recovery_harness import (
    UNWIND,
    driver_job,
    make_target,
    recover_job,
    recovered_ids,
    run_one,
    sleep_past_lease,
    snapshot,
)

from ruvon.runtime.status import WorkflowStatus as S


@pytest.mark.slow
@pytest.mark.parametrize(
    "checkpoint", ["fn:create_order:before", "fn:create_order:after", "commit:2"]
)
def test_saga_mode_enabled_without_await_survives_a_crash(checkpoint: str, tmp_path: Path) -> None:
    name = "flag_" + checkpoint.replace(":", "_")
    target = make_target("sqlite", name, tmp_path, None)
    logs = tmp_path / "logs"
    extra = ("--type", "PaymentProcessingTutorial")
    child = run_one(driver_job("runner", target, logs, "F", crash_at=checkpoint, extra=extra))
    assert child.returncode == -signal.SIGKILL, child.describe()
    sleep_past_lease(child.ended_at)
    recovery = run_one(recover_job("recovery", target, logs))
    assert len(recovered_ids(recovery, cli=False)) == 1

    (post,) = snapshot(target).values()
    effects, _ = read_effects(target.effects)
    compensated = [e.function for e in effects if e.function in UNWIND]
    assert (post.status, compensated) == (S.FAILED_ROLLED_BACK, list(UNWIND))
