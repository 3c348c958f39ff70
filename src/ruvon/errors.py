"""Every error Ruvon raises, in one tree under :class:`RuvonError`.

Each error carries the facts a user needs to find the fault (file, step, key, workflow id) as
attributes, and its message names them. Causes are chained with ``raise ... from``.
"""

from __future__ import annotations

from typing import Any


class RuvonError(Exception):
    """Root of every error raised by Ruvon."""


# --- definitions -------------------------------------------------------------------------------


class DefinitionError(RuvonError):
    """A workflow definition (YAML or registry) is invalid.

    The message names the file, the step and the key at fault, and the line when it is known.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        step: str | None = None,
        key: str | None = None,
        line: int | None = None,
        workflow_type: str | None = None,
    ) -> None:
        self.file = file
        self.step = step
        self.key = key
        self.line = line
        self.workflow_type = workflow_type
        self.detail = message
        where = []
        if file:
            where.append(f"{file}:{line}" if line else file)
        if workflow_type:
            where.append(f"workflow '{workflow_type}'")
        if step:
            where.append(f"step '{step}'")
        if key:
            where.append(f"key '{key}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class UnknownWorkflowTypeError(DefinitionError, ValueError):
    """No definition is registered for the requested workflow type (or version). Also a
    ``ValueError``, which other Ruvon material raises for it."""


# --- creating and driving workflows -------------------------------------------------------------


def describe_validation(exc: Any) -> str:
    """A pydantic ValidationError as ``field: problem; field: problem``."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()
    )


class WorkflowValidationError(RuvonError, ValueError):
    """Initial data or user input does not fit its model; nothing was persisted. Also a
    ``ValueError``, which other Ruvon material raises for bad input."""

    def __init__(self, message: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        self.errors = errors or []
        super().__init__(message)

    @classmethod
    def from_pydantic(cls, what: str, model: type, exc: Any) -> WorkflowValidationError:
        """``{what} does not fit {Model}: field: problem; ...`` from a pydantic ValidationError."""
        return cls(
            f"{what} does not fit {model.__name__}: {describe_validation(exc)}",
            errors=[dict(e) for e in exc.errors()],
        )


class IllegalOperationError(RuvonError):
    """The operation is not allowed in the workflow's current status."""

    def __init__(self, message: str, *, workflow_id: str | None = None, status: str | None = None):
        self.workflow_id = workflow_id
        self.status = status
        super().__init__(message)


class WorkflowFinishedError(IllegalOperationError):
    """The workflow is in a terminal status and can not be advanced."""


class IllegalTransitionError(RuvonError):
    """An internal status change not in the transition table: a bug, never user error."""

    def __init__(self, source: str, target: str, workflow_id: str | None = None) -> None:
        self.source = source
        self.target = target
        self.workflow_id = workflow_id
        super().__init__(f"illegal status transition {source} -> {target} (workflow {workflow_id})")


# --- steps --------------------------------------------------------------------------------------


class StepError(RuvonError):
    """Base of errors the engine attaches to a failing step."""

    def __init__(self, message: str, *, step: str | None = None) -> None:
        self.step = step
        super().__init__(message)


class StepResultError(StepError):
    """A step returned something that can not be merged into the state."""


class StepTimeoutError(StepError):
    """An ``async`` step ran longer than its ``timeout_seconds``."""


class ChildWorkflowError(StepError):
    """A child workflow started by a ``SUB_WORKFLOW`` step (or ``StartSubWorkflowDirective``)
    ended without completing, or could not be undone for its parent. ``child_id`` names it and
    ``child_status`` says how it ended."""

    def __init__(
        self,
        message: str,
        *,
        step: str | None = None,
        child_id: str | None = None,
        child_status: str | None = None,
    ) -> None:
        self.child_id = child_id
        self.child_status = child_status
        super().__init__(message, step=step)


class WorkflowSetupError(RuvonError):
    """The process running a workflow lacks something its definition needs (a workflow type
    one of its steps starts, defined when it started). Not a failure of the step: the call that
    met it raises, nothing is written, and recovery marks the workflow for an operator."""


class ChildWorkflowFailed(ChildWorkflowError):
    """The child failed (``FAILED``, ``FAILED_ROLLED_BACK``, ``COMPENSATION_FAILED``,
    ``FAILED_CHILD_WORKFLOW``): its parent's step fails with this."""


class ChildWorkflowCancelled(ChildWorkflowError):
    """The child was cancelled: its parent is cancelled too."""


class HttpStepError(StepError):
    """An HTTP step's request failed. The message names the step, the method, the URL (secret
    values masked as ``***``) and the status; ``retry_on`` may name this class or a subclass."""

    def __init__(
        self,
        message: str,
        *,
        step: str | None = None,
        method: str | None = None,
        url: str | None = None,
        status_code: int | None = None,
    ) -> None:
        self.method = method
        self.url = url
        self.status_code = status_code
        super().__init__(message, step=step)


class HttpStatusError(HttpStepError):
    """The server answered with a status outside 2xx (``status_code`` says which)."""


class HttpTransportError(HttpStepError):
    """No answer came: the connection was refused or broke, or the request timed out."""


# --- expressions and templates ------------------------------------------------------------------


class ExpressionError(RuvonError):
    """A condition expression is invalid, unsafe, or failed to evaluate."""

    def __init__(self, message: str, *, expression: str | None = None) -> None:
        self.expression = expression
        super().__init__(f"{message} in expression {expression!r}" if expression else message)


class TemplateError(RuvonError):
    """A template is invalid, unsafe, or failed to render."""


# --- persistence --------------------------------------------------------------------------------


class PersistenceError(RuvonError):
    """The store failed or holds something it can not read."""


class SchemaVersionError(PersistenceError):
    """A store opened with ``auto_init=False`` found a schema other than the one this Ruvon
    needs: ``found`` is its version (0: no Ruvon schema at all), ``needed`` this Ruvon's."""

    def __init__(self, message: str, *, found: int, needed: int) -> None:
        self.found = found
        self.needed = needed
        super().__init__(message)


class WorkflowNotFoundError(PersistenceError):
    """No workflow with that id exists in the store."""

    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        super().__init__(f"workflow '{workflow_id}' not found")


class IdempotencyConflictError(RuvonError, ValueError):
    """An idempotency key already belongs to a workflow of another type."""

    def __init__(self, message: str, *, idempotency_key: str | None, workflow_id: str) -> None:
        self.idempotency_key = idempotency_key
        self.workflow_id = workflow_id
        super().__init__(message)


class ConcurrentModificationError(PersistenceError):
    """Another runner advanced the workflow since it was read (optimistic concurrency).

    Also raised when another runner holds the workflow's lease (``lease_owner`` says who).
    """

    def __init__(
        self,
        workflow_id: str,
        expected_version: int,
        actual_version: int | None,
        lease_owner: str | None = None,
    ) -> None:
        self.workflow_id = workflow_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        self.lease_owner = lease_owner
        if lease_owner is not None and actual_version == expected_version:
            message = f"workflow '{workflow_id}' is being advanced by runner '{lease_owner}'"
        else:
            message = (
                f"workflow '{workflow_id}' was modified concurrently: expected version "
                f"{expected_version}, found {actual_version}"
            )
        super().__init__(message)
