"""A runner SIGKILLed while an HTTP step's request is in flight, recovered by a fresh process.

The server (a thread of the test process, on 127.0.0.1) holds the first request without
answering; when it has arrived, the runner process is killed. A new process recovers the
workflow once its lease has run out: the request is made again, with the same
``Idempotency-Key`` header (the step's idempotency key: ``<workflow id>:<step>``, and
``...:compensate`` for a compensating request), and the workflow ends as it would have. The
killed attempt left no record: it never finished.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from http_support import LocalServer, Reply, without_proxies

TESTS = Path(__file__).resolve().parents[1]
LEASE_SECONDS = 1.0

RUNNER = f"""\
import asyncio, json, sys
from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence import store_from_url

async def main(db, registry, workflow_type):
    store = store_from_url(db)
    await store.initialize()
    builder = WorkflowBuilder(
        workflow_registry=registry, persistence_provider=store, lease_seconds={LEASE_SECONDS}
    )
    wf = await builder.create_workflow(workflow_type, {{"user_id": "u-1"}})
    print(wf.id, flush=True)
    await wf.run()
    print("finished", wf.status.value, flush=True)

asyncio.run(main(sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]))
"""

RECOVER = """\
import asyncio, json, sys
from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence import store_from_url

async def main(db, registry, workflow_id):
    store = store_from_url(db)
    builder = WorkflowBuilder(workflow_registry=registry, persistence_provider=store)
    recovered = await builder.recover()
    wf = await builder.load_workflow(workflow_id)
    history = await store.step_history(workflow_id)
    journal = await store.compensation_journal(workflow_id)
    print(json.dumps({
        "recovered": recovered,
        "status": wf.status.value,
        "reply": wf.state.reply,
        "history": [[r.step_name, r.status.value] for r in history],
        "journal": [[e.step_name, e.status.value] for e in journal],
    }))
    await store.close()

asyncio.run(main(sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]))
"""


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    without_proxies(monkeypatch)
    local = LocalServer()
    yield local
    local.close()


def registry(server: LocalServer) -> dict[str, Any]:
    book = {
        "name": "Book",
        "type": "HTTP",
        "automate_next": True,
        "http_config": {
            "method": "POST",
            "url": server.url("/bookings"),
            "body": {"user": "{{state.user_id}}"},
            "timeout": 60,
        },
        "output_key": "reply",
        "compensate_http_config": {
            "method": "DELETE",
            "url": server.url("/bookings/{{response.body.id}}"),
            "timeout": 60,
        },
    }

    def workflow(name: str, last: str) -> dict[str, Any]:
        return {
            "workflow_type": name,
            "initial_state_model": "http_support.CallState",
            "saga_mode": True,
            "steps": [book, {"name": "Done", "function": f"http_support.{last}"}],
        }

    return {"Book": workflow("Book", "mark"), "BookThenFail": workflow("BookThenFail", "explode")}


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), out.get("PYTHONPATH")]))
    return out


def kill_in_flight(
    tmp_path: Path, server: LocalServer, workflow_type: str, hits: int
) -> tuple[str, str]:
    """Start a runner, kill it once ``hits`` requests arrived; the db URL and workflow id."""
    db = f"sqlite:///{tmp_path / 'ruvon.db'}"
    reg = json.dumps(registry(server))
    runner = subprocess.Popen(
        [sys.executable, "-c", RUNNER, db, reg, workflow_type],
        stdout=subprocess.PIPE,
        text=True,
        env=env(),
    )
    try:
        assert runner.stdout is not None
        workflow_id = runner.stdout.readline().strip()
        server.wait_for_hits(hits, timeout=30)
        assert runner.poll() is None, "the runner finished before it was killed"
        runner.send_signal(signal.SIGKILL)
        assert runner.wait(timeout=10) == -signal.SIGKILL
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    return db, workflow_id


def recover(db: str, server: LocalServer, workflow_id: str) -> dict[str, Any]:
    time.sleep(LEASE_SECONDS + 0.5)  # the dead runner's lease runs out
    done = subprocess.run(
        [sys.executable, "-c", RECOVER, db, json.dumps(registry(server)), workflow_id],
        capture_output=True,
        text=True,
        env=env(),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    assert report["recovered"] == [workflow_id]
    return report


@pytest.mark.slow
def test_a_request_in_flight_is_made_again_with_the_same_key(
    tmp_path: Path, server: LocalServer
) -> None:
    server.script("/bookings", Reply(delay=60), Reply(status=201, json_body={"id": "b-2"}))
    db, workflow_id = kill_in_flight(tmp_path, server, "Book", hits=1)
    report = recover(db, server, workflow_id)

    first, second = server.hits_to("/bookings")
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert second.headers["idempotency-key"] == f"{workflow_id}:Book"
    assert first.json() == second.json() == {"user": "u-1"}
    assert report["status"] == "COMPLETED"
    assert report["reply"]["body"] == {"id": "b-2"}
    assert report["history"] == [["Book", "COMPLETED"], ["Done", "COMPLETED"]]
    assert len(server.hits) == 2


@pytest.mark.slow
def test_a_compensating_request_in_flight_is_made_again_with_the_same_key(
    tmp_path: Path, server: LocalServer
) -> None:
    server.script("/bookings", Reply(status=201, json_body={"id": "b-1"}))
    server.script("/bookings/b-1", Reply(delay=60), Reply(json_body={"cancelled": "b-1"}))
    db, workflow_id = kill_in_flight(tmp_path, server, "BookThenFail", hits=2)
    report = recover(db, server, workflow_id)

    undo = server.hits_to("/bookings/b-1")
    assert [h.method for h in undo] == ["DELETE", "DELETE"]
    assert {h.headers["idempotency-key"] for h in undo} == {f"{workflow_id}:Book:compensate"}
    assert len(server.hits_to("/bookings")) == 1  # the forward request is not repeated
    assert report["status"] == "FAILED_ROLLED_BACK"
    assert report["reply"]["body"] == {"cancelled": "b-1"}
    assert ["Book", "COMPLETED"] in report["journal"]
    assert [e for e in report["journal"] if e[0] == "Book"][-1] == ["Book", "COMPLETED"]
