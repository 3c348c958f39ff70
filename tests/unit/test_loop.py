"""LOOP steps: ITERATE and WHILE, max_iterations, the item in context and as a keyword,
per-iteration commits, results, waiting inside, failures, saga unwinding through iterations."""

from __future__ import annotations

from typing import Any

import pytest

import flow_steps
from flow_support import flow, step
from ruvon.errors import DefinitionError
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.models import CompensationStatus as C
from ruvon.models import StepStatus
from ruvon.status import WorkflowStatus as S


def loop(
    name: str = "Items", body: list[dict[str, Any]] | None = None, **keys: Any
) -> dict[str, Any]:
    keys.setdefault("iterate_over", "state.items")
    return step(
        name,
        None,
        type="LOOP",
        loop_body=body
        or [step("Reserve", "flow_steps.reserve", compensate_function="flow_steps.release")],
        **keys,
    )


async def test_iterate_runs_the_body_per_item_with_the_item_in_context_and_as_keyword() -> None:
    flow_steps.CONTEXTS.clear()
    wf = await flow(loop(), step("After")).create_workflow("F", {"items": ["a", "b", "c"]})
    result = await wf.next_step()
    assert wf.status is S.COMPLETED
    assert wf.state.log == ["Reserve:a", "Reserve:b", "Reserve:c", "After"]
    assert [c for c in flow_steps.CONTEXTS if c[0] == "Reserve"] == [
        ("Reserve", "a", 0, {"item": "a"}),
        ("Reserve", "b", 1, {"item": "b"}),
        ("Reserve", "c", 2, {"item": "c"}),
    ]
    assert wf.state.loop_iterations == 3
    assert wf.state.loop_results == [
        {"reserved": ["a"]},
        {"reserved": ["a", "b"]},
        {"reserved": ["a", "b", "c"]},
    ]
    assert result is not None


async def test_each_body_step_is_recorded_in_its_iteration_scope_and_committed() -> None:
    store = InMemoryPersistenceProvider()
    wf = await flow(loop(), store=store).create_workflow("F", {"items": ["a", "b"]})
    commits = store.commits
    await wf.next_step()
    history = await store.step_history(wf.id)
    assert [(r.scope, r.status, r.item) for r in history] == [
        ("Items/iter:0/Reserve", StepStatus.COMPLETED, "a"),
        ("Items/iter:1/Reserve", StepStatus.COMPLETED, "b"),
        ("Items", StepStatus.COMPLETED, None),
    ]
    # one commit per body step, plus the start and the loop's own completion
    assert store.commits - commits == 2 + 2
    assert (await store.load_workflow(wf.id)).frames == []


async def test_while_runs_until_the_condition_is_false() -> None:
    b = flow(
        step(
            "Repeat",
            None,
            type="LOOP",
            mode="while",
            while_condition="state.counter < 3",
            loop_body=[step("Count", "flow_steps.count")],
        )
    )
    wf = await b.create_workflow("F")
    await wf.run()
    assert wf.status is S.COMPLETED and wf.state.counter == 3
    assert wf.state.log == ["Count:0", "Count:1", "Count:2"]


@pytest.mark.parametrize("mode", ["ITERATE", "WHILE"])
async def test_exceeding_max_iterations_fails_the_step_clearly(mode: str) -> None:
    keys: dict[str, Any] = {"max_iterations": 2}
    if mode == "WHILE":
        keys.update(mode="WHILE", while_condition="True", iterate_over=None)
    b = flow(loop(body=[step("Count", "flow_steps.count")], **keys))
    wf = await b.create_workflow("F", {"items": [1, 2, 3]})
    await wf.run()
    assert wf.status is S.FAILED
    assert "max_iterations=2" in wf.error.message  # type: ignore[union-attr]
    # ITERATE checks before the first iteration; WHILE stops at the limit
    assert wf.state.counter == (0 if mode == "ITERATE" else 2)


async def test_an_empty_list_runs_no_iteration() -> None:
    wf = await flow(loop(), step("After")).create_workflow("F", {"items": []})
    await wf.run()
    assert wf.status is S.COMPLETED and wf.state.log == ["After"] and wf.state.loop_iterations == 0


