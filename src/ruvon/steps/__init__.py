"""Step types: one handler per type, found through :data:`STEP_HANDLERS`.

Adding a step type is one new module here and one entry in the dict.
"""

from __future__ import annotations

from ruvon.definition.schema import StepType
from ruvon.steps.base import StepHandler
from ruvon.steps.standard import StandardStep

STEP_HANDLERS: dict[StepType, StepHandler] = {
    StepType.STANDARD: StandardStep(),
}

__all__ = ["STEP_HANDLERS", "StepHandler"]
