"""Every workflow command of ``ruvon``, run as a subprocess on a SQLite file and on PostgreSQL:
start (with and without --run), run, list, show, logs, resume, approve, reject, retry,
cancel, recover, db migrate."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

from cli_support import db_url_fixture, one_error_line, project, ruvon

__all__ = ["db_url_fixture"]  # the fixture ``db_url``: a SQLite file, then PostgreSQL

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _ok(*args: str, cwd: Path, db: str) -> str:
    proc = ruvon(*args, "--db", db, cwd=cwd)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc.stdout


def _show(workflow_id: str, cwd: Path, db: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_ok("show", workflow_id, "--json", cwd=cwd, db=db))
    return data


def _started(stdout: str) -> str:
    first = stdout.splitlines()[0]
    assert UUID.match(first), stdout
    return first


def test_saga__rolls_back_waits_for_approval_then_approve_finishes_it(
    tmp_path: Path, db_url: str
) -> None:
    app = project(tmp_path)
    (app / "ship.fail").touch()

    started = ruvon(
        "start", "Order", "-d", '{"item": "book", "amount": 5}', "--run", "--db", db_url, cwd=app
    )
    assert started.returncode == 0, started.stderr  # it waits: not failed yet
    wid = _started(started.stdout)
    out = started.stdout
    assert "✗ Ship failed: RuntimeError: carrier down" in out
    assert out.index("↩ undoing Charge") < out.index("↩ undid Charge")
    assert "status: WAITING_COMPENSATION_APPROVAL" in out
    assert f"next: ruvon approve {wid}  (or: ruvon reject {wid})" in out

    waiting = _show(wid, app, db_url)
    assert waiting["status"] == "WAITING_COMPENSATION_APPROVAL"
    assert waiting["waiting_for"]["step"] == "Reserve"
    text = _ok("show", wid, cwd=app, db=db_url)
    assert "waits for  WAITING_COMPENSATION_APPROVAL at Reserve; an operator's approval" in text

    approved = ruvon(
        "approve", wid, "--by", "ops", "--reason", "refund ok", "--db", db_url, cwd=app
    )
    assert approved.returncode == 0, approved.stderr
    assert "↩ undid Reserve" in approved.stdout
    assert "status: FAILED_ROLLED_BACK" in approved.stdout

    done = _show(wid, app, db_url)
    assert done["status"] == "FAILED_ROLLED_BACK"
    assert done["state"]["log"] == ["reserve", "charge", "refund", "release"]
    assert done["error"]["step"] == "Ship" and done["error"]["message"] == "carrier down"
    assert [(s["scope"], s["status"]) for s in done["steps"]] == [
        ("Reserve", "COMPLETED"),
        ("Charge", "COMPLETED"),
        ("Ship", "FAILED"),
    ]
    assert all(s["duration_ms"] is not None for s in done["steps"])
    assert [(c["step_name"], c["status"]) for c in done["compensations"]] == [
        ("Ship", "SKIPPED"),
        ("Charge", "COMPLETED"),
        ("Reserve", "COMPLETED"),
    ]
    assert done["compensations"][-1]["decided_by"] == "ops"
    text = _ok("show", wid, cwd=app, db=db_url)
    for expected in (
        "status     FAILED_ROLLED_BACK",
        "error      Ship: RuntimeError: carrier down",
    ):
        assert expected in text
    assert text.index("compensations (3, in unwind order)") > text.index("steps (3 attempt(s))")

    listed = json.loads(_ok("list", "--status", "failed_rolled_back", "--json", cwd=app, db=db_url))
    assert [w["id"] for w in listed] == [wid]
    table = _ok("list", "--type", "Order", "--since", "1h", cwd=app, db=db_url)
    assert wid in table and "FAILED_ROLLED_BACK" in table and "1 workflow(s)" in table

    logs = _ok("logs", wid, cwd=app, db=db_url)
    assert "INFO     [Charge] charged 5.0" in logs
    assert "STATUS   WAITING_COMPENSATION_APPROVAL → COMPENSATING" in logs
    assert logs.splitlines()[-1].endswith("COMPENSATING → FAILED_ROLLED_BACK (unwind finished)")
    only_charge = json.loads(_ok("logs", wid, "--step", "Charge", "--json", cwd=app, db=db_url))
    assert [e["message"] for e in only_charge] == ["charged 5.0"]


def test_reject__leaves_the_step_as_it_is_and_records_who(tmp_path: Path, db_url: str) -> None:
    app = project(tmp_path)
    (app / "ship.fail").touch()
    wid = _started(_ok("start", "Order", "-d", '{"item": "pen"}', "--run", cwd=app, db=db_url))

    rejected = ruvon("workflow", "reject", wid, "--by", "alice", "--db", db_url, cwd=app)

    assert rejected.returncode == 0, rejected.stderr
    assert "status: COMPENSATION_FAILED" in rejected.stdout
    data = _show(wid, app, db_url)
    assert data["compensations"][-1]["status"] == "REJECTED"
    assert data["compensations"][-1]["decided_by"] == "alice"
    assert data["state"]["log"] == ["reserve", "charge", "refund"]  # Reserve is kept


def test_retry__runs_the_failed_step_again(tmp_path: Path, db_url: str) -> None:
    app = project(tmp_path)
    (app / "ship.fail").touch()
    failed = ruvon("start", "Plain", "-d", '{"item": "pen"}', "--run", "--db", db_url, cwd=app)
    assert failed.returncode == 1  # the workflow failed
    wid = _started(failed.stdout)
    assert "status: FAILED" in failed.stdout and f"next: ruvon retry {wid}" in failed.stdout

    (app / "ship.fail").unlink()
    retried = ruvon("retry", wid, "--db", db_url, cwd=app)
    assert retried.returncode == 0, retried.stderr
    assert "✓ Ship" in retried.stdout and "status: COMPLETED" in retried.stdout

    again = ruvon("retry", wid, "--db", db_url, cwd=app)
    assert again.returncode == 1
    assert "is COMPLETED; only FAILED, FAILED_CHILD_WORKFLOW and COMPENSATION_FAILED" in (
        one_error_line(again)
    )


def test_resume__a_workflow_that_waits_for_a_person(tmp_path: Path, db_url: str) -> None:
    app = project(tmp_path)
    started = _ok(
        "start", "Expense", "--data", '{"item": "taxi", "amount": 42}', "--run", cwd=app, db=db_url
    )
    wid = _started(started)
    assert "⏸ Approve waits" in started and "status: WAITING_HUMAN" in started
    assert (
        f"""next: ruvon resume {wid} --input '{{"approved": "...", "approver": "..."}}'"""
        in started
    )
    waiting = _show(wid, app, db_url)
    assert waiting["waiting_for"]["step"] == "Approve"
    assert waiting["waiting_for"]["input_model"] == "shop.Approval"
    text = _ok("show", wid, cwd=app, db=db_url)
    assert "waits for  WAITING_HUMAN at Approve; input shop.Approval: approved, approver" in text

    bad = ruvon("resume", wid, "--input", '{"approved": "perhaps"}', "--db", db_url, cwd=app)
    assert bad.returncode == 2
    line = one_error_line(bad)
    assert "input for step 'Approve' does not fit Approval: approved:" in line
    assert "approver: Field required" in line
    assert _show(wid, app, db_url)["status"] == "WAITING_HUMAN"  # nothing written

    (app / "input.json").write_text('{"approved": true, "approver": "bo"}')
    resumed = ruvon("workflow", "resume", wid, "-i", "@input.json", "--db", db_url, cwd=app)
    assert resumed.returncode == 0, resumed.stderr
    assert "✓ Approve" in resumed.stdout and "status: COMPLETED" in resumed.stdout
    assert _show(wid, app, db_url)["state"]["approver"] == "bo"


def test_start_without_run__prints_only_the_id_and_resume_drives_it(
    tmp_path: Path, db_url: str
) -> None:
    app = project(tmp_path)
    (app / "data.json").write_text('{"item": "cup", "amount": 3}')

    plain = ruvon("start", "Plain", "--data-file", "data.json", "--db", db_url, cwd=app)
    saga = ruvon("start", "Plain", "-d", "@data.json", "--saga", "--json", "--db", db_url, cwd=app)

    assert plain.returncode == 0 and saga.returncode == 0, plain.stderr + saga.stderr
    wid = plain.stdout.strip()
    assert UUID.match(wid)
    created = json.loads(saga.stdout)
    assert created["status"] == "ACTIVE" and created["current_step_name"] == "Charge"
    for workflow_id in (wid, created["id"]):
        assert _show(workflow_id, app, db_url)["status"] == "ACTIVE"
        driven = ruvon("resume", workflow_id, "--db", db_url, cwd=app)
        assert driven.returncode == 0, driven.stderr
        assert "status: COMPLETED" in driven.stdout
    assert _show(created["id"], app, db_url)["saga_mode"] is True


def test_start_without_run__leaves_no_lease_when_the_yaml_says_saga_mode(
    tmp_path: Path, db_url: str
) -> None:
    app = project(tmp_path)  # Order's YAML has saga_mode: true; Plain's has none
    for args in (["Order"], ["Order", "--saga"], ["Plain"], ["Plain", "--saga"]):
        started = ruvon("start", *args, "-d", '{"item": "cup"}', "--db", db_url, cwd=app)
        assert started.returncode == 0, started.stderr
        wid = _started(started.stdout)
        assert _lease(db_url, wid) == (None, None), args

        driven = ruvon("resume", wid, "--db", db_url, cwd=app)  # at once, not 30 s later

        assert driven.returncode == 0, (args, driven.stderr)
        assert "status: COMPLETED" in driven.stdout
        assert _show(wid, app, db_url)["saga_mode"] is (args != ["Plain"])


def _lease(db_url: str, workflow_id: str) -> tuple[Any, Any]:
    """The row's ``lease_owner`` and ``lease_expires_at``."""
    query = "SELECT lease_owner, lease_expires_at FROM ruvon_workflows WHERE id = "
    if db_url.startswith("sqlite:"):
        import sqlite3

        db = sqlite3.connect(db_url.removeprefix("sqlite:///"))
        try:
            row = db.execute(query + "?", (workflow_id,)).fetchone()
        finally:
            db.close()
        return tuple(row)

    async def fetch() -> tuple[Any, Any]:
        import asyncpg

        conn = await asyncpg.connect(db_url)
        try:
            return tuple(await conn.fetchrow(query + "$1", workflow_id))
        finally:
            await conn.close()

    return asyncio.run(fetch())


