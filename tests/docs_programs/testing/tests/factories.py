# tests/factories.py
from my_app.state_models import OrderState

class OrderFactory:
    """Factory for creating test orders."""

    @staticmethod
    def create_standard_order(**kwargs):
        """Create standard order for testing."""
        defaults = {
            "order_id": "ORD-001",
            "customer_id": "CUST-123",
            "amount": 99.99,
            "items": [{"id": "ITEM-1", "quantity": 1}]
        }
        defaults.update(kwargs)
        return defaults

    @staticmethod
    def create_high_value_order(**kwargs):
        """Create high-value order for testing."""
        defaults = OrderFactory.create_standard_order()
        defaults["amount"] = 15000
        defaults.update(kwargs)
        return defaults

# Use in tests
@pytest.mark.asyncio
async def test_with_factory():
    harness = TestHarness()

    workflow = await harness.start_workflow(
        workflow_type="OrderProcessing",
        initial_data=OrderFactory.create_standard_order()
    )
