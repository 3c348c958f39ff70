"""Public data types: the step context, statuses, directives and the records a store keeps."""

from __future__ import annotations

import linecache
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ruvon.status import TRANSITIONS, WorkflowStatus

if TYPE_CHECKING:
    from ruvon.providers.persistence import PersistenceProvider

__all__ = [
    "TRANSITIONS",
    "CompensationRecord",
    "CompensationStatus",
    "ScopePath",
    "StartSubWorkflowDirective",
    "StepContext",
    "StepRecord",
    "StepStatus",
    "WorkflowError",
    "WorkflowJumpDirective",
    "WorkflowPauseDirective",
    "WorkflowStatus",
]


@dataclass(slots=True, kw_only=True)
class StepContext:
    """What a step (or compensation) function receives besides the state.

    ``idempotency_key`` is the same on every attempt of the step and after crash recovery, so it
    can be passed to external systems to make their side effects idempotent. A compensation's
    context also carries the forward step's result (``forward_result``) and the failure that
    started the unwind (``failure``).

    Built with keywords only (as a pydantic model would be). Users' unit tests build one by hand
    with ``StepContext(workflow_id=..., step_name=...)``: every other field has a default, and
    an omitted ``idempotency_key`` is derived the way the engine derives it
    (``<workflow id>:<step name>``), so a step that passes it on still gets a stable key.
    ``persistence`` is then ``None``: pass a store if the step under test writes logs.
    """

    workflow_id: str
    workflow_type: str = ""
    step_name: str
    step_index: int = 0
    attempt: int = 1
    idempotency_key: str = ""
    persistence: PersistenceProvider | None = None
    validated_input: Any = None
    previous_step_result: dict[str, Any] | None = None
    loop_item: Any = None
    loop_index: int | None = None
    forward_result: dict[str, Any] | None = None
    failure: WorkflowError | None = None
    is_compensation: bool = False
    scope: str | None = None

    def __post_init__(self) -> None:
        if not self.idempotency_key:  # only a hand-built context: the engine always sets it
            self.idempotency_key = f"{self.workflow_id}:{ScopePath.of_step(self.step_name)}"


# --- directives: raised by step functions, translated once at the step boundary ----------------


class Directive(Exception):
    """Base of the control-flow signals a step function may raise."""


class WorkflowJumpDirective(Directive):
    """Continue at the named step instead of the next one; ``result`` is merged first, and the
    state the step changed in place before raising is kept. ``target_step=`` is accepted for
    ``target_step_name`` (other Ruvon material spells it so)."""

    def __init__(
        self,
        target_step_name: str | None = None,
        result: dict[str, Any] | None = None,
        *,
        target_step: str | None = None,
    ) -> None:
        target = target_step_name if target_step_name is not None else target_step
        if not isinstance(target, str) or not target:
            raise TypeError("WorkflowJumpDirective needs the name of the step to jump to")
        self.target_step_name = target
        self.result = result or {}
        super().__init__(f"jump to {target}")


class WorkflowPauseDirective(Directive):
    """Merge ``result`` and wait in ``PAUSED`` for ``resume(user_input)`` (or
    ``next_step(user_input=...)``), which runs the next step with that input. ``waiting_for``
    says for what, in the step's own words (kept with the workflow, shown by
    ``Workflow.waiting_for``)."""

    def __init__(self, result: dict[str, Any] | None = None, waiting_for: Any = None) -> None:
        self.result = result or {}
        self.waiting_for = waiting_for
        super().__init__("pause")


class StartSubWorkflowDirective(Directive):
    """Start a child workflow and wait for it in ``PENDING_SUB_WORKFLOW`` (as a
    ``SUB_WORKFLOW`` step does). ``owner_id`` defaults to the parent's; ``data_region`` is kept
    in the child's metadata."""

    def __init__(
        self,
        workflow_type: str,
        initial_data: dict[str, Any] | None = None,
        data_region: str | None = None,
        owner_id: str | None = None,
    ) -> None:
        self.workflow_type = workflow_type
        # checked when the engine takes it: a step that passes something else fails clearly
        self.initial_data: Any = {} if initial_data is None else initial_data
        self.data_region = data_region
        self.owner_id = owner_id
        super().__init__(f"start sub-workflow {workflow_type}")


# --- records ------------------------------------------------------------------------------------


def _escape(segment: str) -> str:
    if "%" not in segment and "/" not in segment:
        return segment
    return segment.replace("%", "%25").replace("/", "%2F")


@dataclass(frozen=True, slots=True)
class ScopePath:
    """Where in a workflow a step attempt runs: the top-level step, then nested scopes.

    A top-level step's path is its name (``"Charge_Payment"``); a nested scope adds a segment
    ``<kind>:<name>`` — a parallel task (``"Fanout/task:inventory"``), a loop iteration and a
    step of its body (``"Items/iter:3/Reserve"``), a child workflow (``"Ship/child:<id>"``).
    Step records, attempts, idempotency keys and the compensation journal are keyed by it, so a
    nested step type is recorded, recovered and compensated per scope. Written as text with
    ``/`` between segments (``%`` and ``/`` inside a segment are escaped as ``%25``, ``%2F``).
    """

    segments: tuple[str, ...]

    @classmethod
    def of_step(cls, name: str) -> ScopePath:
        return cls((name,))

    @classmethod
    def parse(cls, text: str) -> ScopePath:
        return cls(tuple(p.replace("%2F", "/").replace("%25", "%") for p in text.split("/")))

    def child(self, kind: str, name: str | int) -> ScopePath:
        """The nested scope ``kind:name`` inside this one (``task``, ``iter``, ``child``)."""
        return ScopePath((*self.segments, f"{kind}:{name}"))

    def step(self, name: str) -> ScopePath:
        """A step inside this scope (a loop body's step)."""
        return ScopePath((*self.segments, name))

    @property
    def top_step(self) -> str:
        """The name of the top-level step this scope belongs to."""
        return self.segments[0]

    def __str__(self) -> str:
        return "/".join(_escape(s) for s in self.segments)


