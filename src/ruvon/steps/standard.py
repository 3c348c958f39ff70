"""``STANDARD``: call the step's function, merge what it returns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ruvon.definition.schema import StepSpec
from ruvon.errors import DefinitionError
from ruvon.steps.base import run_function_step

if TYPE_CHECKING:
    from ruvon.definition.compile import CompiledStep, WorkflowDefinition


class StandardStep:
    """The plain step: ``function(state, context, **user_input) -> dict``."""

    spec_model = StepSpec

    def compile(self, step: CompiledStep, definition: WorkflowDefinition) -> None:
        if step.function is None:
            raise DefinitionError("a STANDARD step needs a 'function'", key="function")

    # the shared function-step path itself: one coroutine less per step
    run = staticmethod(run_function_step)
