"""``PARALLEL``: its YAML and its load-time checks (the run is ``ruvon.steps.parallel``).

Static ``tasks`` (each a small step: ``name``, ``function`` or ``function_path``, and optionally
``compensate_function``, ``retry_policy``) or a fan-out over a state list (``iterate_over``,
``task_function``, ``task_compensate_function``, ``item_var_name``, ``batch_size``); how the
results are merged (``merge_strategy``, ``merge_conflict_behavior``, ``merge_function_path``);
``allow_partial_success``; ``timeout_seconds`` for the whole step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, Field, model_validator

from ruvon.definition.checks import check_condition, takes_keyword
from ruvon.definition.imports import ImportFailure, import_object
from ruvon.definition.schema import Frozen, RetryPolicy, StepSpec, StepType
from ruvon.errors import DefinitionError

if TYPE_CHECKING:
    from ruvon.definition.compile import CompiledStep
    from ruvon.definition.step_types import Siblings


class _CaseInsensitive(StrEnum):
    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            return cls.__members__.get(value.strip().upper())
        return None


class MergeStrategy(_CaseInsensitive):
    SHALLOW = "SHALLOW"
    DEEP = "DEEP"


class MergeConflict(_CaseInsensitive):
    PREFER_NEW = "PREFER_NEW"
    PREFER_EXISTING = "PREFER_EXISTING"
    RAISE_ERROR = "RAISE_ERROR"

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str) and value.strip().upper() == "PREFER_OLD":
            return cls.PREFER_EXISTING  # the name the Ruvon tutorial uses
        return super()._missing_(value)


class TaskSpec(Frozen):
    """One static task of a PARALLEL step."""

    name: str = Field(min_length=1)
    function: str = Field(validation_alias=AliasChoices("function", "function_path"))
    compensate_function: str | None = None
    retry_policy: RetryPolicy = RetryPolicy()
    description: str | None = None


class ParallelSpec(StepSpec):
    tasks: tuple[TaskSpec, ...] = ()
    iterate_over: str | None = None
    task_function: str | None = None
    task_compensate_function: str | None = None
    item_var_name: str = "item"
    batch_size: int = Field(0, ge=0)
    merge_strategy: MergeStrategy = MergeStrategy.SHALLOW
    merge_conflict_behavior: MergeConflict = MergeConflict.PREFER_NEW
    merge_function_path: str | None = None
    allow_partial_success: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> ParallelSpec:
        if self.tasks and (self.iterate_over or self.task_function):
            raise ValueError(
                "a PARALLEL step has either 'tasks' or 'iterate_over' with "
                "'task_function', not both"
            )
        return self


@dataclass(frozen=True, slots=True)
class CompiledParallel:
    """The tasks, compiled as steps; for a fan-out, ``tasks`` holds the one template task,
    run once per item (named by its index)."""

    tasks: tuple[CompiledStep, ...]
    fan_out: str | None  # the iterate_over expression, or None for static tasks
    item_var_name: str
    batch_size: int
    strategy: MergeStrategy
    conflict: MergeConflict
    merge_function: Callable[..., Any] | None
    passes_item: bool = False  # the fan-out task function takes ``item_var_name=``
    allow_partial_success: bool = False

    def step_named(self, name: str) -> CompiledStep | None:
        if self.fan_out is not None:
            return self.tasks[0] if name.isdigit() else None
        return next((t for t in self.tasks if t.name == name), None)


class Parallel:
    """``PARALLEL``: tasks run side by side; their results are merged when all are done."""

    spec_model: type[StepSpec] = ParallelSpec

    def compile(self, step: CompiledStep, siblings: Siblings) -> CompiledParallel:
        spec = step.spec
        assert isinstance(spec, ParallelSpec)
        if spec.function is not None:
            raise DefinitionError(
                "a PARALLEL step runs its 'tasks' (or 'task_function'), not a 'function'",
                key="function",
            )
        fan_out = None
        if spec.tasks:
            names = [t.name for t in spec.tasks]
            duplicate = next((n for n in names if names.count(n) > 1), None)
            if duplicate is not None:
                raise DefinitionError(f"two tasks are named '{duplicate}'", key="tasks")
            task_specs = tuple(_as_step(t, step) for t in spec.tasks)
        elif spec.iterate_over and spec.task_function:
            fan_out = check_condition(spec.iterate_over, "iterate_over")
            task_specs = (
                StepSpec(
                    name=f"{step.name}_task",
                    function=spec.task_function,
                    compensate_function=spec.task_compensate_function,
                    retry_policy=spec.retry_policy,
                ),
            )
        else:
            raise DefinitionError(
                "a PARALLEL step needs 'tasks', or 'iterate_over' and 'task_function'",
                key="tasks",
            )
        keywords = (spec.item_var_name,) if fan_out is not None else ()
        tasks = siblings.compile_body(task_specs, "tasks", keywords)
        return CompiledParallel(
            tasks=tasks,
            fan_out=fan_out,
            item_var_name=spec.item_var_name,
            batch_size=spec.batch_size,
            strategy=spec.merge_strategy,
            conflict=spec.merge_conflict_behavior,
            merge_function=_merge_function(spec.merge_function_path),
            passes_item=fan_out is not None
            and takes_keyword(tasks[0].function, spec.item_var_name),
            allow_partial_success=spec.allow_partial_success,
        )


def _as_step(task: TaskSpec, parent: CompiledStep) -> StepSpec:
    """A static task as a step spec; it inherits the parent's retry policy unless it has one."""
    retry = task.retry_policy if "retry_policy" in task.model_fields_set else None
    return StepSpec(
        name=task.name,
        type=StepType.STANDARD,
        function=task.function,
        compensate_function=task.compensate_function,
        retry_policy=retry or parent.spec.retry_policy,
        description=task.description,
    )


def _merge_function(path: str | None) -> Callable[..., Any] | None:
    if path is None:
        return None
    try:
        function = import_object(path)
    except ImportFailure as exc:
        raise DefinitionError(str(exc), key="merge_function_path") from exc
    if not callable(function):
        raise DefinitionError(f"'{path}' is not callable", key="merge_function_path")
    return function  # type: ignore[no-any-return]