def _format_traceback(exc: BaseException, limit: int = 8) -> str:
    """The last ``limit`` frames, plainly.

    Walks the traceback by hand: ``traceback.format_exception`` and ``extract_tb`` on 3.11
    compute column positions (and parse source lines to draw carets), which costs more than the
    rest of a failed step together.
    """
    frames: list[tuple[str, int, str]] = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        frames.append((code.co_filename, tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    lines = ["Traceback (most recent call last):\n"]
    for filename, lineno, name in frames[-limit:]:
        lines.append(f'  File "{filename}", line {lineno}, in {name}\n')
        source = linecache.getline(filename, lineno).strip()
        if source:
            lines.append(f"    {source}\n")
    lines.append(f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}\n")
    return "".join(lines)


@dataclass(frozen=True, slots=True)
class WorkflowError:
    """The last failure of a workflow: exception type, message and the step it came from."""

    type: str
    message: str
    step: str | None = None
    traceback: str | None = None

    @classmethod
    def from_exception(cls, exc: BaseException, step: str | None) -> WorkflowError:
        # a NUL character could not be stored by PostgreSQL (the failure itself would fail)
        message = str(exc).replace("\x00", "\\x00")
        return cls(type(exc).__name__, message, step, _format_traceback(exc).replace("\x00", ""))

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "message": self.message,
            "step": self.step,
            "traceback": self.traceback,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> WorkflowError | None:
        if not data:
            return None
        return cls(data["type"], data["message"], data.get("step"), data.get("traceback"))


class StepStatus(StrEnum):
    """Outcome of one attempt of a forward step."""

    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"  # a jump passed over the step (attempt 0: it did not run)


class CompensationStatus(StrEnum):
    """State of one entry of the compensation journal."""

    STARTED = "STARTED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    REJECTED = "REJECTED"

    @property
    def is_final(self) -> bool:
        """The entry will not run again (``FAILED`` entries run again only on ``retry()``)."""
        return self is not CompensationStatus.STARTED


@dataclass(slots=True, kw_only=True)
class StepRecord:
    """One attempt of one forward step. ``seq`` numbers a workflow's attempts from 0; ``scope``
    is the :class:`ScopePath` (as text) the attempt ran in, ``step_index`` the index of its
    top-level step. ``item`` (any JSON value) is the loop item or fan-out task the attempt ran
    for: kept with the attempt because its compensation needs it long after the loop moved on."""

    seq: int
    step_name: str
    step_index: int
    attempt: int
    status: StepStatus
    started_at: float
    ended_at: float | None = None
    result: dict[str, Any] | None = None
    error: WorkflowError | None = None
    scope: str = ""
    item: Any = None
    # the state's JSON after a completed attempt (what the timeline shows); not loaded with the
    # history: ``PersistenceProvider.step_states`` reads it
    state: bytes | str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.scope and isinstance(self.step_name, str):
            self.scope = str(ScopePath.of_step(self.step_name))

    @property
    def duration_ms(self) -> float | None:
        return None if self.ended_at is None else (self.ended_at - self.started_at) * 1000.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CompensationRecord:
    """One entry of the compensation journal: which step was undone, in what order, how.

    ``forward_seq`` is the :attr:`StepRecord.seq` of the forward attempt this entry undoes. An
    entry is a value: a change (started, then completed) is a new entry with the same
    ``sequence`` (:meth:`revised`), so a snapshot of the journal is a copy of the list.
    """

    sequence: int
    forward_seq: int
    step_name: str
    step_index: int
    function: str | None
    status: CompensationStatus
    started_at: float
    ended_at: float | None = None
    attempts: int = 0
    error: WorkflowError | None = None
    detail: str | None = None
    decided_by: str | None = None
    result: dict[str, Any] | None = field(default=None)
    scope: str = ""

    def __post_init__(self) -> None:
        if not self.scope and isinstance(self.step_name, str):
            object.__setattr__(self, "scope", str(ScopePath.of_step(self.step_name)))

    @property
    def duration_ms(self) -> float | None:
        return None if self.ended_at is None else (self.ended_at - self.started_at) * 1000.0

    def revised(self, **changes: Any) -> CompensationRecord:
        """This entry with ``changes`` (entries are values: a change is a new entry). Spelled
        out: ``dataclasses.replace`` costs several times more."""
        fields: dict[str, Any] = {
            "sequence": self.sequence,
            "forward_seq": self.forward_seq,
            "scope": self.scope,
            "step_name": self.step_name,
            "step_index": self.step_index,
            "function": self.function,
            "status": self.status,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "attempts": self.attempts,
            "error": self.error,
            "detail": self.detail,
            "decided_by": self.decided_by,
            "result": self.result,
        }
        fields.update(changes)
        return CompensationRecord(**fields)
