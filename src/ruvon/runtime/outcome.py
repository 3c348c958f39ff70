"""What running one step produced; the runner acts on it (directives are translated to it)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from ruvon.models import WorkflowError

if TYPE_CHECKING:
    from ruvon.runtime.merge import Merged


class OutcomeKind(Enum):
    """How the runner goes on after a step.

    ``COMPLETED`` and ``JUMP`` move the cursor (to the next step, or to ``jump_to``); ``PAUSE``
    moves it to the next step and waits for input there (``WorkflowPauseDirective``); the
    ``WAIT_*`` kinds keep the cursor on the step itself, which runs again (or is resumed) when
    the wait is over: for user input, for an async task's result, for a child workflow.
    """

    COMPLETED = "completed"
    FAILED = "failed"
    JUMP = "jump"
    PAUSE = "pause"
    WAIT_INPUT = "wait_input"
    WAIT_ASYNC = "wait_async"
    WAIT_CHILD = "wait_child"


@dataclass(slots=True, kw_only=True)
class StepOutcome:
    """The result of one step after its retries: the merged state, or the failure.

    ``attempt``, ``started_at`` and ``ended_at`` describe the attempt that decided the outcome;
    the runner records it (a handler records nothing itself).
    """

    kind: OutcomeKind
    merged: Merged | None = None
    error: WorkflowError | None = None
    jump_to: int | None = None
    attempt: int = 1
    started_at: float = 0.0
    ended_at: float = 0.0
    waiting_for: dict[str, Any] | None = None

    @property
    def result(self) -> dict[str, Any] | None:
        return None if self.merged is None else self.merged.result
