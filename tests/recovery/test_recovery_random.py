"""200 sagas, runners killed at random points, then recovery: nothing lost, nothing repeated.

Workflows ``r-0`` .. ``r-199`` (a seeded mix of succeeding and shipment-failing ones) are
started by a series of child processes, in four lanes of 50 running side by side on the same
database: each child creates and runs the next workflows of its lane one by one and SIGKILLs
itself at a random checkpoint (any ``fn:`` or ``commit:`` checkpoint, fired at a random hit from
1 to 8), and the next child of the lane carries on with the following workflow, until every
workflow was started. Then recovery runs in fresh processes until nothing is recoverable, and
every workflow is checked against the store's view between the kills and recovery and against
the side-effect counters (``recovery_harness.check_workflow``).

The seed is ``RUVON_RECOVERY_SEED`` (default below; each lane draws from its own generator, so a
seed gives the same kills whatever the timing). The seed and the counts are printed, even
without ``-s``.
"""

from __future__ import annotations

import os
import random
import signal
from collections import Counter
from pathlib import Path

import pytest
from crashapp.effects import read as read_effects
from recovery_harness import (
    STEPS,
    UNWIND,
    Job,
    Proc,
    Tally,
    check_workflow,
    driver_job,
    effects_by_workflow,
    make_target,
    pg_url_for,
    recover_job,
    recovered_ids,
    run_jobs,
    sleep_past_lease,
    snapshot,
    still_recoverable,
    workflow_keys,
)

from ruvon.runtime.status import WorkflowStatus as S

N = 200
LANES = 4
MAX_HIT = 8
SEED = int(os.environ.get("RUVON_RECOVERY_SEED", "20250611"))
CHECKPOINTS = (
    *(f"fn:{fn}:{when}" for _, fn, _ in STEPS for when in ("before", "after")),
    *(f"fn:{fn}:{when}" for fn in UNWIND for when in ("before", "after")),
    *(f"commit:{n}" for n in range(1, 9)),  # 5 ends a success, 8 ends an unwind
)


def _category(checkpoint: str) -> str:
    if checkpoint.startswith("commit:"):
        return "between transitions"
    fn = checkpoint.split(":")[1]
    return "inside a compensation" if fn in UNWIND else "inside a forward step"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_random_kills_lose_nothing_and_repeat_no_finished_compensation(
    kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = make_target(kind, "random", tmp_path, pg_url_for(request, kind))
    logs = tmp_path / "logs"
    mix = random.Random(SEED)
    variants = "".join(mix.choice("SF") for _ in range(N))
    assert N % LANES == 0
    size = N // LANES
    lanes = [range(lane * size, (lane + 1) * size) for lane in range(LANES)]
    rngs = [random.Random(f"{SEED}:{lane}") for lane in range(LANES)]  # timing-independent
    plan: dict[str, tuple[int, int, str, int]] = {}  # child -> (lane, start, checkpoint, hit)
    children: list[tuple[str, int, Proc]] = []  # (checkpoint, hit, process)

    def child(lane: int, start: int) -> Job:
        checkpoint, hit = rngs[lane].choice(CHECKPOINTS), rngs[lane].randint(1, MAX_HIT)
        name = f"lane{lane}-child{sum(1 for ln, *_ in plan.values() if ln == lane):02d}"
        plan[name] = (lane, start, checkpoint, hit)
        return driver_job(
            name,
            target,
            logs,
            variants[start : lanes[lane].stop],
            crash_at=checkpoint,
            hit=hit,
            mode="sequential",
            start_index=start,
            key_prefix="r-",
        )

    def then(proc: Proc) -> Job | None:
        """Check the child that ended; start the next one of its lane where it stopped."""
        lane, start, checkpoint, hit = plan[proc.name]
        assert proc.returncode in (0, -signal.SIGKILL), proc.describe()
        children.append((checkpoint, hit, proc))
        started = {int(k.split("-", 1)[1]) for k in workflow_keys(target) if k}
        mine = [n for n in lanes[lane] if n in started]
        assert mine == list(lanes[lane][: len(mine)]), "a lane skipped a workflow"
        following = lanes[lane].start + len(mine)
        assert following > start, f"{proc.name} started no workflow"
        if proc.returncode == 0:
            assert following == lanes[lane].stop, proc.describe()
        return child(lane, following) if following < lanes[lane].stop else None

    run_jobs([child(lane, lanes[lane].start) for lane in range(LANES)], LANES, then=then)
    assert len(children) == len(plan)

    pre = snapshot(target)
    assert len(pre) == N
    unfinished = {w for w, s in pre.items() if not s.status.is_terminal}
    sleep_past_lease(max(proc.ended_at for _, _, proc in children))
    recoveries: list[Proc] = []
    recovered: list[str] = []
    for attempt in range(3):
        proc = run_jobs([recover_job(f"recover-{attempt}", target, logs)])[f"recover-{attempt}"]
        recoveries.append(proc)
        recovered += recovered_ids(proc, cli=False)
        if not still_recoverable(target):
            break
    assert still_recoverable(target) == []
    post = snapshot(target)
    effects, kills = read_effects(target.effects)

    killed = [proc for _, _, proc in children if proc.returncode == -signal.SIGKILL]
    assert sorted(k.pid for k in kills) == sorted(p.pid for p in killed)
    kill_of = {k.workflow_id: k for k in kills}
    assert len(kill_of) == len(kills), "two kills in one workflow"
    assert sorted(recovered) == sorted(unfinished)

    tally = Tally()
    by_wf = effects_by_workflow(effects)
    recovery_pids = {p.pid for p in recoveries}
    assert sorted(s.key or "" for s in post.values()) == sorted(f"r-{i}" for i in range(N))
    for wid, snap in post.items():
        index = int((snap.key or "r-x").split("-", 1)[1])
        check_workflow(
            tally,
            fail=variants[index] == "F",
            pre=pre[wid],
            post=snap,
            effects=by_wf.get(wid, {}),
            kill=kill_of.get(wid),
            recovery_pids=recovery_pids,
        )
    statuses = Counter(s.status.value for s in post.values())
    kinds = Counter(_category(k.checkpoint) for k in kills)
    lost = N - sum(1 for s in post.values() if s.status.is_terminal)
    summary = (
        f"\n[recovery random {kind}] seed={SEED} workflows={N} "
        f"(success={variants.count('S')}, shipment failure={variants.count('F')}) "
        f"children={len(children)} kills={len(killed)} "
        f"unfinished_before_recovery={len(unfinished)} recovered={len(recovered)} "
        f"recovery_processes={len(recoveries)} lost={lost} "
        f"forward_steps_rerun={tally.forward_reruns} "
        f"compensations_rerun_in_flight={tally.compensation_reruns} "
        f"repeated_finished_compensations={tally.finished_compensations_repeated} "
        f"final={dict(statuses)}\n"
        f"  kills by checkpoint: {dict(sorted(kinds.items()))}"
    )
    with capsys.disabled():
        print(summary)
    assert tally.problems == [], f"seed={SEED}\n" + "\n".join(tally.problems)
    assert statuses == Counter(
        {S.COMPLETED.value: variants.count("S"), S.FAILED_ROLLED_BACK.value: variants.count("F")}
    )
    assert lost == 0
    assert tally.finished_compensations_repeated == 0
    # only the last child of a lane may finish without its checkpoint firing
    assert len(killed) >= len(children) - LANES
