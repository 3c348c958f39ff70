"""Saga mode: reverse unwind, statuses, skips, retries, journal, retry, cancel, approval."""

from __future__ import annotations

import pytest

import engine_steps
from engine_support import builder, st
from ruvon.errors import IllegalOperationError, WorkflowFinishedError
from ruvon.models import CompensationStatus, WorkflowStatus

S = WorkflowStatus
C = CompensationStatus


def journal(wf) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(e.step_name, e.status.value) for e in wf.compensation_journal]


async def test_unwind_runs_in_reverse_and_merges_results() -> None:
    b = builder(st("A"), st("B"), st("C"), st("D"))
    wf = await b.create_workflow("T", {"fail_at": ["D"]})
    wf.enable_saga_mode()
    await wf.next_step()
    assert wf.status is S.FAILED_ROLLED_BACK
    assert wf.state.log == ["A", "B", "C", "undo:C", "undo:B", "undo:A"]
    assert wf.state.n == 0  # each compensation's result was merged, in order
    assert journal(wf) == [
        ("D", "SKIPPED"),
        ("C", "COMPLETED"),
        ("B", "COMPLETED"),
        ("A", "COMPLETED"),
    ]
    assert wf.error is not None and wf.error.step == "D"


async def test_yaml_saga_mode_and_alias() -> None:
    b = builder(st("A"), st("B"), saga=True)
    wf = await b.create_workflow("T", {"fail_at": ["B"]})
    assert wf.saga_mode
    await wf.next_step()
    assert wf.status is S.FAILED_ROLLED_BACK


async def test_enable_saga_mode_is_harmless_when_awaited() -> None:
    b = builder(st("A"), st("B"))
    wf = await b.create_workflow("T", {"fail_at": ["B"]})
    await wf.enable_saga_mode()
    loaded = await b.load_workflow(wf.id)
    assert loaded.saga_mode  # awaiting persisted the flag at once
    await wf.next_step()
    assert wf.status is S.FAILED_ROLLED_BACK


async def test_without_saga_mode_nothing_is_compensated() -> None:
    wf = await builder(st("A"), st("B")).create_workflow("T", {"fail_at": ["B"]})
    await wf.next_step()
    assert wf.status is S.FAILED and wf.state.log == ["A"] and wf.compensation_journal == []


async def test_steps_without_compensation_are_skipped_and_recorded() -> None:
    b = builder(st("A"), st("B", comp=None), st("C"), saga=True)
    wf = await b.create_workflow("T", {"fail_at": ["C"]})
    await wf.next_step()
    assert wf.status is S.FAILED_ROLLED_BACK
    assert journal(wf) == [("C", "SKIPPED"), ("B", "SKIPPED"), ("A", "COMPLETED")]
    details = [e.detail for e in wf.compensation_journal]
    assert "compensate_on_failure" in details[0] and details[1] == "no compensate_function"


async def test_compensate_on_failure_undoes_the_failing_step_first() -> None:
    b = builder(st("A"), st("B", compensate_on_failure=True), saga=True)
    wf = await b.create_workflow("T", {"fail_at": ["B"]})
    await wf.next_step()
    assert journal(wf) == [("B", "COMPLETED"), ("A", "COMPLETED")]
    assert wf.state.log == ["A", "undo:B", "undo:A"]


async def test_failed_compensation_continues_and_reports_compensation_failed() -> None:
    b = builder(st("A"), st("B"), st("C"), saga=True)
    wf = await b.create_workflow("T", {"fail_at": ["C"], "fail_comp": ["B"]})
    await wf.next_step()
    assert wf.status is S.COMPENSATION_FAILED
    assert journal(wf) == [("C", "SKIPPED"), ("B", "FAILED"), ("A", "COMPLETED")]
    failed = wf.compensation_journal[1]
    assert failed.error is not None and failed.error.message == "undo B failed"
    assert failed.attempts == 1 and failed.duration_ms is not None
    assert wf.error is not None and wf.error.step == "C"  # the failure that started the unwind


async def test_compensation_retries_use_the_step_policy() -> None:
    policy = {"max_attempts": 3, "initial_delay": 0}
    b = builder(st("A", retry_policy=policy), st("B"), saga=True)
    wf = await b.create_workflow("T", {"fail_at": ["B"], "fail_comp": ["A"]})
    await wf.next_step()
    assert wf.status is S.COMPENSATION_FAILED
    assert engine_steps.ATTEMPTS[(wf.id, "undo:A")] == 3
    assert wf.compensation_journal[-1].attempts == 3


