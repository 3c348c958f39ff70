"""Kill a real runner inside LOOP, HUMAN_IN_LOOP and DECISION steps, recover in a fresh process.

Each case is one workflow of ``flowapp`` (``idempotency_key`` = the case's id). A child creates
and runs it, and SIGKILLs itself at the case's checkpoint: ``fn:<function>:before|after`` inside
a step or compensation, before or after its side effect, or ``committed:...`` right after a
commit that settled a given step, journal entry or status (``flowapp.chaos``). Then the case's
acts follow, each in a fresh process: recovery past the dead child's lease (``ruvon recover``
or ``builder.recover()``), or a person's answers given with ``resume()`` (maybe killed in turn).

To stay fast, the children of all cases run side by side, one round per act, and the cases
share two databases (one per recovery command), so one recovery process serves each round of a
group. The store is read after each round; the ledger tells which process ran which function,
how often, with which ``idempotency_key`` and for which loop item. The promise checked: nothing
is lost, a step that was running runs again with the same key (at-least-once), and no step or
compensation committed as finished runs again.
"""

from __future__ import annotations

import hashlib
import signal
from typing import Any

import pytest
from crashapp.effects import Kill
from flowapp.campaign import RECOVER, Act, Case, Outcome, Resume, View, run
from flowapp.ledger import Row
from recovery_harness import Proc, pg_url_for

from ruvon.models import CompensationStatus as C
from ruvon.models import StepStatus
from ruvon.runtime.status import WorkflowStatus as S

ITEMS = ["a", "b", "c"]
ANN = {"approved": True, "reviewer": "ann"}
BO = {"approved": True, "reviewer": "bo"}


WAITING = "committed:status:WAITING_HUMAN"


def _after(kind: str, scope: str) -> str:
    """The checkpoint right after the commit that settled ``scope`` as COMPLETED (a step
    attempt, or with ``comp`` its compensation)."""
    return f"committed:{kind}:{scope}:COMPLETED"


def _loop(id: str, crash_at: str, hit: int = 1, *, fail: bool = False, cli: bool = False) -> Case:
    data = {"items": ITEMS, "fail_after": fail}
    return Case(id=id, workflow_type="FlowLoop", crash_at=crash_at, hit=hit, data=data, cli=cli)


def _answered(*answers: dict[str, Any], crash_at: str | None = None) -> tuple[Act, ...]:
    """Recovery (which must leave a waiting workflow alone), a person's answers, recovery."""
    return (RECOVER, Resume(answers=answers, crash_at=crash_at), RECOVER)


def _human(id: str, crash_at: str | None, acts: tuple[Act, ...], cli: bool = False) -> Case:
    return Case(id=id, workflow_type="FlowHuman", crash_at=crash_at, cli=cli, acts=acts)


def _in_loop(id: str, wf_type: str, crash_at: str | None, acts: tuple[Act, ...]) -> Case:
    data = {"items": ["a", "b"]}
    return Case(id=id, workflow_type=wf_type, crash_at=crash_at, data=data, acts=acts)


def _decision(id: str, crash_at: str, cli: bool = False) -> Case:
    """The starting child routes ``express``; the processes after it, ``standard``."""
    kind = "FlowDecision"
    return Case(id=id, workflow_type=kind, crash_at=crash_at, cli=cli, route="express")


