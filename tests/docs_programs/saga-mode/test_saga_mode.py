import pytest
from ruvon.testing.harness import TestHarness
from unittest.mock import Mock, patch

@pytest.mark.asyncio
async def test_saga_compensation():
    """Test saga compensation on failure."""

    harness = TestHarness()

    # Start workflow
    workflow = await harness.start_workflow(
        workflow_type="OrderProcessing",
        initial_data={
            "order_id": "ORD-001",
            "customer_id": "CUST-123",
            "amount": 99.99
        }
    )

    # Enable saga
    workflow.enable_saga_mode()

    # Mock shipping service to fail
    with patch('my_app.services.shipping_service.ship') as mock_ship:
        mock_ship.side_effect = Exception("Shipping unavailable")

        # Execute workflow - should fail and compensate
        try:
            await harness.next_step(workflow.id)
        except Exception:
            pass

        # Verify compensation ran
        assert workflow.status == "FAILED_ROLLED_BACK"
        assert workflow.state.inventory_reserved == False
        assert workflow.state.refund_id is not None

@pytest.mark.asyncio
async def test_saga_success():
    """Test saga with successful execution."""

    harness = TestHarness()

    workflow = await harness.start_workflow(
        workflow_type="OrderProcessing",
        initial_data={"order_id": "ORD-002"}
    )

    workflow.enable_saga_mode()

    # Execute successfully
    await harness.next_step(workflow.id)

    # No compensation should run
    assert workflow.status == "COMPLETED"
    assert workflow.state.inventory_reserved == True
    assert workflow.state.transaction_id is not None
