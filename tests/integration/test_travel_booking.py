"""examples/travel_booking end to end: ``run.py`` as its own process on a SQLite file, notifying
a real HTTP server on 127.0.0.1 that this test runs (``http_support.LocalServer``) and that, as
the notification service, appends each request it accepts to the example's journal file. The
journal then shows the side effects of parent, child and service in one order.

A run that succeeds: parent and payment child ``COMPLETED``, the child's outcome in the parent's
``sub_workflow_results``, one notification with the secret bearer token. A run whose last step
fails: the unwind goes child first (the notification is withdrawn, then the payment child undoes
capture then authorization, then the three bookings newest first), both end
``FAILED_ROLLED_BACK``, and the secret is nowhere in the SQLite file."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from http_support import PROXY_VARIABLES, Hit, LocalServer, Reply
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.models import CompensationStatus as C
from ruvon.models import StepStatus
from ruvon.providers.persistence import WorkflowRecord
from ruvon.status import WorkflowStatus as S

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "travel_booking"
TOKEN = "ntk_" + secrets.token_hex(16)


class JournalingServer(LocalServer):
    """The notification service: journals each request it answers with a 2xx before answering,
    so the line lands in the journal before the workflow goes on."""

    def __init__(self, journal: Path) -> None:
        self.journal = journal
        super().__init__()

    def _write(self, handler: Any, reply: Reply, hit: Hit) -> None:  # type: ignore[override]
        if reply.status < 300:
            with self.journal.open("a", encoding="utf-8") as journal:
                journal.write(f"notifier: {hit.method} {hit.key}\n")
        LocalServer._write(handler, reply, hit)


@dataclass
class App:
    folder: Path
    db: Path
    journal: Path
    server: JournalingServer


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    folder = tmp_path / "travel_booking"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("*.db*", "*.log", "__pycache__"))
    journal = tmp_path / "journal.log"
    server = JournalingServer(journal)
    server.script("/notifications", Reply(status=201, json_body={"id": "n-7"}))
    server.script("/notifications/n-7", Reply(json_body={"withdrawn": "n-7"}))
    yield App(folder, tmp_path / "travel.db", journal, server)
    server.close()


@dataclass
class Run:
    stdout: str
    trip_id: str
    payment_id: str


def run(app: App, *args: str) -> Run:
    skip = {*PROXY_VARIABLES, *(name.lower() for name in PROXY_VARIABLES)}
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUVON_") and k not in skip}
    env.pop("TRAVEL_FAIL", None)
    env.update(
        TRAVEL_DB=str(app.db),
        TRAVEL_JOURNAL=str(app.journal),
        NOTIFY_URL=f"http://127.0.0.1:{app.server.port}",
        NOTIFY_TOKEN=TOKEN,
    )
    done = subprocess.run(
        [sys.executable, "run.py", *args],
        cwd=app.folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert TOKEN not in done.stdout + done.stderr
    lines = done.stdout.splitlines()
    trip_id = lines[0].split()[1].rstrip(":")
    payment = next(line for line in lines if line.startswith("payment "))
    return Run(done.stdout, trip_id, payment.split()[1].rstrip(":"))


def journal(app: App) -> list[str]:
    return app.journal.read_text(encoding="utf-8").splitlines()


async def _read(db: Path, *ids: str) -> dict[str, Any]:
    store = SQLitePersistenceProvider(db)
    await store.initialize()
    try:
        out: dict[str, Any] = {}
        for workflow_id in ids:
            out[workflow_id] = (
                await store.load_workflow(workflow_id),
                await store.step_history(workflow_id),
                await store.compensation_journal(workflow_id),
            )
        return out
    finally:
        await store.close()


def stored(app: App, *ids: str) -> dict[str, Any]:
    return asyncio.run(_read(app.db, *ids))


def state(record: WorkflowRecord) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(record.state)
    return value


def assert_secret_not_stored(db: Path) -> None:
    """Neither any value in any row nor the raw bytes of the database (and its WAL, if left)."""
    forms = {TOKEN, quote(TOKEN, safe="")}
    files = [p for p in db.parent.iterdir() if p.name.startswith(db.name)]
    assert db in files
    for path in files:
        raw = path.read_bytes()
        assert not [f for f in forms if f.encode() in raw], path.name
    connection = sqlite3.connect(db)
    try:
        tables = [
            r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        for table in tables:
            for row in connection.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
                    assert not [f for f in forms if f in str(text)], table
    finally:
        connection.close()


def assert_notification_sent(hit: Hit, trip_id: str, trip: str) -> None:
    assert (hit.method, hit.key) == ("POST", "/notifications")
    assert hit.headers["authorization"] == f"Bearer {TOKEN}"
    assert hit.headers["idempotency-key"] == f"{trip_id}:Notify_Traveller"
    assert hit.json() == {"trip_id": trip, "traveller": "ann", "message": f"Trip {trip} is booked"}


BOOKED = [
    "trip: book flight FLIGHT-T-1",
    "trip: book hotel HOTEL-T-1",
    "trip: book car CAR-T-1",
    "payment: authorize 1250.00",
    "payment: capture 1250.00",
    "notifier: POST /notifications",
]


def test_a_trip_is_booked_paid_by_its_child_workflow_and_notified(app: App) -> None:
    done = run(app, "--trip", "T-1")
    assert f"trip {done.trip_id}: COMPLETED" in done.stdout
    assert f"payment {done.payment_id}: COMPLETED" in done.stdout
    assert journal(app) == [*BOOKED, "trip: confirm"]

    rows = stored(app, done.trip_id, done.payment_id)
    trip, history, unwind = rows[done.trip_id]
    payment, _, child_unwind = rows[done.payment_id]
    assert trip.status is S.COMPLETED and unwind == []
    assert payment.status is S.COMPLETED and child_unwind == []
    assert payment.parent_id == done.trip_id and payment.saga_mode
    assert payment.metadata["sub_workflow_of"] == done.trip_id
    assert payment.metadata["parent_step"] == "Pay"
    assert payment.idempotency_key == f"{done.trip_id}:Pay"
    final = state(trip)
    assert final["sub_workflow_results"] == {
        done.payment_id: {
            "workflow_type": "TripPayment",
            "status": "COMPLETED",
            "state": {
                "trip_id": "T-1",
                "amount": 1250.0,
                "authorization": "AUTH-T-1",
                "capture": "CAP-T-1",
            },
            "final_result": {"capture": "CAP-T-1"},
        }
    }
    assert final["bookings"] == {"flight": "FLIGHT-T-1", "hotel": "HOTEL-T-1", "car": "CAR-T-1"}
    assert final["notification"] == {"status_code": 201, "body": {"id": "n-7"}}
    assert final["confirmed"] is True
    (pay,) = [r for r in history if r.scope == "Pay"]
    assert pay.result is not None and pay.result["sub_workflow_id"] == done.payment_id

    (hit,) = app.server.hits
    assert_notification_sent(hit, done.trip_id, "T-1")
    assert_secret_not_stored(app.db)


def test_a_late_failure_unwinds_the_notification_then_the_payment_child_then_the_bookings(
    app: App,
) -> None:
    done = run(app, "--fail", "--trip", "T-1")
    assert f"trip {done.trip_id}: FAILED_ROLLED_BACK" in done.stdout
    assert "refused to confirm trip T-1" in done.stdout
    assert f"payment {done.payment_id}: FAILED_ROLLED_BACK" in done.stdout
    # the bookings ran one after another (SyncExecutor, task order): newest first is car first
    assert journal(app) == [
        *BOOKED,
        "trip: confirm fails",
        "notifier: DELETE /notifications/n-7",
        "payment: refund CAP-T-1",
        "payment: void AUTH-T-1",
        "trip: cancel car CAR-T-1",
        "trip: cancel hotel HOTEL-T-1",
        "trip: cancel flight FLIGHT-T-1",
    ]

    post, delete = app.server.hits
    assert_notification_sent(post, done.trip_id, "T-1")
    assert (delete.method, delete.key) == ("DELETE", "/notifications/n-7")
    assert delete.headers["authorization"] == f"Bearer {TOKEN}"
    assert delete.headers["idempotency-key"] == f"{done.trip_id}:Notify_Traveller:compensate"

    rows = stored(app, done.trip_id, done.payment_id)
    trip, _, unwind = rows[done.trip_id]
    payment, _, child_unwind = rows[done.payment_id]
    assert trip.status is S.FAILED_ROLLED_BACK
    assert trip.error is not None and trip.error.type == "RuntimeError"
    assert payment.status is S.FAILED_ROLLED_BACK
    assert payment.error is not None and payment.error.type == "ParentRolledBack"
    assert [(e.scope, e.status) for e in unwind] == [
        ("Confirm", C.SKIPPED),  # the failing step: not compensated
        ("Notify_Traveller", C.COMPLETED),
        ("Pay", C.COMPLETED),
        ("Book_Travel/task:car", C.COMPLETED),
        ("Book_Travel/task:hotel", C.COMPLETED),
        ("Book_Travel/task:flight", C.COMPLETED),
    ]
    assert [(e.scope, e.status) for e in child_unwind] == [
        ("Capture", C.COMPLETED),
        ("Authorize", C.COMPLETED),
    ]
    # the store's timestamps agree: the child unwound inside the parent's entry for Pay
    pay = unwind[2]
    assert pay.detail == f"child workflow {done.payment_id} unwound first"
    assert pay.ended_at is not None and unwind[1].ended_at is not None
    assert unwind[1].ended_at <= child_unwind[0].started_at
    assert child_unwind[-1].ended_at is not None
    assert child_unwind[-1].ended_at <= pay.ended_at <= unwind[3].started_at
    final = state(trip)
    assert final["bookings"] == {}
    assert final["notification"] == {"status_code": 200, "body": {"withdrawn": "n-7"}}
    assert state(payment)["authorization"] is None and state(payment)["capture"] is None
    assert_secret_not_stored(app.db)


def test_booked_on_threads_the_bookings_are_undone_newest_first(app: App) -> None:
    """On a thread pool the three bookings finish in any order: they are undone in the reverse
    of the order their records were committed in (what "newest first" means for PARALLEL)."""
    done = run(app, "--fail", "--threads", "--trip", "T-1")
    assert f"trip {done.trip_id}: FAILED_ROLLED_BACK" in done.stdout
    (trip, history, unwind) = stored(app, done.trip_id)[done.trip_id]
    finished = [
        r.scope.rsplit(":", 1)[-1]
        for r in sorted(history, key=lambda r: r.seq)
        if r.scope.startswith("Book_Travel/task:") and r.status is StepStatus.COMPLETED
    ]
    assert sorted(finished) == ["car", "flight", "hotel"]
    lines = journal(app)
    assert sorted(lines[:3]) == sorted(BOOKED[:3])
    assert lines[3:] == [
        *BOOKED[3:],
        "trip: confirm fails",
        "notifier: DELETE /notifications/n-7",
        "payment: refund CAP-T-1",
        "payment: void AUTH-T-1",
        *(f"trip: cancel {what} {what.upper()}-T-1" for what in reversed(finished)),
    ]
    assert [e.scope for e in unwind][3:] == [f"Book_Travel/task:{w}" for w in reversed(finished)]
    assert trip.status is S.FAILED_ROLLED_BACK
    assert_secret_not_stored(app.db)
