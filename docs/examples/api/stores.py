import asyncio
import os
import tempfile
from pathlib import Path

import shop

from ruvon import WorkflowBuilder

CONFIG = Path(__file__).resolve().parent / "config"
order = {"order_id": "S-1", "amount": 20}


async def main() -> None:
    # no store given and no $RUVON_DATABASE_URL: sqlite:///ruvon.db in the working directory
    builder = WorkflowBuilder(config_dir=CONFIG)
    print("before first use:", builder.persistence_provider)
    wf = await builder.create_workflow("Order", order)
    store = builder.persistence_provider
    print(type(store).__name__, store.where, wf.persistence is store)

    await store.close()
    await store.close()  # a second close does nothing
    print("closed; next call opens it again:", (await builder.load_workflow(wf.id)).status)

    packing = await builder.create_workflow("Packing", order)
    task = asyncio.create_task(packing.next_step())
    await shop.PACKING["started"].wait()  # the ASYNC step is running
    await store.close()  # closed under it: its commit opens the file again
    shop.PACKING["go"].set()
    print("in flight:", await task, packing.status)

    os.environ["RUVON_DATABASE_URL"] = "sqlite:///orders.db"
    program = WorkflowBuilder(config_dir=CONFIG, lease_seconds=0.5)
    wf = await program.create_workflow("Order", order)
    await wf.enable_saga_mode()  # awaited: written now, so recovery may continue it
    lease = wf.lease_expires_at - wf.updated_at.timestamp()
    print(f"version {wf.version}, saga_mode stored, lease {lease:.1f} s")
    del wf  # as if the program died here; its lease runs out after 0.5 s
    await asyncio.sleep(0.6)
    recoverer = WorkflowBuilder(config_dir=CONFIG)
    recovered = await recoverer.recover()
    back = await recoverer.load_workflow(recovered[0])
    print("recovered", len(recovered), back.status, back.current_step_name, back.saga_mode)
    print(recoverer.persistence_provider.where, sorted(p.name for p in Path().glob("*.db")))
    for b in (builder, program, recoverer):
        await b.persistence_provider.close()


here = os.getcwd()
with tempfile.TemporaryDirectory() as tmp:
    os.chdir(tmp)  # the databases go to a scratch directory, not next to this file
    try:
        asyncio.run(main())
    finally:
        os.chdir(here)
