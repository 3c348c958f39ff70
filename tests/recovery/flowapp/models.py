"""The state of every flowapp workflow, and the input a person gives at an approval."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class FlowState(BaseModel):
    items: list[str] = []
    reserved: list[str] = []
    charged: list[str] = []
    charge_ref: str | None = None
    prepared: bool = False
    fail_after: bool = False  # After raises: drives the saga unwind
    approvals: list[str] = []
    reviewer: str | None = None
    approved: bool | None = None
    route: str | None = None
    branch: str | None = None
    done: bool = False
    loop_results: list[dict[str, Any]] | None = None
    loop_iterations: int | None = None


class Approval(BaseModel):
    approved: bool
    reviewer: str = Field(min_length=1)
