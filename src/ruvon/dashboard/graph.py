"""A workflow's definition as a Mermaid flowchart, with where the workflow stands marked.

Built from the definition snapshot the workflow is pinned to, parsed but not compiled: nothing
is imported, so the graph shows even where the step functions can not be loaded. The chart is
``ruvon graph``'s (:mod:`ruvon.definition.mermaid`), each top-level step classed by where the
workflow stands with it. The text is rendered as it is (no script turns it into a picture in the
page); mermaid.live or any Markdown viewer with Mermaid draws it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ruvon.dashboard.models import GraphStep
from ruvon.definition.mermaid import flowchart
from ruvon.definition.parse import parse_definition
from ruvon.definition.schema import StepSpec, WorkflowSpec
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


def parse_spec(snapshot: dict[str, Any], source: str) -> WorkflowSpec | None:
    """The definition a workflow is pinned to, parsed (``None`` if it does not parse)."""
    try:
        return parse_definition(snapshot, source=source)
    except DefinitionError:
        return None


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


def mermaid(spec: WorkflowSpec | None, steps: Sequence[GraphStep], finished: bool) -> str:
    """The definition's flowchart (:func:`ruvon.definition.mermaid.flowchart`, the one
    ``ruvon graph`` prints) with each top-level step classed by its mark; ``end`` is current
    once the workflow completed."""
    if spec is None:
        return ""
    lines = [flowchart(spec).rstrip("\n")]
    for mark, style in _CLASSES.items():
        lines.append(f"    classDef {mark} {style}")
        members = [f"s{s.index}" for s in steps if s.mark == mark]
        if mark == "current" and finished:
            members.append("finish")
        if members:
            lines.append(f"    class {','.join(members)} {mark}")
    return "\n".join(lines)
