"""
Task Manager Application

Demonstrates a complete Ruvon workflow with SQLite persistence.
"""

import asyncio
from pathlib import Path

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.observability.logging import LoggingObserver
from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator
from ruvon.implementations.templating.jinja2 import Jinja2TemplateEngine


async def initialize_database(db_path: str):
    """Initialize SQLite database with schema"""
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


async def main():
    print("="*70)
    print("  RUFUS TASK MANAGER")
    print("="*70)

    # Initialize persistence
    print("\n🗄️  Initializing SQLite database...")
    persistence = await initialize_database("tasks.db")
    print("✓ Database ready\n")

    # Create workflow builder
    builder = WorkflowBuilder(
        expression_evaluator_cls=SimpleExpressionEvaluator,
        template_engine_cls=Jinja2TemplateEngine,
    )

    print("✓ Workflow loaded\n")

    # Create a new task workflow
    print("="*70)
    print("  CREATING NEW TASK")
    print("="*70 + "\n")

    initial_data = {
        "task_id": "TASK-001",
        "title": "Implement new feature",
        "description": "Add user authentication to the platform",
        "priority": "high",
        "category": "development",
        "requires_approval": True,
    }

    workflow = await builder.create_workflow(
        workflow_type="TaskApprovalWorkflow",
        persistence_provider=persistence,
        execution_provider=SyncExecutor(),
        workflow_observer=LoggingObserver(),
        workflow_builder=builder,
        expression_evaluator_cls=SimpleExpressionEvaluator,
        template_engine_cls=Jinja2TemplateEngine,
        initial_data=initial_data,
    )

    print(f"✓ Workflow created: {workflow.id}\n")

    # Execute automated steps
    print("="*70)
    print("  EXECUTING AUTOMATED STEPS")
    print("="*70)

    step_count = 0
    while workflow.status == "ACTIVE" and step_count < 10:
        result = await workflow.next_step()
        step_count += 1

        if workflow.status == "PAUSED":
            print("\n⏸️  Workflow paused for approval")
            break

    # Simulate approval
    print("\n" + "="*70)
    print("  MANAGER APPROVAL")
    print("="*70 + "\n")

    print("🔍 Manager reviewing task...")
    print("✓ Task approved!\n")

    # Resume workflow
    print("="*70)
    print("  RESUMING WORKFLOW")
    print("="*70)

    approval_input = {
        "approved_by": "alice_manager",
        "approval_notes": "Looks good, proceed with implementation"
    }

    while workflow.status in ("ACTIVE", "PAUSED"):
        result = await workflow.next_step(user_input=approval_input)
        if workflow.status == "COMPLETED":
            break

    # Show final status
    print("\n" + "="*70)
    print("  WORKFLOW COMPLETED")
    print("="*70 + "\n")

    print(f"Workflow ID: {workflow.id}")
    print(f"Status: {workflow.status}")
    print(f"\nTask Details:")
    print(f"  Task ID: {workflow.state.task_id}")
    print(f"  Title: {workflow.state.title}")
    print(f"  Assigned To: {workflow.state.assigned_to}")
    print(f"  Approved By: {workflow.state.approved_by}")
    print(f"  Status: {workflow.state.workflow_status}")
    print(f"  Notification Sent: {workflow.state.notification_sent}")

    # Cleanup
    await persistence.close()

    print("\n✅ Application completed successfully!\n")


if __name__ == '__main__':
    asyncio.run(main())
