"""What running one step produced; the runner acts on it (directives are translated to it)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydantic import BaseModel

from ruvon.models import WorkflowError


class OutcomeKind(Enum):
    COMPLETED = "completed"
    FAILED = "failed"
    JUMP = "jump"
    PAUSE = "pause"


@dataclass(slots=True)
class StepOutcome:
    """The result of one step after its retries: new state, or the failure."""

    kind: OutcomeKind
    state: BaseModel | None = None
    result: dict[str, Any] | None = None
    error: WorkflowError | None = None
    jump_to: int | None = None
