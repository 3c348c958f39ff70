# Not shown in docs/how-to-guides/human-in-loop.md, which imports it: the smallest state model its
# steps and tests need (see docs/ruvon-docs-programs.md).
from typing import Optional

from pydantic import BaseModel


class OrderState(BaseModel):
    order_id: str
    amount: Optional[float] = None
    approved: bool = False
    approved_by: Optional[str] = None
