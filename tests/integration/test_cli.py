"""The ``ruvon`` command line, run as a user runs it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cli_support import postgres_database

from engine_support import builder, st
from recovery_steps import KILL, Killed
from ruvon.implementations.persistence import store_from_url
from ruvon.implementations.persistence.sql.queries import latest_version
from ruvon.providers.persistence import PersistenceProvider, WorkflowRecord
from ruvon.runtime.status import WorkflowStatus


def ruvon(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUVON_")}
    return subprocess.run(
        [sys.executable, "-m", "ruvon.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_db_migrate_creates_the_schema_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    first = ruvon("db", "migrate", "--db", url)
    assert first.returncode == 0, first.stderr
    latest = f"schema is at version {latest_version()}"
    assert latest in first.stdout
    again = ruvon("db", "migrate", "--db", url)
    assert again.returncode == 0 and latest in again.stdout


def test_list_on_an_empty_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    assert ruvon("db", "migrate", "--db", url).returncode == 0
    proc = ruvon("list", "--db", url)
    assert proc.returncode == 0, proc.stderr
    assert "0 workflow(s)" in proc.stdout


def test_recover_with_nothing_to_do(tmp_path: Path) -> None:
    proc = ruvon("recover", "--db", f"sqlite:///{tmp_path / 'r.db'}", "--app-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "0 workflow(s) recovered" in proc.stdout


def test_recover_refuses_an_app_dir_that_does_not_exist(tmp_path: Path) -> None:
    """A typo'd --app-dir would make every workflow fail to import and be marked failed."""
    db = tmp_path / "r.db"
    proc = ruvon("recover", "--db", f"sqlite:///{db}", "--app-dir", str(tmp_path / "nope"))
    assert proc.returncode == 2
    assert "Invalid value for '--app-dir'" in proc.stderr
    assert not db.exists()


def test_a_bad_url_is_one_clear_error_without_a_traceback() -> None:
    proc = ruvon("list", "--db", "postgresql://user:secret@127.0.0.1:1/nowhere")
    assert proc.returncode == 3  # a database error
    assert proc.stderr.startswith("error: can not connect to PostgreSQL database")
    assert "secret" not in proc.stderr and "***" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_unsupported_scheme_is_refused() -> None:
    proc = ruvon("list", "--db", "mysql://localhost/db")
    assert proc.returncode == 3 and "unsupported database URL" in proc.stderr


# --- recover: every workflow on its own, reported; live leases said; --wait ---------------------

TESTS_DIR = Path(__file__).resolve().parents[1]  # holds recovery_steps, the steps used here
STEPS = (st("A", "recovery_steps.step"), st("B", "recovery_steps.step"))


async def _died_in_b(store: PersistenceProvider, lease: float) -> Any:
    """A workflow whose runner "died" inside step B, A committed, holding a ``lease``."""
    wf = await builder(*STEPS, persistence_provider=store, lease_seconds=lease).create_workflow("T")
    KILL["in"] = "B"
    try:
        await wf.next_step()
    except Killed:
        pass
    finally:
        KILL["in"] = None
    return wf


async def _unfinished(
    url: str, *, dead: int, bad: int = 0, live_for: float = 0.0
) -> dict[str, Any]:
    """``dead`` workflows whose runner died (lease expired), ``bad`` ones whose state no longer
    fits the model, and one whose dead runner's lease still runs for ``live_for`` seconds."""
    store = store_from_url(url)
    out: dict[str, Any] = {"dead": [(await _died_in_b(store, 0.05)).id for _ in range(dead)]}
    now = time.time()
    out["bad"] = [f"bad-{i}" for i in range(bad)]
    for wid in out["bad"]:
        await store.create_workflow(
            WorkflowRecord(
                id=wid,
                workflow_type="T",
                workflow_version="1",
                status=WorkflowStatus.ACTIVE,
                state=b'{"n": "no longer a number"}',
                current_step=1,
                saga_mode=False,
                definition=builder(*STEPS).get_definition("T").snapshot,
                created_at=now,
                updated_at=now,
                version=1,
                lease_owner="crashed-host:1:1",
                lease_expires_at=now - 10.0,
            )
        )
    if live_for:
        out["live"] = await _died_in_b(store, live_for)
    await store.close()
    await asyncio.sleep(0.1)  # the dead runners' leases run out
    return out


def test_recover__reports_each_workflow_marks_the_bad_one_and_lists_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    made = asyncio.run(_unfinished(url, dead=2, bad=1, live_for=120.0))
    (bad,), live = made["bad"], made["live"]
    app = ("--app-dir", str(TESTS_DIR))

    proc = ruvon("recover", "--db", url, *app, "--concurrency", "4", "--lease-seconds", "5")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert sorted(line for line in lines if line.startswith("recovered ")) == sorted(
        f"recovered {wid}" for wid in made["dead"]
    )
    assert (
        f"failed {bad}: can not be loaded: PersistenceError: workflow '{bad}': stored state "
        "does not fit S: n:"
    ) in proc.stdout
    assert f"skipped {live.id}: lease held by runner {live.runner_id} for 1" in proc.stdout
    assert "1 workflow(s) marked failed: no longer recovered automatically" in proc.stdout
    assert "1 workflow(s) skipped: their lease is live (--wait" in proc.stdout
    assert lines[-1] == "2 workflow(s) recovered"

    listed = ruvon("recover", "--db", url, *app, "--list-failed")
    assert listed.returncode == 0, listed.stderr
    assert f"{bad} (T ACTIVE at step 1): can not be loaded: PersistenceError" in listed.stdout
    assert listed.stdout.splitlines()[-1] == "1 workflow(s) marked failed by recovery"

    again = ruvon("recover", "--db", url, *app)
    assert again.returncode == 0, again.stderr
    assert "failed" not in again.stdout  # marked: not retried automatically
    assert again.stdout.splitlines()[-1] == "0 workflow(s) recovered"


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_recover_json__the_report_and_the_list_of_failed_ones(tmp_path: Path, backend: str) -> None:
    urls = iter([f"sqlite:///{tmp_path / 'r.db'}"]) if backend == "sqlite" else postgres_database()
    for url in urls:
        made = asyncio.run(_unfinished(url, dead=1, bad=1))
        (dead,), (bad,) = made["dead"], made["bad"]
        app = ("--app-dir", str(TESTS_DIR))

        proc = ruvon("recover", "--db", url, *app, "--json")

        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        assert [f["id"] for f in report.pop("failed")] == [bad]
        assert report == {
            "recovered": [dead],
            "handed_back": [],
            "not_recovered": [],
            "skipped": [],
            "waited_seconds": 0.0,
        }
        listed = ruvon("recover", "--db", url, *app, "--list-failed", "--json")
        assert listed.returncode == 0, listed.stderr
        (row,) = json.loads(listed.stdout)
        assert row.pop("reason").startswith("can not be loaded: PersistenceError")
        assert row == {
            "id": bad,
            "workflow_type": "T",
            "status": "ACTIVE",
            "current_step": 1,
            "current_step_name": "B",
        }


def test_recover_wait__waits_for_a_live_lease_then_recovers_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    live = asyncio.run(_unfinished(url, dead=0, live_for=2.5))["live"]

    proc = ruvon("recover", "--db", url, "--app-dir", str(TESTS_DIR), "--wait")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("waiting ") and lines[0].endswith("s for live leases to expire")
    assert lines[1:] == [f"recovered {live.id}", "1 workflow(s) recovered"]
