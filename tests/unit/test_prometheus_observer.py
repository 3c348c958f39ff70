"""PrometheusObserver: the values of the ``/metrics`` text after known runs."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families

import flow_steps
from engine_support import builder, st
from flow_support import flow, step
from ruvon.implementations.observability.prometheus import (
    CONTENT_TYPE,
    PrometheusObserver,
    metrics_text,
)
from ruvon.status import WorkflowStatus as S

NO_DELAY = {"initial_delay": 0}


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def observer(registry: CollectorRegistry) -> PrometheusObserver:
    return PrometheusObserver(registry)


def samples(text: str, prefix: str = "ruvon_") -> dict[str, float]:
    """Every sample of the text as ``'name{label="v",...}' -> value`` (labels sorted), the
    ``_created`` timestamps and the histogram buckets left out."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if not s.name.startswith(prefix) or s.name.endswith(("_created", "_bucket")):
                continue
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def m(name: str, workflow_type: str | None = "T", **labels: str) -> str:
    """The key :func:`samples` gives the sample ``ruvon_<name>`` with these labels."""
    if workflow_type is not None:
        labels["workflow_type"] = workflow_type
    text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"ruvon_{name}{{{text}}}"


def nonzero(text: str) -> dict[str, float]:
    """The samples that are not 0, sums of durations left out (their values vary)."""
    return {k: v for k, v in samples(text).items() if v and "_sum{" not in k}


