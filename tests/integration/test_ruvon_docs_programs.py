"""The programs of the original Ruvon documentation (``KamikaziD/ruvon-docs``), run as their
readers run them.

Each program is kept under ``tests/docs_programs/<doc>/`` with every file the page shows, byte for
byte. Where a page leaves something out or contradicts the SPEC, the fix sits beside the file it
changes (``<file>.patch``) or is a file of ours that the page never shows (``OURS`` below);
``docs/ruvon-docs-programs.md`` gives the reason for each. A test copies the program into a fresh
directory, applies the patches, runs its command in a subprocess and compares what it prints with
what the page says. Where the page's own tests are the program, each patch is also left out once,
to show that it is still needed and why. The seed tutorial (``saga-pattern.md``) is run by
``test_tutorial.py``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from docs_programs.runner import (
    PROGRAMS,
    UUID,
    assert_all_passed,
    assert_each_patch_is_needed,
    assert_prints,
    lay_out,
    patches,
    run,
    run_tests,
    sample,
)
from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider

# files the pages never show, written by us (each says so in its first lines)
OURS = {
    "decision-steps": {"my_app/state_models.py"},
    "human-in-loop": {"my_app/state_models.py"},
    "saga-mode": {"my_app/services.py"},
    "testing": {
        "config/order_processing.yaml",
        "config/risk_assessment.yaml",
        "config/user_onboarding.yaml",
        "my_app/database.py",
        "my_app/services.py",
        "my_app/state_models.py",
        "my_app/steps.py",
    },
}


def decisions(doc: str) -> str:
    """The section of docs/ruvon-docs-programs.md on ``doc``'s page."""
    text = (PROGRAMS.parents[1] / "docs" / "ruvon-docs-programs.md").read_text(encoding="utf-8")
    return next(s for s in text.split("\n## ") if f"/{doc}.md" in s.split("\n", 1)[0])


def test_our_files_and_each_patch_are_marked_and_explained() -> None:
    for doc, files in OURS.items():
        for name in files:
            assert "Not shown in" in (PROGRAMS / doc / name).read_text(encoding="utf-8"), name
            assert Path(name).name in decisions(doc), (doc, name)
    for doc in sorted(p.name for p in PROGRAMS.iterdir() if p.is_dir() and p.name[0].isalpha()):
        for name in patches(doc):
            assert (PROGRAMS / doc / name.removesuffix(".patch")).is_file(), name
            assert name.removesuffix(".patch") not in OURS.get(doc, set()), name
            assert f"`{name}`" in decisions(doc), (doc, name)


# --- tutorials ---------------------------------------------------------------------------------


def test_getting_started(tmp_path: Path) -> None:
    root = lay_out("getting-started", tmp_path)

    done = run(root, sys.executable, "run_workflow.py")

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    # greet_user takes `name` from the user input, which run_workflow.py leaves empty
    world = [line.replace("Hello, Alice!", "Hello, World!") for line in sample("getting-started")]
    assert done.stdout.splitlines() == world
    assert list(root.rglob("*.db")) == []  # SQLitePersistenceProvider(db_path=":memory:")


async def test_build_task_manager(tmp_path: Path) -> None:
    root = lay_out("build-task-manager", tmp_path)

    done = run(root, sys.executable, "main.py")

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    time = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
    page_run = {
        "550e8400-e29b-41d4-a716-446655440000": UUID,
        "2026-02-13 10:30:15": time,
        "2026-02-13 10:30:16": time,
    }
    assert_prints(done.stdout, sample("build-task-manager"), page_run)
    created, shown = re.findall(f"Workflow (?:created|ID): ({UUID})", done.stdout)
    assert created == shown
    store = SQLitePersistenceProvider(str(root / "tasks.db"))
    try:
        assert (await store.load_workflow(created)).status == "COMPLETED"
    finally:
        await store.close()


WITH_LOGGING = (
    "import logging, runpy\n"
    "logging.basicConfig(level=logging.DEBUG)\n"
    "runpy.run_module({module!r}, run_name='__main__')\n"
)
FIELD = re.compile(r"(\w+)=('[^']*'|[\w.]+)")


