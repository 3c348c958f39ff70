"""Prometheus metrics: workflows by status, step and compensation durations and failures,
retries and recoveries, in a ``prometheus_client`` registry.

Labels are the workflow type and the step *name* (never its scope, whose loop indices and child
ids would make a series per iteration); the metric names are listed in ``docs/observability.md``.
Expose them with :func:`metrics_text` (what ``ruvon serve`` answers at ``/metrics``) or with
``prometheus_client.start_http_server``.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

try:
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        REGISTRY,
        CollectorRegistry,
        Counter,
        Gauge,
        Histogram,
        generate_latest,
    )
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise ImportError(
        "PrometheusObserver needs prometheus_client: pip install 'ruvon[metrics]'"
    ) from exc

from ruvon.providers.observer import EventKind, WorkflowEvent

E = EventKind

try:  # what generate_latest writes: the text format 0.0.4 (LATEST names 1.0.0 since 0.22)
    from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4 as CONTENT_TYPE
except ImportError:  # pragma: no cover - older prometheus_client: LATEST is 0.0.4
    CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The ``Content-Type`` of :func:`metrics_text`'s answer (Prometheus' text format 0.0.4)."""

DURATION_BUCKETS: tuple[float, ...] = (
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0
)  # fmt: skip
"""Seconds: from a millisecond step to a five-minute HTTP call."""

# statuses in which a runner is at work on the workflow (its lease is held)
RUNNING = frozenset({"ACTIVE", "COMPENSATING", "PENDING_SUB_WORKFLOW"})
_RECOVERY_OUTCOMES = ("continued", "handed_back", "failed", "errors", "taken")


def metrics_text(registry: CollectorRegistry | None = None) -> str:
    """The registry's metrics (default: ``prometheus_client``'s global one) in the text
    format a Prometheus server scrapes; serve it with :data:`CONTENT_TYPE`."""
    return generate_latest(REGISTRY if registry is None else registry).decode("utf-8")


@dataclass(slots=True, kw_only=True)
class _Metrics:
    """The collectors, registered once per registry."""

    started: Counter
    status_changes: Counter
    running: Gauge
    step_duration: Histogram
    step_failures: Counter
    retries: Counter
    compensation_duration: Histogram
    compensation_failures: Counter
    compensations_skipped: Counter
    recovery_passes: Counter
    recoveries: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry, buckets: Sequence[float]) -> _Metrics:
        kw: dict[str, Any] = {"registry": registry}
        step = ["workflow_type", "step"]
        return cls(
            started=Counter(
                "ruvon_workflows_started", "Workflows created.", ["workflow_type"], **kw
            ),
            status_changes=Counter(
                "ruvon_workflow_status_changes",
                "Workflows entering each status (a created one enters ACTIVE).",
                ["workflow_type", "status"],
                **kw,
            ),
            running=Gauge(
                "ruvon_workflows_running",
                "Workflows this process is running now, by running status.",
                ["workflow_type", "status"],
                **kw,
            ),
            step_duration=Histogram(
                "ruvon_step_duration_seconds",
                "Time a step took, by how it ended (completed, failed).",
                [*step, "status"],
                buckets=buckets,
                **kw,
            ),
            step_failures=Counter(
                "ruvon_step_failures",
                "Steps that failed after their retries.",
                [*step, "error_type"],
                **kw,
            ),
            retries=Counter(
                "ruvon_step_retries",
                "Failed attempts that were retried (phase: forward, compensation).",
                [*step, "phase"],
                **kw,
            ),
            compensation_duration=Histogram(
                "ruvon_compensation_duration_seconds",
                "Time a compensation took, retries included, by how it ended.",
                [*step, "status"],
                buckets=buckets,
                **kw,
            ),
            compensation_failures=Counter(
                "ruvon_compensation_failures",
                "Compensations that failed after their retries.",
                [*step, "error_type"],
                **kw,
            ),
            compensations_skipped=Counter(
                "ruvon_compensations_skipped",
                "Steps an unwind passed over (no compensation, or the step itself failed).",
                step,
                **kw,
            ),
            recovery_passes=Counter("ruvon_recovery_passes", "Recovery passes run.", **kw),
            recoveries=Counter(
                "ruvon_recoveries",
                "Workflows a recovery pass handled, by outcome "
                "(continued, handed_back, failed, errors, taken).",
                ["outcome"],
                **kw,
            ),
        )


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, _Metrics] = weakref.WeakKeyDictionary()
_REGISTERING = threading.Lock()


def _metrics_for(registry: CollectorRegistry, buckets: Sequence[float]) -> _Metrics:
    """One set of collectors per registry: a second observer on it shares them."""
    with _REGISTERING:
        metrics = _BY_REGISTRY.get(registry)
        if metrics is None:
            metrics = _BY_REGISTRY[registry] = _Metrics.create(registry, buckets)
        return metrics


