"""The shape of a workflow definition: frozen, validated Pydantic models of the YAML.

Aliases accepted (SPEC §2): ``initial_state_model_path`` for ``initial_state_model``,
``saga_enabled`` for ``saga_mode``. Enum values match case-insensitively.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from ruvon.definition.cron import CronExpression


class StepType(StrEnum):
    """Every step type of the definition language."""

    STANDARD = "STANDARD"
    ASYNC = "ASYNC"
    DECISION = "DECISION"
    PARALLEL = "PARALLEL"
    LOOP = "LOOP"
    HUMAN_IN_LOOP = "HUMAN_IN_LOOP"
    SUB_WORKFLOW = "SUB_WORKFLOW"
    FIRE_AND_FORGET = "FIRE_AND_FORGET"
    HTTP = "HTTP"
    CRON_SCHEDULE = "CRON_SCHEDULE"

    @classmethod
    def _missing_(cls, value: object) -> StepType | None:
        if isinstance(value, str):
            return cls.__members__.get(value.strip().upper())
        return None


class Frozen(BaseModel):
    """Base of the definition models: immutable, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class RetryPolicy(Frozen):
    """How often a step (and its compensation) is tried, and how long to wait in between.

    The delay before attempt ``n+1`` is ``min(initial_delay * backoff**(n-1), max_delay)``.
    ``retry_on`` lists exception classes (builtin names, dotted paths, or the bare class name of
    a user exception); when empty every ``Exception`` is retried.
    """

    max_attempts: int = Field(1, ge=1, le=1000)
    initial_delay: float = Field(1.0, ge=0)
    backoff: float = Field(2.0, ge=1)
    max_delay: float = Field(60.0, ge=0)
    retry_on: tuple[str, ...] = ()

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based)."""
        return float(min(self.initial_delay * self.backoff ** (attempt - 1), self.max_delay))


class StepSpec(Frozen):
    """Keys every step accepts. Step types with more keys subclass this (see ``ruvon.steps``)."""

    name: str = Field(min_length=1)
    type: StepType = StepType.STANDARD
    function: str | None = None
    compensate_function: str | None = None
    automate_next: bool = False
    description: str | None = None
    input_model: str | None = None
    retry_policy: RetryPolicy = RetryPolicy()
    timeout_seconds: float | None = Field(None, gt=0)
    compensate_on_failure: bool = False
    compensation_requires_approval: bool = False
    # steps that must have run before this one (checked at load: names exist, no cycles, and
    # each comes earlier in the list); documentation of intent, as in other Ruvon material
    dependencies: tuple[str, ...] = ()


class WorkflowSpec(Frozen):
    """A whole workflow definition. ``steps`` holds the type-specific step models."""

    workflow_type: str = Field(min_length=1)
    workflow_version: str = "1"
    initial_state_model: str = Field(
        validation_alias=AliasChoices("initial_state_model", "initial_state_model_path")
    )
    description: str | None = None
    saga_mode: bool = Field(False, validation_alias=AliasChoices("saga_mode", "saga_enabled"))
    schedule: CronExpression | None = None  # started by `ruvon scheduler` on this cron
    steps: tuple[StepSpec, ...] = Field(min_length=1)

    @field_validator("workflow_version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            # YAML reads 1.10 as the float 1.1: the text is lost, so refuse rather than guess
            raise ValueError(f'write the version as a quoted string ("{value}" is ambiguous)')
        return value
