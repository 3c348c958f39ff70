"""``CRON_SCHEDULE``: its YAML and its load-time checks (the run is ``ruvon.steps.cron``).

The step registers (inserts or updates) a recurring start of ``target_workflow_type`` in the
store; ``ruvon scheduler`` starts it on each tick of ``cron_expression`` (also spelled
``schedule``, as Ruvon 0.1.5 reads it). ``schedule_name`` and the values of
``initial_data_template`` are templates over the workflow's state, rendered when the step runs.

Checked at load: the cron expression (croniter must accept it), the target type's presence,
and that the step has no ``function`` (it runs none). Whether the target type is defined is
checked when the step runs, against the definitions its builder knows, and again by each
scheduler when it starts: a definition may name a type another file defines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, Field

from ruvon.definition.cron import CronExpression
from ruvon.definition.schema import StepSpec
from ruvon.errors import DefinitionError

if TYPE_CHECKING:
    from ruvon.definition.compile import CompiledStep
    from ruvon.definition.step_types import Siblings

DEFAULT_NAME = "sched_{type}_{workflow_id}"
"""The schedule's name when the step gives none: one schedule per workflow instance."""


class CronScheduleSpec(StepSpec):
    target_workflow_type: str = Field(min_length=1)
    cron_expression: CronExpression = Field(
        validation_alias=AliasChoices("cron_expression", "schedule")
    )
    schedule_name: str | None = Field(None, min_length=1)
    initial_data_template: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class CompiledCron:
    """What the handler needs: the templates stay text until the step runs."""

    target_workflow_type: str
    cron_expression: str
    schedule_name: str | None
    initial_data_template: dict[str, Any]


class CronSchedule:
    """``CRON_SCHEDULE``: register a recurring start of another workflow type."""

    spec_model: type[StepSpec] = CronScheduleSpec

    def compile(self, step: CompiledStep, siblings: Siblings) -> CompiledCron:
        spec = step.spec
        assert isinstance(spec, CronScheduleSpec)
        if spec.function is not None:
            raise DefinitionError(
                "a CRON_SCHEDULE step registers a schedule and runs no 'function' (give it a "
                "'compensate_function' to undo the registration in saga mode)",
                key="function",
            )
        return CompiledCron(
            target_workflow_type=spec.target_workflow_type,
            cron_expression=spec.cron_expression,
            schedule_name=spec.schedule_name,
            initial_data_template=spec.initial_data_template,
        )
