"""OpenTelemetryObserver: the exact spans (names, attributes, nesting, statuses) a run makes,
read back from the SDK's in-memory exporter, and the trace-context helpers."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import subflow_steps as fx
from engine_support import builder, st
from flow_support import flow, step
from ruvon.builder import WorkflowBuilder
from ruvon.implementations.observability.otel import (
    OpenTelemetryObserver,
    extract_trace_context,
    inject_trace_context,
    trace_context_from,
)
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.models import WorkflowError
from ruvon.providers.observer import EventKind, WorkflowEvent
from ruvon.status import WorkflowStatus as S

NO_DELAY = {"initial_delay": 0}


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    yield tp
    tp.shutdown()


@pytest.fixture
def observer(provider: TracerProvider) -> OpenTelemetryObserver:
    return OpenTelemetryObserver(provider)


def tree(exporter: InMemorySpanExporter, ids: dict[str, str] | None = None) -> list[Any]:
    """Each finished span in start order as (indented name, status, attributes); the nesting
    is read from the parent span ids, workflow ids are replaced by the names in ``ids``."""
    spans = list(exporter.get_finished_spans())
    by_id = {s.context.span_id: s for s in spans}
    names = {v: k for k, v in (ids or {}).items()}

    def depth(span: ReadableSpan) -> int:
        n = 0
        while span.parent is not None and span.parent.span_id in by_id:
            span, n = by_id[span.parent.span_id], n + 1
        return n

    out = []
    for span in sorted(spans, key=lambda s: (s.start_time or 0, depth(s))):
        attributes = {
            k.removeprefix("ruvon."): names.get(v, v) if isinstance(v, str) else v
            for k, v in (span.attributes or {}).items()
        }
        out.append(("  " * depth(span) + span.name, span.status.status_code.name, attributes))
    return out


def wf_attrs(wid: str, wtype: str = "T") -> dict[str, Any]:
    return {"workflow.id": wid, "workflow.type": wtype}


def run_attrs(wid: str, wtype: str, status: str, **more: Any) -> dict[str, Any]:
    return {**wf_attrs(wid, wtype), "workflow.status": status, **more}


def step_attrs(wid: str, name: str, status: str, attempt: int = 1, **more: Any) -> dict[str, Any]:
    return {
        **wf_attrs(wid, more.pop("wtype", "T")),
        "step.name": name,
        "step.scope": more.pop("scope", name),
        "step.attempt": attempt,
        "step.status": status,
        **more,
    }


def comp_attrs(wid: str, name: str, status: str, attempts: int = 1, **more: Any) -> dict[str, Any]:
    return {
        **wf_attrs(wid, more.pop("wtype", "T")),
        "step.name": name,
        "step.scope": more.pop("scope", name),
        "step.attempt": attempts,
        "compensation.status": status,
        **more,
    }


def events(exporter: InMemorySpanExporter, name: str) -> list[tuple[str, dict[str, Any]]]:
    [span] = [s for s in exporter.get_finished_spans() if s.name == name]
    return [(e.name, dict(e.attributes or {})) for e in span.events]


# --- forward runs -----------------------------------------------------------------------------


async def test_otel__a_completed_workflow_is_one_span_with_a_span_per_step(
    observer: OpenTelemetryObserver, exporter: InMemorySpanExporter
) -> None:
    wf = await builder(st("A"), st("B"), workflow_observer=observer).create_workflow("T")
    assert await wf.run() is S.COMPLETED
    assert tree(exporter, {"W": wf.id}) == [
        ("workflow T", "OK", {**wf_attrs("W"), "workflow.status": "COMPLETED"}),
        ("  step A", "OK", step_attrs("W", "A", "COMPLETED")),
        ("  step B", "OK", step_attrs("W", "B", "COMPLETED")),
    ]
    spans = exporter.get_finished_spans()
    assert len({s.context.trace_id for s in spans}) == 1
    [root] = [s for s in spans if s.name == "workflow T"]
    assert root.parent is None
    assert [e.name for e in root.events] == ["status_changed"]
    assert dict(root.events[0].attributes or {}) == {
        "ruvon.workflow.previous_status": "ACTIVE",
        "ruvon.workflow.status": "COMPLETED",
    }


async def test_otel__a_span_per_attempt_and_the_failure_recorded_on_step_and_workflow(
    observer: OpenTelemetryObserver, exporter: InMemorySpanExporter
) -> None:
    b = builder(
        st("A", retry_policy={"max_attempts": 3, **NO_DELAY}), st("B"), workflow_observer=observer
    )
    wf = await b.create_workflow("T", {"flaky": {"A": 1}, "fail_at": ["B"]})
    assert await wf.run() is S.FAILED
    error = {"error.type": "RuntimeError"}
    assert tree(exporter, {"W": wf.id}) == [
        ("workflow T", "ERROR", {**wf_attrs("W"), "workflow.status": "FAILED", **error}),
        ("  step A", "ERROR", step_attrs("W", "A", "RETRIED", **{"error.type": "Flaky"})),
        ("  step A", "OK", step_attrs("W", "A", "COMPLETED", attempt=2)),
        ("  step B", "ERROR", step_attrs("W", "B", "FAILED", **error)),
    ]
    spans = {(s.name, s.attributes["ruvon.step.attempt"]): s for s in exporter.get_finished_spans()
             if s.name.startswith("step")}  # fmt: skip
    assert spans[("step A", 1)].status.description == "Flaky: flaky A"
    assert spans[("step B", 1)].status.description == "RuntimeError: B failed"
    [(name, exception)] = events(exporter, "step B")
    assert name == "exception"
    assert exception["exception.type"] == "RuntimeError"
    assert exception["exception.message"] == "B failed"
    assert "RuntimeError: B failed" in exception["exception.stacktrace"]
    assert [e for e, _ in events(exporter, "workflow T")] == ["status_changed", "exception"]


async def test_otel__a_rollback_has_loop_iterations_nested_and_a_span_per_compensation(
    observer: OpenTelemetryObserver, exporter: InMemorySpanExporter
) -> None:
    body = step(
        "Reserve",
        "flow_steps.reserve",
        compensate_function="flow_steps.release",
        retry_policy={"max_attempts": 2, **NO_DELAY},
    )
    b = flow(
        step("A", compensate_function="flow_steps.undo"),
        step("Items", None, type="LOOP", iterate_over="state.items", loop_body=[body]),
        step("Never"),
        saga=True,
    )
    b.workflow_observer = observer
    wf = await b.create_workflow("F", {"items": ["a", "b"], "fail_at": ["Reserve@1"]})
    assert await wf.run() is S.FAILED_ROLLED_BACK
    err = {"error.type": "RuntimeError"}
    it0, it1 = "Items/iter:0/Reserve", "Items/iter:1/Reserve"

    def f_step(name: str, status: str, attempt: int = 1, **more: Any) -> dict[str, Any]:
        return step_attrs("W", name, status, attempt, wtype="F", **more)

    def f_comp(name: str, status: str, **more: Any) -> dict[str, Any]:
        return comp_attrs("W", name, status, wtype="F", **more)

    assert tree(exporter, {"W": wf.id}) == [
        ("workflow F", "ERROR", run_attrs("W", "F", "FAILED_ROLLED_BACK", **err)),
        ("  step A", "OK", f_step("A", "COMPLETED")),
        ("  step Items", "ERROR", f_step("Items", "FAILED", **err)),
        ("    step Reserve", "OK", f_step("Reserve", "COMPLETED", scope=it0)),
        ("    step Reserve", "ERROR", f_step("Reserve", "RETRIED", scope=it1, **err)),
        ("    step Reserve", "ERROR", f_step("Reserve", "FAILED", 2, scope=it1, **err)),
        ("  compensate Reserve", "OK", f_comp("Reserve", "COMPLETED", scope=it0)),
        ("  compensate A", "OK", f_comp("A", "COMPLETED")),
    ]  # fmt: skip
    # the failing body step carries the exception; the loop that failed with it too
    failed = [s for s in exporter.get_finished_spans() if s.status.status_code.name == "ERROR"]
    assert {(s.name, tuple(e.name for e in s.events)) for s in failed} == {
        ("workflow F", ("compensation_skipped", "status_changed", "status_changed", "exception")),
        ("step Items", ("exception",)),
        ("step Reserve", ("exception",)),
    }
    [skipped] = [e for e in events(exporter, "workflow F") if e[0] == "compensation_skipped"]
    assert skipped[1] == {
        "ruvon.step.name": "Reserve",
        "ruvon.step.scope": it1,
        "ruvon.compensation.detail": "the step failed; compensate_on_failure is not set",
    }


async def test_otel__a_failed_compensation_and_its_retry(
    observer: OpenTelemetryObserver, exporter: InMemorySpanExporter
) -> None:
    policy = {"max_attempts": 2, **NO_DELAY}
    b = builder(st("A", retry_policy=policy), st("B"), saga=True, workflow_observer=observer)
    wf = await b.create_workflow("T", {"fail_at": ["B"], "fail_comp": ["A"]})
    assert await wf.run() is S.COMPENSATION_FAILED
    err = {"error.type": "RuntimeError"}
    assert tree(exporter, {"W": wf.id})[-1] == (
        "  compensate A",
        "ERROR",
        comp_attrs("W", "A", "FAILED", attempts=2, **err),
    )
    assert [(e, a.get("ruvon.step.attempt")) for e, a in events(exporter, "compensate A")] == [
        ("retry", 1),
        ("exception", None),
    ]
    [root] = [s for s in exporter.get_finished_spans() if s.name == "workflow T"]
    assert root.attributes is not None
    assert root.attributes["ruvon.workflow.status"] == "COMPENSATION_FAILED"
    assert root.status.description == "RuntimeError: B failed"  # the failure, not the unwind's


# --- child workflows ----------------------------------------------------------------------------


def _trip_builder(observer: OpenTelemetryObserver) -> WorkflowBuilder:
    def comp(name: str, fn: str, undo: str, **more: Any) -> dict[str, Any]:
        return {
            "name": name,
            "function": f"subflow_steps.{fn}",
            "compensate_function": f"subflow_steps.{undo}",
            **more,
        }

    pay = {
        "name": "Pay",
        "type": "SUB_WORKFLOW",
        "workflow_type": "Payment",
        "initial_data_template": {"trip_id": "{{ state.trip_id }}", "amount": "1"},
        "automate_next": True,
    }
    trip = [comp("Reserve", "reserve", "unreserve", automate_next=True), pay]
    trip.append({"name": "Finalize", "function": "subflow_steps.finalize"})
    return WorkflowBuilder(
        workflow_registry={
            "Trip": {
                "workflow_type": "Trip",
                "initial_state_model": "subflow_steps.Trip",
                "saga_mode": True,
                "steps": trip,
            },
            "Payment": {
                "workflow_type": "Payment",
                "initial_state_model": "subflow_steps.Payment",
                "steps": [comp("Capture", "capture", "refund")],
            },
        },
        persistence_provider=InMemoryPersistenceProvider(),
        workflow_observer=observer,
    )


async def test_otel__a_child_workflow_nests_under_its_step_and_is_unwound_under_its_compensation(
    observer: OpenTelemetryObserver, exporter: InMemorySpanExporter
) -> None:
    fx.FAIL.clear()
    fx.FAIL.add("finalize")
    try:
        wf = await _trip_builder(observer).create_workflow("Trip")
        assert await wf.run() is S.FAILED_ROLLED_BACK
    finally:
        fx.FAIL.clear()
    [child_id] = wf.state.sub_workflow_results
    ids = {"P": wf.id, "C": child_id}
    child = {**wf_attrs("C", "Payment"), "workflow.parent_id": "P"}
    err = {"error.type": "RuntimeError"}
    trip = {"wtype": "Trip"}
    pay = {"wtype": "Payment"}
    assert tree(exporter, ids) == [
        ("workflow Trip", "ERROR", run_attrs("P", "Trip", "FAILED_ROLLED_BACK", **err)),
        ("  step Reserve", "OK", step_attrs("P", "Reserve", "COMPLETED", **trip)),
        ("  step Pay", "OK", step_attrs("P", "Pay", "COMPLETED", **trip)),
        ("    workflow Payment", "OK", {**child, "workflow.status": "COMPLETED"}),
        ("      step Capture", "OK", step_attrs("C", "Capture", "COMPLETED", **pay)),
        ("  step Finalize", "ERROR", step_attrs("P", "Finalize", "FAILED", **trip, **err)),
        ("  compensate Pay", "OK", comp_attrs("P", "Pay", "COMPLETED", **trip)),
        # loaded again to be unwound: a new run of the child, under the compensation
        ("    workflow Payment", "ERROR", {**child, "workflow.continued": True,
            "workflow.status": "FAILED_ROLLED_BACK", "error.type": "ParentRolledBack"}),
        ("      compensate Capture", "OK", comp_attrs("C", "Capture", "COMPLETED", **pay)),
        ("  compensate Reserve", "OK", comp_attrs("P", "Reserve", "COMPLETED", **trip)),
    ]  # fmt: skip


# --- runs that stop and go on -----------------------------------------------------------------


async def test_otel__a_pause_ends_the_run_and_another_process_continues_the_trace(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    here = OpenTelemetryObserver(provider)
    store = InMemoryPersistenceProvider()
    b = builder(st("A", fn="engine_steps.pause"), st("B"), persistence_provider=store)
    wf = await b.create_workflow("T", workflow_observer=here)
    carrier: dict[str, str] = {}
    assert here.inject(wf.id, carrier) is carrier  # as a dispatcher would, before the wait
    assert await wf.run() is S.PAUSED
    assert here.context_of(wf.id) is None  # the run ended: nothing kept for the workflow
    # "another process": its own observer, the workflow loaded from the store, the carrier's
    # context made current by the worker around the work
    there = OpenTelemetryObserver(provider)
    with trace_context_from(carrier):
        loaded = await b.load_workflow(wf.id, workflow_observer=there)
        await loaded.resume({"note": "go"})
    assert loaded.status is S.COMPLETED
    assert tree(exporter, {"W": wf.id}) == [
        ("workflow T", "UNSET", {**wf_attrs("W"), "workflow.status": "PAUSED"}),
        ("  step A", "OK", step_attrs("W", "A", "COMPLETED")),
        ("  workflow T", "OK", {**wf_attrs("W"), "workflow.continued": True,
                                "workflow.status": "COMPLETED"}),
        ("    step B", "OK", step_attrs("W", "B", "COMPLETED")),
    ]  # fmt: skip
    first, second = (s for s in exporter.get_finished_spans() if s.name == "workflow T")
    assert second.parent is not None and second.parent.span_id == first.context.span_id
    assert second.context.trace_id == first.context.trace_id
    assert [e.name for e in second.events] == ["status_changed", "resumed", "status_changed"]


async def test_otel__a_step_that_waits_ends_as_waiting_and_a_cancel_is_its_own_short_run(
    observer: OpenTelemetryObserver, exporter: InMemorySpanExporter
) -> None:
    human = step(
        "Approve", "flow_steps.take_input", type="HUMAN_IN_LOOP", input_model="flow_steps.Approval"
    )
    b = flow(step("Prep"), human)
    b.workflow_observer = observer
    wf = await b.create_workflow("F")
    assert await wf.run() is S.WAITING_HUMAN
    assert await wf.cancel("no longer needed") is S.CANCELLED
    assert tree(exporter, {"W": wf.id}) == [
        ("workflow F", "UNSET", {**wf_attrs("W", "F"), "workflow.status": "WAITING_HUMAN"}),
        ("  step Prep", "OK", step_attrs("W", "Prep", "COMPLETED", wtype="F")),
        ("workflow F", "UNSET", {**wf_attrs("W", "F"), "workflow.continued": True,
                                 "workflow.status": "CANCELLED"}),
    ]  # fmt: skip


async def test_otel__a_loop_body_step_waiting_for_input_ends_with_its_loop_as_waiting(
    observer: OpenTelemetryObserver, exporter: InMemorySpanExporter
) -> None:
    ask = step(
        "Ask", "flow_steps.take_input", type="HUMAN_IN_LOOP", input_model="flow_steps.Approval"
    )
    body = [step("Mark"), ask]
    b = flow(step("Items", None, type="LOOP", iterate_over="state.items", loop_body=body))
    b.workflow_observer = observer
    wf = await b.create_workflow("F", {"items": ["a"]})
    assert await wf.run() is S.WAITING_HUMAN
    assert [(name, status, attrs.get("step.status")) for name, status, attrs in tree(exporter)] == [
        ("workflow F", "UNSET", None),
        ("  step Items", "UNSET", "WAITING"),
        ("    step Mark", "OK", "COMPLETED"),
    ]  # fmt: skip


async def test_otel__events_of_steps_whose_start_this_process_did_not_see(
    observer: OpenTelemetryObserver, exporter: InMemorySpanExporter
) -> None:
    """Fed directly: a step finishing after a wait elsewhere (its span covers its duration, but
    not before its run's start) and a retried PARALLEL task (no span of its own: an event on its
    step's span)."""
    E = EventKind

    def ev(kind: EventKind, status: str = "ACTIVE", **fields: Any) -> WorkflowEvent:
        return WorkflowEvent(kind, "w1", "T", status, **fields)

    error = WorkflowError("Timeout", "slow", "Fetch")
    for event in (
        ev(E.STATUS_CHANGED, previous_status="PENDING_ASYNC"),
        ev(E.STEP_COMPLETED, step_name="Async", scope="Async", duration_ms=250.0),
        ev(E.STEP_STARTED, step_name="Fan", scope="Fan"),
        ev(E.STEP_RETRIED, step_name="Fetch", scope="Fan/task:a", attempt=1, error=error),
        ev(E.STEP_COMPLETED, step_name="Fan", scope="Fan", duration_ms=1.0),
        ev(E.WORKFLOW_COMPLETED, "COMPLETED"),
    ):
        await observer.on_event(event)
    assert tree(exporter, {"W": "w1"}) == [
        ("workflow T", "OK", run_attrs("W", "T", "COMPLETED", **{"workflow.continued": True})),
        ("  step Async", "OK", step_attrs("W", "Async", "COMPLETED")),
        ("  step Fan", "OK", step_attrs("W", "Fan", "COMPLETED")),
    ]
    # its 250 ms would start it before the run that holds it: it starts with the run
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert spans["step Async"].start_time == spans["workflow T"].start_time
    assert events(exporter, "step Fan") == [
        (
            "retry",
            {
                "ruvon.step.name": "Fetch",
                "ruvon.step.scope": "Fan/task:a",
                "ruvon.step.attempt": 1,
                "error.type": "Timeout",
                "exception.message": "slow",
            },
        )
    ]


# --- many at once, bounded state -----------------------------------------------------------------


async def test_otel__concurrent_workflows_keep_their_own_spans(
    observer: OpenTelemetryObserver, exporter: InMemorySpanExporter
) -> None:
    async_step = {"fn": "engine_steps.async_step"}
    b = builder(st("A", **async_step), st("B", **async_step), workflow_observer=observer)
    flows = [await b.create_workflow("T", {"sleep": 0.001 * (i % 3)}) for i in range(12)]
    assert set(await asyncio.gather(*(wf.run() for wf in flows))) == {S.COMPLETED}
    spans = exporter.get_finished_spans()
    roots = {s.context.span_id: s for s in spans if s.name == "workflow T"}
    assert len(roots) == 12
    for root in roots.values():
        assert root.attributes is not None
        wid = root.attributes["ruvon.workflow.id"]
        children = [s for s in spans if s.parent and s.parent.span_id == root.context.span_id]
        assert [(c.name, (c.attributes or {})["ruvon.workflow.id"]) for c in children] == [
            ("step A", wid),
            ("step B", wid),
        ]  # fmt: skip
        assert {c.context.trace_id for c in children} == {root.context.trace_id}


async def test_otel__past_max_open_runs_the_oldest_run_ends_unfinished(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    observer = OpenTelemetryObserver(provider, max_open_runs=2)
    b = builder(st("A", automate_next=False), st("B"), workflow_observer=observer)
    first, second, third = [await b.create_workflow("T") for _ in range(3)]
    [ended] = exporter.get_finished_spans()
    assert ended.attributes is not None
    assert ended.attributes["ruvon.workflow.id"] == first.id
    assert ended.attributes["ruvon.workflow.status"] == "UNFINISHED"
    assert observer.context_of(first.id) is None
    assert observer.context_of(second.id) is not None and observer.context_of(third.id)


def test_otel__max_open_runs_below_one_or_not_a_whole_number_is_refused(
    provider: TracerProvider,
) -> None:
    for bad in (0, -1):
        with pytest.raises(ValueError, match=f"max_open_runs must be 1 or more .*not {bad}"):
            OpenTelemetryObserver(provider, max_open_runs=bad)
    for bad in (1.5, "10", True, None):
        with pytest.raises(ValueError, match="max_open_runs must be a whole number"):
            OpenTelemetryObserver(provider, max_open_runs=bad)
    assert OpenTelemetryObserver(provider, max_open_runs=1).max_open_runs == 1


# --- trace context helpers ---------------------------------------------------------------------


def _traceparent(ctx: trace.SpanContext) -> str:
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"


def test_otel__inject_and_extract_carry_the_current_span(provider: TracerProvider) -> None:
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("dispatch") as span:
        carrier = inject_trace_context()
    ctx = span.get_span_context()
    assert carrier == {"traceparent": _traceparent(ctx)}
    extracted = trace.get_current_span(extract_trace_context(carrier)).get_span_context()
    assert (extracted.trace_id, extracted.span_id, extracted.is_remote) == (
        ctx.trace_id,
        ctx.span_id,
        True,
    )
    with trace_context_from(carrier):
        assert trace.get_current_span().get_span_context().span_id == ctx.span_id
    assert not trace.get_current_span().get_span_context().is_valid


async def test_otel__inject_names_the_open_run_of_the_workflow(
    observer: OpenTelemetryObserver, exporter: InMemorySpanExporter
) -> None:
    b = builder(st("A", automate_next=False), st("B"), workflow_observer=observer)
    wf = await b.create_workflow("T")
    assert observer.inject("unknown-id") == {}  # no run, no current span: nothing to carry
    await wf.next_step()  # A ran; the run goes on (ACTIVE, at B)
    [a] = exporter.get_finished_spans()
    assert a.parent is not None
    traceparent = observer.inject(wf.id)["traceparent"]
    flags = f"{a.context.trace_flags:02x}"
    assert traceparent == f"00-{a.context.trace_id:032x}-{a.parent.span_id:016x}-{flags}"


def test_otel__import_ruvon_imports_neither_opentelemetry_nor_prometheus() -> None:
    code = (
        "import sys, ruvon, ruvon.builder, ruvon.recovery;"
        "import ruvon.implementations.observability.composite;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('opentelemetry', 'prometheus_client')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