STEPS_APP = """
from pydantic import BaseModel


class S(BaseModel):
    ran: list[str] = []


class Go(BaseModel):
    ok: bool = True


def step(state, context, **_):
    return {"ran": state.ran + [context.step_name]}
"""
STEPS_YAML = """
workflow_type: Steps
initial_state_model: steps.S
steps:
  - name: First
    function: steps.step
  - name: Ask
    type: HUMAN_IN_LOOP
    function: steps.step
    input_model: steps.Go
    automate_next: true
  - name: Chained
    function: steps.step
  - name: Last
    function: steps.step
"""


def test_resume_step__stops_where_one_next_step_stops(tmp_path: Path, db_url: str) -> None:
    (tmp_path / "steps.py").write_text(STEPS_APP)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "steps.yaml").write_text(STEPS_YAML)
    wid = _started(_ok("start", "Steps", cwd=tmp_path, db=db_url))

    def resume_step(*args: str) -> dict[str, Any]:
        _ok("resume", wid, *args, "--step", cwd=tmp_path, db=db_url)
        return _show(wid, tmp_path, db_url)

    first = resume_step()  # an ACTIVE workflow: its next step, not chained to the next one
    assert (first["state"]["ran"], first["status"]) == (["First"], "WAITING_HUMAN")
    assert first["current_step_name"] == "Ask"
    chained = resume_step("--input", '{"ok": true}')  # Ask, and Chained that it chains to
    assert (chained["state"]["ran"], chained["status"]) == (["First", "Ask", "Chained"], "ACTIVE")
    assert chained["current_step_name"] == "Last"
    last = resume_step("--no-auto")
    assert (last["state"]["ran"], last["status"]) == (
        ["First", "Ask", "Chained", "Last"],
        "COMPLETED",
    )


