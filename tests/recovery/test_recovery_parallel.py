"""A PARALLEL fan-out killed with SIGKILL mid-run (inside a task, after its side effect and
before its commit) is recovered by a fresh process: the tasks committed before the kill do not
run again, the killed one runs again with the same idempotency key, the rest run once, and the
merged result is complete."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider

HERE = Path(__file__).resolve().parent


def program(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PARALLELAPP_DIR": str(tmp_path)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, str(HERE / "parallelapp" / "program.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("mode", ["sync", "threads"])
def test_a_fan_out_killed_inside_a_task_is_finished_by_recovery(tmp_path: Path, mode: str) -> None:
    db = str(tmp_path / "fan.db")
    (tmp_path / "kill-at-3").touch()
    started = program(tmp_path, db, "start", mode)
    assert started.returncode == -signal.SIGKILL, started.stderr
    workflow_id = json.loads(started.stdout.splitlines()[0])["id"]
    before = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]

    async def committed_tasks() -> set[str]:
        store = SQLitePersistenceProvider(db)
        try:
            history = await store.step_history(workflow_id)
        finally:
            await store.close()
        return {r.scope for r in history if r.status.value == "COMPLETED"}

    done_before = asyncio.run(committed_tasks())
    assert "Each/task:3" not in done_before  # killed before its commit
    time.sleep(0.6)  # the dead runner's lease runs out
    recovered = program(tmp_path, db, "recover", mode)
    assert recovered.returncode == 0, recovered.stderr
    assert json.loads(recovered.stdout.splitlines()[-1])["recovered"] == [workflow_id]

    ledger = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    runs = Counter(entry["item"] for entry in ledger)
    for item in range(6):
        if f"Each/task:{item}" in done_before:
            assert runs[item] == 1, (item, runs)  # committed before the kill: never again
        elif item == 3:
            assert runs[item] == 2, runs  # the killed task: again, once
        else:  # not committed (on threads, it may have run when the process died): at least once
            assert runs[item] in (1, 2), (item, runs)
    keys = {entry["key"] for entry in ledger if entry["item"] == 3}
    assert keys == {f"{workflow_id}:Each/task:3"}  # the same idempotency key both times
    assert len(before) >= 1  # the kill came after at least task 3's side effect

    async def final() -> tuple[str, str]:
        store = SQLitePersistenceProvider(db)
        try:
            row = await store.load_workflow(workflow_id)
        finally:
            await store.close()
        return row.status.value, row.state if isinstance(row.state, str) else row.state.decode()

    status, state = asyncio.run(final())
    assert status == "COMPLETED"
    totals = json.loads(state)["totals"]
    assert totals == {str(i): i * i for i in range(6)}
