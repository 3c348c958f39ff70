"""Random workflows on SQLite, their runner SIGKILLed at a random point, then recovered: each
ends exactly as the reference model says, as if nothing had happened.

Each example is 1-3 generated plans (as in ``test_fuzz``; saga mode off or from the YAML, since
a flag switched on by a call may die with the process before it is stored), a checkpoint and a
hit. A child process (``fuzz_driver.py``, with the recovery tests' ``crashapp.chaos``) creates
the workflows, runs them one after the other and SIGKILLs itself at that hit of the checkpoint:
after a workflow's n-th commit, or inside a step or compensation attempt, before or after its
in-place changes. Once the dead runner's lease has expired, this process runs
``builder.recover()``, then carries on as the application would (``create_workflow`` with the
same idempotency key, ``next_step()``/``resume()`` until the end), and checks every workflow,
live and loaded back, against ``fuzz_model.expect``.

``RUVON_FUZZ_KILL_EXAMPLES`` sets the number of examples (default below; about a second each).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fuzz_model import PERMANENT, Plan, check, comps, drive, expect, plans
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from recovery_harness import Job, make_target, run_one
from test_fuzz import SPACE

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider

EXAMPLES = int(os.environ.get("RUVON_FUZZ_KILL_EXAMPLES", "15"))
DRIVER = Path(__file__).resolve().parent / "fuzz_driver.py"
LEASE = 0.2
KILL_SPACE = dataclasses.replace(SPACE, sagas=("off", "yaml"))
INSIDE = ("fwd:before", "fwd:mid", "comp:before", "comp:mid")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Crash:
    plans: tuple[Plan, ...]
    checkpoint: str
    hit: int


@st.composite
def unwinding_plans(draw: st.DrawFn) -> Plan:
    """A plan whose last step fails for good in saga mode, every step with a compensation:
    most kills then hit the unwind."""
    plan = draw(plans(KILL_SPACE, max_steps=5))
    steps = [
        s if s.comp is not None else dataclasses.replace(s, comp=draw(comps(KILL_SPACE)))
        for s in plan.steps
    ]
    steps[-1] = dataclasses.replace(steps[-1], fails=PERMANENT)
    return dataclasses.replace(plan, steps=tuple(steps), saga="yaml")


@st.composite
def crashes(draw: st.DrawFn) -> Crash:
    some_plans = st.one_of(plans(KILL_SPACE, max_steps=5), unwinding_plans())
    workflows = tuple(draw(st.lists(some_plans, min_size=1, max_size=3)))
    # the kill point is drawn uniformly (hypothesis's own choices lean to the first values):
    # half after a workflow's n-th commit (in the hit-th workflow that gets that far), half
    # inside an attempt (the hit-th attempt of any step, or of any compensation)
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    if rng.random() < 0.5:
        return Crash(
            plans=workflows,
            checkpoint=f"commit:{rng.randint(1, 6)}",
            hit=rng.randint(1, len(workflows)),
        )
    return Crash(plans=workflows, checkpoint=rng.choice(INSIDE), hit=rng.randint(1, 3))


@pytest.fixture
def loop() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as runner:
        yield runner


async def _recover_and_check(
    store: SQLitePersistenceProvider, crash: Crash, jobs: list[dict[str, Any]]
) -> list[str]:
    builder = WorkflowBuilder(
        workflow_registry={job["type"]: job["definition"] for job in jobs},
        persistence_provider=store,
        lease_seconds=LEASE,
    )
    for _ in range(5):
        if not await builder.recover():
            break
    problems: list[str] = []
    for plan, job in zip(crash.plans, jobs, strict=True):
        # the application carries on: the same key finds the workflow if it was created
        wf = await builder.create_workflow(job["type"], job["initial"], idempotency_key=job["key"])
        await drive(wf, plan)
        want = expect(plan)
        problems += check(wf, want, where=f"{job['key']} live")
        problems += check(await builder.load_workflow(wf.id), want, where=f"{job['key']} loaded")
    return problems


@pytest.mark.slow
def test_killed_and_recovered_workflows_end_as_the_reference_model_says(
    tmp_path: Path, loop: asyncio.Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    target = make_target("sqlite", "fuzzkill", tmp_path, None)
    store = SQLitePersistenceProvider(target.url)
    numbers = itertools.count()
    tally: Counter[str] = Counter()
    started = time.monotonic()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(crash=crashes())
    def one(crash: Crash) -> None:
        n = next(numbers)
        jobs = [
            {
                "type": f"Fuzz{n}x{i}",
                "definition": plan.definition(f"Fuzz{n}x{i}"),
                "initial": plan.initial_json(),
                "key": f"e{n}-{i}",
            }
            for i, plan in enumerate(crash.plans)
        ]
        path = tmp_path / f"jobs-{n}.json"
        path.write_text(json.dumps(jobs))
        argv = [sys.executable, str(DRIVER), "--db", target.url, "--jobs", str(path)]
        env = target.env(CRASHAPP_CRASH_AT=crash.checkpoint, CRASHAPP_CRASH_HIT=str(crash.hit))
        proc = run_one(Job(f"child-{n}", [*argv, "--lease", str(LEASE)], env, tmp_path / "logs"))
        assert proc.returncode in (0, -signal.SIGKILL), proc.describe()
        killed = proc.returncode == -signal.SIGKILL
        where = crash.checkpoint.split(":", 1)[0]
        outcome = f"killed at {where}" if killed else f"{where} never reached"
        event(outcome)
        tally[outcome] += 1
        tally["workflows"] += len(jobs)
        time.sleep(max(0.0, proc.ended_at + LEASE + 0.1 - time.time()))
        problems = loop.run(_recover_and_check(store, crash, jobs))
        assert not problems, "\n".join([repr(crash), proc.describe(), *problems])

    try:
        one()
    finally:
        loop.run(store.close())
        with capsys.disabled():
            print(
                f"\n[fuzz kill] examples={next(numbers)} {dict(sorted(tally.items()))} "
                f"in {time.monotonic() - started:.1f}s"
            )
