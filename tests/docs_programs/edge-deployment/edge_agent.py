"""
Ruvon Edge Agent

Runs workflows on edge devices with offline support.
"""

import asyncio
import uuid
from datetime import datetime
from pathlib import Path

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.observability.logging import LoggingObserver
from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator
from ruvon.implementations.templating.jinja2 import Jinja2TemplateEngine

from edge_app.sync_manager import SyncManager


async def initialize_edge_database(db_path: str):
    """Initialize SQLite database for edge device"""
    persistence = SQLitePersistenceProvider(db_path=db_path)
    await persistence.initialize()

    # Create minimal schema
    await persistence.conn.executescript("""
        CREATE TABLE IF NOT EXISTS workflow_executions (
            id TEXT PRIMARY KEY,
            workflow_type TEXT NOT NULL,
            current_step INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT '{}',
            steps_config TEXT NOT NULL DEFAULT '[]',
            state_model_path TEXT NOT NULL,
            created_at TEXT DEFAULT CURRENT_TIMESTAMP,
            updated_at TEXT DEFAULT CURRENT_TIMESTAMP
        );

        CREATE TABLE IF NOT EXISTS workflow_execution_logs (
            log_id INTEGER PRIMARY KEY AUTOINCREMENT,
            workflow_id TEXT NOT NULL,
            step_name TEXT,
            log_level TEXT NOT NULL,
            message TEXT NOT NULL,
            logged_at TEXT DEFAULT CURRENT_TIMESTAMP
        );
    """)

    return persistence


async def process_payment(builder: WorkflowBuilder, persistence, sync_manager: SyncManager, transaction_data: dict):
    """
    Process a payment transaction
    """
    # Create workflow
    workflow = await builder.create_workflow(
        workflow_type="EdgePayment",
        persistence_provider=persistence,
        execution_provider=SyncExecutor(),
        workflow_observer=LoggingObserver(),
        workflow_builder=builder,
        initial_data=transaction_data,
    )

    print(f"\n{'='*70}")
    print(f"  PROCESSING PAYMENT: {transaction_data['transaction_id']}")
    print(f"{'='*70}")

    # Execute workflow
    while workflow.status == "ACTIVE":
        await workflow.next_step()

        if workflow.status == "COMPLETED":
            break

    # Queue for sync if offline approval
    if workflow.state.offline_approved and not workflow.state.synced_to_cloud:
        await sync_manager.queue_for_sync(workflow.id)

    return workflow


async def main():
    print("="*70)
    print("  RUFUS EDGE AGENT - PAYMENT TERMINAL")
    print("="*70)

    # Initialize edge persistence
    print("\n💾 Initializing edge database...")
    persistence = await initialize_edge_database("edge_terminal.db")
    print("✓ SQLite database ready")

    # Create workflow builder
    print("\n⚙️  Initializing workflow engine...")
    builder = WorkflowBuilder(
        expression_evaluator_cls=SimpleExpressionEvaluator,
        template_engine_cls=Jinja2TemplateEngine,
    )
    print("✓ Edge workflow loaded")

    # Create sync manager
    sync_manager = SyncManager(
        persistence_provider=persistence,
        cloud_url="https://api.example.com"  # Cloud API endpoint
    )

    # Simulate 3 payment transactions
    print("\n" + "="*70)
    print("  SIMULATING PAYMENT TRANSACTIONS")
    print("="*70)

    transactions = [
        {
            "transaction_id": f"TXN-{uuid.uuid4().hex[:8].upper()}",
            "device_id": "POS-TERMINAL-001",
            "merchant_id": "MERCHANT-123",
            "amount": 45.99,
            "card_last_four": "1234",
            "card_type": "Visa",
            "processed_at": datetime.utcnow(),
        },
        {
            "transaction_id": f"TXN-{uuid.uuid4().hex[:8].upper()}",
            "device_id": "POS-TERMINAL-001",
            "merchant_id": "MERCHANT-123",
            "amount": 89.50,
            "card_last_four": "5678",
            "card_type": "Mastercard",
            "processed_at": datetime.utcnow(),
        },
        {
            "transaction_id": f"TXN-{uuid.uuid4().hex[:8].upper()}",
            "device_id": "POS-TERMINAL-001",
            "merchant_id": "MERCHANT-123",
            "amount": 12.75,
            "card_last_four": "9012",
            "card_type": "Amex",
            "processed_at": datetime.utcnow(),
        }
    ]

    # Process each transaction
    workflows = []
    for txn_data in transactions:
        workflow = await process_payment(builder, persistence, sync_manager, txn_data)
        workflows.append(workflow)

        # Small delay between transactions
        await asyncio.sleep(1)

    # Summary
    print("\n" + "="*70)
    print("  TRANSACTION SUMMARY")
    print("="*70 + "\n")

    online_count = sum(1 for w in workflows if not w.state.offline_approved)
    offline_count = sum(1 for w in workflows if w.state.offline_approved)
    approved_count = sum(1 for w in workflows if w.state.approved)

    print(f"Total Transactions: {len(workflows)}")
    print(f"  Approved: {approved_count}")
    print(f"  Online: {online_count}")
    print(f"  Offline: {offline_count}")
    print(f"\nPending Sync: {len(sync_manager.sync_queue)}")

    # Sync to cloud
    if sync_manager.sync_queue:
        print("\n" + "="*70)
        print("  SYNCING TO CLOUD")
        print("="*70)

        sync_result = await sync_manager.sync_to_cloud()

        print(f"\nSync Result:")
        print(f"  Synced: {sync_result['synced']}")
        print(f"  Failed: {sync_result['failed']}")
        print(f"  Remaining: {sync_result['remaining']}")

    # Cleanup
    await persistence.close()

    print("\n" + "="*70)
    print("  EDGE AGENT DEMO COMPLETED")
    print("="*70)
    print("\n💾 Database saved to: edge_terminal.db")
    print("   Inspect with: sqlite3 edge_terminal.db\n")


if __name__ == '__main__':
    asyncio.run(main())
