"""Resolve a validated spec into a runnable :class:`WorkflowDefinition` (imports, signatures)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
from ruvon.definition.step_types import STEP_TYPES, Siblings
from ruvon.definition.yaml_source import LineIndex
from ruvon.errors import DefinitionError
from ruvon.models import ScopePath

# kinds of nested scope segments (``iter:3``); a segment without one names a step
SCOPE_KINDS = frozenset({"iter", "task", "child"})


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
    # where the step sits in its list: the top level (then equal to ``index``) or a loop body,
    # whose steps carry the ``index`` of the top-level step they belong to
    position: int = -1
    # the positions of the steps of that list, by name (a jump stays inside its list)
    names: Mapping[str, int] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not self.scope:
            object.__setattr__(self, "scope", str(ScopePath.of_step(self.name)))
        if self.position < 0:
            object.__setattr__(self, "position", self.index)

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
    # where each key sits in the YAML, for errors found after compiling (cross-definition ones)
    lines: LineIndex = field(default_factory=LineIndex, compare=False, repr=False)

    @property
    def workflow_type(self) -> str:
        return self.spec.workflow_type

    def resolve(self, scope: str) -> CompiledStep | None:
        """The step a scope path names (``"Items/iter:2/Reserve"`` → the body step
        ``Reserve`` of the loop ``Items``; ``"Book/task:Hotel"`` → the task ``Hotel`` of the
        parallel step ``Book``); ``None`` if the definition has no such step."""
        if "/" not in scope and "%" not in scope:  # a top-level step: its name is its scope
            index = self.index_by_name.get(scope)
            return None if index is None else self.steps[index]
        segments = ScopePath.parse(scope).segments
        index = self.index_by_name.get(segments[0])
        if index is None:
            return None
        step = self.steps[index]
        for segment in segments[1:]:
            kind, _, name = segment.partition(":")
            if name and kind in SCOPE_KINDS:
                if kind != "task":
                    continue  # an iteration or a child: the next segment names the step
                segment = name  # a parallel task is named by its segment: "task:<name>"
            finder = getattr(step.compiled, "step_named", None)
            found = finder(segment) if finder is not None else None
            if found is None:
                return None
            step = found
        return step

    @property
    def workflow_version(self) -> str:
        return self.spec.workflow_version


# where a step is in the YAML (``("steps", 2)`` or ``("steps", 2, "loop_body", 0)``) and its name
StepAt = tuple[tuple[str | int, ...], str]


def _fail(
    message: str,
    *,
    spec: WorkflowSpec,
    source: str,
    lines: LineIndex,
    step: StepAt | None,
    key: str,
) -> DefinitionError:
    keys = tuple(int(k) if k.isdigit() else k for k in key.split("."))
    path: tuple[str | int, ...] = (*step[0], *keys) if step else keys
    return DefinitionError(
        message,
        file=source,
        step=step[1] if step else None,
        key=key,
        line=lines.line(path),
        workflow_type=spec.workflow_type,
    )


def _model_class(path: str) -> type[BaseModel]:
    """The model class a dotted path names; ``builtins.dict`` (or ``dict``) is a dict-like
    state model (see :mod:`ruvon.definition.dict_state`)."""
    from ruvon.definition.dict_state import DICT_STATE_PATHS, DictState

    if path in DICT_STATE_PATHS:
        return DictState
    obj = import_object(path)
    if not (isinstance(obj, type) and issubclass(obj, BaseModel)):
        raise ImportFailure(f"'{path}' is not a pydantic BaseModel subclass")
    return obj


def _input_names(model: type[BaseModel]) -> tuple[str, ...]:
    """The keywords a step's input arrives under: its model's fields (and their aliases)."""
    names: list[str] = []
    for name, info in model.model_fields.items():
        names.append(name)
        if isinstance(info.alias, str):
            names.append(info.alias)
    return tuple(names)


def _compile_step(
    index: int,
    position: int,
    at: StepAt,
    spec: StepSpec,
    wf: WorkflowSpec,
    source: str,
    lines: LineIndex,
    keywords: tuple[str, ...] = (),
) -> CompiledStep:
    """``keywords``: what the step's function is always passed besides the input (a loop's
    item)."""
    resolved: dict[str, Any] = {}

    def function(path: str) -> Any:
        # a step with an input model passes its fields as keywords: the function may name them
        model = resolved.get("input_model")
        fields = () if model is None else _input_names(model)
        return import_step_function(path, (*keywords, *fields))

    loaders: tuple[tuple[str, Callable[[str], Any]], ...] = (
        ("input_model", _model_class),
        ("function", function),
        ("compensate_function", import_step_function),
    )
    for key, loader in loaders:
        path = getattr(spec, key)
        if path is None:
            resolved[key] = None
            continue
        try:
            resolved[key] = loader(path)
        except ImportFailure as exc:
            raise _fail(str(exc), spec=wf, source=source, lines=lines, step=at, key=key) from exc
    try:
        retry_on = tuple(resolve_exception(n) for n in spec.retry_policy.retry_on)
    except ImportFailure as exc:
        raise _fail(
            str(exc), spec=wf, source=source, lines=lines, step=at, key="retry_policy.retry_on"
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
            step=at,
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
        position=position,
    )


class _Compiler:
    """Compiles one list of steps (the top level, or a loop body inside it) and, through the
    step types' hooks, the lists nested in them."""

    def __init__(self, spec: WorkflowSpec, source: str, lines: LineIndex) -> None:
        self.spec, self.source, self.lines = spec, source, lines
        self.definition: WorkflowDefinition | None = None

    def sequence(
        self,
        specs: tuple[StepSpec, ...],
        at: tuple[str | int, ...],
        top: int | None,
        keywords: tuple[str, ...] = (),
    ) -> tuple[CompiledStep, ...]:
        """``top``: the index of the top-level step a nested list belongs to (``None``: this is
        the top level); ``keywords``: what its steps' functions are always passed (an item)."""
        steps = []
        seen: dict[str, int] = {}
        for position, step_spec in enumerate(specs):
            where: StepAt = ((*at, position), step_spec.name)
            if step_spec.name in seen:
                raise _fail(
                    f"duplicate step name (also step #{seen[step_spec.name] + 1} of this list)",
                    spec=self.spec,
                    source=self.source,
                    lines=self.lines,
                    step=where,
                    key="name",
                )
            seen[step_spec.name] = position
            index = position if top is None else top
            steps.append(
                _compile_step(
                    index,
                    position,
                    where,
                    step_spec,
                    self.spec,
                    self.source,
                    self.lines,
                    keywords,
                )
            )
        return tuple(steps)

    def hooks(
        self, steps: tuple[CompiledStep, ...], at: tuple[str | int, ...]
    ) -> tuple[CompiledStep, ...]:
        """Run each step type's compile hook with the steps of its own list as siblings."""
        assert self.definition is not None
        index_by_name = {s.name: s.position for s in steps}
        compiled = []
        for step in steps:
            where: StepAt = ((*at, step.position), step.name)

            def body(
                specs: tuple[StepSpec, ...],
                key: str,
                keywords: tuple[str, ...] = (),
                step: CompiledStep = step,
                where: StepAt = where,
            ) -> tuple[CompiledStep, ...]:
                nested_at = (*where[0], key)
                nested = self.sequence(specs, nested_at, step.index, keywords)
                return self.hooks(nested, nested_at)

            siblings = Siblings(self.definition, steps, index_by_name, body)
            try:
                built = STEP_TYPES[step.spec.type].compile(step, siblings)
            except DefinitionError as exc:
                if exc.file is not None:  # raised by a nested list: already located
                    raise
                raise _fail(
                    exc.detail,
                    spec=self.spec,
                    source=self.source,
                    lines=self.lines,
                    step=where,
                    key=exc.key or "",
                ) from exc
            compiled.append(replace(step, compiled=built, names=index_by_name))
        return tuple(compiled)


