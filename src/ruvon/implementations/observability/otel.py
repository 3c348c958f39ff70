"""OpenTelemetry tracing: a span per workflow run, per step attempt and per compensation.

A *run* is a stretch of one workflow's life that one process drives: it starts when the workflow
is created, or with the first event this process sees of it (a resume, a retry, a recovery, a
workflow loaded in another process), and ends when the workflow finishes or stops to wait (for
input, a person, a task, an approval). A workflow resumed later gets a new run span.

Nesting: a step attempt's span is a child of its workflow's span, a loop body's step a child of
the loop step's span; a compensation's span is a child of the workflow's span. A child workflow
started by a SUB_WORKFLOW step (or the directive) in the same process nests under the span of
the step that started it (of the compensation that unwinds it); elsewhere its span carries
``ruvon.workflow.parent_id``. A run with no parent in this process starts under the current
OpenTelemetry context: the application's own span, or a context taken from a message with
:func:`trace_context_from` (how a worker process continues a trace).

Only the OpenTelemetry API is used: give a ``TracerProvider`` of the SDK (or set the global one)
to export the spans.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

try:
    from opentelemetry import context as otel_context
    from opentelemetry import propagate, trace
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Status, StatusCode, TracerProvider
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise ImportError(
        "OpenTelemetryObserver needs OpenTelemetry: pip install 'ruvon[otel]'"
    ) from exc

from ruvon import __version__
from ruvon.models import WorkflowError
from ruvon.providers.observer import EventKind, WorkflowEvent

E = EventKind

# span attribute keys
WORKFLOW_ID = "ruvon.workflow.id"
WORKFLOW_TYPE = "ruvon.workflow.type"
WORKFLOW_STATUS = "ruvon.workflow.status"
PARENT_ID = "ruvon.workflow.parent_id"
CONTINUED = "ruvon.workflow.continued"
PREVIOUS_STATUS = "ruvon.workflow.previous_status"
STEP_NAME = "ruvon.step.name"
STEP_SCOPE = "ruvon.step.scope"
STEP_ATTEMPT = "ruvon.step.attempt"
STEP_STATUS = "ruvon.step.status"
COMPENSATION_STATUS = "ruvon.compensation.status"
ERROR_TYPE = "error.type"  # OpenTelemetry's semantic convention

# statuses in which nobody runs the workflow until something outside happens: the run ends
_STOPS = frozenset(
    {
        "PAUSED",
        "WAITING_HUMAN",
        "PENDING_ASYNC",
        "WAITING_CHILD_HUMAN_INPUT",
        "WAITING_COMPENSATION_APPROVAL",
    }
)
_FINISHED_OK = frozenset({"COMPLETED", "CANCELLED"})
_STARTS = frozenset({E.STEP_STARTED, E.COMPENSATION_STARTED})
DEFAULT_MAX_OPEN_RUNS = 10_000


@dataclass(slots=True, kw_only=True)
class _Open:
    """A step attempt's or a compensation's span that has not ended."""

    span: Span
    started_ns: int
    name: str
    scope: str
    attempt: int = 1
    compensation: bool = False


@dataclass(slots=True, kw_only=True)
class _Run:
    span: Span
    started_ns: int
    workflow_id: str
    workflow_type: str
    stack: list[_Open] = field(default_factory=list)  # outermost first: one chain of scopes


class OpenTelemetryObserver:
    """Turns workflow events into OpenTelemetry spans (see the module's docstring).

    ``tracer_provider`` defaults to the global one. Span state is kept per workflow id under a
    lock, so one observer serves many workflows at once, from several threads too; at most
    ``max_open_runs`` runs are kept open (the oldest is ended past that, as ``UNFINISHED``):
    a whole number of 1 or more, else ``ValueError``.
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        *,
        max_open_runs: int = DEFAULT_MAX_OPEN_RUNS,
    ) -> None:
        if isinstance(max_open_runs, bool) or not isinstance(max_open_runs, int):
            raise ValueError(f"max_open_runs must be a whole number, not {max_open_runs!r}")
        if max_open_runs < 1:
            raise ValueError(
                f"max_open_runs must be 1 or more (the runs kept open), not {max_open_runs}"
            )
        self.tracer = trace.get_tracer("ruvon", __version__, tracer_provider=tracer_provider)
        self.max_open_runs = max_open_runs
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()

    def wants(self, kind: EventKind) -> bool:
        return True

    async def on_event(self, event: WorkflowEvent) -> None:
        with self._lock:
            run = self._runs.get(event.workflow_id)
            if run is None:
                if not _starts_a_run(event):
                    return
                run = self._start_run(event)
            _HANDLERS[event.kind](self, run, event)

    # --- trace context --------------------------------------------------------------------------

    def context_of(self, workflow_id: str) -> Context | None:
        """The context of the innermost open span of the workflow (the step running now, else
        its run), or ``None`` when this observer has no run of it open."""
        with self._lock:
            run = self._runs.get(workflow_id)
            if run is None:
                return None
            return trace.set_span_in_context(run.stack[-1].span if run.stack else run.span)

    def inject(
        self, workflow_id: str, carrier: MutableMapping[str, str] | None = None
    ) -> MutableMapping[str, str]:
        """Write the trace context of the workflow's open span (else the current one) into
        ``carrier`` (a new dict by default), to send with a task to another worker."""
        return inject_trace_context(carrier, self.context_of(workflow_id))

    # --- runs -----------------------------------------------------------------------------------

    def _start_run(self, event: WorkflowEvent) -> _Run:
        attributes: dict[str, Any] = {
            WORKFLOW_ID: event.workflow_id,
            WORKFLOW_TYPE: event.workflow_type,
            WORKFLOW_STATUS: event.status,
        }
        if event.parent_id is not None:
            attributes[PARENT_ID] = event.parent_id
        if event.kind is not E.WORKFLOW_STARTED:
            attributes[CONTINUED] = True
        parent = self._runs.get(event.parent_id) if event.parent_id is not None else None
        context = None
        if parent is not None:  # started by a step (or compensation) of its parent, here
            context = trace.set_span_in_context(
                parent.stack[-1].span if parent.stack else parent.span
            )
        now = time.time_ns()
        span = self.tracer.start_span(
            f"workflow {event.workflow_type}",
            context=context,
            attributes=attributes,
            start_time=now,
        )
        run = _Run(
            span=span,
            started_ns=now,
            workflow_id=event.workflow_id,
            workflow_type=event.workflow_type,
        )
        if len(self._runs) >= self.max_open_runs:
            oldest = next(iter(self._runs.values()))
            self._end_run(oldest, "UNFINISHED")
        self._runs[event.workflow_id] = run
        return run

    def _end_run(self, run: _Run, status: str, error: WorkflowError | None = None) -> None:
        leftover = "WAITING" if status in _STOPS else "UNFINISHED"
        while run.stack:
            _end(run.stack.pop(), leftover)
        run.span.set_attribute(WORKFLOW_STATUS, status)
        if error is not None and status not in _FINISHED_OK:
            _record(run.span, error)
        elif status == "COMPLETED":
            run.span.set_status(StatusCode.OK)
        run.span.end()
        self._runs.pop(run.workflow_id, None)

    def _on_workflow_event(self, run: _Run, event: WorkflowEvent) -> None:
        if event.kind is E.WORKFLOW_STARTED:
            return
        if event.kind is E.RESUMED:
            run.span.add_event("resumed", _step_attributes(event.step_name, None))
            return
        # COMPLETED, FAILED, ROLLED_BACK, CANCELLED; PAUSED (stopped to wait)
        self._end_run(run, event.status, event.error)

    def _on_status_changed(self, run: _Run, event: WorkflowEvent) -> None:
        run.span.set_attribute(WORKFLOW_STATUS, event.status)
        run.span.add_event(
            "status_changed",
            {PREVIOUS_STATUS: event.previous_status or "", WORKFLOW_STATUS: event.status},
        )
        if event.status in _STOPS:
            self._end_run(run, event.status)

    # --- steps ----------------------------------------------------------------------------------

    def _start(self, run: _Run, event: WorkflowEvent, attempt: int, compensation: bool) -> _Open:
        name, scope = event.step_name or "", event.scope or event.step_name or ""
        parent: _Open | _Run = run.stack[-1] if run.stack else run
        # a span opened by the event that ends it began its duration ago (not before its parent)
        started = time.time_ns()
        if event.duration_ms is not None and event.kind not in _STARTS:
            started = max(parent.started_ns, started - int(event.duration_ms * 1_000_000))
        attributes = {
            WORKFLOW_ID: run.workflow_id,
            WORKFLOW_TYPE: run.workflow_type,
            **_step_attributes(name, scope),
        }
        if not compensation:
            attributes[STEP_ATTEMPT] = attempt
        span = self.tracer.start_span(
            f"{'compensate' if compensation else 'step'} {name}",
            context=trace.set_span_in_context(parent.span),
            attributes=attributes,
            start_time=started,
        )
        opened = _Open(
            span=span,
            started_ns=started,
            name=name,
            scope=scope,
            attempt=attempt,
            compensation=compensation,
        )
        run.stack.append(opened)
        return opened

    def _on_step_started(self, run: _Run, event: WorkflowEvent) -> None:
        _close_outside(run, event.scope or event.step_name or "")
        self._start(run, event, 1, compensation=False)

    def _on_step_retried(self, run: _Run, event: WorkflowEvent) -> None:
        scope = event.scope or event.step_name or ""
        opened = _find(run, scope)
        if opened is None or opened.compensation:
            # a compensation's attempt, or a step this process saw no start of (a PARALLEL
            # task): an event on the innermost span that holds it
            holder = opened.span if opened is not None else _holder(run, scope)
            attributes = _step_attributes(event.step_name, scope)
            if event.attempt is not None:
                attributes[STEP_ATTEMPT] = event.attempt
            if event.error is not None:
                attributes[ERROR_TYPE] = event.error.type
                attributes["exception.message"] = event.error.message
            holder.add_event("retry", attributes)
            return
        _pop_above(run, opened, "UNFINISHED")
        run.stack.pop()
        attempt = event.attempt or opened.attempt
        opened.span.set_attribute(STEP_ATTEMPT, attempt)
        _end(opened, "RETRIED", event.error)
        self._start(run, event, attempt + 1, compensation=False)

    def _on_step_finished(self, run: _Run, event: WorkflowEvent) -> None:
        failed = event.kind is E.STEP_FAILED
        scope = event.scope or event.step_name or ""
        opened = _find(run, scope)
        if opened is None:  # finished here, started before this process saw it
            _close_outside(run, scope)
            opened = self._start(run, event, event.attempt or 1, compensation=False)
        # the steps still open inside it: finished (they ran before it completed), or on the
        # way of its failure (the innermost one raised it, if it has the failure's step name)
        innermost = run.stack[-1]
        raised = failed and event.error is not None and innermost.name == event.error.step
        _pop_above(run, opened, "FAILED" if failed else "COMPLETED", event.error, raised)
        run.stack.pop()
        _end(opened, "FAILED" if failed else "COMPLETED", event.error)

    # --- compensations ------------------------------------------------------------------------

    def _on_compensation_started(self, run: _Run, event: WorkflowEvent) -> None:
        while run.stack:  # no forward step runs while the saga unwinds
            _end(run.stack.pop(), "UNFINISHED")
        self._start(run, event, 1, compensation=True)

    def _on_compensation_finished(self, run: _Run, event: WorkflowEvent) -> None:
        scope = event.scope or event.step_name or ""
        opened = _find(run, scope)
        if opened is None or not opened.compensation:
            opened = self._start(run, event, 1, compensation=True)
        _pop_above(run, opened, "UNFINISHED")
        run.stack.pop()
        failed = event.kind is E.COMPENSATION_FAILED
        if event.attempt is not None:
            opened.span.set_attribute(STEP_ATTEMPT, event.attempt)
        _end(opened, "FAILED" if failed else "COMPLETED", event.error)

    def _on_compensation_skipped(self, run: _Run, event: WorkflowEvent) -> None:
        attributes = _step_attributes(event.step_name, event.scope)
        attributes["ruvon.compensation.detail"] = str(event.data.get("detail", ""))
        run.span.add_event("compensation_skipped", attributes)


