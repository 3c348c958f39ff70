"""Two processes race to advance the same 100 workflows: every step runs exactly once.

One process creates 100 workflows of ``PaymentProcessingManual`` (the saga without
``automate_next``: each ``next_step()`` runs one step and releases the lease) and exits; their
creator's 0.5 s lease runs out. Then two racer processes (``race_worker.py``) pass over the same
workflows in the same order until all are finished: load, ``next_step()``, and on
``ConcurrentModificationError`` move on. Every step is up for grabs between the two, and the
lease claim (a compare-and-set) must hand each to exactly one of them.

That the two really race does not depend on timing: they shake hands through files (see
``race_worker.py``), so the follower collides with a lease the leader provably holds, and each
of them runs steps, on every run. The 2 ms pause between workflows (outside any transaction)
only keeps the rest of the race mixed on SQLite, where a racer waiting in the busy handler is
otherwise starved by the other's back-to-back transactions; no assertion rests on it.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest
from crashapp.effects import read as read_effects
from recovery_harness import (
    RACER,
    STEPS,
    Job,
    driver_job,
    effects_by_workflow,
    make_target,
    pg_url_for,
    run_jobs,
    run_one,
    sleep_past_lease,
    snapshot,
)

from ruvon.models import StepStatus
from ruvon.runtime.status import WorkflowStatus as S

N = 100


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_racers_run_every_step_exactly_once(
    kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = make_target(kind, "race", tmp_path, pg_url_for(request, kind))
    logs = tmp_path / "logs"
    creator = run_one(
        driver_job(
            "creator",
            target,
            logs,
            "S" * N,
            key_prefix="race-",
            extra=("--create-only", "--type", "PaymentProcessingManual"),
        )
    )
    assert creator.returncode == 0, creator.describe()
    created: dict[str, str] = creator.json()["workflows"]
    assert len(created) == N and set(created.values()) == {"ACTIVE"}
    ids_file = tmp_path / "ids.json"
    ids = list(created)
    ids_file.write_text(json.dumps(ids))
    sleep_past_lease(creator.ended_at)  # the creator's lease is gone: the workflows are free

    handshake = tmp_path / "handshake"
    handshake.mkdir()
    argv = [str(RACER), "--db", target.url, "--ids-file", str(ids_file), "--one-step"]
    argv += ["--pause", "0.002", "--handshake", str(handshake)]
    roles = {"racer-a": "leader", "racer-b": "follower"}
    racers = run_jobs(
        [
            Job(name, [sys.executable, *argv, "--role", role], target.env(), logs)
            for name, role in roles.items()
        ],
        2,
    )
    reports = {}
    for name, proc in racers.items():
        assert proc.returncode == 0, proc.describe()
        reports[name] = proc.json()

    post = snapshot(target)
    effects, kills = read_effects(target.effects)
    assert kills == []
    assert set(post) == set(created)
    problems: list[str] = []
    by_wf = effects_by_workflow(effects)
    for wid, snap in post.items():
        if snap.status is not S.COMPLETED:
            problems.append(f"{wid}: {snap.status.value}")
        history = [(name, st) for name, st in snap.history]
        if history != [(step, StepStatus.COMPLETED) for step, _, _ in STEPS]:
            problems.append(f"{wid}: step history {history}")  # a lost or doubled attempt
        ran = {fn: len(rows) for fn, rows in by_wf.get(wid, {}).items()}
        if ran != {fn: 1 for _, fn, _ in STEPS}:
            problems.append(f"{wid}: side effects {ran}")  # duplicate execution or none
        flags = ("order_created", "payment_charged", "inventory_reserved", "shipment_created")
        if not all(snap.state[f] for f in flags):
            problems.append(f"{wid}: state lost an update: {snap.state}")  # lost update
    assert problems == [], "\n".join(problems)

    pids = {proc.pid: name for name, proc in racers.items()}
    steps_by = Counter(pids[e.pid] for e in effects)
    conflicts = sum(r["conflicts"] for r in reports.values())
    with capsys.disabled():
        print(
            f"\n[recovery race {kind}] workflows={N} steps={len(effects)} "
            f"steps_by_racer={dict(sorted(steps_by.items()))} "
            f"conflicts={ {n: r['conflicts'] for n, r in sorted(reports.items())} } "
            f"passes={ {n: r['passes'] for n, r in sorted(reports.items())} }"
        )
    assert set(steps_by) == {"racer-a", "racer-b"}, "one racer did all the work: no race"
    assert conflicts > 0, "the racers never collided: no race"
    # the handshake: the follower met the leader's lease on the first workflow, then advanced
    # the second one itself
    assert reports["racer-b"]["conflicts"] >= 1
    assert (handshake / "holding").read_text() == ids[0]
    assert (handshake / "go").read_text() == ids[1]
