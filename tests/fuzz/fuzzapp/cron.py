"""The workflow the fuzzed schedules start (``test_fuzz_cron.py``): one step that counts its
calls per workflow, so that a tick's workflow run twice shows."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel

from ruvon.models import StepContext

CALLS: Counter[str] = Counter()  # workflow id -> how many times its step ran


class Report(BaseModel):
    done: bool = False


def report(state: Report, context: StepContext) -> dict[str, Any]:
    CALLS[context.workflow_id] += 1
    return {"done": True}
