"""The published original engine, ``ruvon-sdk==0.1.5``, in ``bench/.venvs/ruvon-sdk``.

    bench/.venvs/ruvon-sdk/bin/python bench/engines/ruvon_sdk_worker.py --store memory \
        --variant rollback --runs 1000

Runs the tutorial's ``main.py`` loop on the same ``workflow.yaml`` and step bodies, with the
adaptations 0.1.5's API requires (each is listed in ``ADAPTATIONS`` and in
docs/benchmarks.md). For Postgres, ``--db`` must name a database that already holds the
schema (``bench/run.py`` prepares it with the package's own Alembic migrations).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator
from ruvon.implementations.observability.logging import LoggingObserver
from ruvon.implementations.templating.jinja2 import Jinja2TemplateEngine
from ruvon.models import SagaWorkflowException

EXPECTED = {"success": "COMPLETED", "rollback": "FAILED_ROLLED_BACK"}
# 0.1.5 reads the state model from ``initial_state_model_path`` in the registry entry (the
# tutorial YAML's ``initial_state_model`` key is not read), and needs a registry at all.
REGISTRY = {
    "PaymentProcessing": {
        "config_file": str(harness.WORKFLOW_YAML),
        "initial_state_model_path": "workloads.payment.models.PaymentState",
    }
}


async def make_store(args: Any) -> Any:
    if args.store == "memory":
        # the tutorial's ``InMemoryPersistenceProvider`` is called ``InMemoryPersistence`` here
        from ruvon.implementations.persistence.memory import InMemoryPersistence

        store: Any = InMemoryPersistence()
    elif args.store == "postgres":
        from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

        # pool defaults (min 10, max 50) already cover 50 in flight
        store = PostgresPersistenceProvider(args.db)
    else:
        from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider

        store = SQLitePersistenceProvider(args.db)
    await store.initialize()
    if args.store.startswith("sqlite"):
        # it opens the file in WAL mode but has no ``synchronous`` option: set it on its
        # aiosqlite connection, as its users would
        await store.conn.execute(f"PRAGMA synchronous = {harness.sqlite_sync(args.store)}")
    return store


async def main() -> None:
    args = harness.parse_args(__doc__ or "")
    expected = EXPECTED[harness.set_variant(args.variant)]
    builder = WorkflowBuilder(
        workflow_registry=REGISTRY,
        expression_evaluator_cls=SimpleExpressionEvaluator,
        template_engine_cls=Jinja2TemplateEngine,
        config_dir=str(harness.BENCH),
    )
    executor, observer = SyncExecutor(), LoggingObserver()

    async def one(store: Any) -> None:
        workflow = await builder.create_workflow(
            workflow_type="PaymentProcessing",
            persistence_provider=store,
            execution_provider=executor,
            workflow_observer=observer,
            workflow_builder=builder,
            expression_evaluator_cls=SimpleExpressionEvaluator,
            template_engine_cls=Jinja2TemplateEngine,
            initial_data=harness.INITIAL,
        )
        await workflow.enable_saga_mode()  # a coroutine in 0.1.5: not awaiting it leaves it off
        try:
            while workflow.status == "ACTIVE":
                await workflow.next_step()
        except SagaWorkflowException:
            pass  # 0.1.5 raises this after the compensations ran (status FAILED_ROLLED_BACK)
        assert workflow.status == expected, workflow.status

    store = await make_store(args)
    await one(store)  # warm-up
    if args.store == "postgres":
        await store.close()
        before = harness.pg_counters(args.db)
        store = await make_store(args)
    sqlite_commits = harness.SQLiteCommits()
    if args.store.startswith("sqlite"):
        sqlite_commits.attach(store.conn._conn)  # the sqlite3 connection behind aiosqlite

    elapsed, latencies = await harness.drive_async(lambda: one(store), args.runs, args.concurrency)

    await store.close()
    extra: dict[str, Any] = {}
    commits: float | None = None  # its in-memory store has no commits to count
    if args.store == "postgres":
        extra = harness.pg_per_workflow(before, harness.pg_counters(args.db), args.runs)
        commits = extra.pop("commits")
    elif args.store.startswith("sqlite"):
        commits = sqlite_commits.count / args.runs
    harness.emit(args.runs, elapsed, latencies, commits, **extra)


if __name__ == "__main__":
    with harness.quiet():
        asyncio.run(main())
