"""Kill a real runner while a SUB_WORKFLOW step drives its child, recover in a fresh process.

``subflowapp``'s parent saga (``SubParent``: Reserve, Pay = the child ``SubChild``, Finish) runs a
child saga (Authorize, Book = the grandchild ``SubGrandchild``: Post, then Capture); its
``SubParentHuman`` runs a child that waits for a person between Authorize and Capture. A process
starts (or resumes, or recovers) them and SIGKILLs itself at a checkpoint: inside a step or
compensation function before or after its side effect, right after the store created a workflow
of a type, or right after a commit moved one to a status. Fresh processes then recover
(``builder.recover()`` or ``ruvon recover``) once the dead process's 0.4 s leases have run out.

The ledger records every side effect with the workflow, the idempotency key the engine gave the
call and the process that made it, in order, so each test checks the whole story exactly: what
ran before the kill ran once, the step (or compensation) in flight ran again with the same key
only if its effect was done, the rest ran once by recovery, children unwound before their
parents; and the store ends with every workflow in its final status, one child per parent, the
child's final state in the parent's ``sub_workflow_results``.

The scenarios run side by side (each with its own database and ledger, see
``subflowapp.campaign``), once on SQLite and once on PostgreSQL.
"""

from __future__ import annotations

import signal
from typing import Any

import pytest
from recovery_harness import Proc, pg_url_for
from subflowapp.campaign import Act, Outcome, Scenario, Wf, World, play, recovered

from ruvon.models import CompensationStatus, StepStatus
from ruvon.runtime.status import WorkflowStatus

S = WorkflowStatus
C = CompensationStatus
DONE = StepStatus.COMPLETED
FAILED = StepStatus.FAILED


def _start(kill_at: str | None = None, **more: Any) -> Act:
    return Act(command="start", kill_at=kill_at, **more)


RECOVER = Act(command="recover")
CLI = Act(command="cli")
FAIL = {"fail": True}  # the parent's Finish fails: the parent unwinds, its child first
OVER_LIMIT = {"amount": 5000}  # the child's Capture declines: the child fails on its own
HUMAN = "SubParentHuman"
_waiting = _start(workflow_type=HUMAN)


def _resume(by: str, kill_at: str | None = None) -> Act:
    return Act(command="resume", answer={"by": by}, kill_at=kill_at)


SCENARIOS = [
    # 1. inside a child's step, after its side effect
    Scenario("child-step", ((_start("fn:capture:after"),), (RECOVER,))),
    # 2. around the child's creation
    Scenario("child-created", ((_start("created:SubChild"),), (RECOVER,))),
    Scenario("child-first-step", ((_start("fn:authorize:before"),), (CLI,))),
    Scenario(
        "parent-pending",
        ((_start("commit:SubParent:PENDING_SUB_WORKFLOW", data=OVER_LIMIT),), (RECOVER,)),
    ),
    Scenario("child-pending", ((_start("commit:SubChild:PENDING_SUB_WORKFLOW"),), (RECOVER,))),
    # 3. the child completed, the parent did not move on
    Scenario("child-completed", ((_start("commit:SubChild:COMPLETED"),), (CLI,))),
    # 4. the parent unwinds, the child (and the grandchild) with it
    Scenario(
        "unwind-child-started", ((_start("commit:SubChild:COMPENSATING", data=FAIL),), (RECOVER,))
    ),
    Scenario("unwind-grandchild", ((_start("fn:unpost:after", data=FAIL),), (RECOVER,))),
    Scenario("unwind-child", ((_start("fn:void:after", data=FAIL),), (RECOVER,))),
    Scenario(
        "unwind-child-done",
        ((_start("commit:SubChild:FAILED_ROLLED_BACK", data=FAIL),), (CLI,)),
    ),
    # 5. the recovery dies too
    Scenario(
        "recovery-killed",
        (
            (_start("fn:authorize:after"),),
            (Act(command="recover", kill_at="fn:post:after"),),
            (CLI,),
        ),
    ),
    # 6. the child waits for a person; another process resumes it by its id
    Scenario(
        "human-capture",
        ((_waiting,), (RECOVER,), (_resume("ops", "fn:capture:after"),), (RECOVER,)),
    ),
    Scenario(
        "human-approve", ((_waiting,), (RECOVER,), (_resume("ops", "fn:approve:after"),), (CLI,))
    ),
    Scenario(
        "human-woken",
        (
            (_waiting,),
            (_resume("ops", f"commit:{HUMAN}:PENDING_SUB_WORKFLOW"),),
            (RECOVER,),
            (_resume("ann"),),
        ),
    ),
    # the resumed child runs long: recovery must not take the parent its resumer woke
    Scenario(
        "human-slow",
        (
            (_waiting,),
            (
                Act(command="resume", answer={"by": "ops"}, slow="capture=2"),
                Act(command="recover", after="approve=1.0"),
            ),
        ),
    ),
    # 7. two recoveries at once
    Scenario(
        "two-recoverers",
        (
            (
                _start("fn:capture:after", key="a"),
                _start("fn:post:after", key="b"),
                _start("created:SubChild", key="c"),
                _start("fn:refund:after", key="d", data=FAIL),
            ),
            (Act(command="recover", race=2), Act(command="recover", race=2)),
        ),
    ),
]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def outcomes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Outcome]:
    kind = str(request.param)
    directory = tmp_path_factory.mktemp(f"subflow-{kind}")
    return play(SCENARIOS, kind, pg_url_for(request, kind), directory)


