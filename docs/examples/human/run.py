import asyncio
import os
import tempfile

from ruvon.builder import WorkflowBuilder
from ruvon.errors import WorkflowValidationError
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider


async def main() -> None:
    db = os.path.join(tempfile.mkdtemp(), "expenses.db")

    # the program that submits: it stops where a person must decide
    store = SQLitePersistenceProvider(db)
    wf = await WorkflowBuilder(persistence_provider=store).create_workflow(
        "ExpenseApproval", {"employee": "ann", "amount": 420.0}
    )
    await wf.next_step()
    print(wf.status.value, "at", wf.current_step_name)
    print("waits for:", wf.waiting_for["step"], sorted(wf.waiting_for["input_schema"]["properties"]))
    await store.close()

    # later, another program (a web handler, a CLI) resumes it by id
    store = SQLitePersistenceProvider(db)
    later = await WorkflowBuilder(persistence_provider=store).load_workflow(wf.id)
    try:
        await later.resume({"approved": "maybe", "approver": ""})
    except WorkflowValidationError as exc:  # also a ValueError; nothing was written
        print("refused:", exc)
    print(later.status.value, "at", later.current_step_name)
    await later.resume({"approved": True, "approver": "bo", "comment": "ok"})
    print(later.status.value, later.state.approver, later.state.paid, later.state.outcome)
    await store.close()


asyncio.run(main())
