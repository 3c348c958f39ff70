"""A workflow definition as a Mermaid flowchart (``ruvon graph``).

Drawn from the parsed spec alone: nothing is imported. Steps run top to bottom; a DECISION's
routes are labelled edges; a LOOP's body is a subgraph whose last step goes back to the loop;
a PARALLEL step forks into its tasks (or one task per item) that join before the next step;
SUB_WORKFLOW and FIRE_AND_FORGET steps name the workflow type they start. Each compensation is
a dashed edge back to the step before it, the way the unwind goes, labelled with the function
that undoes the step (``(approval)`` when a person must approve it first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ruvon.definition.schema import StepSpec, StepType, WorkflowSpec

_ENTITIES = (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"))
_CURRENT_STYLE = "fill:#fff3c4,stroke:#c77c00,stroke-width:3px"


def text(value: object) -> str:
    """A label Mermaid shows as written: quotes and angle brackets as entity codes."""
    out = str(value)
    for raw, code in _ENTITIES:
        out = out.replace(raw, code)
    return " ".join(out.split())


def _short(function: str) -> str:
    return function.rsplit(".", 1)[-1]


@dataclass(slots=True)
class _Chart:
    lines: list[str] = field(default_factory=list)

    def node(self, node_id: str, spec: StepSpec) -> None:
        label = f"{text(spec.name)}<br/>{_kind(spec)}"
        shape = {
            StepType.DECISION: ('{"', '"}'),
            StepType.HUMAN_IN_LOOP: ('[/"', '"/]'),
            StepType.LOOP: ('{{"', '"}}'),
            StepType.SUB_WORKFLOW: ('[["', '"]]'),
            StepType.FIRE_AND_FORGET: ('[["', '"]]'),
        }.get(spec.type, ('["', '"]'))
        self.lines.append(f"    {node_id}{shape[0]}{label}{shape[1]}")

    def edge(self, source: str, target: str, label: str | None = None) -> None:
        self.lines.append(
            f'    {source} -->|"{text(label)}"| {target}' if label else f"    {source} --> {target}"
        )

    def undo(self, source: str, target: str, spec: StepSpec | None, what: str) -> None:
        label = f"undo: {what}"
        if spec is not None and spec.compensation_requires_approval:
            label += " (approval)"
        self.lines.append(f'    {source} -.->|"{text(label)}"| {target}')


def _kind(spec: StepSpec) -> str:
    """The second line of a step's label: its type and what it refers to."""
    kind = spec.type.value
    target = getattr(spec, "workflow_type", None) or getattr(spec, "target_workflow_type", None)
    if spec.type in (StepType.SUB_WORKFLOW, StepType.FIRE_AND_FORGET) and target:
        return f"{kind}: {text(target)}"
    if spec.type is StepType.LOOP:
        source = getattr(spec, "iterate_over", None) or getattr(spec, "while_condition", None)
        return f"{kind} {'over' if getattr(spec, 'iterate_over', None) else 'while'} {text(source)}"
    return kind


def _compensation(spec: StepSpec) -> str | None:
    """What undoes a step, if anything does."""
    if spec.compensate_function:
        return _short(spec.compensate_function)
    if spec.type is StepType.SUB_WORKFLOW:
        return f"the child {getattr(spec, 'workflow_type', '')}"
    if getattr(spec, "compensate_http_config", None) is not None:
        return "compensate_http_config"
    return None


def _sequence(
    chart: _Chart, specs: Sequence[StepSpec], prefix: str, entry: str, exit_: str
) -> None:
    """Draw one list of steps between the node ``entry`` (before the first step) and the node
    ``exit_`` (after the last)."""
    ids = [f"{prefix}{i}" for i in range(len(specs))]
    by_name = {spec.name: ids[i] for i, spec in enumerate(specs)}
    for node_id, spec in zip(ids, specs, strict=True):
        chart.node(node_id, spec)
    if ids:
        chart.edge(entry, ids[0])
    for i, spec in enumerate(specs):
        node_id = ids[i]
        after = ids[i + 1] if i + 1 < len(specs) else exit_
        _step(chart, spec, node_id, after, by_name)
        compensation = _compensation(spec)
        if compensation is not None:
            chart.undo(node_id, ids[i - 1] if i else entry, spec, compensation)