# --- helpers ---------------------------------------------------------------------------------


def _killed(r: Outcome, proc: Proc, checkpoint: str) -> None:
    """The process died by its own SIGKILL, at that checkpoint."""
    assert proc.returncode == -signal.SIGKILL, proc.describe()
    assert [k.checkpoint for k in r.kills if k.pid == proc.pid] == [checkpoint]


def _ok(proc: Proc) -> Proc:
    assert proc.returncode == 0, proc.describe()
    return proc


def _key(wf: Wf, scope: str, compensation: bool = False) -> str:
    return f"{wf.id}:{scope}" + (":compensate" if compensation else "")


def _family(world: World, key: str = "trip", human: bool = False) -> tuple[Wf, Wf, Wf | None]:
    """The parent started with ``key``, its only child and the child's only child (if any)."""
    parent = world.one(HUMAN if human else "SubParent", key)
    (child,) = world.children(parent.id)  # one child, however often its step ran
    below = world.children(child.id)
    assert len(below) <= 1, below
    return parent, child, below[0] if below else None


def _waits_for(parent: Wf, child: Wf) -> None:
    """The parent's cursor says its step waits for that child."""
    assert [(f["kind"], f["scope"], f["child_id"]) for f in parent.frames] == [
        ("child", "Pay", child.id)
    ]


def _ledger(r: Outcome, who: dict[int, str]) -> list[tuple[str, str, str]]:
    """Every side effect, in order: (function, idempotency key, which process)."""
    return [(e.function, e.idempotency_key, who[e.pid]) for e in r.effects]


def _linked(parent: Wf, child: Wf, grandchild: Wf | None) -> None:
    """Keys, parents and saga mode as the parent's step gave them to its child."""
    assert child.key == f"{parent.id}:Pay" and child.parent_id == parent.id
    assert child.metadata["sub_workflow_of"] == parent.id
    assert parent.saga_mode and child.saga_mode, "a saga parent starts its child in saga mode"
    if grandchild is not None:
        assert grandchild.key == f"{child.id}:Book" and grandchild.parent_id == child.id
        assert grandchild.saga_mode, "a saga child starts its own child in saga mode"


def _completed(world: World, key: str = "trip", human: bool = False) -> tuple[Wf, Wf, Wf | None]:
    """All three COMPLETED, each step once, no lease or cursor left, and each parent holds
    its child's final state."""
    p, c, g = _family(world, key, human)
    _linked(p, c, g)
    for wf in (p, c, g):
        if wf is not None:
            assert (wf.status, wf.lease_owner, wf.frames, wf.journal) == (S.COMPLETED, None, [], [])
    assert p.history == [("Reserve", DONE), ("Pay", DONE), ("Finish", DONE)]
    if human:
        assert g is None
        assert c.history == [("Authorize", DONE), ("Confirm", DONE), ("Capture", DONE)]
    else:
        assert g is not None and g.history == [("Post", DONE)]
        assert c.history == [("Authorize", DONE), ("Book", DONE), ("Capture", DONE)]
        assert c.state["sub_workflow_results"] == {
            g.id: {
                "workflow_type": "SubGrandchild",
                "status": "COMPLETED",
                "state": g.state,
                "final_result": {"posted": True},
            }
        }
    assert p.state["sub_workflow_results"] == {
        c.id: {
            "workflow_type": c.workflow_type,
            "status": "COMPLETED",
            "state": c.state,
            "final_result": {"captured": True},
        }
    }
    assert c.state["captured"] and c.state["authorized"] and p.state["finished"]
    assert p.results["Pay"] is not None and p.results["Pay"]["sub_workflow_id"] == c.id
    return p, c, g


