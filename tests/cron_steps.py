"""State models and step functions of the CRON_SCHEDULE and scheduler tests."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ruvon.models import StepContext


class Setup(BaseModel):
    region: str = "eu"
    every: str = "*/5 * * * *"
    schedule_name: str | None = None
    unregistered: str | None = None


class Report(BaseModel):
    region: str = "eu"
    copies: int = 1
    done: bool = False


class Needy(BaseModel):
    customer_id: int


def report(state: Report, context: StepContext) -> dict[str, Any]:
    return {"done": True}


def boom(state: BaseModel, context: StepContext) -> dict[str, Any]:
    raise RuntimeError("boom")


async def unregister(state: Setup, context: StepContext) -> dict[str, Any]:
    """Compensation of a CRON_SCHEDULE step: disable the schedule it registered."""
    assert context.forward_result is not None and context.persistence is not None
    name = context.forward_result["schedule_name"]
    for schedule in await context.persistence.list_schedules():
        if schedule.name == name:
            schedule.enabled = False
            await context.persistence.upsert_schedule(schedule)
    return {"unregistered": name}