LOOP_CASES = [
    _loop("loop-in-reserve-1-after-effect", "fn:reserve:after", 2),
    _loop("loop-in-charge-1-before-effect", "fn:charge:before", 2, cli=True),
    _loop("loop-between-iterations-0-1", _after("step", "Items/iter:0/Charge")),
    _loop("loop-in-charge-2-after-effect", "fn:charge:after", 3, cli=True),
    _loop("loop-after-last-iteration", _after("step", "Items/iter:2/Charge")),
]
UNWIND_CASES = [
    _loop("unwind-between-iterations-2-1", _after("comp", "Items/iter:2/Reserve"), fail=True),
    _loop("unwind-between-iterations-1-0", _after("comp", "Items/iter:1/Reserve"), fail=True),
    _loop("unwind-in-refund-1-after-effect", "fn:refund:after", 2, fail=True, cli=True),
]
RESERVED_A = _after("step", "Items/iter:0/Reserve")
HUMAN_CASES = [
    _human("human-killed-waiting", WAITING, _answered(ANN), cli=True),
    _human("human-killed-after-resumed-effect", None, _answered(ANN, crash_at="fn:approve:after")),
    _in_loop("loop-human-killed-waiting", "FlowLoopHuman", WAITING, _answered(ANN, BO)),
    _in_loop("loop-human-killed-before-wait", "FlowLoopHuman", RESERVED_A, _answered(ANN, BO)),
    # the body starts with the approval: the kill is between iterations, in the resuming process
    _in_loop(
        "loop-human-first-killed-before-wait",
        "FlowLoopHumanFirst",
        None,
        (*_answered(ANN, BO, crash_at=RESERVED_A), Resume(answers=(BO,))),
    ),
    _in_loop(
        "loop-human-killed-after-resumed-effect",
        "FlowLoopHuman",
        None,
        (*_answered(ANN, BO, crash_at="fn:approve:after"), Resume(answers=(BO,))),
    ),
]
DECISION_CASES = [
    _decision("decision-committed", _after("step", "Decide"), cli=True),
    _decision("decision-in-flight", "fn:decide:after"),
]
CASES = {c.id: c for c in LOOP_CASES + UNWIND_CASES + HUMAN_CASES + DECISION_CASES}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def campaign(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Outcome]:
    kind = str(request.param)
    directory = tmp_path_factory.mktemp(f"flow-{kind}")
    return run(list(CASES.values()), kind, pg_url_for(request, kind), directory)


# --- shared checks ---------------------------------------------------------------------------


def _killed(proc: Proc, kills: list[Kill], checkpoint: str) -> None:
    """The process died by its own SIGKILL, at that checkpoint."""
    assert proc.returncode == -signal.SIGKILL, proc.describe()
    assert [(k.checkpoint, k.pid) for k in kills if k.pid == proc.pid] == [(checkpoint, proc.pid)]


def _ok(proc: Proc | None) -> Proc:
    assert proc is not None and proc.returncode == 0, proc.describe() if proc else "not run"
    return proc


def _key(wid: str, scope: str, compensation: bool = False) -> str:
    return f"{wid}:{scope}" + (":compensate" if compensation else "")


def _ref(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:8].upper()


def _pids(rows: list[Row]) -> list[int]:
    return [r.pid for r in rows]


# --- LOOP: forward ---------------------------------------------------------------------------

BODY = (("reserve", "Reserve"), ("charge", "Charge"))  # body order: (function, step)


@pytest.mark.slow
@pytest.mark.parametrize("case_id", [c.id for c in LOOP_CASES])
def test_loop__resumes_at_the_iteration_it_was_killed_in(
    campaign: dict[str, Outcome], case_id: str
) -> None:
    r = campaign[case_id]
    case, killed, wid = r.case, r.start.pid, r.pre.id
    _killed(r.start, r.kills, str(case.crash_at))

    # the kill left the loop's frame where it was: body step ``body`` of ``iteration`` is next
    assert r.pre.status is S.ACTIVE and r.pre.current_step == 1
    (frame,) = r.pre.frames
    assert (frame["kind"], frame["scope"]) == ("loop", "Items")
    position = 2 * frame["iteration"] + frame["body"]  # of the next body step, in run order
    done_before = r.pre.scopes()
    assert done_before == ["Prep"] + [
        f"Items/iter:{p // 2}/{BODY[p % 2][1]}" for p in range(position)
    ]

    # recovery, in a fresh process, finished it
    recovery = _ok(r.procs[1])
    assert r.recovered(recovery) == [wid]
    post = r.final
    assert post.status is S.COMPLETED and post.frames == [] and post.lease_owner is None
    assert post.scopes() == [
        "Prep",
        *(f"Items/iter:{i}/{step}" for i in range(3) for _, step in BODY),
        "Items",
        "After",
    ]

    # the ledger: before the kill once (by the killed child), the interrupted body step at most
    # twice with the same key (twice only if its effect happened before the kill), after it once
    # (by recovery); every run for its own iteration's item
    rerun = case.crash_at is not None and case.crash_at.endswith(":after")
    for i, item in enumerate(ITEMS):
        for k, (function, step) in enumerate(BODY):
            rows, p = r.runs(function, i), 2 * i + k
            assert {(x.idempotency_key, x.item) for x in rows} == {
                (_key(wid, f"Items/iter:{i}/{step}"), item)
            }, rows
            if p < position:
                assert _pids(rows) == [killed], (function, i, rows)
            elif p == position and rerun:
                assert _pids(rows) == [killed, recovery.pid], (function, i, rows)
            else:
                assert _pids(rows) == [recovery.pid], (function, i, rows)
    assert _pids(r.runs("prepare")) == [killed]
    assert _pids(r.runs("finish")) == [recovery.pid]
    assert {x.function for x in r.ledger} == {"prepare", "reserve", "charge", "finish"}

    # the loop's result, from the records of its iterations (the committed ones only)
    state = post.state
    assert state["loop_iterations"] == 3
    assert state["loop_results"] == [
        {
            "reserved": ITEMS[: i + 1],
            "charged": ITEMS[: i + 1],
            "charge_ref": f"CH-{_ref(_key(wid, f'Items/iter:{i}/Charge'))}",
        }
        for i in range(3)
    ]
    assert state["reserved"] == state["charged"] == ITEMS and state["done"] is True


