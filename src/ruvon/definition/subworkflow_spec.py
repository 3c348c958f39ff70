"""``SUB_WORKFLOW``: its YAML and load-time checks.

The step starts a child workflow of ``workflow_type`` (also spelled ``sub_workflow_type``) with
initial data rendered from ``initial_data_template`` over the state, and (``wait: true``, the
default) waits for it: the parent is ``PENDING_SUB_WORKFLOW`` while the child runs. Whether the
type exists is checked once every definition has loaded (:func:`check_targets`), since one
definition can not see the others while it compiles.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, Field

from ruvon.definition.schema import StepSpec, StepType
from ruvon.errors import DefinitionError

if TYPE_CHECKING:
    from ruvon.definition.compile import CompiledStep, WorkflowDefinition
    from ruvon.definition.step_types import Siblings


class SubWorkflowSpec(StepSpec):
    workflow_type: str = Field(
        min_length=1, validation_alias=AliasChoices("workflow_type", "sub_workflow_type")
    )
    workflow_version: str | None = None
    initial_data_template: dict[str, Any] | str | None = None
    wait: bool = True


class SubWorkflow:
    """``SUB_WORKFLOW``: run another workflow as a step; its outcome is the step's."""

    spec_model: type[StepSpec] = SubWorkflowSpec

    def compile(self, step: CompiledStep, siblings: Siblings) -> None:
        spec = step.spec
        assert isinstance(spec, SubWorkflowSpec)
        if spec.function is not None:
            raise DefinitionError(
                "a SUB_WORKFLOW step runs the workflow 'workflow_type' names, not a function "
                "(a function may start one itself by raising StartSubWorkflowDirective)",
                key="function",
            )
        if not spec.wait and spec.compensate_function is not None:
            raise DefinitionError(
                "a SUB_WORKFLOW step with 'wait: false' does not wait for its child and never "
                "undoes it, so it takes no compensate_function",
                key="compensate_function",
            )


def _walk(
    steps: Iterable[CompiledStep], path: tuple[str | int, ...]
) -> Iterator[tuple[CompiledStep, tuple[str | int, ...]]]:
    """Every step with its key path in the YAML (loop bodies included)."""
    for position, step in enumerate(steps):
        at = (*path, position)
        yield step, at
        body = getattr(step.compiled, "body", None)
        if body is not None:
            yield from _walk(body, (*at, "loop_body"))


def check_targets(definitions: Iterable[WorkflowDefinition], known: set[str]) -> None:
    """Every ``SUB_WORKFLOW`` and ``FIRE_AND_FORGET`` step must start a type that is defined;
    the first that does not is a ``DefinitionError`` naming its file and line, workflow, step
    and key."""
    for definition in definitions:
        for step, at in _walk(definition.steps, ("steps",)):
            if step.spec.type is StepType.SUB_WORKFLOW:
                key = "workflow_type"
            elif step.spec.type is StepType.FIRE_AND_FORGET:
                key = "target_workflow_type"
            else:
                continue
            target = getattr(step.spec, key)
            if target not in known:
                raise DefinitionError(
                    f"workflow type '{target}' is not defined (known: {', '.join(sorted(known))})",
                    file=definition.source,
                    line=definition.lines.line((*at, key)),
                    workflow_type=definition.workflow_type,
                    step=step.name,
                    key=key,
                )