def test_cancel__a_waiting_workflow_then_cancel_again_is_refused(
    tmp_path: Path, db_url: str
) -> None:
    app = project(tmp_path)
    wid = _started(_ok("start", "Expense", "-d", '{"item": "hotel"}', "--run", cwd=app, db=db_url))

    cancelled = ruvon("cancel", wid, "--reason", "trip called off", "--db", db_url, cwd=app)

    assert cancelled.returncode == 0, cancelled.stderr
    assert "status: CANCELLED" in cancelled.stdout
    data = _show(wid, app, db_url)
    assert data["status"] == "CANCELLED"
    assert data["status_changes"][-1]["reason"] == "trip called off"
    again = ruvon("cancel", wid, "--db", db_url, cwd=app)
    assert again.returncode == 1
    assert f"workflow '{wid}' is CANCELLED and can not be cancelled" in one_error_line(again)


def test_run_file__a_definition_file_with_children_from_the_config_dir(
    tmp_path: Path, db_url: str
) -> None:
    app = project(tmp_path)
    data = '{"item": "set", "amount": 500, "items": ["a", "b"]}'

    proc = ruvon(
        "run", "config/nested.yaml", "--config-dir", "config", "-d", data, "--db", db_url, cwd=app
    )

    assert proc.returncode == 0, proc.stderr
    wid = _started(proc.stdout)
    assert "✓ Pick_All/iter:0/Pick" in proc.stdout and "✓ Fan_Out" in proc.stdout
    assert "status: COMPLETED" in proc.stdout
    nested = _show(wid, app, db_url)
    assert nested["state"]["log"][:2] == ["pick a", "pick b"]
    assert {w["workflow_type"] for w in json.loads(_ok("list", "--json", cwd=app, db=db_url))} == {
        "Nested",
        "Plain",
    }

    failing = ruvon(
        "run", "config/plain.yaml", "-d", '{"item": "x"}', "--db", db_url, cwd=app, env={}
    )
    assert failing.returncode == 0, failing.stderr
    (app / "ship.fail").touch()
    failed = ruvon("run", "config/plain.yaml", "-d", '{"item": "x"}', "--db", db_url, cwd=app)
    assert failed.returncode == 1 and "status: FAILED" in failed.stdout