_HANDLERS = {
    E.WORKFLOW_STARTED: OpenTelemetryObserver._on_workflow_event,
    E.WORKFLOW_COMPLETED: OpenTelemetryObserver._on_workflow_event,
    E.WORKFLOW_FAILED: OpenTelemetryObserver._on_workflow_event,
    E.WORKFLOW_ROLLED_BACK: OpenTelemetryObserver._on_workflow_event,
    E.WORKFLOW_CANCELLED: OpenTelemetryObserver._on_workflow_event,
    E.PAUSED: OpenTelemetryObserver._on_workflow_event,
    E.RESUMED: OpenTelemetryObserver._on_workflow_event,
    E.STATUS_CHANGED: OpenTelemetryObserver._on_status_changed,
    E.STEP_STARTED: OpenTelemetryObserver._on_step_started,
    E.STEP_RETRIED: OpenTelemetryObserver._on_step_retried,
    E.STEP_COMPLETED: OpenTelemetryObserver._on_step_finished,
    E.STEP_FAILED: OpenTelemetryObserver._on_step_finished,
    E.COMPENSATION_STARTED: OpenTelemetryObserver._on_compensation_started,
    E.COMPENSATION_COMPLETED: OpenTelemetryObserver._on_compensation_finished,
    E.COMPENSATION_FAILED: OpenTelemetryObserver._on_compensation_finished,
    E.COMPENSATION_SKIPPED: OpenTelemetryObserver._on_compensation_skipped,
}