async def test_retry_reruns_only_the_failed_compensations() -> None:
    b = builder(st("A"), st("B"), st("C"), saga=True)
    wf = await b.create_workflow("T", {"fail_at": ["C"], "fail_comp": ["B"]})
    await wf.next_step()
    assert wf.status is S.COMPENSATION_FAILED
    wf.state.fail_comp.clear()  # the operator fixed what made the refund fail
    assert await wf.retry() is S.FAILED_ROLLED_BACK
    assert engine_steps.ATTEMPTS[(wf.id, "undo:A")] == 1
    assert engine_steps.ATTEMPTS[(wf.id, "undo:B")] == 2
    assert journal(wf)[-1] == ("B", "COMPLETED")


async def test_retry_of_failed_workflow_reruns_the_failed_step() -> None:
    wf = await builder(st("A"), st("B")).create_workflow("T", {"fail_at": ["B"]})
    await wf.next_step()
    wf.state.fail_at.clear()
    assert await wf.retry() is S.COMPLETED
    assert wf.state.log == ["A", "B"] and wf.error is None


async def test_a_rolled_back_workflow_can_not_be_advanced_or_retried() -> None:
    wf = await builder(st("A"), st("B"), saga=True).create_workflow("T", {"fail_at": ["B"]})
    await wf.next_step()
    with pytest.raises(WorkflowFinishedError, match="FAILED_ROLLED_BACK"):
        await wf.next_step()
    with pytest.raises(IllegalOperationError):
        await wf.retry()
    assert wf.status is S.FAILED_ROLLED_BACK


async def test_compensation_context_carries_forward_result_and_failure() -> None:
    b = builder(st("A"), st("B"), saga=True)
    wf = await b.create_workflow("T", {"fail_at": ["B"]})
    engine_steps.CONTEXTS.clear()
    await wf.next_step()
    comp = engine_steps.CONTEXTS[-1]
    assert comp.is_compensation and comp.step_name == "A"
    assert comp.forward_result == {"n": 1}
    assert comp.failure is not None and comp.failure.step == "B"
    forward_key = engine_steps.CONTEXTS[0].idempotency_key
    assert comp.idempotency_key == forward_key + ":compensate"


async def test_journal_is_readable_from_the_store_and_statuses_are_audited() -> None:
    b = builder(st("A"), st("B"), saga=True)
    wf = await b.create_workflow("T", {"fail_at": ["B"]})
    await wf.next_step()
    stored = await wf.persistence.compensation_journal(wf.id)
    assert [(e.step_name, e.status) for e in stored] == [("B", C.SKIPPED), ("A", C.COMPLETED)]
    audit = [(a["from_status"], a["to_status"]) for a in await wf.persistence.audit_log(wf.id)]
    assert audit == [
        (None, "ACTIVE"),
        ("ACTIVE", "COMPENSATING"),
        ("COMPENSATING", "FAILED_ROLLED_BACK"),
    ]


async def test_unwind_costs_one_commit_per_compensation_plus_one() -> None:
    b = builder(st("A"), st("B"), st("C"), st("D"), saga=True)
    store = b.persistence_provider
    wf = await b.create_workflow("T", {"fail_at": ["D"]})
    before = store.commits  # type: ignore[union-attr]
    await wf.next_step()
    # 3 forward steps + (3 compensations + 1)
    assert store.commits - before == 3 + 4  # type: ignore[union-attr]


async def test_cancel_in_saga_mode_compensates_then_cancels() -> None:
    b = builder(st("A"), st("B", automate_next=False), st("C"), saga=True)
    wf = await b.create_workflow("T")
    await wf.next_step()
    assert await wf.cancel("customer changed their mind") is S.CANCELLED
    assert wf.state.log == ["A", "B", "undo:B", "undo:A"]
    assert wf.error is not None and wf.error.message == "customer changed their mind"


async def test_cancel_without_saga_just_cancels() -> None:
    wf = await builder(st("A", automate_next=False), st("B")).create_workflow("T")
    await wf.next_step()
    assert await wf.cancel() is S.CANCELLED and wf.state.log == ["A"]
    with pytest.raises(IllegalOperationError):
        await wf.cancel()


async def test_compensation_requiring_approval_waits_then_continues() -> None:
    b = builder(st("A", compensation_requires_approval=True), st("B"), st("C"), saga=True)
    wf = await b.create_workflow("T", {"fail_at": ["C"]})
    await wf.next_step()
    assert wf.status is S.WAITING_COMPENSATION_APPROVAL
    assert wf.state.log == ["A", "B", "undo:B"]
    assert await wf.approve_compensation("ops@example.com") is S.FAILED_ROLLED_BACK
    assert wf.state.log[-1] == "undo:A"
    assert wf.compensation_journal[-1].decided_by == "ops@example.com"


