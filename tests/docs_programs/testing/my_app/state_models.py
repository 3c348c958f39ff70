# Not shown in docs/how-to-guides/testing.md, whose tests use it: the state of the OrderProcessing,
# UserOnboarding and RiskAssessment workflows we wrote for them (see docs/ruvon-docs-programs.md).
from typing import Optional

from pydantic import BaseModel


class OrderState(BaseModel):
    order_id: str
    customer_id: Optional[str] = None
    amount: Optional[float] = None
    status: Optional[str] = None
    approved: bool = False
    approved_by: Optional[str] = None
    rejection_reason: Optional[str] = None
    inventory_reserved: bool = False
    transaction_id: Optional[str] = None
    payment_id: Optional[str] = None
    refund_id: Optional[str] = None
    shipping_id: Optional[str] = None


class UserState(BaseModel):
    user_id: str
    user_name: Optional[str] = None


class RiskState(BaseModel):
    application_id: str
    credit_check_complete: bool = False
    fraud_check_complete: bool = False
    income_verification_complete: bool = False