def bucket(text: str, metric: str, le: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == f"{metric}_bucket" and s.labels == {**labels, "le": le}:
                return s.value
    raise KeyError((metric, le, labels))


async def test_prometheus__a_completed_workflow(
    observer: PrometheusObserver, registry: CollectorRegistry
) -> None:
    slow = {"fn": "engine_steps.async_step"}
    b = builder(st("A", **slow), st("B"), workflow_observer=observer)
    wf = await b.create_workflow("T", {"sleep": 0.03})
    assert await wf.run() is S.COMPLETED
    text = metrics_text(registry)
    assert text == observer.metrics_text()
    assert nonzero(text) == {
        m("workflows_started_total"): 1.0,
        m("workflow_status_changes_total", status="ACTIVE"): 1.0,
        m("workflow_status_changes_total", status="COMPLETED"): 1.0,
        m("step_duration_seconds_count", status="completed", step="A"): 1.0,
        m("step_duration_seconds_count", status="completed", step="B"): 1.0,
    }
    # the gauge went up at the start and back down at the end
    assert samples(text)[m("workflows_running", status="ACTIVE")] == 0.0
    a = {"status": "completed", "step": "A", "workflow_type": "T"}
    assert bucket(text, "ruvon_step_duration_seconds", "0.025", **a) == 0.0  # slept 30 ms
    assert bucket(text, "ruvon_step_duration_seconds", "1.0", **a) == 1.0
    assert samples(text)[m("step_duration_seconds_sum", status="completed", step="A")] >= 0.03
    assert 'ruvon_workflows_started_total{workflow_type="T"} 1.0\n' in text  # the text as scraped


async def test_prometheus__retries_a_failure_and_the_rollback(
    observer: PrometheusObserver, registry: CollectorRegistry
) -> None:
    b = builder(
        st("A", retry_policy={"max_attempts": 2, **NO_DELAY}),
        st("B", comp=None),
        st("C"),
        saga=True,
        workflow_observer=observer,
    )
    wf = await b.create_workflow("T", {"flaky": {"A": 1}, "fail_at": ["C"]})
    assert await wf.run() is S.FAILED_ROLLED_BACK
    text = metrics_text(registry)
    assert nonzero(text) == {
        m("workflows_started_total"): 1.0,
        m("workflow_status_changes_total", status="ACTIVE"): 1.0,
        m("workflow_status_changes_total", status="COMPENSATING"): 1.0,
        m("workflow_status_changes_total", status="FAILED_ROLLED_BACK"): 1.0,
        m("step_duration_seconds_count", status="completed", step="A"): 1.0,
        m("step_duration_seconds_count", status="completed", step="B"): 1.0,
        # a failed step's time is measured from its start here
        m("step_duration_seconds_count", status="failed", step="C"): 1.0,
        m("step_failures_total", error_type="RuntimeError", step="C"): 1.0,
        m("step_retries_total", phase="forward", step="A"): 1.0,
        m("compensations_skipped_total", step="C"): 1.0,  # it failed
        m("compensations_skipped_total", step="B"): 1.0,  # none to run
        m("compensation_duration_seconds_count", status="completed", step="A"): 1.0,
    }
    running = {k: v for k, v in samples(text).items() if k.startswith("ruvon_workflows_running")}
    assert running == {
        m("workflows_running", status="ACTIVE"): 0.0,
        m("workflows_running", status="COMPENSATING"): 0.0,
    }


async def test_prometheus__a_failed_compensation_and_its_retry(
    observer: PrometheusObserver, registry: CollectorRegistry
) -> None:
    policy = {"max_attempts": 2, **NO_DELAY}
    b = builder(st("A", retry_policy=policy), st("B"), saga=True, workflow_observer=observer)
    wf = await b.create_workflow("T", {"fail_at": ["B"], "fail_comp": ["A"]})
    assert await wf.run() is S.COMPENSATION_FAILED
    found = nonzero(metrics_text(registry))
    assert {k: v for k, v in found.items() if "compensation" in k or "retries" in k} == {
        m("step_retries_total", phase="compensation", step="A"): 1.0,
        m("compensation_duration_seconds_count", status="failed", step="A"): 1.0,
        m("compensation_failures_total", error_type="RuntimeError", step="A"): 1.0,
        m("compensations_skipped_total", step="B"): 1.0,
    }
    assert found[m("workflow_status_changes_total", status="COMPENSATION_FAILED")] == 1.0


async def test_prometheus__the_running_gauge_counts_workflows_until_they_wait_or_finish(
    observer: PrometheusObserver, registry: CollectorRegistry
) -> None:
    def active() -> float:
        return samples(metrics_text(registry))[m("workflows_running", status="ACTIVE")]

    b = builder(st("A", automate_next=False), st("P", fn="engine_steps.pause"), st("C"))
    b.workflow_observer = observer
    first, second = await b.create_workflow("T"), await b.create_workflow("T")
    assert active() == 2.0
    await first.next_step()  # A ran; it goes on at P (still ACTIVE)
    assert active() == 2.0
    assert await first.run() is S.PAUSED  # waits: no longer running here
    assert active() == 1.0
    await first.resume({"note": "go"})
    assert first.status is S.COMPLETED and active() == 1.0
    await second.cancel()
    assert active() == 0.0


async def test_prometheus__loop_body_steps_are_labelled_by_name_not_by_iteration(
    observer: PrometheusObserver, registry: CollectorRegistry
) -> None:
    body = [step("Reserve", "flow_steps.reserve")]
    b = flow(step("Items", None, type="LOOP", iterate_over="state.items", loop_body=body))
    b.workflow_observer = observer
    wf = await b.create_workflow("F", {"items": ["a", "b", "c"]})
    assert await wf.run() is S.COMPLETED
    counts = {k: v for k, v in nonzero(metrics_text(registry)).items() if "step_duration" in k}
    done = {"status": "completed", "workflow_type": "F"}
    assert counts == {
        m("step_duration_seconds_count", step="Items", **done): 1.0,
        m("step_duration_seconds_count", step="Reserve", **done): 3.0,
    }


async def test_prometheus__recovery_passes_and_what_they_did(
    observer: PrometheusObserver, registry: CollectorRegistry
) -> None:
    b = flow(step("A"), step("Dies", "flow_steps.take_input_or_die"), step("After"))
    b.workflow_observer = observer
    b.lease_seconds = 0.05
    wf = await b.create_workflow("F")
    flow_steps.INTERRUPT_ONCE.add(wf.id)
    with pytest.raises(KeyboardInterrupt):
        await wf.next_step()
    row = await b.persistence_provider.load_workflow(wf.id)  # type: ignore[union-attr]
    await asyncio.sleep(max(0.0, (row.lease_expires_at or 0) - time.time()) + 0.02)
    assert await b.recover() == [wf.id]
    assert await b.recover() == []
    found = samples(metrics_text(registry))
    assert found["ruvon_recovery_passes_total"] == 2.0
    assert found[m("recoveries_total", outcome="continued", workflow_type=None)] == 1.0
    assert not any(k.startswith("ruvon_recoveries_total{") and "continued" not in k for k in found)


async def test_prometheus__observers_on_one_registry_share_its_collectors(
    registry: CollectorRegistry,
) -> None:
    one, two = PrometheusObserver(registry), PrometheusObserver(registry)
    for obs in (one, two):
        await builder(st("A"), workflow_observer=obs).create_workflow("T")
    assert samples(metrics_text(registry))[m("workflows_started_total")] == 2
    global_one = PrometheusObserver()  # prometheus_client's global registry, shared the same way
    assert PrometheusObserver().registry is global_one.registry
    assert "# HELP ruvon_workflows_started_total Workflows created." in metrics_text()


def test_prometheus__served_on_its_own_with_start_http_server(
    registry: CollectorRegistry,
) -> None:
    PrometheusObserver(registry)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        answer = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=5)
    finally:
        server.shutdown()
        thread.join(5)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == CONTENT_TYPE
    assert "# TYPE ruvon_step_duration_seconds histogram" in answer.text
    assert samples(answer.text) == samples(metrics_text(registry))


def test_prometheus__content_type_is_the_text_format() -> None:
    assert CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"