async def test_iterate_over_something_that_is_not_a_list_fails_the_step() -> None:
    wf = await flow(loop(iterate_over="state.tier")).create_workflow("F")
    await wf.run()
    assert wf.status is S.FAILED and "not a list" in wf.error.message  # type: ignore[union-attr]


async def test_a_failing_body_step_fails_the_loop_and_retry_goes_on_from_it() -> None:
    b = flow(loop(), step("After"))
    wf = await b.create_workflow("F", {"items": ["a", "b", "c"], "fail_at": ["Reserve@1"]})
    await wf.run()
    assert wf.status is S.FAILED and wf.error.step == "Reserve"  # type: ignore[union-attr]
    assert wf.state.log == ["Reserve:a"]
    wf.state.fail_at.clear()  # the operator fixed the cause (in place: kept by the retry)
    await wf.retry()
    assert wf.status is S.COMPLETED
    assert wf.state.log == ["Reserve:a", "Reserve:b", "Reserve:c", "After"]


async def test_saga_unwinds_the_iterations_newest_first_each_with_its_own_item() -> None:
    flow_steps.CONTEXTS.clear()
    b = flow(
        step("Prep", compensate_function="flow_steps.undo"),
        loop(),
        step("Fail"),
        saga=True,
    )
    wf = await b.create_workflow("F", {"items": ["a", "b"], "fail_at": ["Fail"]})
    await wf.run()
    assert wf.status is S.FAILED_ROLLED_BACK
    assert wf.state.log == [
        "Prep",
        "Reserve:a",
        "Reserve:b",
        "undo:Reserve:b",
        "undo:Reserve:a",
        "undo:Prep",
    ]
    assert wf.state.reserved == []
    undone = [(c[0], c[1], c[2]) for c in flow_steps.CONTEXTS if c[0].startswith("undo:")]
    assert undone == [("undo:Reserve", "b", 1), ("undo:Reserve", "a", 0), ("undo:Prep", None, None)]
    journal = await wf.persistence.compensation_journal(wf.id)
    done = [(e.scope, e.status) for e in journal if e.status is not C.STARTED]
    assert ("Items/iter:1/Reserve", C.COMPLETED) in done and (
        "Items/iter:0/Reserve",
        C.COMPLETED,
    ) in done


async def test_a_body_failure_in_saga_mode_unwinds_the_completed_iterations() -> None:
    b = flow(loop(), saga=True)
    wf = await b.create_workflow("F", {"items": ["a", "b", "c"], "fail_at": ["Reserve@2"]})
    await wf.run()
    assert wf.status is S.FAILED_ROLLED_BACK
    assert wf.state.log == ["Reserve:a", "Reserve:b", "undo:Reserve:b", "undo:Reserve:a"]


async def test_a_human_step_in_the_body_waits_inside_the_iteration() -> None:
    b = flow(
        loop(
            body=[
                step("Reserve", "flow_steps.reserve"),
                step(
                    "Approve",
                    "flow_steps.take_input",
                    type="HUMAN_IN_LOOP",
                    input_model="flow_steps.Approval",
                ),
            ]
        ),
        step("After"),
    )
    wf = await b.create_workflow("F", {"items": ["a", "b"]})
    await wf.next_step()
    assert wf.status is S.WAITING_HUMAN and wf.current_step_name == "Items"
    assert wf.waiting_for is not None and wf.waiting_for["step"] == "Approve"
    assert wf.state.log == ["Reserve:a"]
    again = await b.load_workflow(wf.id)  # another process picks it up
    await again.resume({"approved": True, "reviewer": "ann"})
    assert again.status is S.WAITING_HUMAN and again.state.log == [
        "Reserve:a",
        "Approve",
        "Reserve:b",
    ]
    await again.resume({"approved": True, "reviewer": "bo"})
    assert again.status is S.COMPLETED
    assert again.state.log == ["Reserve:a", "Approve", "Reserve:b", "Approve", "After"]