async def _abandoned(app: Path, url: str) -> str:
    """A Plain workflow whose runner took its lease and died before running a step."""
    sys.path.insert(0, str(app))
    try:
        from ruvon.builder import WorkflowBuilder
        from ruvon.implementations.persistence import store_from_url

        store = store_from_url(url)
        builder = WorkflowBuilder(
            config_dir=app / "config", persistence_provider=store, lease_seconds=0.1
        )
        wf = await builder.create_workflow("Plain", {"item": "lost"})
        await wf.acquire()  # the runner starts ... and is never heard of again
        await store.close()
        await asyncio.sleep(0.3)
        return wf.id
    finally:
        sys.path.remove(str(app))
        sys.modules.pop("shop", None)


def test_recover__continues_a_workflow_whose_runner_died(tmp_path: Path, db_url: str) -> None:
    app = project(tmp_path)
    migrated = _ok("db", "migrate", cwd=app, db=db_url)
    assert migrated.startswith("schema is at version ")
    assert _ok("db", "migrate", cwd=app, db=db_url) == migrated  # again: nothing to do
    wid = asyncio.run(_abandoned(app, db_url))

    proc = ruvon("recover", "--db", db_url, cwd=app)

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"recovered {wid}", "1 workflow(s) recovered"]
    assert _show(wid, app, db_url)["status"] == "COMPLETED"


SLASH_APP = """
from pydantic import BaseModel


class S(BaseModel):
    n: int = 0


def step(state, context, **_):
    return {"n": state.n + 1}


def fail(state, context, **_):
    raise RuntimeError("no")
"""
SLASH_YAML = """
workflow_type: Slash
initial_state_model: slash.S
saga_mode: true
steps:
  - name: Pick/Pack
    function: slash.step
    compensate_function: slash.step
    automate_next: true
  - name: 100%
    function: slash.step
    automate_next: true
  - name: Ship
    function: slash.fail
"""


def test_step_names_with_a_slash_are_printed_as_written(tmp_path: Path, db_url: str) -> None:
    (tmp_path / "slash.py").write_text(SLASH_APP)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "slash.yaml").write_text(SLASH_YAML)

    started = ruvon("start", "Slash", "--run", "--db", db_url, cwd=tmp_path)

    assert started.returncode == 1, started.stderr  # rolled back
    wid = _started(started.stdout)
    for line in ("▶ Pick/Pack", "▶ 100%", "↩ undoing Pick/Pack"):
        assert line in started.stdout.splitlines(), line
    shown = _ok("show", wid, cwd=tmp_path, db=db_url)
    assert "%2F" not in started.stdout + shown and "%25" not in shown
    assert re.search(r"│ 0 +│ Pick/Pack +│ 1 ", shown)  # the step timeline
    assert re.search(r"│ 1 +│ 100% +│ 1 ", shown)
    assert re.search(r"│ \d +│ Pick/Pack +│ slash\.step +│ COMPLETED ", shown)  # compensations
    steps = _show(wid, tmp_path, db_url)["steps"]
    assert [(s["step_name"], s["scope"]) for s in steps[:2]] == [
        ("Pick/Pack", "Pick%2FPack"),  # JSON: the stored scope path, and the name
        ("100%", "100%25"),
    ]


