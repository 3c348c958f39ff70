from orders.models import OrderState
from orders.steps import charge_card, refund_card
from ruvon.models import StepContext


def test_charge_and_refund_alone():
    state = OrderState(order_id="A-1", amount=10.0)
    context = StepContext(workflow_id="test", step_name="Charge_Card")
    assert charge_card(state, context) == {"charged": True, "charge_id": "CH-A-1"}
    assert refund_card(state, context) == {"charged": False}
