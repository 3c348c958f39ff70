"""Step types at run time: one handler per type, found through :data:`STEP_HANDLERS`.

Adding a step type is one new module here (how it runs) and one entry in
:data:`ruvon.definition.step_types.STEP_TYPES` (its YAML and load-time compile hook).
"""

from __future__ import annotations

from ruvon.definition.schema import StepType
from ruvon.steps.base import StepHandler
from ruvon.steps.cron import CronScheduleStep
from ruvon.steps.decision import DecisionStep
from ruvon.steps.http import HttpStep
from ruvon.steps.human import HumanStep
from ruvon.steps.loop import LoopStep
from ruvon.steps.parallel import ParallelStep
from ruvon.steps.spawn import AsyncStep, FireAndForgetStep
from ruvon.steps.standard import StandardStep
from ruvon.steps.subworkflow import SubWorkflowStep

STEP_HANDLERS: dict[StepType, StepHandler] = {
    StepType.STANDARD: StandardStep(),
    StepType.DECISION: DecisionStep(),
    StepType.HUMAN_IN_LOOP: HumanStep(),
    StepType.LOOP: LoopStep(),
    StepType.HTTP: HttpStep(),
    StepType.CRON_SCHEDULE: CronScheduleStep(),
    StepType.PARALLEL: ParallelStep(),
    StepType.FIRE_AND_FORGET: FireAndForgetStep(),
    StepType.ASYNC: AsyncStep(),
    StepType.SUB_WORKFLOW: SubWorkflowStep(),
}

__all__ = ["STEP_HANDLERS", "StepHandler"]