def test_create_workflow(tmp_path: Path) -> None:
    root = lay_out("create-workflow", tmp_path)
    page = sample("create-workflow")

    # the page's command puts my_workflow/ on sys.path, not the project that holds the package
    as_written = run(root, sys.executable, "my_workflow/run.py")
    assert as_written.returncode == 1
    assert "can not import module 'my_workflow.state_models'" in as_written.stderr

    done = run(root, sys.executable, "-m", "my_workflow.run")

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    out = done.stdout.splitlines()
    assert len(out) == 4, done.stdout
    assert re.fullmatch(f"Workflow created: {UUID}", out[0])
    assert out[1:3] == ["Initial status: ACTIVE", "Final status: COMPLETED"] == [page[1], page[5]]
    final_state = dict(FIELD.findall(out[3].removeprefix("Final state: ")))
    assert final_state == dict(FIELD.findall("\n".join(page[7:-1])))
    # the page's "[INFO] Executing step" lines come from the observer, once logging is set up
    logged = run(root, sys.executable, "-c", WITH_LOGGING.format(module="my_workflow.run"))
    assert logged.returncode == 0, logged.stderr
    started = re.findall(r"step_started .* step=(\w+)", logged.stderr)
    assert started == [line.rsplit(" ", 1)[1] for line in page if line.startswith("[INFO]")]
    # keys that are not fields of OrderState stay in the step's result, with a warning
    for key in ("validated_at", "payment_status"):
        assert f"returned key '{key}', which is not a field of OrderState" in logged.stderr


async def test_edge_deployment__its_workflow_part(tmp_path: Path) -> None:
    """The payment workflow runs as written on every draw of its simulated network; the
    store-and-forward sync rewrites the store's rows as 0.1.5 dicts and is not supported."""
    root = lay_out("edge-deployment", tmp_path)

    done = run(root, sys.executable, "edge_agent.py")

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    queued = re.findall(f"Queued for sync: ({UUID})", done.stdout)
    payments = done.stdout.split("  PROCESSING PAYMENT: ")[1:]
    assert len(payments) == 3
    for payment in payments:
        (network,) = re.findall(r"Network Status: (ONLINE|OFFLINE)", payment)
        assert f"   Mode: {network}\n" in payment
        assert "   Status: APPROVED\n" in payment  # every amount is under the floor limit
        offline = network == "OFFLINE"
        assert ("✓ APPROVED (under floor limit)" in payment) == offline
        assert ("Queued for sync" in payment) == offline
    n = len(queued)
    summary = f"Total Transactions: 3\n  Approved: 3\n  Online: {3 - n}\n  Offline: {n}\n"
    assert summary + f"\nPending Sync: {n}\n" in done.stdout
    assert (f"Sync complete: 0 synced, {n} failed" in done.stdout) == (n > 0)
    assert done.stdout.rstrip().endswith("Inspect with: sqlite3 edge_terminal.db")

    store = SQLitePersistenceProvider(str(root / "edge_terminal.db"))
    try:
        records = await store.list_workflows(workflow_type="EdgePayment")
    finally:
        await store.close()
    assert [r.status for r in records] == ["COMPLETED"] * 3
    states = {r.id: json.loads(r.state) for r in records}
    assert all(s["approved"] and not s["synced_to_cloud"] for s in states.values())
    assert {i for i, s in states.items() if s["offline_approved"]} == set(queued)


# --- how-to guides: their tests are the program ---------------------------------------------------

# every condition docs/how-to-guides/decision-steps.md shows, over a state that has its fields
DECISION_STATE = {
    "amount": 15000, "status": "premium", "is_verified": True, "country": "US",
    "risk_flags": ["fraud"], "customer_tier": "premium", "customer_type": "business",
    "employee_count": 120, "tier": "gold", "credit_score": 780, "dti_ratio": 0.3,
    "is_eligible": True, "eligibility_error": None, "priority": "medium", "ab_group": "B",
    "new_checkout_enabled": False, "is_business_hours": True,
}  # fmt: skip
DECISION_CONDITIONS = {
    "state.amount > 10000": True,
    "state.amount <= 10000": False,
    "state.status == 'premium'": True,
    "state.is_verified": True,
    "state.amount > 5000 and state.country == 'US'": True,
    "'fraud' in state.risk_flags": True,
    "True": True,
    "state.customer_tier == 'premium'": True,
    "state.country != 'US'": False,
    "state.customer_type == 'business'": True,
    "state.customer_type == 'individual'": False,
    "state.employee_count > 100": True,
    "state.tier == 'premium'": False,
    "state.credit_score > 750 and state.dti_ratio < 0.36": True,
    "state.credit_score < 600": False,
    "state.is_eligible == True": True,
    "state.eligibility_error is not None": False,
    "state.priority == 'high'": False,
    "state.priority == 'medium'": True,
    "state.ab_group == 'A'": False,
    "state.new_checkout_enabled": False,
    "state.is_business_hours": True,
}


