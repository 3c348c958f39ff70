"""
Payment Processing with Saga Pattern

Demonstrates:
- Compensatable steps
- Saga mode activation
- Automatic rollback on failure
"""

import asyncio
from pathlib import Path

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.observability.logging import LoggingObserver
from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator
from ruvon.implementations.templating.jinja2 import Jinja2TemplateEngine


async def main():
    print("="*70)
    print("  RUVON SAGA PATTERN DEMO")
    print("="*70)

    # Create workflow builder
    persistence = InMemoryPersistenceProvider()
    builder = WorkflowBuilder(
        expression_evaluator_cls=SimpleExpressionEvaluator,
        template_engine_cls=Jinja2TemplateEngine,
    )

    # Create payment workflow
    print("\n" + "="*70)
    print("  PROCESSING PAYMENT")
    print("="*70)

    initial_data = {
        "order_id": "ORD-12345",
        "customer_id": "CUST-789",
        "amount": 299.99,
        "currency": "USD"
    }

    workflow = await builder.create_workflow(
        workflow_type="PaymentProcessing",
        persistence_provider=persistence,
        execution_provider=SyncExecutor(),
        workflow_observer=LoggingObserver(),
        workflow_builder=builder,
        expression_evaluator_cls=SimpleExpressionEvaluator,
        template_engine_cls=Jinja2TemplateEngine,
        initial_data=initial_data,
    )

    # ========================================================================
    # ENABLE SAGA MODE (Required for compensation)
    # ========================================================================
    workflow.enable_saga_mode()
    print("✓ Saga mode enabled (compensation active)\n")

    # Execute workflow
    try:
        while workflow.status == "ACTIVE":
            result = await workflow.next_step()

            if workflow.status == "COMPLETED":
                print("\n" + "="*70)
                print("  WORKFLOW COMPLETED SUCCESSFULLY")
                print("="*70 + "\n")
                break

            elif workflow.status == "FAILED":
                print("\n" + "="*70)
                print("  WORKFLOW FAILED - INITIATING ROLLBACK")
                print("="*70 + "\n")
                break

    except Exception as e:
        print(f"\n❌ Workflow execution failed: {e}")

    # Show final state
    print("\n" + "="*70)
    print("  FINAL STATE")
    print("="*70 + "\n")

    print(f"Workflow ID: {workflow.id}")
    print(f"Status: {workflow.status}")
    print(f"Order Reference: {workflow.state.order_reference}")
    print(f"\nStep Results:")
    print(f"  Order Created: {workflow.state.order_created}")
    print(f"  Payment Charged: {workflow.state.payment_charged}")
    print(f"  Inventory Reserved: {workflow.state.inventory_reserved}")
    print(f"  Shipment Created: {workflow.state.shipment_created}")

    if workflow.state.compensations_run:
        print(f"\n⚠️  Compensations Run:")
        for comp in workflow.state.compensations_run:
            print(f"  - {comp}")
    else:
        print(f"\n✅ No compensations needed")

    print(f"\nFinal Workflow Status: {workflow.state.workflow_status}")


if __name__ == '__main__':
    asyncio.run(main())
