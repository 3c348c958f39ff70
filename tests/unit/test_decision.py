"""DECISION steps and jumps: routes in order, default, no match, directives, skipped steps."""

from __future__ import annotations

from typing import Any

import pytest

from flow_support import flow, step
from ruvon.builder import WorkflowBuilder
from ruvon.errors import DefinitionError
from ruvon.models import StepStatus
from ruvon.status import WorkflowStatus as S

ROUTES = [
    {"condition": "state.amount > 10000 and state.tier in ['gold', 'vip']", "target": "Big"},
    {"condition": "amount > 100", "next_step": "Medium"},  # bare field name, 0.1.5's key
    {"default": "Small"},
]


def routed(**keys: Any) -> WorkflowBuilder:
    return flow(
        step("Decide", "flow_steps.check", type="DECISION", routes=ROUTES, **keys),
        step("Big"),
        step("Medium"),
        step("Small"),
    )


@pytest.mark.parametrize(
    ("data", "ran"),
    [
        ({"amount": 20000, "tier": "gold"}, ["Decide", "Big", "Medium", "Small"]),
        ({"amount": 20000, "tier": "basic"}, ["Decide", "Medium", "Small"]),
        ({"amount": 5}, ["Decide", "Small"]),
    ],
)
async def test_the_first_matching_route_wins_over_the_merged_state(
    data: dict[str, Any], ran: list[str]
) -> None:
    wf = await routed().create_workflow("F", data)
    await wf.run()
    assert wf.status is S.COMPLETED and wf.state.log == ran and wf.state.checked


async def test_after_a_jump_the_cursor_names_the_target_and_skipped_steps_are_recorded() -> None:
    b = flow(
        step("Decide", "flow_steps.check", type="DECISION", routes=ROUTES, automate_next=False),
        step("Big"),
        step("Medium"),
        step("Small"),
    )
    wf = await b.create_workflow("F", {"amount": 5})
    await wf.next_step()
    assert (wf.current_step, wf.current_step_name) == (3, "Small")
    history = await wf.persistence.step_history(wf.id)
    assert [(r.step_name, r.status, r.attempt) for r in history] == [
        ("Decide", StepStatus.COMPLETED, 1),
        ("Big", StepStatus.SKIPPED, 0),
        ("Medium", StepStatus.SKIPPED, 0),
    ]
    loaded = await b.load_workflow(wf.id)
    assert loaded.current_step_name == "Small"


@pytest.mark.parametrize("saga", [False, True])
async def test_no_route_matching_and_no_default_fails_naming_the_conditions(saga: bool) -> None:
    b = flow(
        step("Prep", compensate_function="flow_steps.undo"),
        step(
            "Decide",
            None,
            type="DECISION",
            routes=[{"condition": "state.amount > 10", "target": "Done"}],
        ),
        step("Done"),
        saga=saga,
    )
    wf = await b.create_workflow("F", {"amount": 1})
    await wf.run()
    assert wf.status is (S.FAILED_ROLLED_BACK if saga else S.FAILED)
    assert wf.error is not None and wf.error.step == "Decide"
    assert "no route" in wf.error.message and "'state.amount > 10'" in wf.error.message
    assert wf.state.log == (["Prep", "undo:Prep"] if saga else ["Prep"])


async def test_a_condition_that_fails_to_evaluate_fails_the_step_not_the_caller() -> None:
    b = flow(
        step(
            "Decide", None, type="DECISION", routes=[{"condition": "state.nope > 1", "target": "A"}]
        ),
        step("A"),
    )
    wf = await b.create_workflow("F")
    await wf.run()  # does not raise
    assert wf.status is S.FAILED and wf.error is not None and wf.error.step == "Decide"


async def test_the_literal_true_and_is_not_none_and_equals_true() -> None:
    b = flow(
        step(
            "Decide",
            None,
            type="DECISION",
            routes=[
                {"condition": "state.approved == True", "target": "Yes"},
                {"condition": "state.reviewer is not None", "target": "Reviewed"},
                {"condition": True, "target": "Other"},  # YAML's bare True
            ],
        ),
        step("Yes", automate_next=False),
        step("Reviewed", automate_next=False),
        step("Other", automate_next=False),
    )
    for data, first in (
        ({"approved": True}, "Yes"),
        ({"reviewer": "ann"}, "Reviewed"),
        ({}, "Other"),
    ):
        wf = await b.create_workflow("F", data)
        await wf.next_step()
        assert wf.state.log == [first]


