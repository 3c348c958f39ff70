"""Step types at run time: one handler per type, found through :data:`STEP_HANDLERS`.

Adding a step type is one new module here (how it runs) and one entry in
:data:`ruvon.definition.step_types.STEP_TYPES` (its YAML and load-time compile hook).
"""

from __future__ import annotations

from ruvon.definition.schema import StepType
from ruvon.steps.base import StepHandler
from ruvon.steps.standard import StandardStep

STEP_HANDLERS: dict[StepType, StepHandler] = {
    StepType.STANDARD: StandardStep(),
}

__all__ = ["STEP_HANDLERS", "StepHandler"]