def _rolled_back(world: World, key: str = "trip") -> tuple[Wf, Wf, Wf]:
    """The parent's Finish failed; all three FAILED_ROLLED_BACK, each compensation settled
    once, the child unwound (its grandchild first) before the parent's Reserve."""
    p, c, g = _family(world, key)
    assert g is not None
    _linked(p, c, g)
    assert [(wf.status, wf.lease_owner) for wf in (p, c, g)] == [(S.FAILED_ROLLED_BACK, None)] * 3
    assert (p.error_type, c.error_type, g.error_type) == (
        "Failed",
        "ParentRolledBack",
        "ParentRolledBack",
    )
    assert p.history == [("Reserve", DONE), ("Pay", DONE), ("Finish", FAILED)]
    assert p.journal == [("Finish", C.SKIPPED), ("Pay", C.COMPLETED), ("Reserve", C.COMPLETED)]
    assert c.journal == [
        ("Capture", C.COMPLETED),
        ("Book", C.COMPLETED),
        ("Authorize", C.COMPLETED),
    ]
    assert g.journal == [("Post", C.COMPLETED)]
    assert c.id in (p.details["Pay"] or "") and g.id in (c.details["Book"] or "")
    assert (p.state["reserved"], c.state["authorized"], c.state["captured"]) == (False,) * 3
    assert g.state["posted"] is False
    return p, c, g


def _forward(p: Wf, c: Wf, g: Wf, *who: str) -> list[tuple[str, str, str]]:
    """The forward effects of the parent, child and grandchild, in order, by those processes
    (one name per effect, or one for all)."""
    rows = [
        ("reserve", _key(p, "Reserve")),
        ("authorize", _key(c, "Authorize")),
        ("post", _key(g, "Post")),
        ("capture", _key(c, "Capture")),
    ]
    names = who * len(rows) if len(who) == 1 else who
    return [(f, k, n) for (f, k), n in zip(rows, names, strict=True)]


def _undo(p: Wf, c: Wf, g: Wf, *who: str) -> list[tuple[str, str, str]]:
    """The compensations in unwind order (child first, its grandchild within it), by those
    processes (one name per compensation, or one for all)."""
    rows = [
        ("refund", _key(c, "Capture", True)),
        ("unpost", _key(g, "Post", True)),
        ("void", _key(c, "Authorize", True)),
        ("unreserve", _key(p, "Reserve", True)),
    ]
    names = who * len(rows) if len(who) == 1 else who
    return [(f, k, n) for (f, k), n in zip(rows, names, strict=True)]


def _by_recovery(ids: list[str], parent: Wf, *below: Wf | None) -> None:
    """Recovery continued the parent; the workflows below it were continued by recovery too
    or taken over by the parent's step (which one is a race)."""
    assert parent.id in ids, ids
    assert set(ids) <= {parent.id, *(w.id for w in below if w is not None)}, ids


# --- 1. killed inside a child's step -----------------------------------------------------------


