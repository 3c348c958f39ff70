"""The dashboard's pure parts: the resume form from a JSON schema, the Mermaid graph with the
current position, and the security helpers (loopback hosts, origins, the session cookie)."""

from __future__ import annotations

import enum
from typing import Literal

import pytest
from pydantic import BaseModel, Field
from starlette.requests import Request

from ruvon.dashboard import DashboardSettings, forms, graph
from ruvon.dashboard.security import (
    MIN_TOKEN_LENGTH,
    checked_token,
    is_loopback,
    same_origin,
    session_value,
)
from ruvon.models import CompensationRecord, CompensationStatus, StepRecord, StepStatus
from ruvon.status import WorkflowStatus


class Review(BaseModel):
    reviewer: str = Field(min_length=1, description="who")
    approve: bool
    score: int = 0
    ratio: float | None = None
    tier: Literal["gold", "silver"] = "silver"
    tags: list[str] = []


SCHEMA = Review.model_json_schema()


# --- the resume form --------------------------------------------------------------------------


def test_form_fields__one_input_per_property_in_model_order() -> None:
    fields = forms.form_fields(SCHEMA)
    assert [(f.name, f.kind, f.required) for f in fields] == [
        ("reviewer", "text", True),
        ("approve", "boolean", True),
        ("score", "integer", False),
        ("ratio", "number", False),
        ("tier", "choice", False),
        ("tags", "json", False),
    ]
    by_name = {f.name: f for f in fields}
    assert by_name["reviewer"].description == "who"
    assert by_name["tier"].choices == ["gold", "silver"] and by_name["tier"].default == "silver"
    assert by_name["score"].default == "0" and by_name["tags"].default == "[]"
    assert by_name["ratio"].default == "" and by_name["approve"].input_name == "input.approve"
    assert forms.form_fields(None) == [] and forms.form_fields({}) == []


def test_form_input__converts_to_the_schema_types_and_leaves_empty_fields_out() -> None:
    form = {
        "input.reviewer": " ann ",
        "input.approve": "false",
        "input.score": "7",
        "input.ratio": "",
        "input.tier": "gold",
        "input.tags": '["a", "b"]',
        "csrf_token": "ignored",
    }
    value = forms.form_input(SCHEMA, form)
    assert value == {
        "reviewer": " ann ",  # text is passed as typed
        "approve": False,
        "score": 7,
        "tier": "gold",
        "tags": ["a", "b"],
    }
    assert Review.model_validate(value).score == 7


def test_form_input__names_every_value_of_the_wrong_type() -> None:
    bad = {"input.approve": "maybe", "input.score": "1.5", "input.ratio": "x", "input.tags": "["}
    with pytest.raises(forms.FormInputError) as caught:
        forms.form_input(SCHEMA, bad)
    message = str(caught.value)
    for part in (
        "approve: choose true or false",
        "score: '1.5' is not a whole number",
        "ratio: 'x' is not a number",
        "tags: '[' is not JSON",
    ):
        assert part in message


def test_form_input__without_a_schema_takes_a_json_object() -> None:
    assert forms.form_input(None, {"input_json": ' {"a": 1} '}) == {"a": 1}
    assert forms.form_input(None, {}) == {}
    with pytest.raises(forms.FormInputError, match="a JSON object"):
        forms.form_input(None, {"input_json": "[1]"})
    with pytest.raises(forms.FormInputError, match="not JSON"):
        forms.form_input(None, {"input_json": "{"})


def test_form_input__json_nested_beyond_the_parser_is_a_form_error() -> None:
    deep = "[" * 5000 + "]" * 5000
    with pytest.raises(forms.FormInputError, match="tags: the JSON is nested too deeply"):
        forms.form_input(SCHEMA, {"input.reviewer": "ann", "input.tags": deep})
    with pytest.raises(forms.FormInputError, match="the input's JSON is nested too deeply"):
        forms.form_input(None, {"input_json": '{"a": ' + deep + "}"})


class Color(enum.StrEnum):
    red = "red"
    blue = "blue"


class Level(enum.IntEnum):
    low = 1
    high = 2


class Paint(BaseModel):
    color: Color = Field(description="which paint")
    level: Level = Level.low
    shade: Color | None = None
    only: Literal["this"] = "this"
    size: Literal[1, 2] | None = None


def test_form_fields__an_enum_class_is_a_choice_of_its_values() -> None:
    fields = {f.name: f for f in forms.form_fields(Paint.model_json_schema())}
    assert {name: f.kind for name, f in fields.items()} == dict.fromkeys(fields, "choice")
    color = fields["color"]
    assert color.choices == ["red", "blue"] and color.required and color.default == ""
    assert color.label == "Color" and color.description == "which paint"
    assert fields["level"].choices == ["1", "2"] and fields["level"].default == "1"
    assert fields["level"].label == "Level" and fields["level"].description is None
    assert fields["shade"].choices == ["red", "blue"] and not fields["shade"].required
    assert fields["only"].choices == ["this"] and fields["size"].choices == ["1", "2"]


def test_form_input__a_choice_is_given_back_as_the_value_it_stands_for() -> None:
    schema = Paint.model_json_schema()
    form = {"input.color": "blue", "input.level": "2", "input.shade": "", "input.size": "1"}
    values = forms.form_input(schema, form)
    assert values == {"color": "blue", "level": 2, "size": 1}
    assert Paint.model_validate(values) == Paint(color=Color.blue, level=Level.high, size=1)
    with pytest.raises(forms.FormInputError, match="color: choose one of red, blue"):
        forms.form_input(schema, {"input.color": "green"})


# --- the graph --------------------------------------------------------------------------------