async def test_a_decision_in_the_body_routes_within_the_body() -> None:
    body = [
        step(
            "Route",
            None,
            type="DECISION",
            routes=[{"condition": "counter % 2 == 0", "target": "Even"}, {"default": "Odd"}],
        ),
        step("Odd", "flow_steps.count"),
        step("Even", "flow_steps.count"),
    ]
    b = flow(
        step(
            "Repeat", None, type="LOOP", mode="WHILE", while_condition="counter < 3", loop_body=body
        )
    )
    wf = await b.create_workflow("F")
    await wf.run()
    assert wf.status is S.COMPLETED
    # counter 0: the route skips Odd; counter 1: Odd, then Even after it in the body
    assert wf.state.log == ["Even:0", "Odd:1", "Even:1"]
    skipped = [
        r.scope for r in await wf.persistence.step_history(wf.id) if r.status is StepStatus.SKIPPED
    ]
    assert skipped == ["Repeat/iter:0/Odd"]


async def test_nested_loops_scope_their_records() -> None:
    inner = step(
        "Inner",
        None,
        type="LOOP",
        mode="WHILE",
        while_condition="counter % 2 == 1",
        loop_body=[step("Count", "flow_steps.count")],
    )
    b = flow(loop(body=[step("Count", "flow_steps.count"), inner]))
    wf = await b.create_workflow("F", {"items": ["x", "y"]})
    await wf.run()
    assert wf.status is S.COMPLETED and wf.state.counter == 4
    scopes = [r.scope for r in await wf.persistence.step_history(wf.id)]
    assert "Items/iter:0/Inner/iter:0/Count" in scopes and "Items/iter:1/Inner" in scopes


# --- at load ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "key", "needle"),
    [
        ({"loop_body": []}, "loop_body", "non-empty"),
        ({"iterate_over": None}, "iterate_over", "needs 'iterate_over'"),
        ({"mode": "WHILE", "iterate_over": None}, "while_condition", "needs a 'while_condition'"),
        ({"max_iterations": -1}, "max_iterations", ""),
        ({"function": "flow_steps.mark"}, "function", "loop_body"),
    ],
)
def test_bad_loops_are_definition_errors(keys: dict[str, Any], key: str, needle: str) -> None:
    keys = dict(keys)
    empty_body = keys.pop("loop_body", None) == []
    function = keys.pop("function", None)
    spec = loop(**keys)
    if function is not None:
        spec["function"] = function
    if empty_body:
        spec["loop_body"] = []
    with pytest.raises(DefinitionError) as info:
        flow(spec).get_definition("F")
    assert info.value.step == "Items" and info.value.key == key, str(info.value)
    assert needle in str(info.value)


def test_a_bad_body_step_is_located_in_the_body() -> None:
    bad = loop(body=[step("Ok"), step("Bad", "flow_steps.nope")])
    with pytest.raises(DefinitionError) as info:
        flow(bad).get_definition("F")
    assert (info.value.step, info.value.key) == ("Bad", "function")


def test_a_route_in_a_body_must_target_a_body_step() -> None:
    body = [step("Route", None, type="DECISION", routes=[{"default": "After"}]), step("X")]
    with pytest.raises(DefinitionError, match="route target 'After'"):
        flow(loop(body=body), step("After")).get_definition("F")


def test_an_unknown_key_in_a_body_step_is_reported_there() -> None:
    with pytest.raises(DefinitionError) as info:
        flow(loop(body=[step("Ok", compensate="x")])).get_definition("F")
    assert (info.value.step, info.value.key) == ("Ok", "compensate")


async def test_a_body_function_may_require_the_item_keyword() -> None:
    b = flow(loop(body=[step("Take", "flow_steps.needs_item")]))
    wf = await b.create_workflow("F", {"items": [1, 2]})
    await wf.run()
    assert wf.state.log == ["got:1", "got:2"]


def test_outside_a_loop_a_required_extra_parameter_is_still_refused_at_load() -> None:
    with pytest.raises(DefinitionError, match="can not be called with"):
        flow(step("Take", "flow_steps.needs_item")).get_definition("F")


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ({"items": "state.items"}, "items"),  # with the iterate_over loop() already sets
    ],
)
def test_two_spellings_of_one_key_are_refused_as_such(spec: dict[str, Any], key: str) -> None:
    with pytest.raises(DefinitionError) as info:
        flow({**loop(), **spec}).get_definition("F")
    assert info.value.key == key
    assert "another spelling of a key this step already has" in str(info.value)
