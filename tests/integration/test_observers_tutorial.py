"""The seed saga tutorial (examples/saga_payment), extracted verbatim and run as a process with
logs, traces and metrics at once (``observed_tutorial.py``): its success and its rollback, each
span and each metric they produce."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from seed_tutorial import write_tutorial

RUNNER = Path(__file__).with_name("observed_tutorial.py")
SHIPMENT_RAISE = '    # raise Exception("Carrier API unavailable")'
STEPS = ("Create_Order", "Charge_Payment", "Reserve_Inventory", "Create_Shipment")
WF = "PaymentProcessing"


@pytest.fixture
def tutorial(tmp_path: Path) -> Path:
    write_tutorial(tmp_path)
    return tmp_path


def observe(directory: Path) -> tuple[str, list[dict[str, Any]], dict[str, float]]:
    """The tutorial's output, its spans (start order) and its metrics (``name{labels}`` ->
    value, ``_created`` and buckets left out)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUVON_")}
    proc = subprocess.run(
        [sys.executable, str(RUNNER)],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr
    out, observed = proc.stdout.split("\nOBSERVED\n")
    found = json.loads(observed)
    spans = sorted(found["spans"], key=lambda s: s["start"])
    metrics: dict[str, float] = {}
    for family in text_string_to_metric_families(found["metrics"]):
        for s in family.samples:
            if s.name.endswith(("_created", "_bucket")):
                continue
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            metrics[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out, spans, metrics


def shape(spans: list[dict[str, Any]]) -> list[tuple[str, str, str | None, str | None]]:
    """(indented name, status, step or workflow status, error type) of each span."""
    by_id = {s["span_id"]: s for s in spans}

    def depth(span: dict[str, Any]) -> int:
        n = 0
        while span["parent_id"] in by_id:
            span, n = by_id[span["parent_id"]], n + 1
        return n

    out = []
    for s in spans:
        a = s["attributes"]
        status = (
            a.get("ruvon.step.status")
            or a.get("ruvon.compensation.status")
            or a.get("ruvon.workflow.status")
        )
        out.append(("  " * depth(s) + s["name"], s["status"], status, a.get("error.type")))
    return out


def m(name: str, **labels: str) -> str:
    """The key :func:`observe` gives the sample ``ruvon_<name>`` of the tutorial's type."""
    labels["workflow_type"] = WF
    text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"ruvon_{name}{{{text}}}"


def test_observed_tutorial__success(tutorial: Path) -> None:
    out, spans, metrics = observe(tutorial)
    assert "WORKFLOW COMPLETED SUCCESSFULLY" in out and "Status: COMPLETED" in out
    assert shape(spans) == [
        (f"workflow {WF}", "OK", "COMPLETED", None),
        *((f"  step {name}", "OK", "COMPLETED", None) for name in STEPS),
    ]
    [root] = [s for s in spans if s["parent_id"] is None]
    assert {s["trace_id"] for s in spans} == {root["trace_id"]}
    workflow_id = root["attributes"]["ruvon.workflow.id"]
    assert root["attributes"] == {
        "ruvon.workflow.id": workflow_id,
        "ruvon.workflow.type": WF,
        "ruvon.workflow.status": "COMPLETED",
    }
    assert [s["attributes"]["ruvon.step.scope"] for s in spans[1:]] == list(STEPS)
    assert {s["attributes"]["ruvon.workflow.id"] for s in spans} == {workflow_id}
    assert {k: v for k, v in metrics.items() if v and "_sum{" not in k} == {
        m("workflows_started_total"): 1.0,
        m("workflow_status_changes_total", status="ACTIVE"): 1.0,
        m("workflow_status_changes_total", status="COMPLETED"): 1.0,
        **{m("step_duration_seconds_count", status="completed", step=s): 1.0 for s in STEPS},
    }
    assert metrics[m("workflows_running", status="ACTIVE")] == 0.0


def test_observed_tutorial__rollback(tutorial: Path) -> None:
    steps_py = tutorial / "payment_processor" / "steps.py"
    text = steps_py.read_text()
    assert text.count(SHIPMENT_RAISE) == 1
    steps_py.write_text(text.replace(SHIPMENT_RAISE, SHIPMENT_RAISE.replace("# ", "")))
    out, spans, metrics = observe(tutorial)
    assert "Status: FAILED_ROLLED_BACK" in out
    assert shape(spans) == [
        (f"workflow {WF}", "ERROR", "FAILED_ROLLED_BACK", "Exception"),
        ("  step Create_Order", "OK", "COMPLETED", None),
        ("  step Charge_Payment", "OK", "COMPLETED", None),
        ("  step Reserve_Inventory", "OK", "COMPLETED", None),
        ("  step Create_Shipment", "ERROR", "FAILED", "Exception"),
        # newest first; the failed step itself is not compensated (an event on the workflow)
        ("  compensate Reserve_Inventory", "OK", "COMPLETED", None),
        ("  compensate Charge_Payment", "OK", "COMPLETED", None),
        ("  compensate Create_Order", "OK", "COMPLETED", None),
    ]
    by_name = {s["name"]: s for s in spans}
    failed = by_name["step Create_Shipment"]
    assert failed["description"] == "Exception: Carrier API unavailable"
    assert failed["events"] == ["exception"]
    root = by_name[f"workflow {WF}"]
    assert root["description"] == "Exception: Carrier API unavailable"
    assert root["events"] == [
        "compensation_skipped",
        "status_changed",
        "status_changed",
        "exception",
    ]
    done = {"status": "completed"}
    assert {k: v for k, v in metrics.items() if v and "_sum{" not in k} == {
        m("workflows_started_total"): 1.0,
        m("workflow_status_changes_total", status="ACTIVE"): 1.0,
        m("workflow_status_changes_total", status="COMPENSATING"): 1.0,
        m("workflow_status_changes_total", status="FAILED_ROLLED_BACK"): 1.0,
        **{m("step_duration_seconds_count", step=s, **done): 1.0 for s in STEPS[:3]},
        m("step_duration_seconds_count", status="failed", step="Create_Shipment"): 1.0,
        m("step_failures_total", error_type="Exception", step="Create_Shipment"): 1.0,
        m("compensations_skipped_total", step="Create_Shipment"): 1.0,
        **{m("compensation_duration_seconds_count", step=s, **done): 1.0 for s in STEPS[:3]},
    }