async def test_rejected_compensation_leaves_the_step_and_records_who() -> None:
    b = builder(st("A", compensation_requires_approval=True), st("B"), saga=True)
    wf = await b.create_workflow("T", {"fail_at": ["B"]})
    await wf.next_step()
    # the step stays done, so the workflow is not reported rolled back
    assert await wf.reject_compensation("ann") is S.COMPENSATION_FAILED
    last = wf.compensation_journal[-1]
    assert (last.step_name, last.status, last.decided_by) == ("A", C.REJECTED, "ann")
    assert "undo:A" not in wf.state.log


async def test_unwind_survives_reload_between_compensations() -> None:
    """A workflow loaded in COMPENSATING continues without re-running finished entries."""
    b = builder(st("A"), st("B"), st("C", compensation_requires_approval=True), st("D"), saga=True)
    wf = await b.create_workflow("T", {"fail_at": ["D"]})
    await wf.next_step()
    assert wf.status is S.WAITING_COMPENSATION_APPROVAL
    loaded = await b.load_workflow(wf.id)
    assert await loaded.approve_compensation("bob") is S.FAILED_ROLLED_BACK
    assert [e.step_name for e in loaded.compensation_journal] == ["D", "C", "B", "A"]
    assert engine_steps.ATTEMPTS[(wf.id, "undo:C")] == 1


async def test_saga_mode_switched_on_after_creation_is_stored_before_the_first_step() -> None:
    b = builder(st("A", fn="engine_steps.async_step"), st("B"))
    store = b.persistence_provider
    wf = await b.create_workflow("T", {"fail_at": ["B"]})
    wf.enable_saga_mode()  # not awaited, as in the tutorial
    assert (await store.load_workflow(wf.id)).saga_mode is False  # type: ignore[union-attr]
    commits = store.commits  # type: ignore[union-attr]
    await wf.next_step()
    # one commit for the flag, then A, then the unwind (compensate A + final)
    assert store.commits - commits == 1 + 1 + 2  # type: ignore[union-attr]
    audit = await store.audit_log(wf.id)  # type: ignore[union-attr]
    assert wf.status is S.FAILED_ROLLED_BACK and audit[-1]["to_status"] == "FAILED_ROLLED_BACK"


async def test_saga_mode_from_the_yaml_costs_no_extra_commit() -> None:
    b = builder(st("A"), st("B"), saga=True)
    store = b.persistence_provider
    wf = await b.create_workflow("T")
    wf.enable_saga_mode()  # already on: nothing to store
    commits = store.commits  # type: ignore[union-attr]
    await wf.next_step()
    assert store.commits - commits == 2  # type: ignore[union-attr]


# --- paths the mutation run (tests/mutation) found untested ---------------------------------


async def test_journal_entries_name_their_step_function_times_and_result() -> None:
    b = builder(st("A"), st("B", comp=None), st("C"), saga=True)
    wf = await b.create_workflow("T", {"fail_at": ["C"]})
    await wf.next_step()
    rows = [
        (e.sequence, e.forward_seq, e.step_name, e.step_index, e.scope, e.function, e.status)
        for e in wf.compensation_journal
    ]
    assert rows == [
        (0, 2, "C", 2, "C", "engine_steps.undo", C.SKIPPED),
        (1, 1, "B", 1, "B", None, C.SKIPPED),
        (2, 0, "A", 0, "A", "engine_steps.undo", C.COMPLETED),
    ]
    skipped_c, skipped_b, undone_a = wf.compensation_journal
    for e in wf.compensation_journal:
        assert e.decided_by is None  # no operator decided anything
        assert isinstance(e.ended_at, float) and e.started_at <= e.ended_at
    assert skipped_c.ended_at == skipped_c.started_at  # a skip takes no time
    # A's undo ran on n == 2 (A and B each added one) and returned n - 1
    assert (skipped_c.result, skipped_b.result, undone_a.result) == (None, None, {"n": 1})
    assert undone_a.attempts == 1
    assert [(e.step_name, e.result) for e in await wf.persistence.compensation_journal(wf.id)][
        -1
    ] == ("A", {"n": 1})


async def test_a_compensation_that_is_running_has_no_end_time_in_the_store() -> None:
    import hardening_steps as hs
    from hardening_steps import defn, step
    from ruvon.builder import WorkflowBuilder
    from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider

    b = WorkflowBuilder(
        workflow_registry={
            "T": defn(
                step("A", "plain", compensate_function="hardening_steps.undo_then_abort"),
                step("B", "fails"),
                saga=True,
            )
        },
        persistence_provider=InMemoryPersistenceProvider(),
    )
    wf = await b.create_workflow("T")
    with pytest.raises(hs.Abort):  # the process "dies" inside the compensation
        await wf.next_step()
    stored = await wf.persistence.compensation_journal(wf.id)
    assert [(e.step_name, e.status, e.ended_at) for e in stored] == [
        ("B", C.SKIPPED, stored[0].started_at),
        ("A", C.STARTED, None),
    ]
    first_start = stored[1].started_at

    await wf.next_step()  # the unwind goes on: the interrupted compensation runs again
    assert wf.status is S.FAILED_ROLLED_BACK
    again = wf.compensation_journal
    assert [(e.step_name, e.status) for e in again] == [("B", C.SKIPPED), ("A", C.COMPLETED)]
    assert again[1].detail == "run again: it was interrupted before it finished"
    assert again[1].started_at >= first_start


