import asyncio

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.observability.composite import CompositeObserver
from ruvon.implementations.observability.logging import LoggingObserver
from ruvon.implementations.observability.otel import OpenTelemetryObserver
from ruvon.implementations.observability.prometheus import PrometheusObserver, metrics_text
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider

# traces: kept in memory here; a real application adds an OTLP exporter instead
exporter = InMemorySpanExporter()
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
# metrics: a registry of our own (the default is prometheus_client's global one)
registry = CollectorRegistry()

observer = CompositeObserver(
    LoggingObserver(),
    OpenTelemetryObserver(tracer_provider),
    PrometheusObserver(registry),
)


def print_spans() -> None:
    """Each finished span under its parent, with the status Ruvon gives it."""
    depth = {}
    for span in sorted(exporter.get_finished_spans(), key=lambda s: s.start_time):
        parent = span.parent.span_id if span.parent else None
        depth[span.context.span_id] = depth[parent] + 1 if parent in depth else 0
        a = span.attributes
        status = (
            a.get("ruvon.step.status")
            or a.get("ruvon.compensation.status")
            or a["ruvon.workflow.status"]
        )
        print("  " * depth[span.context.span_id] + f"{span.name}: {status}")
    exporter.clear()


def print_metrics(*names: str) -> None:
    for line in metrics_text(registry).splitlines():
        if line.startswith(names) and not line.endswith(" 0.0"):
            print(line)


async def main() -> None:
    builder = WorkflowBuilder(
        persistence_provider=InMemoryPersistenceProvider(), workflow_observer=observer
    )
    for order_id, in_stock in (("A-1", True), ("A-2", False)):
        wf = await builder.create_workflow("Order", {"order_id": order_id, "in_stock": in_stock})
        await wf.run()
        print(f"--- {order_id}: {wf.status.value}")
        print_spans()
    print("--- metrics")
    print_metrics(
        "ruvon_workflow_status_changes_total",
        "ruvon_step_retries_total",
        "ruvon_step_failures_total",
        "ruvon_compensation_duration_seconds_count",
    )


asyncio.run(main())
