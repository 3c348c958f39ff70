"""Step mocks: a step's function (or compensation) replaced in a copy of its definition.

The builder keeps one compiled definition per workflow type and version, shared by every
workflow it creates, so a mock never changes it: the harness binds the workflows it starts to a
copy whose steps carry the mock instead (``CompiledStep`` is a frozen dataclass). Everything
else about the step stays, so a mocked step is still recorded, retried under its
``retry_policy``, and compensated like the real one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ruvon.definition import CompiledStep, WorkflowDefinition
from ruvon.models import StepContext

# what one call of a mock raises: an exception, an exception class, or nothing
Raises = BaseException | type[BaseException] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MockCall:
    """One call of a mock: which workflow and attempt, and what the function was given."""

    workflow_id: str
    step_name: str
    attempt: int
    is_compensation: bool
    state: dict[str, Any]  # the state as the call saw it, dumped to JSON-ready data
    user_input: dict[str, Any]


@dataclass(slots=True, kw_only=True)
class StepMock:
    """Stands in for one step's function (or its compensation) and records every call.

    ``returns`` is returned (a deep copy, so one call can not change what the next returns);
    ``raises`` is raised instead: an exception, an exception class (instantiated with a message
    naming the step), or a sequence of those and ``None`` taken one per call, the last one
    repeating (``[ConnectionError, None]``: fail once, then return ``returns``).
    """

    step_name: str
    returns: Any = None
    raises: Raises | Sequence[Raises] = None
    compensation: bool = False
    workflow_type: str | None = None
    calls: list[MockCall] = field(default_factory=list)

    @property
    def call_count(self) -> int:
        return len(self.calls)

    def __call__(self, state: Any, context: StepContext, **user_input: Any) -> Any:
        self.calls.append(
            MockCall(
                workflow_id=context.workflow_id,
                step_name=context.step_name,
                attempt=context.attempt,
                is_compensation=context.is_compensation,
                state=state.model_dump(mode="json"),
                user_input=dict(user_input),
            )
        )
        error = self._error(len(self.calls) - 1)
        if error is not None:
            raise error
        return copy.deepcopy(self.returns)

    def _error(self, call: int) -> BaseException | None:
        raises = self.raises
        item: Raises
        if raises is None or isinstance(raises, BaseException | type):
            item = raises
        else:
            items = list(raises)
            item = items[min(call, len(items) - 1)] if items else None
        if isinstance(item, type):
            what = "compensation of step" if self.compensation else "step"
            return item(f"mocked failure of {what} '{self.step_name}'")
        return item


# the mocks of one step name: of its function, of its compensation
MocksOf = tuple[StepMock | None, StepMock | None]


def _as_function(mock: StepMock, is_async: bool) -> Callable[..., Any]:
    """The mock as the step calls it, ``async def`` when the real function is, so the step
    keeps its kind (and its ``timeout_seconds``, which only an async function may have)."""
    if not is_async:
        return mock

    async def call(state: Any, context: StepContext, **user_input: Any) -> Any:
        return mock(state, context, **user_input)

    return call


def body_of(step: CompiledStep) -> tuple[CompiledStep, ...]:
    """The steps a step runs inside it (a LOOP's body); empty for the others.

    A step type's handler keeps what it built at load in ``step.compiled``; one that runs other
    steps keeps them, compiled, as its ``body`` (as ``WorkflowDefinition.resolve`` expects).
    """
    body = getattr(step.compiled, "body", None)
    if isinstance(body, tuple) and all(isinstance(s, CompiledStep) for s in body):
        return body
    return ()


def all_steps(steps: tuple[CompiledStep, ...]) -> list[CompiledStep]:
    """``steps`` and, after each, the steps in its body, at any depth."""
    found: list[CompiledStep] = []
    for step in steps:
        found.append(step)
        found.extend(all_steps(body_of(step)))
    return found


def _mocked_step(step: CompiledStep, mock: Callable[[str], MocksOf]) -> CompiledStep:
    """``step`` with its mocks (``mock(name)`` gives the step's and the compensation's), body
    steps included; ``step`` itself when none applies."""
    function, compensation = mock(step.name)
    changes: dict[str, Any] = {}
    if function is not None:
        changes["function"] = _as_function(function, step.is_async)
    if compensation is not None and step.compensate is not None:
        changes["compensate"] = _as_function(compensation, step.compensate_is_async)
    body = body_of(step)
    new_body = tuple(_mocked_step(s, mock) for s in body)
    if any(new is not old for new, old in zip(new_body, body, strict=True)):
        changes["compiled"] = replace(step.compiled, body=new_body)
    return replace(step, **changes) if changes else step


# mocks by (step name, workflow type); type None: for every type with a step of that name
MockTable = Mapping[tuple[str, str | None], StepMock]


def with_mocks(
    definition: WorkflowDefinition, steps: MockTable, compensations: MockTable
) -> WorkflowDefinition:
    """``definition`` with the mocks that apply to it (one set for its type before one set for
    every type); the definition itself if none does."""
    wf_type = definition.workflow_type

    def mocks_for(name: str) -> MocksOf:
        return (
            steps.get((name, wf_type)) or steps.get((name, None)),
            compensations.get((name, wf_type)) or compensations.get((name, None)),
        )

    new_steps = tuple(_mocked_step(s, mocks_for) for s in definition.steps)
    if all(new is old for new, old in zip(new_steps, definition.steps, strict=True)):
        return definition
    return replace(definition, steps=new_steps)
