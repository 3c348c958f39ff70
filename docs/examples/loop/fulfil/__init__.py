from typing import Any

from pydantic import BaseModel

from ruvon.models import StepContext


class Line(BaseModel):
    sku: str
    qty: int


class Order(BaseModel):
    lines: list[Line]
    reserved: dict[str, int] = {}
    card_ok: bool = True
    charged: bool = False
    loop_iterations: int | None = None


def reserve(state: Order, context: StepContext, line: Any = None, **_: Any) -> dict:
    # the item comes as the keyword named by item_var_name, and as context.loop_item
    reserved = dict(state.reserved)
    reserved[line.sku] = line.qty
    print(f"  reserve {line.sku} x{line.qty} (iteration {context.loop_index})")
    return {"reserved": reserved}


def release(state: Order, context: StepContext) -> dict:
    sku = context.loop_item["sku"]  # in a compensation the item is its stored JSON form
    print(f"  release {sku} (iteration {context.loop_index})")
    return {"reserved": {k: v for k, v in state.reserved.items() if k != sku}}


def charge(state: Order, context: StepContext, **_: Any) -> dict:
    if not state.card_ok:
        raise RuntimeError("card declined")
    return {"charged": True}