def _check_dependencies(
    steps: tuple[CompiledStep, ...], fail: Callable[[str, StepAt, str], DefinitionError]
) -> None:
    """``dependencies`` name steps that exist and come earlier (so there is no cycle)."""
    position = {s.name: s.position for s in steps}
    for step in steps:
        for i, name in enumerate(step.spec.dependencies):
            where: StepAt = (("steps", step.position), step.name)
            if name not in position:
                raise fail(
                    f"dependency '{name}' is not a step of this workflow",
                    where,
                    f"dependencies.{i}",
                )
            if position[name] >= step.position:
                what = "itself" if name == step.name else f"'{name}', which comes later"
                raise fail(
                    f"a step can only depend on steps before it; this one depends on {what} "
                    "(a cycle, or steps out of order)",
                    where,
                    f"dependencies.{i}",
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
    compiler = _Compiler(spec, source, lines)
    steps = compiler.sequence(spec.steps, ("steps",), None)
    _check_dependencies(
        steps,
        lambda message, where, key: _fail(
            message, spec=spec, source=source, lines=lines, step=where, key=key
        ),
    )
    definition = WorkflowDefinition(
        spec=spec,
        source=source,
        state_model=state_model,
        steps=steps,
        snapshot=snapshot,
        index_by_name={s.name: s.index for s in steps},
        lines=lines,
    )
    compiler.definition = definition
    return replace(definition, steps=compiler.hooks(steps, ("steps",)))
