"""The status enum and its one transition table."""

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


@pytest.mark.parametrize("status", [S.COMPLETED, S.FAILED_ROLLED_BACK, S.CANCELLED])
def test_final_statuses_have_no_way_out(status: S) -> None:
    assert TRANSITIONS[status] == frozenset()
    assert status.is_terminal


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
