async def test_order_runs_to_completion(harness, order):
    workflow = await harness.start_workflow("OrderFlow", order)
    assert workflow.status == "ACTIVE"

    result = await harness.next_step(workflow.id)  # Reserve_Stock, then Charge_Card
    assert result == {"charged": True, "charge_id": "CH-A-100"}
    assert workflow.status == "PAUSED"  # Approve has an input_model: it waits
    assert workflow.waiting_for["step"] == "Approve"

    await harness.next_step(workflow.id, user_input={"approved_by": "ops@example.com"})
    await harness.next_step(workflow.id)  # Ship
    assert workflow.status == "COMPLETED"
    assert workflow.state.shipped


async def test_run_all_steps_gives_each_step_its_input(harness, order):
    await harness.start_workflow("OrderFlow", order)
    status = await harness.run_all_steps({"Approve": {"approved_by": "ops@example.com"}})
    assert status == "COMPLETED"
    assert harness.current_state.approved_by == "ops@example.com"


async def test_what_was_persisted(harness, order):
    workflow = await harness.start_workflow("OrderFlow", order)
    await harness.next_step(workflow.id)
    stored = await harness.load_workflow(workflow.id)
    assert stored is not workflow
    assert stored.state == workflow.state
    assert stored.current_step_name == "Approve"
    assert [r.step_name for r in stored.history] == ["Reserve_Stock", "Charge_Card"]
