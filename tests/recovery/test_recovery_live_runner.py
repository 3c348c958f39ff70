"""Recovery must leave alone a workflow whose runner is alive and busy in a long step.

A runner (``crash_driver.py``, lease 0.5 s) holds Charge_Payment open after its side effect
until the test creates a file. While it waits, well past the lease, recovery runs in a fresh
process: the runner's lease renewal ("a timer renews it during long steps", ``ruvon.recovery``;
``ruvon.runtime.leases``) must have kept the lease, so recovery continues nothing and the step
runs once. Then the file appears and the runner finishes the workflow itself.

This must hold for an ``async def`` step and for a plain ``def`` step (the tutorial's kind, run
by the default ``SyncExecutor`` on the event loop's thread, which is why the lease keeper is a
thread and not an asyncio task).

The engine code at fault is store-independent, so this runs on SQLite only.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from crashapp.effects import read as read_effects
from recovery_harness import (
    LEASE,
    collect,
    driver_job,
    make_target,
    recover_job,
    recovered_ids,
    run_one,
    snapshot,
    spawn,
)

from ruvon.runtime.status import WorkflowStatus as S


@pytest.mark.slow
@pytest.mark.parametrize(
    "step_kind",
    ["sync", "async"],
)
def test_recovery_does_not_take_over_a_live_runner_in_a_long_step(
    step_kind: str, tmp_path: Path
) -> None:
    target = make_target("sqlite", f"live_{step_kind}", tmp_path, None)
    logs = tmp_path / "logs"
    hold = tmp_path / "release-the-step"
    job = driver_job(
        "runner",
        target,
        logs,
        "S",
        extra=(
            "--type",
            "PaymentProcessing" if step_kind == "sync" else "PaymentProcessingAsyncCharge",
        ),
    )
    job.env.update(CRASHAPP_HOLD="charge_payment", CRASHAPP_HOLD_FILE=str(hold))
    runner = spawn(job)
    try:
        deadline = time.monotonic() + 30
        while not any(e.function == "charge_payment" for e in read_effects(target.effects)[0]):
            assert runner.poll() is None, "the runner ended before Charge_Payment"
            assert time.monotonic() < deadline, "Charge_Payment never started"
            time.sleep(0.05)
        time.sleep(LEASE * 2 + 0.3)  # the lease would have run out twice over
        recovery = run_one(recover_job("recovery", target, logs))
    finally:
        hold.touch()
        done = collect(job, runner)
    effects, _ = read_effects(target.effects)
    charged = [e.pid for e in effects if e.function == "charge_payment"]
    assert recovered_ids(recovery, cli=False) == [], "recovery took over a live runner"
    assert charged == [done.pid], "Charge_Payment ran more than once"
    assert done.returncode == 0, done.describe()
    assert [s.status for s in snapshot(target).values()] == [S.COMPLETED]