def _starts_a_run(event: WorkflowEvent) -> bool:
    """Whether an event of a workflow with no open run here means someone runs it now (not
    the tail of a run that just stopped to wait)."""
    if event.kind is E.PAUSED:
        return False
    return not (event.kind is E.STATUS_CHANGED and event.status in _STOPS)


def _step_attributes(name: str | None, scope: str | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if name is not None:
        attributes[STEP_NAME] = name
    if scope is not None:
        attributes[STEP_SCOPE] = scope
    return attributes


def _find(run: _Run, scope: str) -> _Open | None:
    for opened in reversed(run.stack):
        if opened.scope == scope:
            return opened
    return None


def _holder(run: _Run, scope: str) -> Span:
    """The innermost open span whose scope contains ``scope`` (else the run's)."""
    for opened in reversed(run.stack):
        if scope.startswith(opened.scope + "/"):
            return opened.span
    return run.span


def _close_outside(run: _Run, scope: str) -> None:
    """End the open spans that do not contain ``scope``: finished (a loop body's step when the
    next one, or the next iteration, starts), or not (the same step started again)."""
    while run.stack and not scope.startswith(run.stack[-1].scope + "/"):
        done = run.stack.pop()
        _end(done, "UNFINISHED" if done.scope == scope else "COMPLETED")


def _pop_above(
    run: _Run,
    opened: _Open,
    status: str,
    error: WorkflowError | None = None,
    record_innermost: bool = False,
) -> None:
    """End the spans open inside ``opened``, innermost first (with ``error`` recorded on the
    innermost one if ``record_innermost``, else only marked on each)."""
    record = record_innermost
    while run.stack and run.stack[-1] is not opened:
        _end(run.stack.pop(), status, error, record=record)
        record = False


def _end(
    opened: _Open, status: str, error: WorkflowError | None = None, record: bool = True
) -> None:
    span = opened.span
    span.set_attribute(COMPENSATION_STATUS if opened.compensation else STEP_STATUS, status)
    if status == "COMPLETED":
        span.set_status(StatusCode.OK)
    elif status in ("FAILED", "RETRIED") and error is not None:
        if record:
            _record(span, error)
        else:
            span.set_attribute(ERROR_TYPE, error.type)
            span.set_status(Status(StatusCode.ERROR, f"{error.type}: {error.message}"))
    span.end()


def _record(span: Span, error: WorkflowError) -> None:
    """Mark ``span`` failed with ``error`` (an ``exception`` event, as ``record_exception``
    writes it: the exception object itself is gone, only its record is kept)."""
    span.set_attribute(ERROR_TYPE, error.type)
    attributes = {"exception.type": error.type, "exception.message": error.message}
    if error.traceback:
        attributes["exception.stacktrace"] = error.traceback
    span.add_event("exception", attributes)
    span.set_status(Status(StatusCode.ERROR, f"{error.type}: {error.message}"))


# --- carrying the trace context to another worker ----------------------------------------------


def inject_trace_context(
    carrier: MutableMapping[str, str] | None = None, context: Context | None = None
) -> MutableMapping[str, str]:
    """Write ``context`` (default: the current one) into ``carrier`` (default: a new dict)
    with the configured propagator (W3C ``traceparent``/``tracestate`` unless set otherwise),
    e.g. into a task message's headers. Returns the carrier."""
    out: MutableMapping[str, str] = {} if carrier is None else carrier
    propagate.inject(out, context=context)
    return out


def extract_trace_context(carrier: Mapping[str, str]) -> Context:
    """The context a carrier written by :func:`inject_trace_context` holds."""
    return propagate.extract(carrier)


@contextmanager
def trace_context_from(carrier: Mapping[str, str]) -> Iterator[Context]:
    """Make the carrier's context current while the block runs: a workflow run started in it
    (by the worker that took the task) nests under the span that sent the task."""
    context = extract_trace_context(carrier)
    token = otel_context.attach(context)
    try:
        yield context
    finally:
        otel_context.detach(token)