# --- LOOP: saga unwind -----------------------------------------------------------------------

# newest first: (function, iteration, scope of the step undone)
UNDO = [
    *(
        (undo, i, f"Items/iter:{i}/{step}")
        for i in (2, 1, 0)
        for undo, step in (("refund", "Charge"), ("release", "Reserve"))
    ),
    ("unprepare", None, "Prep"),
]


@pytest.mark.slow
@pytest.mark.parametrize("case_id", [c.id for c in UNWIND_CASES])
def test_loop_unwind__resumes_after_kill_between_compensations(
    campaign: dict[str, Outcome], case_id: str
) -> None:
    r = campaign[case_id]
    case, killed, wid = r.case, r.start.pid, r.pre.id
    _killed(r.start, r.kills, str(case.crash_at))
    # the kill left the unwind with some compensations finished and one STARTED (in flight)
    assert r.pre.status is S.COMPENSATING and r.pre.journal[0] == ("After", C.SKIPPED)
    finished_before = {scope for scope, st in r.pre.journal if st is C.COMPLETED}
    (in_flight,) = [scope for scope, st in r.pre.journal if st is C.STARTED]
    assert r.pre.journal[-1] == (in_flight, C.STARTED)
    # its function had done its effect only if the kill was after it
    effect_done = str(case.crash_at).endswith(":after")

    recovery = _ok(r.procs[1])
    assert r.recovered(recovery) == [wid]
    post = r.final
    assert post.status is S.FAILED_ROLLED_BACK and post.lease_owner is None
    # one settled entry per undone step, newest first, none left STARTED
    assert post.journal == [("After", C.SKIPPED), *((scope, C.COMPLETED) for *_, scope in UNDO)]

    # forward: everything ran once, before the kill; the failing step had no effect
    for i in range(3):
        for function, _ in BODY:
            assert _pids(r.runs(function, i)) == [killed]
    assert _pids(r.runs("prepare")) == [killed] and r.runs("finish") == []

    # compensations: newest first; each once, but the one in flight twice (same key) if its
    # effect was done; a finished one never again; each with its own iteration's item
    undone = [(x.function, x.index) for x in r.ledger if x.function in ("refund", "release")]
    undone += [(x.function, x.index) for x in r.runs("unprepare")]
    assert list(dict.fromkeys(undone)) == [(f, i) for f, i, _ in UNDO]
    for function, i, scope in UNDO:
        rows = r.runs(function, i)
        assert {(x.idempotency_key, x.item) for x in rows} == {
            (_key(wid, scope, compensation=True), None if i is None else ITEMS[i])
        }, rows
        if scope in finished_before:
            assert _pids(rows) == [killed], (scope, rows)
        elif scope == in_flight and effect_done:
            assert _pids(rows) == [killed, recovery.pid], (scope, rows)
        else:
            assert _pids(rows) == [recovery.pid], (scope, rows)

    state = post.state
    assert state["reserved"] == state["charged"] == [] and state["prepared"] is False


# --- HUMAN_IN_LOOP ---------------------------------------------------------------------------


def _left_waiting(r: Outcome, n: int) -> View:
    """Recovery (act ``n``) did not run a workflow that waits for a person, nor mark it
    failed: it still waits, with no lease."""
    recovery, after = _ok(r.procs[n]), r.views[n]
    assert r.recovered(recovery) == [], recovery.describe()
    assert after.status is S.WAITING_HUMAN and after.lease_owner is None
    assert not [x for x in r.ledger if x.pid == recovery.pid]
    return after


def _resumed(r: Outcome, n: int, status: str = "COMPLETED") -> Proc:
    """The fresh process of act ``n`` found the workflow waiting at Approve and left it so."""
    resume = _ok(r.procs[n])
    assert (resume.json()["waiting_for"], resume.json()["status"]) == ("Approve", status)
    return resume