@dataclass(slots=True)
class _Seen:
    """What this process knows of one workflow it runs."""

    running: str | None = None  # the running status it is counted under in the gauge
    started: dict[str, float] = field(default_factory=dict)  # scope -> monotonic start


class PrometheusObserver:
    """Counts workflow events into Prometheus metrics.

    ``registry`` defaults to ``prometheus_client``'s global registry; observers given the same
    registry share its collectors. ``ruvon_workflows_running`` is this process's view: a
    workflow counts from its creation (or the first event of it here) until it stops to wait
    or finishes.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        buckets: Sequence[float] = DURATION_BUCKETS,
    ) -> None:
        self.registry = REGISTRY if registry is None else registry
        self._m = _metrics_for(self.registry, buckets)
        self._seen: dict[str, _Seen] = {}
        self._lock = threading.Lock()

    def wants(self, kind: EventKind) -> bool:
        return True

    def metrics_text(self) -> str:
        """This observer's registry in Prometheus' text format (see :func:`metrics_text`)."""
        return metrics_text(self.registry)

    async def on_event(self, event: WorkflowEvent) -> None:
        with self._lock:
            self._count(event)
            self._track(event)

    async def on_recovery(self, report: Any) -> None:
        """Count one recovery pass's outcomes (a :class:`ruvon.recovery.RecoveryReport`)."""
        self._m.recovery_passes.inc()
        for outcome in _RECOVERY_OUTCOMES:
            handled = len(getattr(report, outcome))
            if handled:
                self._m.recoveries.labels(outcome).inc(handled)

    # --- counting -------------------------------------------------------------------------------

    def _count(self, event: WorkflowEvent) -> None:
        kind, wtype, m = event.kind, event.workflow_type, self._m
        step = event.step_name or ""
        if kind is E.WORKFLOW_STARTED:
            m.started.labels(wtype).inc()
            m.status_changes.labels(wtype, event.status).inc()
        elif kind is E.STATUS_CHANGED:
            m.status_changes.labels(wtype, event.status).inc()
        elif kind is E.STEP_STARTED:
            self._seen_of(event).started[event.scope or step] = time.monotonic()
        elif kind in (E.STEP_COMPLETED, E.STEP_FAILED):
            failed = kind is E.STEP_FAILED
            seconds = self._took(event)
            if seconds is not None:
                status = "failed" if failed else "completed"
                m.step_duration.labels(wtype, step, status).observe(seconds)
            if failed:
                m.step_failures.labels(wtype, step, _error_type(event)).inc()
        elif kind is E.STEP_RETRIED:
            phase = "compensation" if event.data.get("compensation") else "forward"
            m.retries.labels(wtype, step, phase).inc()
        elif kind in (E.COMPENSATION_COMPLETED, E.COMPENSATION_FAILED):
            failed = kind is E.COMPENSATION_FAILED
            if event.duration_ms is not None:
                status = "failed" if failed else "completed"
                seconds = event.duration_ms / 1000
                m.compensation_duration.labels(wtype, step, status).observe(seconds)
            if failed:
                m.compensation_failures.labels(wtype, step, _error_type(event)).inc()
        elif kind is E.COMPENSATION_SKIPPED:
            m.compensations_skipped.labels(wtype, step).inc()

    def _took(self, event: WorkflowEvent) -> float | None:
        """A finished step's seconds: as the engine measured it, else since its start here."""
        seen = self._seen.get(event.workflow_id)
        scope = event.scope or event.step_name or ""
        began = None
        if seen is not None:
            began = seen.started.pop(scope, None)
            inner = scope + "/"
            for nested in [s for s in seen.started if s.startswith(inner)]:
                del seen.started[nested]
        if event.duration_ms is not None:
            return event.duration_ms / 1000
        return None if began is None else time.monotonic() - began

    # --- the running gauge ----------------------------------------------------------------------

    def _seen_of(self, event: WorkflowEvent) -> _Seen:
        seen = self._seen.get(event.workflow_id)
        if seen is None:
            seen = self._seen[event.workflow_id] = _Seen()
        return seen

    def _track(self, event: WorkflowEvent) -> None:
        """Count the workflow under its running status in the gauge, or stop counting it
        (and forget it) once it waits or has finished."""
        running = event.status if event.status in RUNNING else None
        seen = self._seen.get(event.workflow_id)
        before = None if seen is None else seen.running
        if running == before:
            return
        gauge = self._m.running
        if before is not None:
            gauge.labels(event.workflow_type, before).dec()
        if running is None:
            self._seen.pop(event.workflow_id, None)
            return
        gauge.labels(event.workflow_type, running).inc()
        self._seen_of(event).running = running


def _error_type(event: WorkflowEvent) -> str:
    return event.error.type if event.error is not None else ""