def _step(chart: _Chart, spec: StepSpec, node_id: str, after: str, by_name: dict[str, str]) -> None:
    """The edges out of one step (and the nodes nested in it)."""
    if spec.type is StepType.DECISION:
        _decision(chart, spec, node_id, after, by_name)
    elif spec.type is StepType.LOOP and bool(getattr(spec, "loop_body", None)):
        _loop(chart, spec, node_id, after)
    elif spec.type is StepType.PARALLEL:
        _parallel(chart, spec, node_id, after)
    else:
        chart.edge(node_id, after)


def _decision(
    chart: _Chart, spec: StepSpec, node_id: str, after: str, by_name: dict[str, str]
) -> None:
    routes = getattr(spec, "routes", ())
    has_default = False
    for route in routes:
        if route.default is not None:
            has_default = True
            chart.edge(node_id, by_name.get(route.default, after), "default")
        else:
            chart.edge(node_id, by_name.get(route.target or "", after), str(route.condition))
    if not has_default:
        chart.edge(node_id, after, "otherwise" if routes else "next, or a jump")


def _loop(chart: _Chart, spec: StepSpec, node_id: str, after: str) -> None:
    body: Sequence[StepSpec] = getattr(spec, "loop_body", ())
    chart.lines.append(f'    subgraph {node_id}_body["{text(spec.name)} body"]')
    back = f"{node_id}_next"
    chart.lines.append(f"    {back}((next))")
    _sequence(chart, body, f"{node_id}_b", node_id, back)
    chart.lines.append("    end")
    chart.edge(back, node_id)
    chart.edge(node_id, after, "done")


def _parallel(chart: _Chart, spec: StepSpec, node_id: str, after: str) -> None:
    join = f"{node_id}_join"
    chart.lines.append(f'    subgraph {node_id}_tasks["{text(spec.name)} tasks"]')
    tasks = getattr(spec, "tasks", ())
    fan_out = getattr(spec, "iterate_over", None)
    if fan_out:
        function = getattr(spec, "task_function", None) or ""
        task_id = f"{node_id}_t0"
        chart.lines.append(
            f'    {task_id}["{text(_short(function))}<br/>for each of {text(fan_out)}"]'
        )
        chart.edge(node_id, task_id, "one task per item")
        chart.edge(task_id, join)
        undo = getattr(spec, "task_compensate_function", None)
        if undo:
            chart.undo(task_id, node_id, spec, _short(undo))
    for k, task in enumerate(tasks):
        task_id = f"{node_id}_t{k}"
        chart.lines.append(f'    {task_id}["{text(task.name)}<br/>{text(_short(task.function))}"]')
        chart.edge(node_id, task_id)
        chart.edge(task_id, join)
        if task.compensate_function:
            chart.undo(task_id, node_id, spec, _short(task.compensate_function))
    chart.lines.append("    end")
    chart.lines.append(f"    {join}(( ))")
    chart.edge(join, after)


def flowchart(spec: WorkflowSpec, *, current: int | None = None) -> str:
    """The Mermaid text of ``spec``; ``current`` (a top-level step index) is highlighted."""
    chart = _Chart(["flowchart TD", "    start([start])", "    finish([end])"])
    _sequence(chart, spec.steps, "s", "start", "finish")
    if current is not None and 0 <= current < len(spec.steps):
        chart.lines.append(f"    classDef current {_CURRENT_STYLE}")
        chart.lines.append(f"    class s{current} current")
    return "\n".join(chart.lines) + "\n"