@pytest.mark.slow
def test_human__recovery_leaves_a_waiting_workflow_to_a_person(
    campaign: dict[str, Outcome],
) -> None:
    r = campaign["human-killed-waiting"]
    wid = r.pre.id
    _killed(r.start, r.kills, "committed:status:WAITING_HUMAN")
    assert (r.pre.status, r.pre.current_step, r.pre.lease_owner) == (S.WAITING_HUMAN, 1, None)
    _left_waiting(r, 1)

    # a fresh process loads it, sees what it waits for, and resumes it with valid input
    resume = _resumed(r, 2)
    post = r.final
    assert post.status is S.COMPLETED and post.scopes() == ["Prep", "Approve", "After"]
    assert (post.state["reviewer"], post.state["approvals"]) == ("ann", ["ann"])
    assert _pids(r.runs("prepare")) == [r.start.pid]
    assert [(x.pid, x.idempotency_key) for x in r.runs("approve")] == [
        (resume.pid, _key(wid, "Approve"))
    ]
    assert _pids(r.runs("finish")) == [resume.pid]
    assert r.recovered(_ok(r.procs[3])) == []


@pytest.mark.slow
def test_human__resumed_step_killed_after_its_effect_runs_again_with_its_input(
    campaign: dict[str, Outcome],
) -> None:
    r = campaign["human-killed-after-resumed-effect"]
    wid = r.pre.id
    assert _ok(r.start).json()["status"] == "WAITING_HUMAN"
    _left_waiting(r, 1)
    resume = r.procs[2]
    _killed(resume, r.kills, "fn:approve:after")

    recovery = _ok(r.procs[3])
    assert r.recovered(recovery) == [wid], recovery.describe()
    post = r.final
    assert post.status is S.COMPLETED and post.scopes() == ["Prep", "Approve", "After"]
    assert (post.state["reviewer"], post.state["approvals"]) == ("ann", ["ann"])
    assert [(x.pid, x.idempotency_key) for x in r.runs("approve")] == [
        (resume.pid, _key(wid, "Approve")),
        (recovery.pid, _key(wid, "Approve")),
    ]
    assert _pids(r.runs("finish")) == [recovery.pid]


def _approved_loop(r: Outcome, approvers: list[int], reservers: list[int], finisher: int) -> None:
    """Both iterations approved (ann, then bo) and reserved, each once, by those processes,
    and the workflow finished."""
    wid, post = r.pre.id, r.final
    assert post.status is S.COMPLETED and post.frames == []
    assert post.state["approvals"] == ["ann", "bo"] and post.state["loop_iterations"] == 2
    for i, item in enumerate(["a", "b"]):
        assert [(x.pid, x.idempotency_key, x.item) for x in r.runs("reserve", i)] == [
            (reservers[i], _key(wid, f"Items/iter:{i}/Reserve"), item)
        ]
        assert [(x.pid, x.idempotency_key, x.item) for x in r.runs("approve", i)] == [
            (approvers[i], _key(wid, f"Items/iter:{i}/Approve"), item)
        ]
    assert _pids(r.runs("finish")) == [finisher]


@pytest.mark.slow
@pytest.mark.parametrize("case_id", ["loop-human-killed-waiting", "loop-human-killed-before-wait"])
def test_human_in_loop__killed_at_the_wait_is_resumed_from_a_fresh_process(
    campaign: dict[str, Outcome], case_id: str
) -> None:
    """Killed after the commit of the wait, or after the commit of the body step before it:
    either way recovery finds a workflow that waits for a person (never one it fails on)."""
    r = campaign[case_id]
    _killed(r.start, r.kills, str(r.case.crash_at))
    waiting = _left_waiting(r, 1)
    (frame,) = waiting.frames
    assert (frame["scope"], frame["iteration"], frame["body"]) == ("Items", 0, 1)

    resume = _resumed(r, 2)
    _approved_loop(r, [resume.pid] * 2, [r.start.pid, resume.pid], resume.pid)
    assert r.recovered(_ok(r.procs[3])) == []


@pytest.mark.slow
def test_human_in_loop__killed_between_iterations_before_the_next_wait_is_resumed(
    campaign: dict[str, Outcome],
) -> None:
    """The body starts with the approval: the resuming process is killed right after the
    commit of iteration 0's last body step, where iteration 1 waits for a person."""
    r = campaign["loop-human-first-killed-before-wait"]
    assert _ok(r.start).json()["status"] == "WAITING_HUMAN"
    _left_waiting(r, 1)
    first = r.procs[2]
    _killed(first, r.kills, "committed:step:Items/iter:0/Reserve:COMPLETED")
    waiting = _left_waiting(r, 3)
    (frame,) = waiting.frames
    assert (frame["scope"], frame["iteration"], frame["body"]) == ("Items", 1, 0)
    assert waiting.state["approvals"] == ["ann"]

    second = _resumed(r, 4)
    _approved_loop(r, [first.pid, second.pid], [first.pid, second.pid], second.pid)


