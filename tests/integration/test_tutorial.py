"""The seed saga tutorial, extracted verbatim, run as its reader runs it: ``python main.py``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from seed_tutorial import ROOT, tutorial_files, write_tutorial

SHIPMENT_RAISE = '    # raise Exception("Carrier API unavailable")'
PAYMENT_RAISE = '    # raise Exception("Payment gateway timeout")'
SAGA_LINE = "    workflow.enable_saga_mode()\n"


def _run(directory: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUVON_")}
    proc = subprocess.run(
        [sys.executable, "main.py"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr  # the library prints nothing, not even warnings
    return proc.stdout


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} not found exactly once in {path}"
    path.write_text(text.replace(old, new))


@pytest.fixture
def tutorial(tmp_path: Path) -> Path:
    write_tutorial(tmp_path)
    return tmp_path


def _final_block(out: str) -> list[str]:
    return out.split("FINAL STATE", 1)[1].splitlines()


def test_example_dir_holds_the_tutorial_files_verbatim() -> None:
    for rel, content in tutorial_files().items():
        assert (ROOT / "examples" / "saga_payment" / rel).read_text() == content, rel


def test_tutorial__success(tutorial: Path) -> None:
    out = _run(tutorial)
    assert "✓ Saga mode enabled (compensation active)" in out
    assert "WORKFLOW COMPLETED SUCCESSFULLY" in out
    assert "Status: COMPLETED" in out
    for flag in ("Order Created", "Payment Charged", "Inventory Reserved", "Shipment Created"):
        assert f"  {flag}: True" in out
    assert "✅ No compensations needed" in out
    assert out.rstrip().endswith("Final Workflow Status: completed")
    assert "COMPENSATION" not in out


def test_tutorial__shipment_failure_rolls_back_in_reverse(tutorial: Path) -> None:
    _edit(tutorial / "payment_processor/steps.py", SHIPMENT_RAISE, SHIPMENT_RAISE.replace("# ", ""))
    out = _run(tutorial)
    assert "Status: FAILED_ROLLED_BACK" in out
    release = out.index("COMPENSATION: Releasing inventory")
    refund = out.index("COMPENSATION: Refunding payment")
    cancel = out.index("COMPENSATION: Canceling order")
    assert release < refund < cancel
    assert "Canceling shipment" not in out
    final = _final_block(out)
    for flag in ("Order Created", "Payment Charged", "Inventory Reserved", "Shipment Created"):
        assert f"  {flag}: False" in final
    runs = [line.strip() for line in final if line.startswith("  - ")]
    assert runs == ["- release_inventory", "- refund_payment", "- cancel_order"]
    # every compensation's result is merged in order, so the last one wins (SPEC §4)
    assert out.rstrip().endswith("Final Workflow Status: order_canceled")


def test_tutorial__payment_failure_compensates_only_the_order(tutorial: Path) -> None:
    _edit(tutorial / "payment_processor/steps.py", PAYMENT_RAISE, PAYMENT_RAISE.replace("# ", ""))
    out = _run(tutorial)
    assert "Status: FAILED_ROLLED_BACK" in out
    assert "COMPENSATION: Canceling order" in out
    assert "Refunding payment" not in out and "Releasing inventory" not in out
    assert "Reserving inventory" not in out
    runs = [line.strip() for line in _final_block(out) if line.startswith("  - ")]
    assert runs == ["- cancel_order"]


def test_tutorial__without_saga_mode_fails_without_compensation(tutorial: Path) -> None:
    _edit(tutorial / "payment_processor/steps.py", SHIPMENT_RAISE, SHIPMENT_RAISE.replace("# ", ""))
    _edit(tutorial / "main.py", SAGA_LINE, "")
    out = _run(tutorial)
    assert "WORKFLOW FAILED - INITIATING ROLLBACK" in out
    assert "Status: FAILED" in out and "FAILED_ROLLED_BACK" not in out
    assert "COMPENSATION:" not in out
    assert "✅ No compensations needed" in out
    assert "  Inventory Reserved: True" in out


def _demo(tmp_path: Path, failure: str | None) -> str:
    example = ROOT / "examples" / "saga_payment"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUVON_")}
    env["RUVON_DEMO_DB"] = f"sqlite:///{tmp_path / 'demo.db'}"
    if failure:
        env["SIMULATE_FAILURE"] = failure
    proc = subprocess.run(
        [sys.executable, "demo.py"],
        cwd=example,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_demo_runs_the_saga_on_sqlite_and_keeps_every_run(tmp_path: Path) -> None:
    assert "Status: COMPLETED" in _demo(tmp_path, None)
    out = _demo(tmp_path, "shipment")
    assert "Status: FAILED_ROLLED_BACK" in out
    assert out.index("Releasing inventory") < out.index("Canceling order")
    listing = subprocess.run(
        [sys.executable, "-m", "ruvon.cli", "list", "--db", f"sqlite:///{tmp_path / 'demo.db'}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listing.returncode == 0, listing.stderr
    assert "COMPLETED" in listing.stdout and "FAILED_ROLLED_BACK" in listing.stdout
    assert "2 workflow(s)" in listing.stdout