def test_killed_inside_a_child_step_after_its_effect(outcomes: dict[str, Outcome]) -> None:
    r = outcomes["child-step"]
    start, recovery = r.proc(0), _ok(r.proc(1))
    _killed(r, start, "fn:capture:after")
    p, c, g = _family(r.worlds[0])
    assert g is not None
    assert (p.status, c.status, g.status) == (S.PENDING_SUB_WORKFLOW, S.ACTIVE, S.COMPLETED)
    _waits_for(p, c)
    assert c.history == [("Authorize", DONE), ("Book", DONE)]  # Capture was not committed
    assert p.lease_owner is not None and c.lease_owner is not None  # the dead runner's

    _by_recovery(recovered(recovery), p, c)
    p, c, g = _completed(r.final)
    assert g is not None
    assert _ledger(r, {start.pid: "start", recovery.pid: "recovery"}) == [
        *_forward(p, c, g, "start"),
        ("capture", _key(c, "Capture"), "recovery"),  # again, with the same key
        ("finish", _key(p, "Finish"), "recovery"),
    ]


# --- 2. killed around the child's creation ------------------------------------------------------


def test_killed_right_after_the_child_was_created_finds_that_child(
    outcomes: dict[str, Outcome],
) -> None:
    """Before the parent's PENDING_SUB_WORKFLOW commit: its step runs again and finds the
    child by its idempotency key; the child, never started, was left to it."""
    r = outcomes["child-created"]
    start, recovery = r.proc(0), _ok(r.proc(1))
    _killed(r, start, "created:SubChild")
    p, c, g = _family(r.worlds[0])
    assert (p.status, p.frames, p.history) == (S.ACTIVE, [], [("Reserve", DONE)])
    assert (c.status, c.version, c.history, g) == (S.ACTIVE, 0, [], None)

    assert recovered(recovery) == [p.id]  # a child created but never started: not on its own
    p, c, g = _completed(r.final)
    assert g is not None
    assert _ledger(r, {start.pid: "start", recovery.pid: "recovery"}) == [
        ("reserve", _key(p, "Reserve"), "start"),
        *_forward(p, c, g, "recovery")[1:],
        ("finish", _key(p, "Finish"), "recovery"),
    ]


def test_killed_in_the_child_first_step_before_its_effect(outcomes: dict[str, Outcome]) -> None:
    r = outcomes["child-first-step"]
    start, recovery = r.proc(0), _ok(r.proc(1))
    _killed(r, start, "fn:authorize:before")
    p, c, _ = _family(r.worlds[0])
    assert (p.status, c.status, c.history) == (S.PENDING_SUB_WORKFLOW, S.ACTIVE, [])
    _waits_for(p, c)

    _by_recovery(recovered(recovery), p, c)  # ruvon recover
    p, c, g = _completed(r.final)
    assert g is not None
    assert _ledger(r, {start.pid: "start", recovery.pid: "recovery"}) == [
        ("reserve", _key(p, "Reserve"), "start"),
        *_forward(p, c, g, "recovery")[1:],
        ("finish", _key(p, "Finish"), "recovery"),
    ]


def test_killed_after_the_pending_commit_the_child_still_runs_as_a_saga(
    outcomes: dict[str, Outcome],
) -> None:
    """Killed right after the saga parent committed PENDING_SUB_WORKFLOW, before its child's
    first commit (which stores the saga mode the parent gave it). The child then fails on
    its own (Capture declines): it must roll itself back (void its authorization) like a child
    run without a crash, and the parent then undoes its reservation."""
    r = outcomes["parent-pending"]
    start, recovery = r.proc(0), _ok(r.proc(1))
    _killed(r, start, "commit:SubParent:PENDING_SUB_WORKFLOW")
    p, c, g = _family(r.worlds[0])
    assert (p.status, c.status, c.version, g) == (S.PENDING_SUB_WORKFLOW, S.ACTIVE, 0, None)
    _waits_for(p, c)

    assert recovered(recovery) == [p.id]
    p, c, g = _family(r.final)
    assert g is not None
    # as without a crash: the child rolled itself back (its grandchild first), then the parent
    assert [(w.status, w.error_type) for w in (p, c, g)] == [
        (S.FAILED_ROLLED_BACK, "ChildWorkflowFailed"),
        (S.FAILED_ROLLED_BACK, "Declined"),
        (S.FAILED_ROLLED_BACK, "ParentRolledBack"),
    ]
    assert (c.saga_mode, g.saga_mode) == (True, True)
    assert c.history == [("Authorize", DONE), ("Book", DONE), ("Capture", FAILED)]
    assert c.journal == [("Capture", C.SKIPPED), ("Book", C.COMPLETED), ("Authorize", C.COMPLETED)]
    assert g.journal == [("Post", C.COMPLETED)]
    assert p.history == [("Reserve", DONE), ("Pay", FAILED)]
    assert p.journal == [("Pay", C.SKIPPED), ("Reserve", C.COMPLETED)]  # the child undid itself
    assert _ledger(r, {start.pid: "start", recovery.pid: "recovery"}) == [
        ("reserve", _key(p, "Reserve"), "start"),
        ("authorize", _key(c, "Authorize"), "recovery"),
        ("post", _key(g, "Post"), "recovery"),
        ("unpost", _key(g, "Post", True), "recovery"),
        ("void", _key(c, "Authorize", True), "recovery"),
        ("unreserve", _key(p, "Reserve", True), "recovery"),
    ]


