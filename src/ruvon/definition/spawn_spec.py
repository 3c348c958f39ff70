"""``FIRE_AND_FORGET`` and ``ASYNC``: their YAML and load-time checks.

``FIRE_AND_FORGET`` starts an independent workflow (``target_workflow_type``, with initial data
from ``initial_data_template``, rendered over the state) and goes on without waiting for it.
(``ASYNC`` has the keys of a STANDARD step: ``definition.step_types.Standard``.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from ruvon.definition.schema import StepSpec
from ruvon.errors import DefinitionError

if TYPE_CHECKING:
    from ruvon.definition.compile import CompiledStep
    from ruvon.definition.step_types import Siblings


class FireAndForgetSpec(StepSpec):
    target_workflow_type: str = Field(min_length=1)
    target_workflow_version: str | None = None
    initial_data_template: dict[str, Any] | str | None = None


class FireAndForget:
    """``FIRE_AND_FORGET``: start another workflow, record its id, never wait for it."""

    spec_model: type[StepSpec] = FireAndForgetSpec

    def compile(self, step: CompiledStep, siblings: Siblings) -> None:
        spec = step.spec
        assert isinstance(spec, FireAndForgetSpec)
        if spec.function is not None or spec.compensate_function is not None:
            key = "function" if spec.function is not None else "compensate_function"
            raise DefinitionError(
                "a FIRE_AND_FORGET step starts 'target_workflow_type'; it runs no function and "
                "is never compensated (the workflow it starts is independent)",
                key=key,
            )
