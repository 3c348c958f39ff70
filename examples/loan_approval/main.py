"""A loan application on a SQLite file, driven from separate processes:

    python main.py apply <applicant> <amount> [--notify-fails]   # prints the workflow id
    python main.py review <id> approve|reject <reviewer>
    python main.py decide-compensation <id> approve|reject <operator> [reason]
    python main.py show <id>
"""

import asyncio
import os
import sys

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider

DB = os.environ.get("LOAN_DB", "loans.db")


def show(wf) -> None:
    print(f"workflow {wf.id}: {wf.status.value} at {wf.current_step_name}")
    waiting = wf.waiting_for
    if waiting:
        print(f"  waits for: {waiting.get('scope') or waiting['step']}")


async def main(args: list[str]) -> None:
    store = SQLitePersistenceProvider(DB)
    builder = WorkflowBuilder(persistence_provider=store)
    try:
        command = args[0]
        if command == "apply":
            data = {"applicant": args[1], "amount": float(args[2])}
            data["notify_fails"] = "--notify-fails" in args
            wf = await builder.create_workflow("LoanApplication", data)
            print(f"id {wf.id}")
            await wf.run()
        elif command == "review":
            wf = await builder.load_workflow(args[1])
            await wf.resume({"approved": args[2] == "approve", "reviewer": args[3]})
            await wf.run()
        elif command == "decide-compensation":
            wf = await builder.load_workflow(args[1])
            reason = args[4] if len(args) > 4 else None
            if args[2] == "approve":
                await wf.approve_compensation(args[3], reason=reason)
            else:
                await wf.reject_compensation(args[3], reason=reason)
        else:
            wf = await builder.load_workflow(args[1])
            for entry in wf.compensation_journal:
                who = f" by {entry.decided_by}" if entry.decided_by else ""
                print(f"  {entry.status.value:<9} {entry.scope}{who}")
        show(wf)
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