# --- what the store holds is printed safely -------------------------------------------------------

ESCAPES = "\x1b]0;PWNED\x07\x1b[2J\x1b[31mRED\x1b[0m\x9b2J\r\x7f"
ESC_APP = f"""
from pydantic import BaseModel

ESC = {ESCAPES!r}


class S(BaseModel):
    v: str = ""


class Go(BaseModel):
    go: bool = True


async def fill(state, context):
    await context.persistence.log_execution(
        workflow_id=context.workflow_id, log_level="INFO", message="log" + ESC,
        step_name=context.step_name,
    )
    return {{"v": "state" + ESC}}


def bad(state, context):
    raise RuntimeError("err" + ESC + "end")
"""
ESC_YAML = """
workflow_type: Esc
initial_state_model: esc.S
steps:
  - name: "Fill\\e[1m"
    function: esc.fill
    automate_next: true
  - name: Bad
    function: esc.bad
"""
ESC_WAIT_YAML = """
workflow_type: EscWait
initial_state_model: esc.S
steps:
  - name: Fill
    function: esc.fill
    automate_next: true
  - name: "Ask\\e]0;x\\a"
    type: HUMAN_IN_LOOP
    function: esc.fill
    input_model: esc.Go
"""


def _strings(value: Any) -> list[str]:
    """Every string in a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _no_controls(text: str, what: object) -> None:
    """Nothing a terminal obeys: no C0 control but newline and tab, no DEL, no C1."""
    bad = sorted(
        {
            f"{ord(c):#04x}"
            for c in text
            if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) < 0xA0
        }
    )
    assert not bad, (what, bad, text)


def test_control_characters_in_stored_strings_are_escaped_in_text_output(
    tmp_path: Path, db_url: str
) -> None:
    (tmp_path / "esc.py").write_text(ESC_APP)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "esc.yaml").write_text(ESC_YAML)
    (tmp_path / "config" / "wait.yaml").write_text(ESC_WAIT_YAML)
    started = ruvon("start", "Esc", "--run", "--db", db_url, cwd=tmp_path)
    assert started.returncode == 1, started.stderr
    failed = _started(started.stdout)
    waiting = _started(_ok("start", "EscWait", "--run", cwd=tmp_path, db=db_url))
    cancelled = ruvon("cancel", waiting, "--reason", "why" + ESCAPES, "--db", db_url, cwd=tmp_path)
    assert cancelled.returncode == 0, cancelled.stderr
    outputs = {"start --run": started.stdout, "cancel": cancelled.stdout}
    for args in (
        ["show", failed, "-v", "--logs"],
        ["show", waiting, "-v", "--logs"],
        ["list", "-v"],
        ["logs", failed],
        ["logs", waiting],
    ):
        outputs[" ".join(args)] = _ok(*args, cwd=tmp_path, db=db_url)
    for what, text in outputs.items():
        _no_controls(text, what)
    assert "RuntimeError: err\\x1b]0;PWNED\\x07\\x1b[2J" in outputs["start --run"]
    assert "Fill\\x1b[1m" in outputs[f"show {failed} -v --logs"]
    assert "(why\\x1b]0;PWNED" in outputs[f"show {waiting} -v --logs"]

    # JSON output: every control character escaped, the value unchanged
    for args in (
        ["show", failed, "--json", "--logs"],
        ["list", "--json"],
        ["logs", failed, "--json"],
    ):
        text = _ok(*args, cwd=tmp_path, db=db_url)
        _no_controls(text, args)
        assert any(ESCAPES in string for string in _strings(json.loads(text))), args
    assert json.loads(_ok("show", failed, "--state", cwd=tmp_path, db=db_url)) == {
        "v": "state" + ESCAPES
    }

    # an error line names what it was given, escaped too
    missing = ruvon("show", "no\x1b[2J", "--db", db_url, cwd=tmp_path)
    assert missing.returncode == 4
    assert one_error_line(missing).startswith("error: workflow 'no\\x1b[2J' not found")
