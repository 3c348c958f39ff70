"""Step functions and state for bench/control_flow.py: each does the same tiny work."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class FlowState(BaseModel):
    amount: int = 0
    count: int = 0
    items: list[int] = []
    route: str = ""


def work(state: FlowState, context: Any, **_: Any) -> dict[str, Any]:
    return {"count": state.count + 1}


def decide(state: FlowState, context: Any, **_: Any) -> dict[str, Any]:
    return {"route": "big" if state.amount > 100 else "small"}


def trivial(state: FlowState, context: Any, item: int = 0, **_: Any) -> dict[str, Any]:
    return {}
