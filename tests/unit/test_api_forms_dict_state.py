"""``initial_state_model: builtins.dict``: the state is a dict-like pydantic model (DictState)."""

from __future__ import annotations

import json
from collections.abc import Mapping, MutableMapping
from typing import Any

import pytest

from ruvon.builder import WorkflowBuilder
from ruvon.definition import load_definition
from ruvon.definition.dict_state import DictState
from ruvon.errors import DefinitionError
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.models import StepContext, WorkflowPauseDirective
from ruvon.runtime.merge import dump_state, merge_result

HERE = "test_api_forms_dict_state"

# --- steps written against a dict, as the getting-started tutorial's are -------------------------


def greet_user(state: dict, context: StepContext, name: str = "World") -> dict:
    return {"greeting": f"Hello, {state.get('name', name)}!"}


def count_in_place(state: dict, context: StepContext) -> None:
    state["count"] = state.get("count", 0) + 1  # in-place: kept without being returned
    state.setdefault("seen", []).append(context.step_name)
    if "greeting" in state:
        state["greeted"] = True


def read_as_attributes(state: Any, context: StepContext) -> dict[str, Any]:
    return {"by_attribute": f"{state.name}/{state.count}"}


def wait_for_input(state: dict, context: StepContext) -> dict:
    raise WorkflowPauseDirective(result={"asked": True})


def say_goodbye(state: dict, context: StepContext, **user_input: Any) -> dict:
    del state["asked"]  # an in-place deletion is kept too
    answer = user_input["answer"]
    return {"answer": answer, "farewell": f"Goodbye, {state['name']}! ({answer})"}


def definition(model: str = "builtins.dict", key: str = "initial_state_model") -> dict[str, Any]:
    def step(name: str, fn: str, auto: bool = True) -> dict[str, Any]:
        return {"name": name, "function": f"{HERE}.{fn}", "automate_next": auto}

    return {
        "workflow_type": "HelloWorkflow",
        "workflow_version": "1.0.0",
        key: model,
        "steps": [
            step("Greet_User", "greet_user"),
            step("Count", "count_in_place"),
            step("Attributes", "read_as_attributes"),
            step("Ask", "wait_for_input"),
            step("Say_Goodbye", "say_goodbye", auto=False),
        ],
    }


EXPECTED_FINAL = {
    "name": "Alice",
    "greeting": "Hello, Alice!",
    "count": 1,
    "seen": ["Count"],
    "greeted": True,
    "by_attribute": "Alice/1",
    "answer": 42,
    "farewell": "Goodbye, Alice! (42)",
}


# --- the model ------------------------------------------------------------------------------------


def test_dict_state__reads_and_writes_like_a_dict() -> None:
    state = DictState.model_validate({"name": "Alice", "n": 1})

    assert state["name"] == state.get("name") == state.name == "Alice"
    assert state.get("missing") is None and state.get("missing", 7) == 7
    assert "name" in state and "missing" not in state
    assert (len(state), list(state), list(state.keys())) == (2, ["name", "n"], ["name", "n"])
    assert list(state.values()) == ["Alice", 1]
    assert list(state.items()) == [("name", "Alice"), ("n", 1)]
    state["n"] = 2
    state.extra_key = "set as attribute"
    state.update({"a": 1}, b=2)
    assert state.setdefault("n", 99) == 2 and state.setdefault("c", []) == []
    assert state.pop("c") == [] and state.pop("c", "gone") == "gone"
    del state["a"]
    assert dict(state) == {"name": "Alice", "n": 2, "extra_key": "set as attribute", "b": 2}
    assert state.copy() == dict(state) and type(state.copy()) is dict
    assert state.popitem() == ("b", 2)
    state.clear()
    assert len(state) == 0 and dict(state) == {}


def test_dict_state__is_a_mapping_that_compares_and_prints_as_a_dict() -> None:
    state = DictState.model_validate({"name": "Alice", "greeting": "Hello, Alice!"})

    assert isinstance(state, Mapping) and isinstance(state, MutableMapping)
    assert state == {"name": "Alice", "greeting": "Hello, Alice!"}
    assert state != {"name": "Bob"}
    assert state == DictState.model_validate(dict(state))
    assert str(state) == repr(state) == "{'name': 'Alice', 'greeting': 'Hello, Alice!'}"
    assert f"Final state: {state}" == "Final state: {'name': 'Alice', 'greeting': 'Hello, Alice!'}"


def test_dict_state__missing_key_and_non_string_key_are_errors() -> None:
    state = DictState()
    with pytest.raises(KeyError):
        state["nope"]
    with pytest.raises(KeyError):
        state.pop("nope")
    with pytest.raises(TypeError, match="state keys must be strings"):
        state[1] = "x"  # type: ignore[index]


def test_dict_state__merges_and_stores_through_the_engines_path() -> None:
    state = DictState.model_validate({"name": "Alice"})
    state["in_place"] = [1]

    merged = merge_result(state, {"count": 3, "nested": {"k": (1, 2)}}, "Step")

    assert merged.state == {"name": "Alice", "in_place": [1], "count": 3, "nested": {"k": [1, 2]}}
    assert type(merged.state) is DictState
    assert merged.result == {"count": 3, "nested": {"k": [1, 2]}}
    assert json.loads(merged.state_json) == dict(merged.state)
    assert dict(state) == {"name": "Alice", "in_place": [1]}  # the live state is untouched
    assert json.loads(dump_state(DictState(), "s")) == {}


@pytest.mark.parametrize(
    ("key", "model"),
    [
        ("initial_state_model", "builtins.dict"),
        ("initial_state_model", "dict"),
        ("initial_state_model_path", "builtins.dict"),
    ],
)
def test_dict_state__builtins_dict_names_it(key: str, model: str) -> None:
    assert load_definition(definition(model, key), source="inline").state_model is DictState


def test_dict_state__other_builtins_are_still_refused() -> None:
    with pytest.raises(DefinitionError, match=r"'builtins\.list' is not a pydantic BaseModel"):
        load_definition(definition("builtins.list"), source="inline")


# --- a whole workflow on the in-memory store ------------------------------------------------------


async def test_dict_state__runs_a_whole_workflow_and_reloads() -> None:
    store = InMemoryPersistenceProvider()
    b = WorkflowBuilder(workflow_registry={"HelloWorkflow": definition()})

    wf = await b.create_workflow("HelloWorkflow", {"name": "Alice"}, persistence_provider=store)
    assert type(wf.state) is DictState and wf.state == {"name": "Alice"}
    await wf.next_step(user_input={})
    assert wf.status == "PAUSED" and wf.state["asked"] is True

    paused = await b.load_workflow(wf.id, persistence_provider=store)
    assert type(paused.state) is DictState and paused.state == wf.state
    await paused.next_step(user_input={"answer": 42})
    assert paused.status == "COMPLETED"
    assert paused.state == EXPECTED_FINAL

    done = await b.load_workflow(wf.id, persistence_provider=store)
    assert done.state == EXPECTED_FINAL
    assert str(done.state) == str(EXPECTED_FINAL)


async def test_dict_state__no_initial_data_starts_empty() -> None:
    b = WorkflowBuilder(workflow_registry={"HelloWorkflow": definition()})
    store = InMemoryPersistenceProvider()
    wf = await b.create_workflow("HelloWorkflow", persistence_provider=store)
    await wf.next_step()
    assert wf.state["greeting"] == "Hello, World!"
