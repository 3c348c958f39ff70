"""``CRON_SCHEDULE``: register a recurring start of another workflow type in the store.

The step renders ``schedule_name`` and ``initial_data_template`` over the state (names:
``state``, ``workflow_id``, ``workflow_type``), checks that its builder defines the target type
and that the data fits the target's state model, and upserts the schedule; ``ruvon scheduler``
does the starting. Registering is idempotent (an upsert by name that keeps the next tick), so a
retry or a re-run after a crash changes nothing. It returns ``schedule_name`` and ``message``,
merged like any step result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from ruvon.definition.cron import next_tick
from ruvon.definition.cron_spec import DEFAULT_NAME, CompiledCron
from ruvon.errors import StepResultError, WorkflowValidationError
from ruvon.providers.persistence import ScheduleRecord
from ruvon.runtime.attempts import call_with_retries
from ruvon.runtime.outcome import StepOutcome, Where
from ruvon.steps.base import outcome_of_call

if TYPE_CHECKING:
    from ruvon.definition.compile import CompiledStep, WorkflowDefinition
    from ruvon.models import StepContext
    from ruvon.workflow import Workflow


def _target(wf: Workflow, workflow_type: str, step: str) -> WorkflowDefinition:
    """The definition the schedule will start: unknown types fail the step, not the ticks."""
    if wf.builder is None:  # the builder always gives one; a hand-made object may not
        raise StepResultError(
            f"step '{step}' can not look up workflow type '{workflow_type}': this workflow has "
            "no builder",
            step=step,
        )
    return wf.builder.registry.get(workflow_type)


def _render(wf: Workflow, cron: CompiledCron, step: str) -> tuple[str, dict[str, Any]]:
    """The schedule's name and initial data, rendered over the state."""
    engine = wf.template_engine
    if engine is None:
        raise StepResultError(f"step '{step}': this workflow has no template engine", step=step)
    names = {"state": wf.state, "workflow_id": wf.id, "workflow_type": wf.workflow_type}
    if cron.schedule_name is None:
        name = DEFAULT_NAME.format(type=cron.target_workflow_type, workflow_id=wf.id)
    else:
        name = engine.render(cron.schedule_name, names).strip()
        if not name:
            raise StepResultError(
                f"step '{step}': schedule_name {cron.schedule_name!r} rendered as empty text",
                step=step,
            )
    data = engine.render_object(cron.initial_data_template, names)
    return name, data


def _check_data(definition: WorkflowDefinition, data: dict[str, Any]) -> None:
    """Refuse now initial data every tick would refuse later."""
    model: type[BaseModel] = definition.state_model
    try:
        model.model_validate(data)
    except ValidationError as exc:
        raise WorkflowValidationError.from_pydantic(
            f"initial data of the schedule for workflow '{definition.workflow_type}'", model, exc
        ) from exc


async def register(wf: Workflow, step: CompiledStep, now: float) -> dict[str, Any]:
    """Upsert the schedule the step describes; its result."""
    cron: CompiledCron = step.compiled
    definition = _target(wf, cron.target_workflow_type, step.name)
    name, data = _render(wf, cron, step.name)
    _check_data(definition, data)
    await wf.persistence.upsert_schedule(
        ScheduleRecord(
            name=name,
            workflow_type=cron.target_workflow_type,
            cron_expression=cron.cron_expression,
            next_due_at=next_tick(cron.cron_expression, now),
            initial_data=data,
        )
    )
    return {
        "schedule_name": name,
        "message": f"schedule '{name}' starts workflow '{cron.target_workflow_type}' on "
        f"'{cron.cron_expression}' (UTC)",
    }


class CronScheduleStep:
    async def run(
        self,
        wf: Workflow,
        step: CompiledStep,
        user_input: dict[str, Any] | None,
        validated_input: Any,
        where: Where,
    ) -> StepOutcome:
        async def registration(state: BaseModel, context: StepContext, **_: Any) -> Any:
            return await register(wf, step, wf.clock())

        # through the retry loop like a function: retry_policy, attempts and the
        # idempotency key apply to the registration too
        call = await call_with_retries(
            wf, step, registration, True, user_input or {}, validated_input, where=where
        )
        return outcome_of_call(wf, step, call)