def test_killed_after_the_child_pending_commit_the_grandchild_is_a_saga(
    outcomes: dict[str, Outcome],
) -> None:
    """The same one level down: the child committed PENDING_SUB_WORKFLOW for its grandchild,
    which had not started; recovery (through the parent) must start it in saga mode."""
    r = outcomes["child-pending"]
    start, recovery = r.proc(0), _ok(r.proc(1))
    _killed(r, start, "commit:SubChild:PENDING_SUB_WORKFLOW")
    p, c, g = _family(r.worlds[0])
    assert g is not None
    assert (p.status, c.status, g.status, g.version) == (
        S.PENDING_SUB_WORKFLOW,
        S.PENDING_SUB_WORKFLOW,
        S.ACTIVE,
        0,
    )

    _by_recovery(recovered(recovery), p, c)
    p, c, g = _completed(r.final)  # checks the grandchild's saga mode
    assert g is not None
    assert _ledger(r, {start.pid: "start", recovery.pid: "recovery"}) == [
        *_forward(p, c, g, "start", "start", "recovery", "recovery"),
        ("finish", _key(p, "Finish"), "recovery"),
    ]


# --- 3. killed after the child completed --------------------------------------------------------


def test_killed_after_the_child_completed_before_the_parent_moved_on(
    outcomes: dict[str, Outcome],
) -> None:
    r = outcomes["child-completed"]
    start, recovery = r.proc(0), _ok(r.proc(1))
    _killed(r, start, "commit:SubChild:COMPLETED")
    p, c, g = _family(r.worlds[0])
    assert g is not None
    assert (p.status, c.status, g.status) == (S.PENDING_SUB_WORKFLOW, S.COMPLETED, S.COMPLETED)
    _waits_for(p, c)
    assert p.history == [("Reserve", DONE)]

    assert recovered(recovery) == [p.id]  # ruvon recover: only the parent was left running
    p, c, g = _completed(r.final)
    assert g is not None
    assert _ledger(r, {start.pid: "start", recovery.pid: "recovery"}) == [
        *_forward(p, c, g, "start"),
        ("finish", _key(p, "Finish"), "recovery"),
    ]


# --- 4. killed while the parent unwinds its child -----------------------------------------------

STARTED, UNDONE = C.STARTED, C.COMPLETED
REC, START = "recovery", "start"


