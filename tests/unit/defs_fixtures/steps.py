"""Step functions, models and exceptions referenced from test YAML as ``defs_fixtures.steps.*``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class OrderState(BaseModel):
    order_id: str = ""
    amount: float = 0.0


class ApprovalInput(BaseModel):
    approved: bool


class NotAModel:
    """A plain class: not a pydantic model."""


class TransientError(Exception):
    """A user exception that ``retry_on`` names by bare class name or dotted path."""


class FlakyNetworkError(TransientError):
    """A subclass: retried when its base class is listed."""


class PaymentDeclined(Exception):
    """A user exception that is never listed in ``retry_on``."""


def ok_step(state: OrderState, context: Any, **user_input: Any) -> dict[str, Any]:
    return {}


def undo_step(state: OrderState, context: Any, **user_input: Any) -> dict[str, Any]:
    return {}


async def async_step(state: OrderState, context: Any, **user_input: Any) -> dict[str, Any]:
    return {}


async def async_undo(state: OrderState, context: Any, **user_input: Any) -> dict[str, Any]:
    return {}


def no_params_step() -> dict[str, Any]:
    return {}


def wrong_params_step(order: OrderState, ctx: Any) -> dict[str, Any]:
    return {}


def extra_required_step(state: OrderState, context: Any, amount: float) -> dict[str, Any]:
    return {}


NOT_CALLABLE = "a string, not a function"
