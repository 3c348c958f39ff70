"""A workflow's definition as a Mermaid flowchart, with where the workflow stands marked.

Built from the definition snapshot the workflow is pinned to, parsed but not compiled: nothing
is imported, so the graph shows even where the step functions can not be loaded. Steps run in
order, a DECISION's routes are labelled edges, and each compensation is a dashed edge back to
the step before it (the way the unwind goes). The text is rendered as it is (no script turns it
into a picture in the page); mermaid.live or any Markdown viewer with Mermaid draws it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ruvon.dashboard.models import GraphStep
from ruvon.definition.parse import parse_definition
from ruvon.definition.schema import StepSpec
from ruvon.errors import DefinitionError
from ruvon.models import CompensationRecord, CompensationStatus, StepRecord, StepStatus
from ruvon.status import WorkflowStatus

_CLASSES = {
    "current": "fill:#fff3c4,stroke:#c77c00,stroke-width:3px",
    "done": "fill:#e3f4e1,stroke:#2e7d32",
    "failed": "fill:#fde2e1,stroke:#c62828",
    "compensated": "fill:#e8eaf6,stroke:#3949ab,stroke-dasharray:4",
    "skipped": "fill:#f1f1f1,stroke:#9e9e9e",
}


def step_specs(snapshot: dict[str, Any], source: str) -> list[StepSpec]:
    """The top-level steps of a definition snapshot (empty if it does not parse)."""
    try:
        return list(parse_definition(snapshot, source=source).steps)
    except DefinitionError:
        return []


def mark_steps(
    specs: Sequence[StepSpec],
    *,
    status: WorkflowStatus,
    current_step: int,
    history: Sequence[StepRecord],
    journal: Sequence[CompensationRecord],
    awaiting: str | None = None,
) -> list[GraphStep]:
    """Each top-level step with its mark: compensated, failed, done, current, skipped or
    pending (the latest record of the step decides; an undone step counts as compensated).
    ``awaiting`` names the step whose compensation waits for approval: it is the current one."""
    latest: dict[int, StepStatus] = {}
    for record in history:
        latest[record.step_index] = record.status
    undone = {e.step_index for e in journal if e.status is CompensationStatus.COMPLETED}
    steps = []
    for index, spec in enumerate(specs):
        mark = "pending"
        if index in undone:
            mark = "compensated"
        elif latest.get(index) is StepStatus.FAILED:
            mark = "failed"
        elif spec.name == awaiting or (
            index == current_step and awaiting is None and not status.is_finished
        ):
            mark = "current"
        elif latest.get(index) is StepStatus.COMPLETED:
            mark = "done"
        elif latest.get(index) is StepStatus.SKIPPED:
            mark = "skipped"
        steps.append(
            GraphStep(
                index=index,
                name=spec.name,
                type=spec.type.value,
                compensate_function=spec.compensate_function,
                requires_approval=spec.compensation_requires_approval,
                mark=mark,
            )
        )
    return steps


def _text(value: str) -> str:
    """A label Mermaid shows as written (quotes and angle brackets as entity codes)."""
    for raw, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        value = value.replace(raw, code)
    return value.replace("\n", " ")


def _short(function: str) -> str:
    return function.rsplit(".", 1)[-1]


def mermaid(specs: Sequence[StepSpec], steps: Sequence[GraphStep], finished: bool) -> str:
    """The flowchart text: ``start``, one node per step, ``finish``."""
    lines = ["flowchart TD", "    start(((start)))"]
    for spec, step in zip(specs, steps, strict=True):
        lines.append(f'    s{step.index}["{_text(spec.name)}<br/>{spec.type.value}"]')
    lines.append("    finish(((end)))")
    names = {spec.name: f"s{i}" for i, spec in enumerate(specs)}
    if specs:
        lines.append("    start --> s0")
    for i, spec in enumerate(specs):
        routes = getattr(spec, "routes", ())
        if routes:
            for route in routes:
                target = names.get(route.default or route.target or "", "finish")
                label = "default" if route.default else str(route.condition)
                lines.append(f'    s{i} -->|"{_text(label)}"| {target}')
            continue
        lines.append(f"    s{i} --> {f's{i + 1}' if i + 1 < len(specs) else 'finish'}")
    for i, spec in enumerate(specs):
        if spec.compensate_function:
            back = f"s{i - 1}" if i else "start"
            label = _short(spec.compensate_function)
            if spec.compensation_requires_approval:
                label += " (approval)"
            lines.append(f'    s{i} -.->|"undo: {_text(label)}"| {back}')
    for mark, style in _CLASSES.items():
        lines.append(f"    classDef {mark} {style}")
        members = [f"s{s.index}" for s in steps if s.mark == mark]
        if mark == "current" and finished:
            members.append("finish")
        if members:
            lines.append(f"    class {','.join(members)} {mark}")
    return "\n".join(lines)
