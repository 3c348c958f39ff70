"""What each implemented step type declares at load: its YAML model and its compile hook.

The definition layer knows every step type's YAML and checks it when a definition loads; how a
step runs is the business of its handler in :mod:`ruvon.steps` (one module per type there, one
entry here). ``compile`` checks the step against the whole definition and builds what the
handler needs at run time (routes, task functions, loop bodies); the value is kept as
``CompiledStep.compiled``. Imports point down only: ``ruvon.steps`` uses this module, never the
other way round.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from ruvon.definition.schema import StepSpec, StepType
from ruvon.errors import DefinitionError

if TYPE_CHECKING:
    from ruvon.definition.compile import CompiledStep, WorkflowDefinition


class StepTypeSpec(Protocol):
    """The load-time half of a step type."""

    spec_model: type[StepSpec]

    def compile(self, step: CompiledStep, definition: WorkflowDefinition) -> Any:
        """Raise ``DefinitionError`` (with ``key``) if the step can not run as defined; return
        what the handler needs at run time (``None``: nothing)."""


class Standard:
    """``STANDARD``: a function to call."""

    spec_model = StepSpec

    def compile(self, step: CompiledStep, definition: WorkflowDefinition) -> None:
        if step.function is None:
            raise DefinitionError("a STANDARD step needs a 'function'", key="function")


STEP_TYPES: dict[StepType, StepTypeSpec] = {
    StepType.STANDARD: Standard(),
}
