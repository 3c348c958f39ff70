"""The status enum and its one transition table."""

import itertools

import pytest

from ruvon.errors import IllegalTransitionError
from ruvon.models import TRANSITIONS, WorkflowStatus
from ruvon.runtime.status import TERMINAL, WAITING, check_transition

S = WorkflowStatus


def test_status_is_a_str_enum() -> None:
    assert S.ACTIVE == "ACTIVE"
    assert S("FAILED_ROLLED_BACK") is S.FAILED_ROLLED_BACK


def test_table_covers_every_status_and_targets_are_statuses() -> None:
    assert set(TRANSITIONS) == set(S)
    for targets in TRANSITIONS.values():
        assert targets <= set(S)


@pytest.mark.parametrize("status", [S.FAILED_ROLLED_BACK, S.CANCELLED])
def test_final_statuses_have_no_way_out(status: S) -> None:
    assert TRANSITIONS[status] == frozenset()
    assert status.is_terminal


def test_a_completed_workflow_leaves_only_to_be_unwound_by_its_parent() -> None:
    assert TRANSITIONS[S.COMPLETED] == frozenset({S.COMPENSATING})
    assert S.COMPLETED.is_terminal and S.COMPLETED.is_final


@pytest.mark.parametrize(
    ("status", "only"),
    [
        (S.FAILED, {S.ACTIVE}),
        (S.COMPENSATION_FAILED, {S.COMPENSATING}),
        (S.FAILED_CHILD_WORKFLOW, {S.ACTIVE, S.COMPENSATING}),
    ],
)
def test_failed_statuses_leave_only_through_retry(status: S, only: set[S]) -> None:
    assert status.is_terminal
    assert TRANSITIONS[status] == only


def test_a_rolled_back_workflow_can_never_complete() -> None:
    with pytest.raises(IllegalTransitionError, match="FAILED_ROLLED_BACK -> COMPLETED"):
        check_transition(S.FAILED_ROLLED_BACK, S.COMPLETED, "wf-1")


def test_compensating_ends_only_in_unwind_outcomes() -> None:
    assert TRANSITIONS[S.COMPENSATING] == {
        S.FAILED_ROLLED_BACK,
        S.COMPENSATION_FAILED,
        S.WAITING_COMPENSATION_APPROVAL,
        S.CANCELLED,
    }
    with pytest.raises(IllegalTransitionError):
        check_transition(S.COMPENSATING, S.COMPLETED)


def test_allowed_transition_returns_target() -> None:
    assert check_transition(S.ACTIVE, S.COMPLETED) is S.COMPLETED


def test_waiting_and_terminal_are_disjoint() -> None:
    assert not (WAITING & TERMINAL)
    assert S.PAUSED.is_waiting and not S.ACTIVE.is_waiting


# The whole table, written out here on purpose: deriving it from ``TRANSITIONS`` would pin
# nothing. One row per status, its allowed targets; every pair not listed must be refused.
EXPECTED_TABLE: dict[str, set[str]] = {
    "ACTIVE": {
        "PAUSED",
        "WAITING_HUMAN",
        "PENDING_ASYNC",
        "PENDING_SUB_WORKFLOW",
        "WAITING_CHILD_HUMAN_INPUT",
        "COMPENSATING",
        "COMPLETED",
        "FAILED",
        "FAILED_CHILD_WORKFLOW",
        "CANCELLED",
    },
    "PAUSED": {"ACTIVE", "COMPLETED", "FAILED", "COMPENSATING", "CANCELLED"},
    "WAITING_HUMAN": {"ACTIVE", "COMPLETED", "FAILED", "COMPENSATING", "CANCELLED"},
    "PENDING_ASYNC": {"ACTIVE", "COMPLETED", "FAILED", "COMPENSATING", "CANCELLED"},
    "PENDING_SUB_WORKFLOW": {
        "ACTIVE",
        "PAUSED",
        "WAITING_HUMAN",
        "WAITING_CHILD_HUMAN_INPUT",
        "COMPLETED",
        "FAILED",
        "FAILED_CHILD_WORKFLOW",
        "COMPENSATING",
        "CANCELLED",
    },
    "WAITING_CHILD_HUMAN_INPUT": {"PENDING_SUB_WORKFLOW", "COMPENSATING", "CANCELLED"},
    "COMPENSATING": {
        "FAILED_ROLLED_BACK",
        "COMPENSATION_FAILED",
        "WAITING_COMPENSATION_APPROVAL",
        "CANCELLED",
    },
    "WAITING_COMPENSATION_APPROVAL": {"COMPENSATING"},
    # a parent that rolls back unwinds its completed child
    "COMPLETED": {"COMPENSATING"},
    "FAILED": {"ACTIVE"},
    "FAILED_ROLLED_BACK": set(),
    "COMPENSATION_FAILED": {"COMPENSATING"},
    "FAILED_CHILD_WORKFLOW": {"ACTIVE", "COMPENSATING"},
    "CANCELLED": set(),
}

