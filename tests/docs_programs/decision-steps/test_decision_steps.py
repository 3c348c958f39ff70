import pytest
from ruvon.testing.harness import TestHarness

@pytest.mark.asyncio
async def test_high_value_routing():
    """Test high value order routing."""

    harness = TestHarness()

    # Create workflow with high-value order
    workflow = await harness.start_workflow(
        workflow_type="OrderProcessing",
        initial_data={
            "order_id": "ORD-001",
            "amount": 15000  # High value
        }
    )

    # Execute decision step
    result = await harness.next_step(workflow.id)

    # Should route to Manual_Approval
    assert workflow.current_step == "Manual_Approval"

@pytest.mark.asyncio
async def test_standard_value_routing():
    """Test standard value order routing."""

    harness = TestHarness()

    workflow = await harness.start_workflow(
        workflow_type="OrderProcessing",
        initial_data={
            "order_id": "ORD-002",
            "amount": 99.99  # Standard value
        }
    )

    result = await harness.next_step(workflow.id)

    # Should route to Auto_Process
    assert workflow.current_step == "Auto_Process"
