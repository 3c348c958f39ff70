"""Run the saga tutorial's ``main()`` (in the working directory) with every observer at once.

The tutorial builds its workflow with ``LoggingObserver()``; here that name is pointed at a
``CompositeObserver`` of a ``LoggingObserver``, an ``OpenTelemetryObserver`` (spans kept by the
SDK's in-memory exporter) and a ``PrometheusObserver`` (its own registry), so the tutorial's
files run unedited. After the tutorial's output, a line ``OBSERVED`` and one JSON object: the
finished spans and the ``/metrics`` text.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from ruvon.implementations.observability.composite import CompositeObserver
from ruvon.implementations.observability.logging import LoggingObserver
from ruvon.implementations.observability.otel import OpenTelemetryObserver
from ruvon.implementations.observability.prometheus import PrometheusObserver, metrics_text


def run() -> None:
    sys.path.insert(0, os.getcwd())  # the tutorial's directory: main.py, payment_processor/
    import main  # the tutorial's own main.py

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    registry = CollectorRegistry()
    traces, metrics = OpenTelemetryObserver(provider), PrometheusObserver(registry)
    main.LoggingObserver = lambda: CompositeObserver(LoggingObserver(), traces, metrics)
    asyncio.run(main.main())
    spans = [
        {
            "name": s.name,
            "span_id": s.context.span_id,
            "trace_id": s.context.trace_id,
            "parent_id": None if s.parent is None else s.parent.span_id,
            "start": s.start_time,
            "status": s.status.status_code.name,
            "description": s.status.description,
            "attributes": dict(s.attributes or {}),
            "events": [e.name for e in s.events],
        }
        for s in exporter.get_finished_spans()
    ]
    print("OBSERVED")
    print(json.dumps({"spans": spans, "metrics": metrics_text(registry)}))


if __name__ == "__main__":
    run()
