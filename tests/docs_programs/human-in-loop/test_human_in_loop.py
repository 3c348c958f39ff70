import pytest
from ruvon.testing.harness import TestHarness

@pytest.mark.asyncio
async def test_approval_workflow():
    harness = TestHarness()

    # Start workflow
    workflow = await harness.start_workflow(
        workflow_type="OrderProcessing",
        initial_data={"order_id": "ORD-001", "amount": 1500.00}
    )

    # Execute until HITL step auto-pauses
    try:
        await harness.next_step(workflow.id, user_input={})
    except WorkflowPauseDirective:
        pass

    # Should be paused
    assert workflow.status == "WAITING_HUMAN"

    # Simulate approval
    await harness.next_step(workflow.id, user_input={
        "approved": True,
        "reviewer": "test@example.com"
    })

    # Should continue processing
    assert workflow.status in ("ACTIVE", "COMPLETED")
    assert workflow.state.approved_by == "test@example.com"

@pytest.mark.asyncio
async def test_rejection_workflow():
    harness = TestHarness()

    workflow = await harness.start_workflow(
        workflow_type="OrderProcessing",
        initial_data={"order_id": "ORD-002"}
    )

    try:
        await harness.next_step(workflow.id, user_input={})
    except WorkflowPauseDirective:
        pass

    # Reject
    await harness.next_step(workflow.id, user_input={
        "approved": False,
        "rejection_reason": "Invalid customer"
    })

    assert workflow.state.approved == False
