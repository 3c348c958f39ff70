"""``ruvon`` as installed: the script and ``python -m ruvon``, ``--version``, ``validate``,
``graph``, the ``workflow`` group, and the saga tutorial run from the command line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from cli_support import db_url_fixture, one_error_line, project, ruvon

__all__ = ["db_url_fixture"]

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).with_name("ruvon")  # the console script of this virtualenv


def test_the_script_and_python_dash_m_are_the_same_program(tmp_path: Path) -> None:
    from importlib.metadata import version

    by_module = ruvon("--version", cwd=tmp_path)
    by_script = subprocess.run(
        [str(SCRIPT), "--version"], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert by_module.returncode == 0 and by_script.returncode == 0
    assert by_module.stdout == by_script.stdout == f"ruvon {version('ruvon')}\n"
    helped = ruvon("--help", cwd=tmp_path)
    for command in ("validate", "start", "run", "list", "show", "logs", "resume", "approve"):
        assert f"  {command} " in helped.stdout
    assert "Exit codes: 0 ok, 1 failed, 2 usage, 3 database, 4 not found." in helped.stdout


def test_validate__all_problems_at_once_with_file_and_line(tmp_path: Path) -> None:
    app = project(tmp_path)
    ok = ruvon("validate", cwd=app)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines() == [
        "ok: 4 definition(s) in config",
        "  Expense 1 (config/expense.yaml)",
        "  Nested 1 (config/nested.yaml)",
        "  Order 2 (config/order.yaml)",
        "  Plain 1 (config/plain.yaml)",
    ]
    (app / "config" / "order.yaml").write_text(
        (app / "config" / "order.yaml")
        .read_text()
        .replace("shop.release", "shop.relase")
        .replace("automate_next: true\n  - name: Ship", "automate_nxt: true\n  - name: Ship")
    )
    (app / "config" / "plain.yaml").write_text("workflow_type: Plain\nsteps: [\n")

    proc = ruvon("validate", "config", cwd=app)

    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "config/order.yaml:8, workflow 'Order', step 'Reserve', key 'compensate_function': "
        "module 'shop' has no attribute 'relase'",
        "config/order.yaml:14, workflow 'Order', step 'Charge', key 'automate_nxt': unknown key "
        "(did you mean 'automate_next'?)",
        "config/plain.yaml:3: malformed YAML: while parsing a flow node expected the node "
        "content, but found '<stream end>'",
        "3 problem(s) in 2 of 4 file(s)",
    ]
    as_json = json.loads(ruvon("validate", "--json", cwd=app).stdout)
    assert as_json["ok"] is False
    assert [(p["file"], p["line"], p["key"]) for p in as_json["problems"]] == [
        ("config/order.yaml", 8, "compensate_function"),
        ("config/order.yaml", 14, "automate_nxt"),
        ("config/plain.yaml", 3, None),
    ]
    one = ruvon("validate", "config/expense.yaml", cwd=app)
    assert one.returncode == 0 and one.stdout.startswith("ok: 1 definition(s)")
    missing = ruvon("validate", "cnofig", cwd=app)
    assert missing.returncode == 2
    assert one_error_line(missing) == (
        "error: 'cnofig' does not exist — give the definitions' directory or file, or set "
        "--config-dir"
    )


def test_a_definition_file_that_is_not_utf8__one_problem_line_naming_it(tmp_path: Path) -> None:
    app = project(tmp_path)
    (app / "config" / "latin.yaml").write_bytes(
        b"workflow_type: Latin\n# caf\xe9, saved as Latin-1\nsteps: []\n"
    )
    problem = (
        "config/latin.yaml:2: the file is not UTF-8 text: byte 0xe9 can not be read (save the "
        "file as UTF-8)"
    )

    checked = ruvon("validate", cwd=app)

    assert checked.returncode == 1
    assert checked.stderr.splitlines() == [problem, "1 problem(s) in 1 of 5 file(s)"]
    for args in (["graph", "Order"], ["start", "Order", "--db", "memory://"]):
        proc = ruvon(*args, cwd=app)
        assert proc.returncode == 1, (args, proc.stderr)
        assert one_error_line(proc) == f"error: {problem} — 'ruvon validate' lists every problem"


def test_graph__a_mermaid_flowchart(tmp_path: Path) -> None:
    app = project(tmp_path)
    proc = ruvon("graph", "Order", cwd=app)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "flowchart TD"
    assert '    s0 -.->|"undo: release (approval)"| start' in lines
    assert '    s1 -.->|"undo: refund"| s0' in lines
    nested = ruvon("graph", "Nested", "--markdown", cwd=app).stdout
    assert nested.startswith("```mermaid\nflowchart TD\n") and nested.endswith("```\n")
    assert '    s3[["Child<br/>SUB_WORKFLOW: Plain"]]' in nested
    data = json.loads(ruvon("graph", "Order", "--json", cwd=app).stdout)
    assert (data["workflow_type"], data["workflow_version"]) == ("Order", "2")
    assert data["mermaid"] == proc.stdout


def test_the_workflow_group_spells_the_same_commands(tmp_path: Path) -> None:
    app = project(tmp_path)
    url = f"sqlite:///{tmp_path / 'w.db'}"
    started = ruvon(
        "workflow", "start", "Plain", "-d", '{"item": "a"}', "--auto", "--db", url, cwd=app
    )
    assert started.returncode == 0, started.stderr
    listed = json.loads(ruvon("workflow", "list", "--json", "--db", url, cwd=app).stdout)
    assert [w["status"] for w in listed] == ["COMPLETED"]
    shown = ruvon("workflow", "show", listed[0]["id"], "--json", "--db", url, cwd=app)
    assert json.loads(shown.stdout)["state"]["log"] == ["charge", "ship"]


def _tutorial(tmp_path: Path, *, failing: bool) -> Path:
    """The saga tutorial's project, copied; with the tutorial's ``raise`` line uncommented."""
    root = tmp_path / "saga_payment"
    shutil.copytree(REPO / "examples" / "saga_payment", root)
    if failing:
        steps = root / "payment_processor" / "steps.py"
        text = steps.read_text()
        commented = '    # raise Exception("Carrier API unavailable")'
        assert commented in text
        steps.write_text(text.replace(commented, commented.replace("# ", "")))
    return root


DATA = '{"order_id": "ORD-12345", "customer_id": "CUST-789", "amount": 299.99}'


def test_the_tutorial_from_the_command_line__success_then_rollback(
    tmp_path: Path, db_url: str
) -> None:
    ok_dir = _tutorial(tmp_path / "ok", failing=False)
    done = ruvon(
        "start", "PaymentProcessing", "--saga", "--run", "-d", DATA, "--db", db_url, cwd=ok_dir
    )
    assert done.returncode == 0, done.stderr
    assert (
        "✓ Create_Shipment" in done.stdout and done.stdout.splitlines()[-1] == "status: COMPLETED"
    )

    bad_dir = _tutorial(tmp_path / "bad", failing=True)
    failed = ruvon(
        "start", "PaymentProcessing", "--saga", "--run", "-d", DATA, "--db", db_url, cwd=bad_dir
    )
    assert failed.returncode == 1  # the workflow failed (and was rolled back)
    wid = failed.stdout.splitlines()[0]
    out = failed.stdout
    assert out.index("↩ undid Reserve_Inventory") < out.index("↩ undid Charge_Payment")
    assert out.index("↩ undid Charge_Payment") < out.index("↩ undid Create_Order")
    assert "status: FAILED_ROLLED_BACK" in out
    assert "error in Create_Shipment: Exception: Carrier API unavailable" in out

    shown = json.loads(ruvon("show", wid, "--json", "--db", db_url, cwd=bad_dir).stdout)
    assert shown["state"]["compensations_run"] == [
        "release_inventory",
        "refund_payment",
        "cancel_order",
    ]
    assert shown["state"]["workflow_status"] == "order_canceled"
    listed = json.loads(ruvon("list", "--json", "--db", db_url, cwd=bad_dir).stdout)
    assert [w["status"] for w in listed] == ["FAILED_ROLLED_BACK", "COMPLETED"]


def test_a_reader_that_goes_away_does_not_stop_the_run(tmp_path: Path) -> None:
    """``ruvon start --run | head -1``: the pipe closes after the id; the workflow (whose steps
    print too) still runs to its end, and the command exits 0."""
    ok_dir = _tutorial(tmp_path / "ok", failing=False)
    db = f"sqlite:///{tmp_path / 'pipe.db'}"
    assert ruvon("db", "migrate", "--db", db, cwd=ok_dir).returncode == 0
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RUVON_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ruvon",
            "start",
            "PaymentProcessing",
            "--run",
            "-d",
            DATA,
            "--db",
            db,
        ],
        cwd=ok_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean,
    )
    assert proc.stdout is not None and proc.stderr is not None
    workflow_id = proc.stdout.readline().decode().strip()
    proc.stdout.close()  # the reader is gone
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
    proc.stderr.close()
    shown = json.loads(ruvon("show", workflow_id, "--json", "--db", db, cwd=ok_dir).stdout)
    assert shown["status"] == "COMPLETED"
