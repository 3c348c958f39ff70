from typing import Any

from pydantic import BaseModel, Field


class Trip(BaseModel):
    trip_id: str
    traveller: str
    amount: float = Field(gt=0)
    fail_confirm: bool = False  # the late failure the example injects
    bookings: dict[str, str] = {}
    notification: dict[str, Any] | None = None
    confirmed: bool = False
    sub_workflow_results: dict[str, Any] = {}


class Payment(BaseModel):
    trip_id: str
    amount: float
    authorization: str | None = None
    capture: str | None = None