@pytest.mark.parametrize(
    ("scenario", "checkpoint", "child", "grandchild", "undo"),
    [
        # the child just moved COMPLETED -> COMPENSATING: nothing undone yet
        (
            "unwind-child-started",
            "commit:SubChild:COMPENSATING",
            (S.COMPENSATING, []),
            (S.COMPLETED, []),
            [("refund", REC), ("unpost", REC), ("void", REC), ("unreserve", REC)],
        ),
        # in the grandchild's compensation, after its effect: it runs again
        (
            "unwind-grandchild",
            "fn:unpost:after",
            (S.COMPENSATING, [("Capture", UNDONE), ("Book", STARTED)]),
            (S.COMPENSATING, [("Post", STARTED)]),
            [
                ("refund", START),
                ("unpost", START),
                ("unpost", REC),
                ("void", REC),
                ("unreserve", REC),
            ],
        ),
        # in the child's last compensation, after its effect: it runs again
        (
            "unwind-child",
            "fn:void:after",
            (S.COMPENSATING, [("Capture", UNDONE), ("Book", UNDONE), ("Authorize", STARTED)]),
            (S.FAILED_ROLLED_BACK, [("Post", UNDONE)]),
            [
                ("refund", START),
                ("unpost", START),
                ("void", START),
                ("void", REC),
                ("unreserve", REC),
            ],
        ),
        # the child rolled back, the parent had not gone on
        (
            "unwind-child-done",
            "commit:SubChild:FAILED_ROLLED_BACK",
            (S.FAILED_ROLLED_BACK, [("Capture", UNDONE), ("Book", UNDONE), ("Authorize", UNDONE)]),
            (S.FAILED_ROLLED_BACK, [("Post", UNDONE)]),
            [("refund", START), ("unpost", START), ("void", START), ("unreserve", REC)],
        ),
    ],
)
def test_killed_while_the_parent_unwinds_its_child(
    outcomes: dict[str, Outcome],
    scenario: str,
    checkpoint: str,
    child: tuple[WorkflowStatus, list[tuple[str, CompensationStatus]]],
    grandchild: tuple[WorkflowStatus, list[tuple[str, CompensationStatus]]],
    undo: list[tuple[str, str]],
) -> None:
    """The parent's Finish failed; the kill came while its child unwound (``child`` and
    ``grandchild``: their status and journal then). Recovery finishes the unwind: no finished
    compensation runs again, the one in flight again with the same key only if its effect was
    done, and the order stays child first (its grandchild within it), then the parent."""
    r = outcomes[scenario]
    start, recovery = r.proc(0), _ok(r.proc(1))
    _killed(r, start, checkpoint)
    p, c, g = _family(r.worlds[0])
    assert g is not None
    assert (p.status, p.journal) == (S.COMPENSATING, [("Finish", C.SKIPPED), ("Pay", STARTED)])
    assert ((c.status, c.journal), (g.status, g.journal)) == (child, grandchild)
    assert c.error_type == "ParentRolledBack"

    ids = recovered(recovery)
    if scenario == "unwind-child-done":
        assert ids == [p.id]  # ruvon recover: only the parent was left running
    else:
        _by_recovery(ids, p, c, g)
    p, c, g = _rolled_back(r.final)
    keys = {f: k for f, k, _ in _undo(p, c, g, "-")}
    assert _ledger(r, {start.pid: START, recovery.pid: REC}) == [
        *_forward(p, c, g, START),
        *((function, keys[function], who) for function, who in undo),
    ]


# --- 5. the recovery is killed too --------------------------------------------------------------


def test_a_recovery_killed_midway_is_finished_by_the_next(outcomes: dict[str, Outcome]) -> None:
    r = outcomes["recovery-killed"]
    start, first, second = r.proc(0), r.proc(1), _ok(r.proc(2))
    _killed(r, start, "fn:authorize:after")
    p, c, _ = _family(r.worlds[0])
    assert (p.status, c.status, c.history) == (S.PENDING_SUB_WORKFLOW, S.ACTIVE, [])

    # the first recovery ran Authorize again and started the grandchild, then died in Post
    _killed(r, first, "fn:post:after")
    p, c, g = _family(r.worlds[1])
    assert g is not None
    assert (p.status, c.status, g.status) == (S.PENDING_SUB_WORKFLOW,) * 2 + (S.ACTIVE,)
    assert (c.history, g.history) == ([("Authorize", DONE)], [])

    _by_recovery(recovered(second), p, c, g)  # ruvon recover
    p, c, g = _completed(r.final)
    assert g is not None
    assert _ledger(r, {start.pid: "start", first.pid: "first", second.pid: "second"}) == [
        ("reserve", _key(p, "Reserve"), "start"),
        ("authorize", _key(c, "Authorize"), "start"),
        ("authorize", _key(c, "Authorize"), "first"),
        ("post", _key(g, "Post"), "first"),
        ("post", _key(g, "Post"), "second"),
        ("capture", _key(c, "Capture"), "second"),
        ("finish", _key(p, "Finish"), "second"),
    ]


# --- 6. a child that waits for a person ---------------------------------------------------------


_Row = tuple[str, str, str, str | None]  # (function, idempotency key, process, note)


