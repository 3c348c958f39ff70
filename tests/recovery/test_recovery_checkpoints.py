"""Kill a real runner process at every checkpoint of the payment saga, recover in a fresh one.

For each checkpoint a child (``crash_driver.py``) creates three workflows of the tutorial's saga
with a 0.5 s lease, runs them one after the other and SIGKILLs itself at the checkpoint's second
hit, that is inside the second workflow: the first has finished, the third was created but never
run. The test reads the store, waits past the lease, runs recovery in a fresh process
(``ruvon recover --db URL --app-dir DIR`` for the ``commit:*`` cases, ``recover_script.py`` with
``await builder.recover()`` for the others), and checks every workflow against what was committed
before the kill and against the side-effect counters.

To stay fast, the children of all checkpoints of one store run side by side, and the cases share
four databases, one per (variant, recovery command): one recovery process serves each, and each
case checks its own workflows (idempotency keys ``cNN-wf-<i>``). Every checkpoint is still its
own test.

Checkpoints (``crashapp.chaos``): ``fn:<function>:before|after`` inside a step or compensation,
before or after its side effect; ``commit:<n>`` right after the n-th committed transition of the
workflow (#1 is the create, #2..#4 end the first three steps; in the shipment-failure variant #5
starts the unwind with release_inventory's STARTED entry, #6 and #7 each finish one compensation
and start the next).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

import pytest
from crashapp.effects import Effect, Kill
from crashapp.effects import read as read_effects
from recovery_harness import (
    STEPS,
    UNWIND,
    Proc,
    Snap,
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
)

from ruvon.models import CompensationStatus as C
from ruvon.runtime.status import WorkflowStatus as S

WORKFLOWS_PER_CHILD = 3
HIT = 2  # the kill fires in the second workflow
PARALLEL = 6


@dataclass(frozen=True)
class Case:
    checkpoint: str
    fail: bool  # CRASHAPP_FAIL_SHIPMENT=1: Create_Shipment raises, the saga unwinds

    @property
    def id(self) -> str:
        return f"{'unwind' if self.fail else 'forward'}-{self.checkpoint}"

    @property
    def cli(self) -> bool:
        """Recovered through ``ruvon recover`` (the others through ``builder.recover()``)."""
        return self.checkpoint.startswith("commit:")


FORWARD_CASES = [
    *(Case(f"fn:{fn}:{when}", False) for _, fn, _ in STEPS for when in ("before", "after")),
    *(Case(f"commit:{n}", False) for n in (1, 2, 3, 4)),
]
UNWIND_CASES = [
    Case("fn:create_shipment:before", True),  # inside the failing step, before it raises
    *(Case(f"fn:{fn}:{when}", True) for fn in UNWIND for when in ("before", "after")),
    *(Case(f"commit:{n}", True) for n in (5, 6, 7)),
]
CASES = FORWARD_CASES + UNWIND_CASES


@dataclass
class Outcome:
    """What one checkpoint's child and its group's recovery did, as the test sees it."""

    driver: Proc
    prefix: str  # idempotency-key prefix of the case's workflows
    pre: dict[str, Snap]  # the case's workflows between the kill and recovery
    recovery: Proc
    recovered: list[str]  # the case's workflows the recovery says it continued
    post: dict[str, Snap]
    left: list[str]  # still recoverable after recovery (whole group)
    effects: list[Effect]  # the case's workflows' side effects
    kills: list[Kill]  # the kills of the case's child


def _campaign(kind: str, pg_url: str | None, directory: Path) -> dict[str, Outcome]:
    """Run every case's child side by side, then one recovery per group of cases.

    Cases are grouped by variant and by how they are recovered (``ruvon recover`` or
    ``recover_script.py``): a group shares one database and counter file, so one recovery
    process (with or without ``CRASHAPP_FAIL_SHIPMENT=1``) serves it.
    """
    logs = directory / "logs"
    groups = sorted({(c.fail, c.cli) for c in CASES})
    names = {g: f"{'unwind' if g[0] else 'forward'}_{'cli' if g[1] else 'api'}" for g in groups}
    targets = {g: make_target(kind, names[g], directory, pg_url) for g in groups}
    prefix = {c.id: f"c{i:02d}-wf-" for i, c in enumerate(CASES)}
    drivers = run_jobs(
        [
            driver_job(
                c.id,
                targets[c.fail, c.cli],
                logs,
                "S" * WORKFLOWS_PER_CHILD,
                crash_at=c.checkpoint,
                hit=HIT,
                fail_shipment=c.fail,
                key_prefix=prefix[c.id],
            )
            for c in CASES
        ],
        PARALLEL,
    )
    pre = {g: snapshot(t) for g, t in targets.items()}
    sleep_past_lease(max(p.ended_at for p in drivers.values()))
    recoveries = run_jobs(
        [
            recover_job(f"recover-{names[g]}", targets[g], logs, cli=g[1], fail_shipment=g[0])
            for g in groups
        ],
        len(groups),
    )
    out: dict[str, Outcome] = {}
    for g in groups:
        target, recovery = targets[g], recoveries[f"recover-{names[g]}"]
        recovered = recovered_ids(recovery, g[1]) if recovery.returncode == 0 else []
        post, left = snapshot(target), still_recoverable(target)
        effects, kills = read_effects(target.effects)
        for c in (c for c in CASES if (c.fail, c.cli) == g):
            mine = {w for w, snap in post.items() if (snap.key or "").startswith(prefix[c.id])}
            driver = drivers[c.id]
            out[c.id] = Outcome(
                driver,
                prefix[c.id],
                {w: snap for w, snap in pre[g].items() if w in mine},
                recovery,
                [w for w in recovered if w in mine],
                {w: post[w] for w in mine},
                left,
                [e for e in effects if e.workflow_id in mine],
                [k for k in kills if k.pid == driver.pid],
            )
    return out


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def campaign(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Outcome]:
    kind = str(request.param)
    return _campaign(
        kind, pg_url_for(request, kind), tmp_path_factory.mktemp(f"checkpoints-{kind}")
    )


def _expected_pre(case: Case) -> tuple[S, int, list[tuple[str | None, C]]]:
    """Status, committed forward steps and journal of the killed workflow before recovery."""
    kind, _, rest = case.checkpoint.partition(":")
    skipped = ("cancel_shipment", C.SKIPPED)
    if kind == "commit":
        n = int(rest)
        if n <= 4:
            return S.ACTIVE, n - 1, []
        k = n - 5
        return (
            S.COMPENSATING,
            3,
            [skipped, *((f, C.COMPLETED) for f in UNWIND[:k]), (UNWIND[k], C.STARTED)],
        )
    fn = rest.split(":")[0]
    forward = [f for _, f, _ in STEPS]
    if fn in forward:
        return S.ACTIVE, forward.index(fn), []
    k = UNWIND.index(fn)
    return S.COMPENSATING, 3, [skipped, *((f, C.COMPLETED) for f in UNWIND[:k]), (fn, C.STARTED)]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_kill_at_checkpoint_then_recover(campaign: dict[str, Outcome], case: Case) -> None:
    r = campaign[case.id]

    # the child really died by its own SIGKILL, at the checkpoint, in the second workflow
    assert r.driver.returncode == -signal.SIGKILL, r.driver.describe()
    assert [(k.checkpoint, k.pid) for k in r.kills] == [(case.checkpoint, r.driver.pid)]
    killed = r.kills[0].workflow_id
    assert killed is not None and r.pre[killed].key == f"{r.prefix}{HIT - 1}"
    created = HIT if case.checkpoint == "commit:1" else WORKFLOWS_PER_CHILD
    keys = sorted(s.key or "" for s in r.pre.values())
    assert keys == [f"{r.prefix}{i}" for i in range(created)]
    first = next(s for s in r.pre.values() if s.key == f"{r.prefix}0")
    if case.checkpoint != "commit:1":
        assert first.status is (S.FAILED_ROLLED_BACK if case.fail else S.COMPLETED)

    # the store shows the kill where the checkpoint is
    status, steps, journal = _expected_pre(case)
    before = r.pre[killed]
    assert before.status is status
    assert [n for n, st in before.history if st.value == "COMPLETED"] == [
        name for name, _, _ in STEPS[:steps]
    ]
    assert [(f, st) for _, f, st in before.journal] == journal

    # recovery, in a fresh process, continued exactly the unfinished workflows
    unfinished = {wid for wid, snap in r.pre.items() if not snap.status.is_terminal}
    assert killed in unfinished
    assert r.recovery.returncode == 0, r.recovery.describe()
    assert r.recovery.pid != r.driver.pid
    assert sorted(r.recovered) == sorted(unfinished), r.recovery.describe()
    assert r.left == [], "workflows still recoverable after recovery"
    assert set(r.post) == set(r.pre)

    # every workflow finished as expected; side effects: at most twice, never a finished one
    tally = Tally()
    by_wf = effects_by_workflow(r.effects)
    for wid, post in r.post.items():
        check_workflow(
            tally,
            fail=case.fail,
            pre=r.pre.get(wid),
            post=post,
            effects=by_wf.get(wid, {}),
            kill=r.kills[0] if wid == killed else None,
            recovery_pids={r.recovery.pid},
        )
    assert tally.problems == [], "\n".join(tally.problems)
    rerun = case.checkpoint.endswith(":after")
    forward_fns = {fn for _, fn, _ in STEPS}
    fn = case.checkpoint.split(":")[1]
    assert tally.forward_reruns == (1 if rerun and fn in forward_fns else 0)
    assert tally.compensation_reruns == (1 if rerun and fn in UNWIND else 0)