async def test_a_jump_directive_keeps_in_place_changes_and_merges_its_result() -> None:
    b = flow(step("Jump", "flow_steps.jumper", automate_next=False), step("A"), step("B"))
    wf = await b.create_workflow("F", {"jump_to": "B"})
    result = await wf.next_step()
    assert wf.current_step_name == "B"
    assert (wf.state.note, wf.state.counter) == ("changed before the jump", 7)
    assert result == {"counter": 7}


async def test_the_function_s_own_jump_wins_over_the_routes() -> None:
    b = flow(
        step("Jump", "flow_steps.jumper", type="DECISION", routes=[{"default": "A"}]),
        step("A"),
        step("B"),
    )
    wf = await b.create_workflow("F", {"jump_to": "B"})
    await wf.run()
    assert wf.state.log == ["Jump", "B"]


async def test_a_jump_to_an_unknown_step_from_code_fails_the_step_clearly() -> None:
    wf = await flow(step("Jump", "flow_steps.jumper"), step("A")).create_workflow(
        "F", {"jump_to": "Nowhere"}
    )
    await wf.run()
    assert wf.status is S.FAILED and "unknown step 'Nowhere'" in wf.error.message  # type: ignore[union-attr]


async def test_a_backward_jump_runs_the_steps_again() -> None:
    b = flow(
        step("Count", "flow_steps.count"),
        step(
            "Again",
            None,
            type="DECISION",
            routes=[{"condition": "counter < 3", "target": "Count"}, {"default": "End"}],
        ),
        step("End"),
    )
    wf = await b.create_workflow("F")
    await wf.run()
    assert wf.status is S.COMPLETED and wf.state.counter == 3


# --- at load ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "key", "needle"),
    [
        ({"routes": [{"condition": "x > 1", "target": "Missing"}]}, "routes.0.target", "Missing"),
        ({"routes": [{"default": "Missing"}]}, "routes.0.default", "Missing"),
        ({"routes": [{"condition": "x >", "target": "A"}]}, "routes.0.condition", "not valid"),
        ({"routes": [{"condition": "x > 1"}]}, "routes.0", "needs a 'condition' and a 'target'"),
        (
            {"routes": [{"default": "A"}, {"condition": "x", "target": "A"}]},
            "routes.0.default",
            "must come last",
        ),
        ({}, "routes", "needs 'routes'"),
    ],
)
def test_bad_routes_are_definition_errors_naming_step_and_key(
    decision: dict[str, Any], key: str, needle: str
) -> None:
    b = flow(step("Decide", None, type="DECISION", **decision), step("A"))
    with pytest.raises(DefinitionError) as info:
        b.get_definition("F")
    assert info.value.step == "Decide" and info.value.key == key
    assert needle in str(info.value)


@pytest.mark.parametrize(
    ("deps", "needle"),
    [(["Nope"], "not a step"), (["B"], "comes later"), (["A2"], "itself")],
)
def test_dependencies_are_checked_at_load(deps: list[str], needle: str) -> None:
    b = flow(step("A"), step("A2", dependencies=deps), step("B"))
    with pytest.raises(DefinitionError) as info:
        b.get_definition("F")
    assert info.value.step == "A2" and info.value.key == "dependencies.0"
    assert needle in str(info.value)


def test_dependencies_on_earlier_steps_load() -> None:
    b = flow(step("A"), step("B", dependencies=["A"]))
    assert b.get_definition("F").steps[1].spec.dependencies == ("A",)


async def test_an_unknown_workflow_type_is_also_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown workflow type 'Nope'"):
        await flow(step("A")).create_workflow("Nope")


def test_target_and_next_step_together_are_refused_as_two_spellings() -> None:
    route = {"condition": "True", "target": "A", "next_step": "A"}
    b = flow(step("Decide", None, type="DECISION", routes=[route]), step("A"))
    with pytest.raises(DefinitionError) as info:
        b.get_definition("F")
    assert "another spelling of a key" in str(info.value), str(info.value)