@pytest.mark.slow
def test_human_in_loop__resumed_step_killed_after_its_effect_runs_again_with_its_input(
    campaign: dict[str, Outcome],
) -> None:
    r = campaign["loop-human-killed-after-resumed-effect"]
    wid = r.pre.id
    _left_waiting(r, 1)
    resume = r.procs[2]
    _killed(resume, r.kills, "fn:approve:after")

    # recovery ran Approve of iteration 0 again with ann's input (the same key), then iteration
    # 1's Reserve, and left the workflow waiting at iteration 1's Approve
    recovery, waiting = _ok(r.procs[3]), r.views[3]
    assert waiting.status is S.WAITING_HUMAN and waiting.lease_owner is None
    assert waiting.state["approvals"] == ["ann"]
    (frame,) = waiting.frames
    assert (frame["iteration"], frame["body"]) == (1, 1)
    assert [(x.pid, x.idempotency_key) for x in r.runs("approve", 0)] == [
        (resume.pid, _key(wid, "Items/iter:0/Approve")),
        (recovery.pid, _key(wid, "Items/iter:0/Approve")),
    ]
    assert _pids(r.runs("reserve", 1)) == [recovery.pid]

    # and a fresh process finishes it
    last = _resumed(r, 4)
    post = r.final
    assert post.status is S.COMPLETED and post.state["approvals"] == ["ann", "bo"]
    assert _pids(r.runs("approve", 1)) == [last.pid]
    assert _pids(r.runs("finish")) == [last.pid]


# --- DECISION --------------------------------------------------------------------------------


@pytest.mark.slow
def test_decision__recovery_takes_the_route_the_committed_decision_chose(
    campaign: dict[str, Outcome],
) -> None:
    """The killed child decided ``express``; recovery's process would decide ``standard`` (its
    environment has no route), so the branch it takes shows which decision counted."""
    r = campaign["decision-committed"]
    wid, killed = r.pre.id, r.start.pid
    _killed(r.start, r.kills, "committed:step:Decide:COMPLETED")
    assert (r.pre.status, r.pre.current_step) == (S.ACTIVE, 2)  # at Express
    assert r.pre.scopes(StepStatus.SKIPPED) == ["Standard"]

    recovery = _ok(r.procs[1])
    assert r.recovered(recovery) == [wid]
    post = r.final
    assert post.status is S.COMPLETED
    assert post.scopes() == ["Decide", "Express", "Close"]
    assert post.scopes(StepStatus.SKIPPED) == ["Standard"]
    assert (post.state["route"], post.state["branch"]) == ("express", "express")
    assert _pids(r.runs("decide")) == [killed]
    assert _pids(r.runs("ship_express")) == [recovery.pid]
    assert r.runs("ship_standard") == []
    assert _pids(r.runs("finish")) == [recovery.pid]


@pytest.mark.slow
def test_decision__a_decision_not_committed_is_made_again_by_recovery(
    campaign: dict[str, Outcome],
) -> None:
    """Killed after the decision's effect, before its commit: the decision step runs again
    (same key) in recovery's process, whose answer (``standard``) is the one taken."""
    r = campaign["decision-in-flight"]
    wid, killed = r.pre.id, r.start.pid
    _killed(r.start, r.kills, "fn:decide:after")
    assert (r.pre.status, r.pre.current_step, r.pre.history) == (S.ACTIVE, 0, [])

    recovery = _ok(r.procs[1])
    assert r.recovered(recovery) == [wid]
    post = r.final
    assert post.status is S.COMPLETED
    assert post.scopes() == ["Decide", "Standard", "Close"]
    assert post.scopes(StepStatus.SKIPPED) == ["Express"]
    assert (post.state["route"], post.state["branch"]) == ("standard", "standard")
    assert [(x.pid, x.idempotency_key) for x in r.runs("decide")] == [
        (killed, _key(wid, "Decide")),
        (recovery.pid, _key(wid, "Decide")),
    ]
    assert r.runs("ship_express") == []
    assert _pids(r.runs("ship_standard")) == [recovery.pid]
