"""How the commands show workflows: statuses, times, what a workflow waits for."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ruvon.status import WorkflowStatus as S

if TYPE_CHECKING:
    from ruvon.workflow import Workflow

STATUS_STYLES = {
    S.COMPLETED: "green",
    S.FAILED: "red",
    S.FAILED_ROLLED_BACK: "magenta",
    S.COMPENSATION_FAILED: "bold red",
    S.FAILED_CHILD_WORKFLOW: "red",
    S.CANCELLED: "dim",
    S.PAUSED: "yellow",
    S.WAITING_HUMAN: "yellow",
    S.WAITING_CHILD_HUMAN_INPUT: "yellow",
    S.WAITING_COMPENSATION_APPROVAL: "yellow",
    S.COMPENSATING: "magenta",
}


def when(timestamp: float | None) -> str:
    """A POSIX time as ``2026-11-30 11:39:10`` (UTC)."""
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat()


def duration(ms: float | None) -> str:
    if ms is None:
        return "running"
    return f"{ms:.0f} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def step_name(definition: dict[str, Any], index: int) -> str | None:
    """The name of top-level step ``index`` in a definition snapshot (``None``: past the end)."""
    steps = definition.get("steps")
    if isinstance(steps, list) and 0 <= index < len(steps) and isinstance(steps[index], dict):
        name = steps[index].get("name")
        return str(name) if name is not None else f"#{index + 1}"
    return None


def how_to_continue(wf: Workflow) -> str | None:
    """The command that moves a waiting or failed workflow on, if one does."""
    status = wf.status
    if status in (S.PAUSED, S.WAITING_HUMAN, S.WAITING_CHILD_HUMAN_INPUT):
        waits = wf.waiting_for or {}
        example = _input_example(waits.get("input_schema"))
        return f"ruvon resume {wf.id} --input '{example}'"
    if status is S.WAITING_COMPENSATION_APPROVAL:
        return f"ruvon approve {wf.id}  (or: ruvon reject {wf.id})"
    if status in (S.FAILED, S.COMPENSATION_FAILED, S.FAILED_CHILD_WORKFLOW):
        return f"ruvon retry {wf.id}"
    if status is S.ACTIVE:
        return f"ruvon resume {wf.id}"
    return None


def _input_example(schema: Any) -> str:
    """``{"field": ...}`` with the required fields of an input model's JSON schema."""
    if not isinstance(schema, dict):
        return "{}"
    fields = schema.get("required") or list(schema.get("properties", {}))[:3]
    return json.dumps({name: "..." for name in fields})


def outcome(wf: Workflow) -> list[str]:
    """What a command that drove ``wf`` prints at the end: the status, why, what next."""
    lines = [f"status: {wf.status.value}"]
    if wf.error is not None and wf.status.is_finished:
        where = f" in {wf.error.step}" if wf.error.step else ""
        lines.append(f"error{where}: {wf.error.type}: {wf.error.message}")
    if wf.journal:
        counts: dict[str, int] = {}
        for entry in wf.journal:
            counts[entry.status.value.lower()] = counts.get(entry.status.value.lower(), 0) + 1
        lines.append("compensations: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
    waits = wf.waiting_for
    if waits is not None and waits.get("step"):
        reason = f" ({waits['reason']})" if waits.get("reason") else ""
        lines.append(f"waiting at: {waits['step']}{reason}")
    next_command = how_to_continue(wf)
    if next_command:
        lines.append(f"next: {next_command}")
    return lines


def summary(wf: Workflow) -> dict[str, Any]:
    """The JSON a command that drove ``wf`` prints with ``--json``."""
    return {
        "id": wf.id,
        "workflow_type": wf.workflow_type,
        "workflow_version": wf.workflow_version,
        "status": wf.status.value,
        "current_step_name": wf.current_step_name,
        "error": wf.error.to_dict() if wf.error else None,
        "waiting_for": wf.waiting_for,
        "state": wf.state.model_dump(mode="json"),
    }
