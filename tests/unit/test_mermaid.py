"""``ruvon.definition.mermaid``: a definition as a Mermaid flowchart."""

from __future__ import annotations

from ruvon.definition.mermaid import flowchart, text
from ruvon.definition.parse import parse_definition

SAGA = {
    "workflow_type": "Pay",
    "initial_state_model": "x.S",
    "steps": [
        {"name": "Order", "function": "x.a", "compensate_function": "x.undo_order"},
        {
            "name": "Charge",
            "function": "x.b",
            "compensate_function": "x.refund",
            "compensation_requires_approval": True,
        },
        {"name": "Ship", "function": "x.c"},
    ],
}

NESTED = {
    "workflow_type": "N",
    "initial_state_model": "x.S",
    "steps": [
        {
            "name": "Route",
            "type": "DECISION",
            "routes": [
                {"condition": "state.amount > 100", "target": "Items"},
                {"default": "Fan"},
            ],
        },
        {
            "name": "Items",
            "type": "LOOP",
            "iterate_over": "state.items",
            "loop_body": [{"name": "Pick", "function": "x.pick", "compensate_function": "x.put"}],
        },
        {
            "name": "Fan",
            "type": "PARALLEL",
            "tasks": [
                {"name": "Left", "function": "x.l", "compensate_function": "x.undo_l"},
                {"name": "Right", "function": "x.r"},
            ],
        },
        {"name": "Child", "type": "SUB_WORKFLOW", "workflow_type": "Payment"},
        {"name": "Each", "type": "PARALLEL", "iterate_over": "state.items", "task_function": "x.t"},
    ],
}


def _chart(data: dict, **kw: object) -> list[str]:
    return flowchart(parse_definition(data, source="t"), **kw).splitlines()  # type: ignore[arg-type]


def test_a_saga__steps_in_order_and_compensations_as_dashed_back_edges() -> None:
    lines = _chart(SAGA, current=1)
    assert lines[0] == "flowchart TD"
    for expected in (
        '    s0["Order<br/>STANDARD"]',
        "    start --> s0",
        "    s0 --> s1",
        "    s2 --> finish",
        '    s0 -.->|"undo: undo_order"| start',
        '    s1 -.->|"undo: refund (approval)"| s0',
        "    class s1 current",
    ):
        assert expected in lines
    assert not any(line.startswith("    s2 -.->") for line in lines)  # Ship undoes nothing


def test_decision_routes_loop_bodies_parallel_tasks_and_children() -> None:
    lines = _chart(NESTED)
    for expected in (
        '    s0{"Route<br/>DECISION"}',
        '    s0 -->|"state.amount #gt; 100"| s1',
        '    s0 -->|"default"| s2',
        '    s1{{"Items<br/>LOOP over state.items"}}',
        '    subgraph s1_body["Items body"]',
        "    s1 --> s1_b0",
        "    s1_b0 --> s1_next",
        '    s1_b0 -.->|"undo: put"| s1',
        "    s1_next --> s1",
        '    s1 -->|"done"| s2',
        "    s2 --> s2_t0",
        "    s2 --> s2_t1",
        '    s2_t0 -.->|"undo: undo_l"| s2',
        "    s2_join --> s3",
        '    s3[["Child<br/>SUB_WORKFLOW: Payment"]]',
        '    s3 -.->|"undo: the child Payment"| s2',
        '    s4_t0["t<br/>for each of state.items"]',
        '    s4 -->|"one task per item"| s4_t0',
    ):
        assert expected in lines, expected
    assert "    s0 --> s1" not in lines  # a DECISION with a default goes where its routes say


def test_labels_are_escaped() -> None:
    assert text('a "b" <c> #1') == "a #quot;b#quot; #lt;c#gt; #35;1"