def _left_waiting(r: Outcome) -> tuple[Wf, Wf]:
    """The start ran until the child waits at Confirm, and recovery left both alone."""
    assert _ok(r.proc(0)).json()["status"] == "WAITING_CHILD_HUMAN_INPUT"
    p, c, g = _family(r.worlds[0], human=True)
    assert g is None
    assert (p.status, p.lease_owner) == (S.WAITING_CHILD_HUMAN_INPUT, None)
    assert (c.status, c.lease_owner, c.history) == (S.WAITING_HUMAN, None, [("Authorize", DONE)])
    _waits_for(p, c)
    return p, c


@pytest.mark.parametrize(
    ("scenario", "checkpoint"),
    [("human-capture", "fn:capture:after"), ("human-approve", "fn:approve:after")],
)
def test_a_resumed_child_killed_midway_is_finished_by_recovery(
    outcomes: dict[str, Outcome], scenario: str, checkpoint: str
) -> None:
    """Another process resumes the waiting child by its id (which moves the parent back to
    PENDING_SUB_WORKFLOW under its lease) and dies in a step after the resume."""
    r = outcomes[scenario]
    p, c = _left_waiting(r)
    assert recovered(r.proc(1)) == []
    assert r.worlds[1] == r.worlds[0]  # nothing written

    resume, recovery = r.proc(2), _ok(r.proc(3))
    _killed(r, resume, checkpoint)
    p, c, _ = _family(r.worlds[2], human=True)
    assert (p.status, c.status) == (S.PENDING_SUB_WORKFLOW, S.ACTIVE)
    assert p.lease_owner is not None
    if checkpoint == "fn:approve:after":  # the input is kept for the step that runs again
        assert c.history == [("Authorize", DONE)]
        assert c.frames == [{"kind": "input", "user_input": {"by": "ops"}}]
    else:
        assert c.history == [("Authorize", DONE), ("Confirm", DONE)]

    _by_recovery(recovered(recovery), p, c)
    p, c, _ = _completed(r.final, human=True)
    assert c.state["approved_by"] == "ops"
    who = {r.proc(0).pid: "start", resume.pid: "resume", recovery.pid: "recovery"}
    approved: _Row = ("approve", _key(c, "Confirm"), "resume", "ops")
    captured: _Row = ("capture", _key(c, "Capture"), "resume", None)
    if checkpoint == "fn:approve:after":  # again, with the same key and the input kept
        later: list[_Row] = [approved, ("approve", _key(c, "Confirm"), "recovery", "ops")]
        later.append(("capture", _key(c, "Capture"), "recovery", None))
    else:
        later = [approved, captured, ("capture", _key(c, "Capture"), "recovery", None)]
    assert [(e.function, e.idempotency_key, who[e.pid], e.note) for e in r.effects] == [
        ("reserve", _key(p, "Reserve"), "start", None),
        ("authorize", _key(c, "Authorize"), "start", None),
        *later,
        ("finish", _key(p, "Finish"), "recovery", None),
    ]


def test_a_resume_killed_right_after_waking_the_parent_waits_again(
    outcomes: dict[str, Outcome],
) -> None:
    """The resuming process dies right after it moved the parent to PENDING_SUB_WORKFLOW,
    before the child took the input: recovery finds the child still waiting and puts the
    parent back to waiting; a person's next resume finishes both."""
    r = outcomes["human-woken"]
    waiting_p, waiting_c = _left_waiting(r)
    resume, recovery, last = r.proc(1), _ok(r.proc(2)), _ok(r.proc(3))
    _killed(r, resume, f"commit:{HUMAN}:PENDING_SUB_WORKFLOW")
    p, c, _ = _family(r.worlds[1], human=True)
    assert (p.status, c) == (S.PENDING_SUB_WORKFLOW, waiting_c)  # the child: untouched

    assert recovered(recovery) == [p.id]
    p, c, _ = _family(r.worlds[2], human=True)
    assert (p.status, p.lease_owner, p.history) == (
        S.WAITING_CHILD_HUMAN_INPUT,
        None,
        waiting_p.history,
    )
    _waits_for(p, c)
    assert c == waiting_c

    assert last.json()["status"] == "COMPLETED"
    p, c, _ = _completed(r.final, human=True)
    assert c.state["approved_by"] == "ann"
    who = {r.proc(0).pid: "start", last.pid: "last"}
    assert [(e.function, e.idempotency_key, who[e.pid], e.note) for e in r.effects] == [
        ("reserve", _key(p, "Reserve"), "start", None),
        ("authorize", _key(c, "Authorize"), "start", None),
        ("approve", _key(c, "Confirm"), "last", "ann"),
        ("capture", _key(c, "Capture"), "last", None),
        ("finish", _key(p, "Finish"), "last", None),
    ]