def test_decision_steps(tmp_path: Path) -> None:
    names = {"test_high_value_routing", "test_standard_value_routing"}

    assert_all_passed(run_tests(lay_out("decision-steps", tmp_path)), names)

    assert_each_patch_is_needed(
        "decision-steps",
        tmp_path,
        {
            "my_app/steps.py.patch": dict.fromkeys(
                names, "module 'my_app.steps' has no attribute 'await_approval'"
            ),
            "test_decision_steps.py.patch": {
                "test_high_value_routing": "assert 1 == 'Manual_Approval'",
                "test_standard_value_routing": "assert 2 == 'Auto_Process'",
            },
        },
    )
    evaluator = SimpleExpressionEvaluator()
    for condition, value in DECISION_CONDITIONS.items():
        assert evaluator.evaluate(condition, {"state": DECISION_STATE}) is value, condition


def test_human_in_loop(tmp_path: Path) -> None:
    names = {"test_approval_workflow", "test_rejection_workflow"}

    assert_all_passed(run_tests(lay_out("human-in-loop", tmp_path)), names)

    assert_each_patch_is_needed(
        "human-in-loop",
        tmp_path,
        {
            "my_app/steps.py.patch": dict.fromkeys(
                names, "module 'my_app.steps' has no attribute 'validate_order'"
            ),
            "config/order_processing.yaml.patch": {
                "test_rejection_workflow": "jumped to unknown step 'Send_Rejection_Email'"
            },
            "test_human_in_loop.py.patch": {
                "test_rejection_workflow": "does not fit ApprovalInput: reviewer: Field required"
            },
        },
    )


# the page's "Failed execution with compensation": Ship_Order skipped, then refund, then release
SAGA_ORDER = """
import asyncio
from unittest.mock import patch
from ruvon.testing import TestHarness

async def main():
    harness = TestHarness(raise_on_failure=False)
    order = {"order_id": "O-1", "customer_id": "C-1", "items": ["SKU-1"], "amount": 99.99}
    workflow = await harness.start_workflow("OrderProcessing", order)
    workflow.enable_saga_mode()
    with patch("my_app.services.shipping_service.ship", side_effect=Exception("down")):
        await harness.next_step(workflow.id)
    for entry in await harness.compensation_journal(workflow.id):
        print(entry.step_name, entry.status)
    print(workflow.status)

asyncio.run(main())
"""


def test_saga_mode(tmp_path: Path) -> None:
    names = {"test_saga_compensation", "test_saga_success"}
    root = lay_out("saga-mode", tmp_path)

    assert_all_passed(run_tests(root), names)

    unwind = run(root, sys.executable, "-c", SAGA_ORDER)
    assert unwind.stdout.splitlines() == [
        "Ship_Order SKIPPED",
        "Charge_Payment COMPLETED",
        "Reserve_Inventory COMPLETED",
        "FAILED_ROLLED_BACK",
    ], unwind.stderr
    assert_each_patch_is_needed(
        "saga-mode",
        tmp_path,
        {
            "my_app/steps.py.patch": dict.fromkeys(
                names, "importing module 'my_app.steps' raised NameError"
            ),
            "my_app/state_models.py.patch": {
                "test_saga_compensation": "'OrderState' object has no attribute 'refund_id'"
            },
            "test_saga_mode.py.patch": dict.fromkeys(names, "items: Field required"),
        },
    )


def test_testing(tmp_path: Path) -> None:
    """The page's tests, against the workflows we wrote for them (the page never shows them);
    run with ``python -m pytest`` (see docs/ruvon-docs-programs.md)."""
    files = ("tests/test_order_workflow.py", "tests/factories.py")
    names = {
        "test_simple_workflow", "test_validate_order", "test_validate_order_negative_amount",
        "test_high_value_routing", "test_standard_value_routing", "test_approval_workflow",
        "test_rejection_workflow", "test_saga_compensation", "test_database_step",
        "test_parallel_steps",
        "test_workflow_failure", "test_retryable_errors", "test_state_persistence",
        "test_workflow_performance", "test_with_factory",
    }  # fmt: skip

    assert_all_passed(run_tests(lay_out("testing", tmp_path), *files, module=True), names)

    assert_each_patch_is_needed(
        "testing",
        tmp_path,
        {
            "tests/test_order_workflow.py.patch": {
                "test_high_value_routing": "assert 1 == 'Manual_Approval'",
                "test_standard_value_routing": "assert 2 == 'Auto_Process'",
                "test_approval_workflow": "== 'WAITING_HUMAN_INPUT'",
            },
            "tests/factories.py.patch": {"tests.factories": "NameError: name 'pytest'"},
        },
        *files,
        module=True,
    )
