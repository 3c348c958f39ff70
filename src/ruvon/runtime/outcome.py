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
    the wait is over: for user input (``PAUSED``), for a person at a ``HUMAN_IN_LOOP`` step
    (``WAITING_HUMAN``), for an async task's result, for a child workflow. A step that nests
    others (a loop) returns the wait of the step inside it.
    """

    COMPLETED = "completed"
    FAILED = "failed"
    JUMP = "jump"
    PAUSE = "pause"
    WAIT_INPUT = "wait_input"
    WAIT_HUMAN = "wait_human"
    WAIT_ASYNC = "wait_async"
    WAIT_CHILD = "wait_child"
    # a child workflow (or one below it) waits for a person: WAITING_CHILD_HUMAN_INPUT
    WAIT_CHILD_INPUT = "wait_child_input"
    # the step committed its progress and hands control back before it finished (a LOOP
    # between body steps, when a cancellation was requested): the cursor stays on it
    YIELD = "yield"


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


@dataclass(frozen=True, slots=True)
class Where:
    """Where a step runs: its scope path as text (a top-level step's is its name; a loop body's
    step ``"Items/iter:2/Reserve"``) and, inside a loop iteration, the item and its index (the
    item as the step gets it; an attempt's record keeps its JSON form)."""

    scope: str
    item: Any = None
    index: int | None = None
    # how many loops this step runs inside: the index of the frame a loop step here owns
    depth: int = 0
