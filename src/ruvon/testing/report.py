"""What ``check_saga`` found: one run per compensatable step, and the whole report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ruvon.models import CompensationStatus, WorkflowError
from ruvon.status import WorkflowStatus


class _Absent:
    """The value of a field a state did not have (a model that allows extra fields)."""

    def __repr__(self) -> str:
        return "<absent>"


ABSENT: Any = _Absent()


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True, slots=True, kw_only=True)
class CompensationOutcome:
    """One entry of a run's compensation journal, as it ended. ``scope`` tells the entries of
    a loop body's step apart (``"Items/iter:1/Hold"``); for a top-level step it is its name."""

    step_name: str
    scope: str
    function: str | None
    status: CompensationStatus
    attempts: int
    error: str | None = None  # "Type: message" of a FAILED compensation
    detail: str | None = None  # why it was SKIPPED

    def __str__(self) -> str:
        text = f"{self.scope or self.step_name} {self.status.value}"
        return text + (f" ({self.error})" if self.error else "")


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldChange:
    """A state field whose value after the unwind is not the one it had at the start."""

    field: str
    before: Any
    after: Any

    def __str__(self) -> str:
        return f"{self.field}: {_short(self.before)} -> {_short(self.after)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SagaRun:
    """One run of the workflow with a failure injected right after ``failed_after``.

    ``injected_in`` is the step the failure was put in (it fails before doing anything);
    ``None`` when ``failed_after`` is the last step (the failure is then a step of its own, after
    it). ``injected`` says whether the run got there: ``failed_after`` completed and the injected
    failure started the unwind. A run may instead fail earlier on its own (``failure`` says
    where), take another way (a jump), or stop to wait for input it was not given.
    """

    workflow_id: str  # the run's workflow, in the harness's store
    failed_after: str
    injected_in: str | None
    completed: bool  # failed_after completed in this run
    injected: bool
    failure: WorkflowError | None
    status: WorkflowStatus
    compensations: tuple[CompensationOutcome, ...]
    unrestored: tuple[FieldChange, ...]

    @property
    def ok(self) -> bool:
        """The injected failure was reached, every compensation succeeded and every field not
        ignored is back to its value from before the workflow started."""
        return (
            self.injected
            and self.status is WorkflowStatus.FAILED_ROLLED_BACK
            and not (self.unrestored)
        )

    def _why_not(self) -> str:
        failure = (
            f"{self.failure.type} in {self.failure.step}: {self.failure.message}"
            if self.failure is not None
            else None
        )
        if not self.completed:  # a route or a jump went past the checked step
            then = f"; the run then ended with {failure}" if failure else ""
            return f"{self.failed_after} did not run in this run{then}"
        return failure or "the run did not get to the injected failure"

    @property
    def unrestored_fields(self) -> tuple[str, ...]:
        return tuple(c.field for c in self.unrestored)

    @property
    def compensations_ran(self) -> tuple[str, ...]:
        """The steps whose compensation function was called (succeeded or failed), in order."""
        ran = (CompensationStatus.COMPLETED, CompensationStatus.FAILED)
        return tuple(c.step_name for c in self.compensations if c.status in ran)

    def lines(self) -> list[str]:
        where = (
            f"failure injected in {self.injected_in}"
            if self.injected_in is not None
            else "failure injected after the last step"
        )
        lines = [f"after {self.failed_after} ({where}): {self.status.value}"]
        if not self.injected:
            lines.append(f"  not checked: {self._why_not()}")
        shown = ", ".join(str(c) for c in self.compensations) or "none"
        lines.append(f"  compensations: {shown}")
        if self.unrestored:
            lines.append("  not restored: " + "; ".join(str(c) for c in self.unrestored))
        else:
            lines.append("  every field restored")
        return lines


@dataclass(frozen=True, slots=True, kw_only=True)
class SagaReport:
    """Every run of a ``check_saga`` call; ``str()`` prints it for a person."""

    workflow_type: str
    workflow_version: str
    ignored: tuple[str, ...]
    runs: tuple[SagaRun, ...]

    @property
    def ok(self) -> bool:
        return all(run.ok for run in self.runs)

    def run_after(self, step_name: str) -> SagaRun:
        """The run whose failure came right after ``step_name``."""
        for run in self.runs:
            if run.failed_after == step_name:
                return run
        known = ", ".join(r.failed_after for r in self.runs) or "none"
        raise KeyError(f"no run failed after step '{step_name}' (runs after: {known})")

    def __str__(self) -> str:
        bad = sum(not run.ok for run in self.runs)
        if not self.runs:
            verdict = "no step has a compensate_function, nothing to check"
        else:
            verdict = f"{len(self.runs)} runs, " + (f"{bad} not ok" if bad else "all ok")
        lines = [f"check_saga {self.workflow_type} {self.workflow_version}: {verdict}"]
        if self.ignored:
            lines.append("ignored fields: " + ", ".join(self.ignored))
        for run in self.runs:
            lines.append("")
            lines.extend(run.lines())
        return "\n".join(lines)
