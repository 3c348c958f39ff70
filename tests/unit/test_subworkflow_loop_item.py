"""A SUB_WORKFLOW step in a LOOP body tells its child which item it is for.

``docs/steps/sub-workflow.md`` says to run several children "from a LOOP", and an HTTP step in a
LOOP body reads its item as ``{{context.loop_item}}``; a SUB_WORKFLOW's ``initial_data_template``
was rendered over the parent's state alone: ``context`` was undefined, the step failed with a
``TemplateError``, and a loop's children could only get the same data (or the item copied into
the state by a body step before). Its templates now see ``context.loop_item`` (the item's JSON
form) and ``context.loop_index`` as an HTTP step's do.
"""

from __future__ import annotations

from typing import Any

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.status import WorkflowStatus as S

PAYMENT = {
    "workflow_type": "Payment",
    "initial_state_model": "subflow_steps.Payment",
    "steps": [{"name": "Authorize", "function": "subflow_steps.authorize"}],
}


def loop_of_children(workflow_type: str, model: str, data: dict[str, str]) -> dict[str, Any]:
    """A parent whose only step is a LOOP over ``state.legs`` with one SUB_WORKFLOW body step
    whose child gets ``data`` (templates) as its initial data."""
    child = {
        "name": "Pay_Leg",
        "type": "SUB_WORKFLOW",
        "workflow_type": "Payment",
        "initial_data_template": data,
    }
    loop = {"name": "Each", "type": "LOOP", "iterate_over": "state.legs", "loop_body": [child]}
    return {"workflow_type": workflow_type, "initial_state_model": model, "steps": [loop]}


def builder(*parents: dict[str, Any]) -> WorkflowBuilder:
    return WorkflowBuilder(
        workflow_registry={d["workflow_type"]: d for d in (*parents, PAYMENT)},
        persistence_provider=InMemoryPersistenceProvider(),
    )


def children(results: dict[str, Any]) -> list[tuple[str, float]]:
    return sorted((e["state"]["trip_id"], e["state"]["amount"]) for e in results.values())


async def test_each_child_of_a_loop_gets_its_own_item() -> None:
    data = {"trip_id": "{{ context.loop_item }}", "amount": "{{ context.loop_index + 1 }}"}
    b = builder(loop_of_children("Trip", "subflow_steps.Legs", data))
    wf = await b.create_workflow("Trip", {"legs": ["a", "b", "c"]})
    assert await wf.run() is S.COMPLETED, wf.error
    assert children(wf.state.sub_workflow_results) == [("a", 1.0), ("b", 2.0), ("c", 3.0)]


async def test_an_item_is_seen_in_its_json_form_and_a_state_field_named_context_wins() -> None:
    b = builder(
        loop_of_children(
            "Skus", "builtins.dict", {"trip_id": "{{ context.loop_item.sku }}", "amount": 1}
        ),
        loop_of_children("Mine", "builtins.dict", {"trip_id": "{{ context }}", "amount": 1}),
    )
    legs = [{"sku": "a"}, {"sku": "b"}]
    data = {"legs": legs, "sub_workflow_results": {}}
    wf = await b.create_workflow("Skus", data)
    assert await wf.run() is S.COMPLETED, wf.error
    assert [t for t, _ in children(wf.state["sub_workflow_results"])] == ["a", "b"]
    mine = await b.create_workflow("Mine", {**data, "context": "mine"})
    assert await mine.run() is S.COMPLETED, mine.error
    assert [t for t, _ in children(mine.state["sub_workflow_results"])] == ["mine", "mine"]