ALL_PAIRS = list(itertools.product(EXPECTED_TABLE, repeat=2))
ALLOWED = [(src, dst) for src, dst in ALL_PAIRS if dst in EXPECTED_TABLE[src]]
FORBIDDEN = [(src, dst) for src, dst in ALL_PAIRS if dst not in EXPECTED_TABLE[src]]


def test_the_expected_table_names_every_status_once() -> None:
    assert sorted(EXPECTED_TABLE) == sorted(s.value for s in S)
    assert len(ALLOWED) == 47 and len(FORBIDDEN) == 14 * 14 - 47


def test_the_code_table_is_exactly_the_expected_table() -> None:
    actual = {src.value: {dst.value for dst in dsts} for src, dsts in TRANSITIONS.items()}
    assert actual == EXPECTED_TABLE


@pytest.mark.parametrize(("source", "target"), ALLOWED)
def test_allowed_transition(source: str, target: str) -> None:
    assert check_transition(S(source), S(target), "wf-1") is S(target)


@pytest.mark.parametrize(("source", "target"), FORBIDDEN)
def test_forbidden_transition(source: str, target: str) -> None:
    with pytest.raises(IllegalTransitionError) as info:
        check_transition(S(source), S(target), "wf-1")
    assert (info.value.source, info.value.target, info.value.workflow_id) == (
        source,
        target,
        "wf-1",
    )
    assert f"{source} -> {target}" in str(info.value)


EXPECTED_TERMINAL = {
    "COMPLETED",
    "FAILED",
    "FAILED_ROLLED_BACK",
    "COMPENSATION_FAILED",
    "FAILED_CHILD_WORKFLOW",
    "CANCELLED",
}
EXPECTED_WAITING = {
    "PAUSED",
    "WAITING_HUMAN",
    "PENDING_ASYNC",
    "PENDING_SUB_WORKFLOW",
    "WAITING_CHILD_HUMAN_INPUT",
    "WAITING_COMPENSATION_APPROVAL",
}


@pytest.mark.parametrize("status", list(EXPECTED_TABLE))
def test_terminal_and_waiting_flags(status: str) -> None:
    assert S(status).is_terminal is (status in EXPECTED_TERMINAL)
    assert S(status).is_waiting is (status in EXPECTED_WAITING)


def test_finished_and_final_say_apart_what_retry_can_leave() -> None:
    from ruvon.status import WorkflowStatus as W

    retryable = {W.FAILED, W.COMPENSATION_FAILED, W.FAILED_CHILD_WORKFLOW}
    final = {W.COMPLETED, W.FAILED_ROLLED_BACK, W.CANCELLED}
    assert {s for s in W if s.is_finished} == retryable | final
    assert {s for s in W if s.is_final} == final
    assert all(s.is_terminal == s.is_finished for s in W)