def test_recovery_leaves_alone_a_parent_whose_resumed_child_runs_long(
    outcomes: dict[str, Outcome],
) -> None:
    """Resuming the waiting child by its id moves the parent to PENDING_SUB_WORKFLOW under the
    resumer's lease; the child's Capture then takes 2 s (the lease is 0.4 s). A recovery that
    runs meanwhile (1 s after the approval) must find the parent's lease live, as a runner
    keeps it while its child runs, and leave it to the resumer, which finishes both."""
    r = outcomes["human-slow"]
    _left_waiting(r)
    resume, recovery = (_ok(p) for p in r.procs[1])
    assert resume.json()["status"] == "COMPLETED"
    assert recovered(recovery) == []  # the resumer was alive all along
    p, c, _ = _completed(r.final, human=True)
    who = {r.proc(0).pid: "start", resume.pid: "resume", recovery.pid: "recovery"}
    assert _ledger(r, who) == [
        ("reserve", _key(p, "Reserve"), "start"),
        ("authorize", _key(c, "Authorize"), "start"),
        ("approve", _key(c, "Confirm"), "resume"),
        ("capture", _key(c, "Capture"), "resume"),
        ("finish", _key(p, "Finish"), "resume"),
    ]


# --- 7. two recoveries at once ------------------------------------------------------------------


def test_two_recoveries_at_once_run_nothing_committed_twice(outcomes: dict[str, Outcome]) -> None:
    """Four parents killed at different places; two recovery processes start together (they
    meet at a barrier) and share the work, one workflow at a time each."""
    r = outcomes["two-recoverers"]
    starts = r.procs[0]
    checkpoints = ["fn:capture:after", "fn:post:after", "created:SubChild", "fn:refund:after"]
    for proc, checkpoint in zip(starts, checkpoints, strict=True):
        _killed(r, proc, checkpoint)
    one, two = (_ok(p) for p in r.procs[1])
    first, second = recovered(one), recovered(two)
    assert not set(first) & set(second), (first, second)  # each workflow claimed once
    parents = {key: _family(r.final, key)[0].id for key in "abcd"}
    assert set(parents.values()) <= set(first) | set(second) <= set(r.final.workflows)

    who = {proc.pid: key for proc, key in zip(starts, "abcd", strict=True)}
    who |= {one.pid: "R", two.pid: "R"}  # which of the two ran what is the race's
    ledger = _ledger(r, who)

    def family_rows(key: str) -> list[tuple[str, str, str]]:
        ids = {w.id for w in r.final.workflows.values() if r.final.root(w).key == key}
        return [row for row, e in zip(ledger, r.effects, strict=True) if e.workflow_id in ids]

    p, c, g = _completed(r.final, "a")
    assert g is not None
    assert family_rows("a") == [
        *_forward(p, c, g, "a"),
        ("capture", _key(c, "Capture"), "R"),
        ("finish", _key(p, "Finish"), "R"),
    ]
    p, c, g = _completed(r.final, "b")
    assert g is not None
    assert family_rows("b") == [
        *_forward(p, c, g, "b")[:3],
        ("post", _key(g, "Post"), "R"),  # again, with the same key
        ("capture", _key(c, "Capture"), "R"),
        ("finish", _key(p, "Finish"), "R"),
    ]
    p, c, g = _completed(r.final, "c")
    assert g is not None
    assert family_rows("c") == [
        ("reserve", _key(p, "Reserve"), "c"),
        *_forward(p, c, g, "R")[1:],
        ("finish", _key(p, "Finish"), "R"),
    ]
    p, c, g = _rolled_back(r.final, "d")
    assert family_rows("d") == [
        *_forward(p, c, g, "d"),
        ("refund", _key(c, "Capture", True), "d"),
        *_undo(p, c, g, "R"),
    ]
