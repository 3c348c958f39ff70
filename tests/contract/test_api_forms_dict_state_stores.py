"""A ``builtins.dict`` state on every store: run, pause, reload from the database, finish,
and unwind a saga, with the state read and written as a dict."""

from __future__ import annotations

from typing import Any

from contract_backends import Backend

from ruvon.builder import WorkflowBuilder
from ruvon.definition.dict_state import DictState
from ruvon.models import StepContext, WorkflowPauseDirective

HERE = "test_api_forms_dict_state_stores"


def reserve(state: dict, context: StepContext) -> dict:
    state["log"] = [*state.get("log", []), "reserve"]
    return {"reserved": state["qty"]}


def ask(state: dict, context: StepContext) -> None:
    raise WorkflowPauseDirective(result={"waiting": True})


def charge(state: dict, context: StepContext, **user_input: Any) -> dict:
    state["log"].append("charge")
    if "fail" in state:
        raise RuntimeError("card declined")
    return {"charged": user_input["amount"], "waiting": False}


def release(state: dict, context: StepContext) -> dict:
    state["log"].append("release")
    return {"reserved": 0}


def definition() -> dict[str, Any]:
    return {
        "workflow_type": "DictOrder",
        "initial_state_model": "builtins.dict",
        "saga_mode": True,
        "steps": [
            {
                "name": "Reserve",
                "function": f"{HERE}.reserve",
                "compensate_function": f"{HERE}.release",
                "automate_next": True,
            },
            {"name": "Ask", "function": f"{HERE}.ask"},
            {"name": "Charge", "function": f"{HERE}.charge"},
        ],
    }


def new_builder() -> WorkflowBuilder:
    return WorkflowBuilder(workflow_registry={"DictOrder": definition()})


async def test_dict_state_on_store__pauses_reloads_and_completes(backend: Backend) -> None:
    store = backend.new_store()
    wf = await new_builder().create_workflow("DictOrder", {"qty": 2}, persistence_provider=store)
    await wf.next_step()
    assert wf.status == "PAUSED"

    other = backend.new_store()  # a new store object: the state comes from the database
    paused = await new_builder().load_workflow(wf.id, persistence_provider=other)
    assert type(paused.state) is DictState
    assert paused.state == {"qty": 2, "log": ["reserve"], "reserved": 2, "waiting": True}

    await paused.next_step(user_input={"amount": 9.5})
    assert paused.status == "COMPLETED"

    final = await new_builder().load_workflow(wf.id, persistence_provider=backend.new_store())
    assert final.state == {
        "qty": 2,
        "log": ["reserve", "charge"],
        "reserved": 2,
        "waiting": False,
        "charged": 9.5,
    }
    assert final.state.get("charged") == 9.5 and "qty" in final.state


async def test_dict_state_on_store__saga_unwinds_a_dict_state(backend: Backend) -> None:
    store = backend.new_store()
    wf = await new_builder().create_workflow(
        "DictOrder", {"qty": 1, "fail": True}, persistence_provider=store
    )
    await wf.next_step()
    await wf.next_step(user_input={"amount": 1})
    assert wf.status == "FAILED_ROLLED_BACK"

    loaded = await new_builder().load_workflow(wf.id, persistence_provider=backend.new_store())
    # the failed step's in-place change is dropped with its attempt, as on any state
    assert loaded.state["log"] == ["reserve", "release"]
    assert loaded.state["reserved"] == 0
