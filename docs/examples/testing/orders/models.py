from pydantic import BaseModel


class OrderState(BaseModel):
    order_id: str
    amount: float
    stock_reserved: bool = False
    reservation_id: str | None = None
    charged: bool = False
    charge_id: str | None = None
    approved_by: str | None = None
    shipped: bool = False


class Approval(BaseModel):
    approved_by: str
