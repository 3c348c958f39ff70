# Not shown in docs/how-to-guides/decision-steps.md, which imports it: the smallest state model its
# routes and tests need (see docs/ruvon-docs-programs.md).
from pydantic import BaseModel


class OrderState(BaseModel):
    order_id: str
    amount: float
