import asyncio

from ruvon import WorkflowBuilder
from ruvon.errors import WorkflowValidationError
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider


async def main() -> None:
    store = InMemoryPersistenceProvider()
    builder = WorkflowBuilder(persistence_provider=store)  # definitions from ./config

    wf = await builder.create_workflow("Order", {"order_id": "A-1", "amount": 250})
    print(wf.workflow_type, wf.workflow_version, wf.status, wf.current_step, wf.current_step_name)
    print(
        f"version {wf.version}, saga_mode {wf.saga_mode}, lease {wf.lease_expires_at is not None}"
    )

    result = await wf.next_step()  # Reserve and Charge run (automate_next), then Approve waits
    print(result, wf.status, wf.current_step_name, "version", wf.version)
    waits = wf.waiting_for
    print(waits["step"], waits["input_model"], waits["input_schema"]["required"])
    print(await wf.run())  # returns at once: the workflow waits for input

    try:
        await wf.resume({"approved": "perhaps"})
    except WorkflowValidationError as exc:  # nothing was written
        print(type(exc).__name__, "-", exc)
    print(await wf.resume({"approved": True}), wf.status, wf.current_step_name)

    for record in wf.history:
        print(" ", record.seq, record.step_name, record.status.value, record.result)
    for row in await store.audit_log(wf.id):
        print(" ", row["from_status"], "->", row["to_status"], f"({row['reason']})")
    print(sorted(wf.to_dict()))

    again = await builder.load_workflow(wf.id)  # another object, as another process would get
    print(again.status, again.state == wf.state, again.last_result, again.version == wf.version)
    print(
        f"same runner {again.runner_id == wf.runner_id}, lease {again.lease_expires_at is not None}"
    )

    first = await builder.create_workflow(
        "Order", {"order_id": "A-2", "amount": 5}, idempotency_key="A-2"
    )
    second = await builder.create_workflow(
        "Order", {"order_id": "B-9", "amount": 7}, idempotency_key="A-2"
    )
    print("same workflow", second.id == first.id, second.state.order_id)


asyncio.run(main())