async def test_a_rejected_compensation_does_not_stop_the_ones_before_it() -> None:
    b = builder(st("A"), st("B", compensation_requires_approval=True), st("C"), saga=True)
    wf = await b.create_workflow("T", {"fail_at": ["C"]})
    await wf.next_step()
    assert wf.waiting_for is not None and wf.waiting_for["step"] == "B"
    assert await wf.reject_compensation("ann", reason="the refund is manual") is (
        S.COMPENSATION_FAILED
    )
    assert journal(wf) == [("C", "SKIPPED"), ("B", "REJECTED"), ("A", "COMPLETED")]
    rejected = wf.compensation_journal[1]
    assert rejected.detail == "compensation rejected by ann: the refund is manual"
    assert rejected.decided_by == "ann"
    assert "undo:A" in wf.state.log and "undo:B" not in wf.state.log


async def test_each_compensation_that_needs_approval_waits_for_its_own() -> None:
    b = builder(
        st("A", compensation_requires_approval=True),
        st("B", compensation_requires_approval=True),
        st("C"),
        saga=True,
    )
    wf = await b.create_workflow("T", {"fail_at": ["C"]})
    await wf.next_step()
    assert await wf.approve_compensation("ann") is S.WAITING_COMPENSATION_APPROVAL
    assert wf.state.log[-1] == "undo:B"  # A was not undone on B's approval
    assert await wf.approve_compensation("bob") is S.FAILED_ROLLED_BACK
    assert [(e.step_name, e.decided_by) for e in wf.compensation_journal] == [
        ("C", None),
        ("B", "ann"),
        ("A", "bob"),
    ]


async def test_going_on_after_an_approval__does_not_rerun_a_compensation_that_failed() -> None:
    b = builder(st("A", compensation_requires_approval=True), st("B"), st("C"), saga=True)
    wf = await b.create_workflow("T", {"fail_at": ["C"], "fail_comp": ["B"]})
    await wf.next_step()
    assert wf.status is S.WAITING_COMPENSATION_APPROVAL
    assert await wf.approve_compensation("ann") is S.COMPENSATION_FAILED
    assert engine_steps.ATTEMPTS[(wf.id, "undo:B")] == 1  # only retry() runs it again
    assert journal(wf) == [("C", "SKIPPED"), ("B", "FAILED"), ("A", "COMPLETED")]


async def test_cancel_in_saga_mode_before_any_step__just_cancels() -> None:
    wf = await builder(st("A"), saga=True).create_workflow("T")
    assert await wf.cancel("not needed") is S.CANCELLED
    assert wf.compensation_journal == [] and wf.state.log == []


@pytest.mark.parametrize(
    ("comp", "message"),
    [
        (
            "runtime_steps.undo_pauses",
            "compensation of step 'A' raised WorkflowPauseDirective; a compensation can not "
            "jump, pause or start a workflow",
        ),
        (
            "runtime_steps.undo_unknown_key",
            "compensation of step 'A' returned key 'nope' which is not a field of S (its model "
            "forbids other keys)",
        ),
    ],
    ids=["directive", "bad-result"],
)
async def test_a_compensation_that_directs_or_returns_a_bad_result__fails_saying_why(
    comp: str, message: str
) -> None:
    b = builder(st("A", comp=comp), st("B"), saga=True)
    wf = await b.create_workflow("T", {"fail_at": ["B"]})
    await wf.next_step()
    assert wf.status is S.COMPENSATION_FAILED
    entry = wf.compensation_journal[-1]
    assert (entry.step_name, entry.status, entry.result) == ("A", C.FAILED, None)
    assert entry.error is not None
    assert (entry.error.type, entry.error.step, entry.error.message) == (
        "StepResultError",
        "A",
        message,
    )
    assert wf.state.note is None and wf.state.n == 1  # nothing of it reached the state


async def test_an_async_compensation_is_awaited_and_merged() -> None:
    b = builder(st("A", comp="runtime_steps.async_undo"), st("B"), saga=True)
    wf = await b.create_workflow("T", {"fail_at": ["B"]})
    await wf.next_step()
    assert wf.status is S.FAILED_ROLLED_BACK
    assert (wf.state.log, wf.state.n) == (["A", "undo:A"], 0)
