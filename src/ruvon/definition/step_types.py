"""What each implemented step type declares at load: its YAML model and its compile hook.

The definition layer knows every step type's YAML and checks it when a definition loads; how a
step runs is the business of its handler in :mod:`ruvon.steps` (one module per type there, one
entry here). ``compile`` checks the step against the steps around it and builds what the handler
needs at run time (routes, loop bodies); the value is kept as ``CompiledStep.compiled``. Imports
point down only: ``ruvon.steps`` uses this module, never the other way round.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import AliasChoices, Field, model_validator

from ruvon.definition.checks import check_condition, resolve_target, takes_keyword
from ruvon.definition.cron_spec import CronSchedule
from ruvon.definition.http_spec import Http
from ruvon.definition.parallel_spec import Parallel
from ruvon.definition.schema import Frozen, StepSpec, StepType
from ruvon.definition.spawn_spec import FireAndForget
from ruvon.definition.subworkflow_spec import SubWorkflow
from ruvon.errors import DefinitionError

if TYPE_CHECKING:
    from collections.abc import Callable

    from ruvon.definition.compile import CompiledStep, WorkflowDefinition


@dataclass(frozen=True, slots=True)
class Siblings:
    """The steps a step is compiled among: the workflow's top level, or one loop body.

    ``compile_body(specs, key, keywords)`` compiles a nested list of step specs (a loop body) the
    same way the top level is compiled, so a body step may be of any type; ``key`` names the
    list's key for error messages, ``keywords`` what its functions are always passed.
    """

    definition: WorkflowDefinition
    steps: tuple[CompiledStep, ...]
    index_by_name: dict[str, int]
    compile_body: Callable[[tuple[StepSpec, ...], str, tuple[str, ...]], tuple[CompiledStep, ...]]


class StepTypeSpec(Protocol):
    """The load-time half of a step type."""

    spec_model: type[StepSpec]

    def compile(self, step: CompiledStep, siblings: Siblings) -> Any:
        """Raise ``DefinitionError`` (with ``key``) if the step can not run as defined; return
        what the handler needs at run time (``None``: nothing)."""


class Standard:
    """``STANDARD``: a function to call (``ASYNC`` too: the same keys, run by the executor)."""

    spec_model: type[StepSpec] = StepSpec

    def __init__(self, type_name: str = "STANDARD") -> None:
        self.type_name = type_name

    def compile(self, step: CompiledStep, siblings: Siblings) -> None:
        if step.function is None:
            article = "an" if self.type_name[0] in "AEIOU" else "a"
            raise DefinitionError(
                f"{article} {self.type_name} step needs a 'function'", key="function"
            )


# --- DECISION ------------------------------------------------------------------------------------


class Route(Frozen):
    """One route: ``condition`` + ``target`` (also spelled ``next_step``), or ``default``."""

    condition: str | bool | None = None
    target: str | None = Field(None, validation_alias=AliasChoices("target", "next_step"))
    default: str | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> Route:
        if self.default is not None:
            if self.condition is not None or self.target is not None:
                raise ValueError("a 'default' route takes no 'condition' or 'target'")
        elif self.condition is None or self.target is None:
            raise ValueError(
                "a route needs a 'condition' and a 'target' (or 'next_step'), or is a 'default'"
            )
        return self


class DecisionSpec(StepSpec):
    routes: tuple[Route, ...] = ()


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    """``condition`` is ``None`` for the default route; ``target`` a position among siblings."""

    condition: str | None
    target: int
    target_name: str


class Decision:
    """``DECISION``: the function runs (optional), then the first matching route is taken."""

    spec_model: type[StepSpec] = DecisionSpec

    def compile(self, step: CompiledStep, siblings: Siblings) -> tuple[CompiledRoute, ...]:
        spec = step.spec
        assert isinstance(spec, DecisionSpec)
        if not spec.routes and step.function is None:
            raise DefinitionError(
                "a DECISION step needs 'routes', or a 'function' that raises WorkflowJumpDirective",
                key="routes",
            )
        routes = []
        for i, route in enumerate(spec.routes):
            if route.default is not None:
                if i != len(spec.routes) - 1:
                    raise DefinitionError(
                        "the 'default' route must come last", key=f"routes.{i}.default"
                    )
                target = resolve_target(route.default, siblings, f"routes.{i}.default")
                routes.append(CompiledRoute(None, target, route.default))
                continue
            assert route.target is not None
            condition = check_condition(route.condition, f"routes.{i}.condition")
            target = resolve_target(route.target, siblings, f"routes.{i}.target")
            routes.append(CompiledRoute(condition, target, route.target))
        return tuple(routes)


# --- HUMAN_IN_LOOP -------------------------------------------------------------------------------


class HumanInLoop:
    """``HUMAN_IN_LOOP``: stop in ``WAITING_HUMAN`` until input comes; then run the function
    with it (or merge the input when there is no function)."""

    spec_model: type[StepSpec] = StepSpec

    def compile(self, step: CompiledStep, siblings: Siblings) -> None:
        return None


# --- LOOP ----------------------------------------------------------------------------------------


class LoopMode(StrEnum):
    ITERATE = "ITERATE"
    WHILE = "WHILE"

    @classmethod
    def _missing_(cls, value: object) -> LoopMode | None:
        if isinstance(value, str):
            return cls.__members__.get(value.strip().upper())
        return None


class LoopSpec(StepSpec):
    mode: LoopMode = LoopMode.ITERATE
    iterate_over: str | None = Field(None, validation_alias=AliasChoices("iterate_over", "items"))
    item_var_name: str = "item"
    while_condition: str | None = None
    max_iterations: int = Field(1000, ge=1)
    # the raw step mappings; parse.py validates each by its type (errors keep their line)
    loop_body: tuple[StepSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class CompiledLoop:
    mode: LoopMode
    source: str  # iterate_over or while_condition
    item_var_name: str
    max_iterations: int
    body: tuple[CompiledStep, ...]
    index_by_name: dict[str, int]
    # per body step: whether its function takes the item as ``item_var_name=`` (a parameter of
    # that name, or ``**kwargs``); it always gets it as ``context.loop_item``
    passes_item: tuple[bool, ...] = ()
    # ``iterate_over`` that is just ``state.<field>`` (or the bare field): that field's name,
    # read directly at each iteration instead of through the evaluator
    plain_field: str | None = None

    def step_named(self, name: str) -> CompiledStep | None:
        position = self.index_by_name.get(name)
        return None if position is None else self.body[position]


class Loop:
    """``LOOP``: run ``loop_body`` once per item of a state list, or while a condition holds."""

    spec_model: type[StepSpec] = LoopSpec

    def compile(self, step: CompiledStep, siblings: Siblings) -> CompiledLoop:
        spec = step.spec
        assert isinstance(spec, LoopSpec)
        if spec.function is not None or spec.compensate_function is not None:
            key = "function" if spec.function is not None else "compensate_function"
            raise DefinitionError(
                "a LOOP step runs its 'loop_body'; put functions and compensations on the body's "
                "steps",
                key=key,
            )
        if not spec.loop_body:
            raise DefinitionError("a LOOP step needs a non-empty 'loop_body'", key="loop_body")
        if spec.mode is LoopMode.ITERATE:
            if not spec.iterate_over:
                raise DefinitionError(
                    "an ITERATE loop needs 'iterate_over' (a state list, e.g. \"state.items\")",
                    key="iterate_over",
                )
            source = check_condition(spec.iterate_over, "iterate_over")
        else:
            if not spec.while_condition:
                raise DefinitionError(
                    "a WHILE loop needs a 'while_condition'", key="while_condition"
                )
            source = check_condition(spec.while_condition, "while_condition")
        item = (spec.item_var_name,) if spec.mode is LoopMode.ITERATE else ()
        body = siblings.compile_body(spec.loop_body, "loop_body", item)
        return CompiledLoop(
            mode=spec.mode,
            source=source,
            item_var_name=spec.item_var_name,
            max_iterations=spec.max_iterations,
            body=body,
            index_by_name={s.name: s.position for s in body},
            passes_item=tuple(takes_keyword(s.function, spec.item_var_name) for s in body),
            plain_field=_plain_field(source, siblings) if spec.mode is LoopMode.ITERATE else None,
        )


_FIELD = re.compile(r"(?:state\.)?([A-Za-z][A-Za-z0-9_]*)")


def _plain_field(source: str, siblings: Siblings) -> str | None:
    match = _FIELD.fullmatch(source)
    model = siblings.definition.state_model
    if match is None or match.group(1) not in model.__pydantic_fields__:
        return None
    return match.group(1)


STEP_TYPES: dict[StepType, StepTypeSpec] = {
    StepType.STANDARD: Standard(),
    StepType.DECISION: Decision(),
    StepType.HUMAN_IN_LOOP: HumanInLoop(),
    StepType.LOOP: Loop(),
    StepType.HTTP: Http(),
    StepType.CRON_SCHEDULE: CronSchedule(),
    StepType.PARALLEL: Parallel(),
    StepType.FIRE_AND_FORGET: FireAndForget(),
    StepType.SUB_WORKFLOW: SubWorkflow(),
    StepType.ASYNC: Standard("ASYNC"),
}
