"""How the commands show workflows: statuses, times, what a workflow waits for."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ruvon.models import ScopePath
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


# C0 and C1 control characters and DEL, as a terminal would obey them (ESC starts a sequence
# that can move the cursor, clear the screen, set the window title ...); tab stays
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0)) if c != 0x09}
_CONTROLS.update({0x0D: "\\r", 0x0A: "\\n"})
_CONTROLS_BUT_NEWLINE = {c: e for c, e in _CONTROLS.items() if c != 0x0A}
# in JSON text: json.dumps escapes C0 already; DEL and C1 written as \u escapes, the same value
_JSON_CONTROLS = {c: f"\\u{c:04x}" for c in range(0x7F, 0xA0)}


_SURROGATE = re.compile("[\ud800-\udfff]")


def _surrogate(match: re.Match[str]) -> str:
    code = ord(match.group())
    # a byte of a command-line argument that was not UTF-8 (Python's surrogateescape)
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def printable(text: object, *, newlines: bool = True) -> str:
    """``text`` safe to write to a terminal: control characters (stored data may hold any,
    escape sequences included) shown as escapes (``\\x1b``, ``\\r``); a newline kept when
    ``newlines`` (a multi-line block), else shown as ``\\n`` too. The bytes of an argument
    that was not UTF-8 are shown as ``\\xff``."""
    shown = str(text).translate(_CONTROLS_BUT_NEWLINE if newlines else _CONTROLS)
    return _SURROGATE.sub(_surrogate, shown) if _SURROGATE.search(shown) else shown


def json_text(value: Any, **options: Any) -> str:
    """``value`` as JSON that is safe to write to a terminal (see :func:`printable`)."""
    return json.dumps(value, ensure_ascii=False, default=str, **options).translate(_JSON_CONTROLS)


def scope_text(scope: str) -> str:
    """A step's scope path as a person reads it: each step name as written (the stored path
    escapes a ``/`` in a name as ``%2F``), the nested scopes after a ``/``."""
    return "/".join(ScopePath.parse(scope).segments)


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
    """What a command that drove ``wf`` prints at the end: the status, why, what next (each
    line :func:`printable`)."""
    return [printable(line) for line in _outcome(wf)]


def _outcome(wf: Workflow) -> list[str]:
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