SNAPSHOT = {
    "workflow_type": "Order",
    "initial_state_model": "x.State",
    "steps": [
        {
            "name": "Reserve",
            "function": "x.reserve",
            "compensate_function": "x.release",
            "automate_next": True,
        },
        {
            "name": "Route",
            "type": "DECISION",
            "routes": [
                {"condition": 'state.kind == "<vip>"', "target": "Pay"},
                {"default": 'Done "now"'},
            ],
        },
        {
            "name": "Pay",
            "function": "x.pay",
            "compensate_function": "x.refund",
            "compensation_requires_approval": True,
        },
        {"name": 'Done "now"', "function": "x.done"},
    ],
}


def _record(seq: int, index: int, status: StepStatus) -> StepRecord:
    return StepRecord(
        seq=seq, step_name="s", step_index=index, attempt=1, status=status, started_at=0.0
    )


def test_mark_steps__done_current_failed_compensated() -> None:
    spec = graph.parse_spec(SNAPSHOT, "test")
    assert spec is not None
    specs = spec.steps
    history = [_record(0, 0, StepStatus.COMPLETED), _record(1, 1, StepStatus.COMPLETED)]
    marks = graph.mark_steps(
        specs, status=WorkflowStatus.ACTIVE, current_step=2, history=history, journal=[]
    )
    assert [s.mark for s in marks] == ["done", "done", "current", "pending"]
    assert marks[2].requires_approval and marks[0].compensate_function == "x.release"

    failed = [*history, _record(2, 2, StepStatus.FAILED)]
    journal = [
        CompensationRecord(
            sequence=0,
            forward_seq=0,
            step_name="Reserve",
            step_index=0,
            function="x.release",
            status=CompensationStatus.COMPLETED,
            started_at=0.0,
        )
    ]
    marks = graph.mark_steps(
        specs,
        status=WorkflowStatus.FAILED_ROLLED_BACK,
        current_step=2,
        history=failed,
        journal=journal,
    )
    assert [s.mark for s in marks] == ["compensated", "done", "failed", "pending"]
    waits = graph.mark_steps(
        specs,
        status=WorkflowStatus.WAITING_COMPENSATION_APPROVAL,
        current_step=3,
        history=[*history, _record(2, 2, StepStatus.COMPLETED), _record(3, 3, StepStatus.FAILED)],
        journal=[],
        awaiting="Pay",
    )
    assert [s.mark for s in waits] == ["done", "done", "current", "failed"]


def test_mermaid__steps_routes_dashed_compensations_and_the_current_step() -> None:
    spec = graph.parse_spec(SNAPSHOT, "test")
    assert spec is not None
    specs = spec.steps
    marks = graph.mark_steps(
        specs,
        status=WorkflowStatus.ACTIVE,
        current_step=2,
        history=[_record(0, 0, StepStatus.COMPLETED)],
        journal=[],
    )
    text = graph.mermaid(spec, marks, finished=False)
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    assert "    start --> s0" in lines and "    s0 --> s1" in lines and "    s3 --> finish" in lines
    # a DECISION goes where its routes say, labelled, and not to the next step by position
    assert '    s1 -->|"state.kind == #quot;#lt;vip#gt;#quot;"| s2' in lines
    assert '    s1 -->|"default"| s3' in lines and "    s1 --> s2" not in lines
    assert '    s0 -.->|"undo: release"| start' in lines
    assert '    s2 -.->|"undo: refund (approval)"| s1' in lines
    assert '    s3["Done #quot;now#quot;<br/>STANDARD"]' in lines
    assert "    class s2 current" in lines and "    class s0 done" in lines
    assert "class finish" not in text
    finished = graph.mark_steps(
        specs, status=WorkflowStatus.COMPLETED, current_step=4, history=[], journal=[]
    )
    done = graph.mermaid(spec, finished, finished=True)
    assert "    class finish current" in done.splitlines()


def test_parse_spec__a_snapshot_that_does_not_parse_gives_no_graph() -> None:
    assert graph.parse_spec({"workflow_type": "X"}, "test") is None
    assert graph.mermaid(None, [], finished=False) == ""


# --- security helpers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("app.localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def _request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": raw})


def test_same_origin__compares_origin_then_referer_with_the_host() -> None:
    host = {"Host": "127.0.0.1:8080"}
    assert same_origin(_request(host))  # a script: neither header
    assert same_origin(_request({**host, "Origin": "http://127.0.0.1:8080"}))
    assert not same_origin(_request({**host, "Origin": "http://127.0.0.1:9999"}))
    assert not same_origin(_request({**host, "Origin": "null"}))
    assert same_origin(_request({**host, "Referer": "http://127.0.0.1:8080/workflows/x"}))
    assert not same_origin(_request({**host, "Referer": "https://evil.example/"}))


def test_session_cookie__is_derived_from_the_token_not_the_token() -> None:
    assert session_value("abc") == session_value("abc") != session_value("abd")
    assert "abc" not in session_value("abc") and len(session_value("abc")) == 64


def test_checked_token__strips_and_refuses_a_blank_or_short_token() -> None:
    token = "t" * MIN_TOKEN_LENGTH
    assert checked_token(None) is None
    assert checked_token(f" {token}\n") == token
    assert DashboardSettings(token=f"\t{token} ").token == token
    for blank in ("", " ", "\n\t "):
        with pytest.raises(ValueError, match="empty"):
            checked_token(blank)
        with pytest.raises(ValueError, match="empty"):
            DashboardSettings(token=blank)
    with pytest.raises(ValueError, match=f"needs at least {MIN_TOKEN_LENGTH}"):
        checked_token(" " + token[1:] + " ")
