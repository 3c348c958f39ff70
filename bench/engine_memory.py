"""Tutorial saga, 1,000 workflows in one process on the in-memory store, vs a plain function.

    .venv/bin/python bench/engine_memory.py [--runs 1000] [--repeat 5]

Prints workflows/s for Ruvon (success and rollback) and for a plain Python function doing the
same saga with the same step bodies and the same Pydantic state, measured in this run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from workloads.payment import steps_noprint as steps  # noqa: E402
from workloads.payment.models import PaymentState  # noqa: E402

from ruvon.builder import WorkflowBuilder  # noqa: E402
from ruvon.implementations.execution.sync import SyncExecutor  # noqa: E402
from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator  # noqa: E402
from ruvon.implementations.observability.logging import LoggingObserver  # noqa: E402
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider  # noqa: E402
from ruvon.implementations.templating.jinja2 import Jinja2TemplateEngine  # noqa: E402

INITIAL = {"order_id": "ORD-12345", "customer_id": "CUST-789", "amount": 299.99, "currency": "USD"}
FORWARD = [
    (steps.create_order, steps.cancel_order),
    (steps.charge_payment, steps.refund_payment),
    (steps.reserve_inventory, steps.release_inventory),
    (steps.create_shipment, steps.cancel_shipment),
]


def plain_saga() -> PaymentState:
    """The floor: the same saga as straight-line Python."""
    state = PaymentState(**INITIAL)
    done = []
    try:
        for forward, compensate in FORWARD:
            for key, value in forward(state, None).items():
                setattr(state, key, value)
            done.append(compensate)
    except Exception:
        for compensate in reversed(done):
            for key, value in compensate(state, None).items():
                setattr(state, key, value)
    return state


async def ruvon_runs(n: int) -> float:
    persistence = InMemoryPersistenceProvider()
    builder = WorkflowBuilder(
        workflow_registry={"PaymentProcessing": str(HERE / "workloads/payment/workflow.yaml")},
        expression_evaluator_cls=SimpleExpressionEvaluator,
        template_engine_cls=Jinja2TemplateEngine,
    )
    executor, observer = SyncExecutor(), LoggingObserver()
    builder.get_definition("PaymentProcessing")  # load outside the timed loop
    start = time.perf_counter()
    for _ in range(n):
        wf = await builder.create_workflow(
            "PaymentProcessing",
            INITIAL,
            persistence_provider=persistence,
            execution_provider=executor,
            workflow_observer=observer,
        )
        wf.enable_saga_mode()
        while wf.status == "ACTIVE":
            await wf.next_step()
    elapsed = time.perf_counter() - start
    expected = "FAILED_ROLLED_BACK" if steps.FAIL_AT["shipment"] else "COMPLETED"
    assert wf.status == expected, wf.status
    return n / elapsed


def plain_runs(n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        plain_saga()
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"tutorial saga, {args.runs} workflows, in-memory store, median of {args.repeat}")
    print(f"{'variant':<10} {'ruvon wf/s':>12} {'plain wf/s':>12} {'plain/ruvon':>12}")
    for variant in ("success", "rollback"):
        steps.FAIL_AT["shipment"] = variant == "rollback"
        ours = statistics.median(asyncio.run(ruvon_runs(args.runs)) for _ in range(args.repeat))
        floor = statistics.median(plain_runs(args.runs) for _ in range(args.repeat))
        print(f"{variant:<10} {ours:>12,.0f} {floor:>12,.0f} {floor / ours:>12.2f}")


if __name__ == "__main__":
    main()
