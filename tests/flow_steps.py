"""Importable step functions and state for the control-flow tests (DECISION, HUMAN_IN_LOOP,
LOOP). Each function appends what it did to ``state.log``; a compensation appends ``undo:``.
``fail_at`` names steps that raise (``"Reserve@2"``: only in iteration 2)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ruvon.models import StepContext, WorkflowJumpDirective, WorkflowPauseDirective

CONTEXTS: list[tuple[str, Any, int | None, dict[str, Any]]] = []  # (step, item, index, input)


class Flow(BaseModel):
    log: list[str] = []
    amount: float = 0
    tier: str = "basic"
    items: list[Any] = []
    counter: int = 0
    approved: bool | None = None
    reviewer: str | None = None
    note: str | None = None
    fail_at: list[str] = []
    jump_to: str | None = None
    reserved: list[str] = []
    loop_iterations: int | None = None
    loop_results: list[dict[str, Any]] | None = None
    checked: bool = False


class Approval(BaseModel):
    approved: bool
    reviewer: str = Field(min_length=1)


def _fail(state: Flow, name: str, context: StepContext) -> None:
    if name in state.fail_at or f"{name}@{context.loop_index}" in state.fail_at:
        raise RuntimeError(f"{name} failed")


def mark(state: Flow, context: StepContext, **user_input: Any) -> dict[str, Any]:
    CONTEXTS.append((context.step_name, context.loop_item, context.loop_index, dict(user_input)))
    _fail(state, context.step_name, context)
    state.log.append(context.step_name)
    return {}


def undo(state: Flow, context: StepContext) -> dict[str, Any]:
    CONTEXTS.append((f"undo:{context.step_name}", context.loop_item, context.loop_index, {}))
    state.log.append(f"undo:{context.step_name}")
    return {}


def check(state: Flow, context: StepContext) -> dict[str, Any]:
    state.log.append(context.step_name)
    return {"checked": True}


def jumper(state: Flow, context: StepContext) -> dict[str, Any]:
    state.log.append(context.step_name)
    state.note = "changed before the jump"
    if state.jump_to:
        raise WorkflowJumpDirective(target_step=state.jump_to, result={"counter": 7})
    return {}


def pauser(state: Flow, context: StepContext) -> dict[str, Any]:
    state.log.append(context.step_name)
    raise WorkflowPauseDirective(result={"note": "paused"}, waiting_for="a manager")


def take_input(state: Flow, context: StepContext, **user_input: Any) -> dict[str, Any]:
    CONTEXTS.append((context.step_name, None, None, dict(user_input)))
    state.log.append(context.step_name)
    validated = context.validated_input
    if validated is not None:
        return {"approved": validated.approved, "reviewer": validated.reviewer}
    return {}


def reserve(state: Flow, context: StepContext, item: Any = None) -> dict[str, Any]:
    CONTEXTS.append((context.step_name, context.loop_item, context.loop_index, {"item": item}))
    _fail(state, context.step_name, context)
    state.log.append(f"{context.step_name}:{item}")
    return {"reserved": [*state.reserved, str(item)]}


def release(state: Flow, context: StepContext) -> dict[str, Any]:
    CONTEXTS.append((f"undo:{context.step_name}", context.loop_item, context.loop_index, {}))
    state.log.append(f"undo:{context.step_name}:{context.loop_item}")
    return {"reserved": [r for r in state.reserved if r != str(context.loop_item)]}


def count(state: Flow, context: StepContext) -> dict[str, Any]:
    _fail(state, context.step_name, context)
    state.log.append(f"{context.step_name}:{context.loop_index}")
    return {"counter": state.counter + 1}


INTERRUPT_ONCE: set[str] = set()  # workflow ids whose next take_input call is "killed"


def take_named_input(
    state: Flow, context: StepContext, approved: bool, reviewer: str
) -> dict[str, Any]:
    return {"note": f"{reviewer}:{approved}"}


def take_input_or_die(state: Flow, context: StepContext, **user_input: Any) -> dict[str, Any]:
    if context.workflow_id in INTERRUPT_ONCE:
        INTERRUPT_ONCE.discard(context.workflow_id)
        raise KeyboardInterrupt("the process dies here")  # not an Exception: not a failure
    return take_input(state, context, **user_input)


def needs_item(state: Flow, context: StepContext, item: Any) -> dict[str, Any]:
    """A body step whose item parameter has no default (the loop always passes it)."""
    state.log.append(f"got:{item}")
    return {}


# --- PARALLEL tasks ---------------------------------------------------------------------------

TASK_CALLS: list[tuple[str, Any, int | None]] = []  # (task scope's step, item, index)


class Travel(BaseModel):
    destination: str = "Lisbon"
    flight: str | None = None
    hotel: str | None = None
    car: str | None = None
    details: dict[str, Any] = {}
    prices: dict[str, float] = {}
    cities: list[str] = []
    booked: list[str] = []
    fail: list[str] = []
    log: list[str] = []


def book(state: Travel, context: StepContext, **_: Any) -> dict[str, Any]:
    name = context.scope.rsplit(":", 1)[-1] if context.scope else context.step_name
    TASK_CALLS.append((name, context.loop_item, context.loop_index))
    state.log.append(f"mutated-by-{name}")  # a copy: never reaches the live state
    if name in state.fail:
        raise RuntimeError(f"{name} unavailable")
    return {name: f"{name}-for-{state.destination}", "details": {name: True}}


def unbook(state: Travel, context: StepContext) -> dict[str, Any]:
    name = context.scope.rsplit(":", 1)[-1] if context.scope else context.step_name
    state.log.append(f"undo:{name}")
    return {name: None}


def price_city(state: Travel, context: StepContext, city: str = "") -> dict[str, Any]:
    TASK_CALLS.append(("price", city, context.loop_index))
    if city in state.fail:
        raise RuntimeError(f"no price for {city}")
    return {"prices": {city: float(len(city))}}


def unprice(state: Travel, context: StepContext) -> dict[str, Any]:
    state.log.append(f"unprice:{context.loop_item}:{context.loop_index}")
    return {}


def slow(state: Travel, context: StepContext, **_: Any) -> dict[str, Any]:
    import time

    time.sleep(0.3)
    return {}


def merge_prices(results: dict[str, dict[str, Any]], state: Travel) -> dict[str, Any]:
    return {"booked": sorted(results)}


# --- FIRE_AND_FORGET and ASYNC -----------------------------------------------------------------


class Parent(BaseModel):
    customer: str = "ann"
    amount: float = 10.0
    spawned_workflows: list[str] = []
    spawned_workflow_id: str | None = None
    charged: bool = False
    fail: bool = False


class Receipt(BaseModel):
    customer: str
    amount: float
    sent: bool = False


def send_receipt(state: Receipt, context: StepContext, **_: Any) -> dict[str, Any]:
    return {"sent": True}


async def charge_async(state: Parent, context: StepContext, **_: Any) -> dict[str, Any]:
    if state.fail:
        raise RuntimeError("declined")
    return {"charged": True}


def uncharge(state: Parent, context: StepContext) -> dict[str, Any]:
    return {"charged": False}


# --- regressions found by trying to break the control-flow steps --------------------------------

REFUND_FAILS: set[str] = set()  # workflow ids whose next refund raises
REFUND_DIES: set[str] = set()  # workflow ids whose next refund "kills the process"


def refund(state: Flow, context: StepContext) -> dict[str, Any]:
    if context.workflow_id in REFUND_DIES:
        REFUND_DIES.discard(context.workflow_id)
        raise KeyboardInterrupt("the process dies in the refund")
    if context.workflow_id in REFUND_FAILS:
        raise ConnectionError("the provider is down")
    state.log.append(f"refund:{context.loop_index}")
    return {}


def pause_unstorable(state: Flow, context: StepContext) -> dict[str, Any]:
    raise WorkflowPauseDirective(waiting_for=object() if state.tier == "object" else 10**5000)


def huge_extra(state: Flow, context: StepContext) -> dict[str, Any]:
    return {"note": "kept", "not_a_field": 10**5000}


def take_item(state: Flow, context: StepContext, item: Any = None, **_: Any) -> dict[str, Any]:
    return {"note": f"item={item}"}


def mark_loop_item(state: Flow, context: StepContext, **_: Any) -> dict[str, Any]:
    context.loop_item["seen"] = True  # in place, through the context: kept like any change
    return {}


def interrupted(state: Travel, context: StepContext, **_: Any) -> dict[str, Any]:
    raise KeyboardInterrupt("the operator pressed Ctrl-C in a task")


# --- PARALLEL timeouts: tasks that outlast the step's deadline ----------------------------------

BLOCKING: dict[str, Any] = {"seconds": 1.0, "runs": []}  # the blocking task's sleep and its runs


def block(state: Travel, context: StepContext, **_: Any) -> dict[str, Any]:
    """Blocks its thread (the event loop's, under SyncExecutor) for ``BLOCKING["seconds"]``."""
    import time

    runs: list[str] = BLOCKING["runs"]
    runs.append(context.scope)
    time.sleep(BLOCKING["seconds"])
    return {"flight": f"run-{len(runs)}"}


def block_then_fail(state: Travel, context: StepContext, **_: Any) -> dict[str, Any]:
    import time

    BLOCKING["runs"].append(context.scope)
    time.sleep(BLOCKING["seconds"])
    raise RuntimeError("the supplier broke")


async def wait_long(state: Travel, context: StepContext, **_: Any) -> dict[str, Any]:
    import asyncio

    BLOCKING["runs"].append(context.scope)
    await asyncio.sleep(30)
    return {"car": "too late"}
