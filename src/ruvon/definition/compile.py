"""Resolve a validated spec into a runnable :class:`WorkflowDefinition` (imports, signatures)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel

from ruvon.definition.imports import (
    ImportFailure,
    import_object,
    import_step_function,
    is_async_callable,
    resolve_exception,
)
from ruvon.definition.schema import StepSpec, WorkflowSpec
from ruvon.definition.step_types import STEP_TYPES
from ruvon.definition.yaml_source import LineIndex
from ruvon.errors import DefinitionError
from ruvon.models import ScopePath


@dataclass(frozen=True, slots=True)
class CompiledStep:
    """A step with its functions imported and its retry exceptions resolved."""

    index: int
    name: str
    spec: StepSpec
    function: Callable[..., Any] | None
    compensate: Callable[..., Any] | None
    is_async: bool
    compensate_is_async: bool
    input_model: type[BaseModel] | None
    retry_on: tuple[type[BaseException] | str, ...]
    # copied out of ``spec`` because the step loop reads them on every step
    automate_next: bool
    timeout_seconds: float | None
    # what the step type's handler built at load (routes, task functions, loop bodies)
    compiled: Any = None
    # the step's own scope path as text (its name, escaped), built once: used on every attempt
    scope: str = ""

    def __post_init__(self) -> None:
        if not self.scope:
            object.__setattr__(self, "scope", str(ScopePath.of_step(self.name)))

    def should_retry(self, exc: BaseException) -> bool:
        """Whether ``exc`` is retryable under this step's ``retry_on`` (empty: any Exception)."""
        if not self.retry_on:
            return isinstance(exc, Exception)
        names = {k.__name__ for k in type(exc).__mro__}
        for kind in self.retry_on:
            if isinstance(kind, str):
                if kind in names:
                    return True
            elif isinstance(exc, kind):
                return True
        return False


@dataclass(frozen=True, slots=True)
class WorkflowDefinition:
    """A workflow ready to run: the spec, the state model class and the compiled steps."""

    spec: WorkflowSpec
    source: str
    state_model: type[BaseModel]
    steps: tuple[CompiledStep, ...]
    snapshot: dict[str, Any]
    index_by_name: dict[str, int] = field(default_factory=dict)

    @property
    def workflow_type(self) -> str:
        return self.spec.workflow_type

    @property
    def workflow_version(self) -> str:
        return self.spec.workflow_version


def _fail(
    message: str,
    *,
    spec: WorkflowSpec,
    source: str,
    lines: LineIndex,
    step: tuple[int, str] | None,
    key: str,
) -> DefinitionError:
    keys = tuple(key.split("."))
    path: tuple[str | int, ...] = ("steps", step[0], *keys) if step else keys
    return DefinitionError(
        message,
        file=source,
        step=step[1] if step else None,
        key=key,
        line=lines.line(path),
        workflow_type=spec.workflow_type,
    )


def _model_class(path: str) -> type[BaseModel]:
    obj = import_object(path)
    if not (isinstance(obj, type) and issubclass(obj, BaseModel)):
        raise ImportFailure(f"'{path}' is not a pydantic BaseModel subclass")
    return obj


def _compile_step(
    index: int, spec: StepSpec, wf: WorkflowSpec, source: str, lines: LineIndex
) -> CompiledStep:
    where = (index, spec.name)
    resolved: dict[str, Any] = {}
    for key, loader in (
        ("function", import_step_function),
        ("compensate_function", import_step_function),
        ("input_model", _model_class),
    ):
        path = getattr(spec, key)
        if path is None:
            resolved[key] = None
            continue
        try:
            resolved[key] = loader(path)
        except ImportFailure as exc:
            raise _fail(str(exc), spec=wf, source=source, lines=lines, step=where, key=key) from exc
    try:
        retry_on = tuple(resolve_exception(n) for n in spec.retry_policy.retry_on)
    except ImportFailure as exc:
        raise _fail(
            str(exc), spec=wf, source=source, lines=lines, step=where, key="retry_policy.retry_on"
        ) from exc
    func, comp = resolved["function"], resolved["compensate_function"]
    is_async = is_async_callable(func)
    if spec.timeout_seconds is not None and func is not None and not is_async:
        raise _fail(
            "timeout_seconds needs an 'async def' function: a running synchronous function can "
            "not be interrupted",
            spec=wf,
            source=source,
            lines=lines,
            step=where,
            key="timeout_seconds",
        )
    return CompiledStep(
        index=index,
        name=spec.name,
        spec=spec,
        function=func,
        compensate=comp,
        is_async=is_async,
        compensate_is_async=is_async_callable(comp),
        input_model=resolved["input_model"],
        retry_on=retry_on,
        automate_next=spec.automate_next,
        timeout_seconds=spec.timeout_seconds,
    )


def compile_definition(
    spec: WorkflowSpec, *, source: str, snapshot: dict[str, Any], lines: LineIndex | None = None
) -> WorkflowDefinition:
    """Import every function and model ``spec`` names; raise DefinitionError naming the culprit."""
    lines = lines or LineIndex()
    try:
        state_model = _model_class(spec.initial_state_model)
    except ImportFailure as exc:
        key = "initial_state_model"
        if lines.line((key,)) == lines.line(()) and lines.line(("initial_state_model_path",)):
            key = "initial_state_model_path"
        raise _fail(str(exc), spec=spec, source=source, lines=lines, step=None, key=key) from exc
    steps = tuple(_compile_step(i, s, spec, source, lines) for i, s in enumerate(spec.steps))
    definition = WorkflowDefinition(
        spec=spec,
        source=source,
        state_model=state_model,
        steps=steps,
        snapshot=snapshot,
        index_by_name={s.name: s.index for s in steps},
    )
    compiled = []
    for step in steps:
        try:
            built = STEP_TYPES[step.spec.type].compile(step, definition)
        except DefinitionError as exc:
            raise DefinitionError(
                exc.detail,
                file=source,
                step=step.name,
                key=exc.key,
                line=lines.line(("steps", step.index, exc.key or "")),
                workflow_type=spec.workflow_type,
            ) from exc
        compiled.append(step if built is None else replace(step, compiled=built))
    return replace(definition, steps=tuple(compiled))
