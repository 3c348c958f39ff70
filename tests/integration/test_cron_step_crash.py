"""A CRON_SCHEDULE step killed (SIGKILL) inside its registration, recovered by a fresh process.

The program's store kills its own process in ``upsert_schedule``: before the schedule is
written, or after it is written and before the step's transition commits. ``ruvon recover``
(a new process) runs the step again: the workflow completes with the schedule's name, and the
store holds one schedule, whose next tick the second registration did not move.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

APP = """
from pydantic import BaseModel


class Setup(BaseModel):
    region: str = "eu"
    schedule_name: str | None = None
    done: bool = False


class Report(BaseModel):
    region: str = "eu"


def finish(state, context) -> dict:
    return {"done": True}
"""

CONFIG = {
    "setup.yaml": """
workflow_type: Setup
initial_state_model: cronapp.Setup
steps:
  - name: Register
    type: CRON_SCHEDULE
    target_workflow_type: Report
    cron_expression: "0 * * * *"
    schedule_name: "report_{{ state.region }}"
    initial_data_template:
      region: "{{ state.region }}"
    automate_next: true
  - name: Finish
    function: cronapp.finish
""",
    "report.yaml": """
workflow_type: Report
initial_state_model: cronapp.Report
steps:
  - name: Write
    function: cronapp.finish
""",
}

PROGRAM = """
import asyncio, os, signal, sys

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider

WHEN = sys.argv[2]


class KillingStore(SQLitePersistenceProvider):
    async def upsert_schedule(self, schedule):
        if WHEN == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        await super().upsert_schedule(schedule)
        if WHEN == "after":
            os.kill(os.getpid(), signal.SIGKILL)


async def main():
    store = KillingStore(sys.argv[1])
    builder = WorkflowBuilder(persistence_provider=store, lease_seconds=0.5)
    wf = await builder.create_workflow("Setup", {"region": "us"})
    print(wf.id, flush=True)
    await wf.run()


asyncio.run(main())
"""


def app(tmp_path: Path) -> Path:
    (tmp_path / "config").mkdir()
    for name, text in CONFIG.items():
        (tmp_path / "config" / name).write_text(text)
    (tmp_path / "cronapp.py").write_text(textwrap.dedent(APP))
    (tmp_path / "program.py").write_text(PROGRAM)
    return tmp_path


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_cron_step_killed_in_its_registration_is_recovered_once(
    tmp_path: Path, when: str
) -> None:
    cwd, db = app(tmp_path), tmp_path / "ruvon.db"
    url = f"sqlite:///{db}"
    crashed = subprocess.run(
        [sys.executable, "program.py", url, when], cwd=cwd, capture_output=True, text=True
    )
    assert crashed.returncode == -9, crashed.stderr
    workflow_id = crashed.stdout.strip()
    before = rows(db, "SELECT name, next_due_at FROM ruvon_schedules")
    assert len(before) == (1 if when == "after" else 0)
    assert rows(db, f"SELECT status FROM ruvon_workflows WHERE id = '{workflow_id}'") == [
        ("ACTIVE",)
    ]
    time.sleep(0.6)  # the dead program's lease runs out
    recovered = subprocess.run(
        [sys.executable, "-m", "ruvon.cli", "recover", "--db", url, "--app-dir", str(cwd)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert recovered.returncode == 0, recovered.stderr
    assert f"recovered {workflow_id}" in recovered.stdout, recovered.stdout
    [(status, state)] = rows(
        db, f"SELECT status, state FROM ruvon_workflows WHERE id = '{workflow_id}'"
    )
    assert status == "COMPLETED"
    assert '"schedule_name":"report_us"' in str(state).replace(" ", "")
    after = rows(db, "SELECT name, next_due_at, initial_data FROM ruvon_schedules")
    assert len(after) == 1 and after[0][0] == "report_us" and '"us"' in str(after[0][2])
    if before:  # registered before the kill: the second registration kept its next tick
        assert after[0][:2] == before[0]
    attempts = rows(
        db, f"SELECT step_name, status FROM ruvon_step_attempts WHERE workflow_id = '{workflow_id}'"
    )
    assert attempts == [("Register", "COMPLETED"), ("Finish", "COMPLETED")]
