"""A small order workflow's models and step functions, for the TestHarness tests (no tests here).

Definitions name these functions by dotted path (``test_testing_harness_app.reserve``);
``tests/unit`` is on ``sys.path`` (see its conftest). ``registry()`` builds definitions as
dicts; ``write_config()`` writes one as YAML for the discovery tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from ruvon.models import StepContext, WorkflowJumpDirective

APP = "test_testing_harness_app"
REAL_CALLS: list[str] = []  # step names, each time a real step function here runs
FORWARD_RESULTS: list[dict[str, Any] | None] = []  # what refund_recording was told


class Order(BaseModel):
    order_id: str = "A-1"
    reserved: bool = False
    reservation: str | None = None
    charged: bool = False
    charge_id: str | None = None
    notified: bool = False
    shipped: bool = False
    approved_by: str | None = None
    items: list[str] = []
    held: list[str] = []  # items reserved one by one in a LOOP
    undo_log: list[str] = []  # compensations append here (a history, not restored)
    fail: list[str] = []  # steps that raise


class Approval(BaseModel):
    by: str


def _ran(state: Order, context: StepContext) -> None:
    REAL_CALLS.append(context.step_name)
    if context.step_name in state.fail:
        raise RuntimeError(f"{context.step_name} failed")


def reserve(state: Order, context: StepContext, **_: Any) -> dict[str, Any]:
    _ran(state, context)
    return {"reserved": True, "reservation": f"R-{state.order_id}"}


def release(state: Order, context: StepContext, **_: Any) -> dict[str, Any]:
    state.undo_log.append("release")
    return {"reserved": False, "reservation": None}


def charge(state: Order, context: StepContext, **_: Any) -> dict[str, Any]:
    _ran(state, context)
    return {"charged": True, "charge_id": f"C-{state.order_id}"}


def refund(state: Order, context: StepContext, **_: Any) -> dict[str, Any]:
    """Leaves ``charge_id`` set: the id of a refunded charge."""
    state.undo_log.append("refund")
    return {"charged": False}


def refund_recording(state: Order, context: StepContext, **_: Any) -> dict[str, Any]:
    FORWARD_RESULTS.append(context.forward_result)
    return {"charged": False}


def refund_fails(state: Order, context: StepContext, **_: Any) -> dict[str, Any]:
    state.undo_log.append("refund attempt")  # dropped: a failed compensation leaves no trace
    raise ConnectionError("refund service down")


def notify(state: Order, context: StepContext, **_: Any) -> dict[str, Any]:
    _ran(state, context)
    return {"notified": True}


def approve(state: Order, context: StepContext, **user_input: Any) -> dict[str, Any]:
    _ran(state, context)
    return {"approved_by": user_input["by"]}


def ship(state: Order, context: StepContext, **_: Any) -> dict[str, Any]:
    _ran(state, context)
    return {"shipped": True}


async def ship_async(state: Order, context: StepContext, **_: Any) -> dict[str, Any]:
    _ran(state, context)
    return {"shipped": True}


def unship(state: Order, context: StepContext, **_: Any) -> dict[str, Any]:
    state.undo_log.append("unship")
    return {"shipped": False}


async def unship_async(state: Order, context: StepContext, **_: Any) -> dict[str, Any]:
    return unship(state, context)


def hold(state: Order, context: StepContext, item: str = "", **_: Any) -> dict[str, Any]:
    _ran(state, context)
    return {"held": [*state.held, item]}


def unhold(state: Order, context: StepContext, **_: Any) -> dict[str, Any]:
    return {"held": [i for i in state.held if i != context.loop_item]}


def skip_to_ship(state: Order, context: StepContext, **_: Any) -> dict[str, Any]:
    _ran(state, context)
    raise WorkflowJumpDirective("Ship", {"reserved": True})


def bad_result(state: Order, context: StepContext, **_: Any) -> Any:
    return "no_such_field"  # not a dict: the engine fails the step


def step(name: str, fn: str, comp: str | None = None, **keys: Any) -> dict[str, Any]:
    """One step mapping; ``fn``/``comp`` are names of functions in this module."""
    data: dict[str, Any] = {"name": name, "function": f"{APP}.{fn}", **keys}
    if comp is not None:
        data["compensate_function"] = f"{APP}.{comp}"
    return data


def loop(name: str, *body: dict[str, Any], **keys: Any) -> dict[str, Any]:
    """A LOOP step over ``state.items`` running ``body``."""
    return {
        "name": name,
        "type": "LOOP",
        "iterate_over": "state.items",
        "loop_body": list(body),
        **keys,
    }


def human(name: str, fn: str | None = "approve", **keys: Any) -> dict[str, Any]:
    """A HUMAN_IN_LOOP step that takes an Approval."""
    data: dict[str, Any] = {"name": name, "type": "HUMAN_IN_LOOP", "input_model": f"{APP}.Approval"}
    if fn is not None:
        data["function"] = f"{APP}.{fn}"
    return {**data, **keys}


def definition(*steps: dict[str, Any], wf_type: str = "Order", **top: Any) -> dict[str, Any]:
    return {
        "workflow_type": wf_type,
        "workflow_version": "1",
        "initial_state_model": f"{APP}.Order",
        "steps": list(steps),
        **top,
    }


def order_flow(**top: Any) -> dict[str, Any]:
    """Reserve → Charge (automated) → Approve (waits for an Approval) → Ship."""
    return definition(
        step("Reserve", "reserve", "release", automate_next=True),
        step("Charge", "charge", "refund"),
        step("Approve", "approve", input_model=f"{APP}.Approval"),
        step("Ship", "ship", "unship"),
        **top,
    )


def registry(*definitions: dict[str, Any]) -> dict[str, Any]:
    return {d["workflow_type"]: d for d in definitions}


def write_config(directory: Path, *definitions: dict[str, Any]) -> Path:
    """Write each definition to ``directory/config/<type>.yaml``; return the config dir."""
    config = directory / "config"
    config.mkdir(parents=True, exist_ok=True)
    for d in definitions:
        (config / f"{d['workflow_type'].lower()}.yaml").write_text(yaml.safe_dump(d))
    return config
