"""Secrets used by HTTP requests never reach the state, the store, the logs or an error.

Workflows on a SQLite file send secrets in URLs, query parameters, headers and bodies, to a
server that echoes them back, fails quoting them, or never answers; a template error quotes
one; a compensating request carries one. Then every row of every table of the database file
(and the file's raw bytes), every log record (root logger at DEBUG, with httpx's and
httpcore's own lines), every error message and traceback, and every observer event are
searched for each secret's value, percent-encoded forms included.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from http_support import LocalServer, Reply, without_proxies
from ruvon.builder import WorkflowBuilder
from ruvon.errors import RuvonError
from ruvon.implementations.observability.logging import LoggingObserver
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.providers.observer import EventKind, WorkflowEvent
from ruvon.status import WorkflowStatus as S
from ruvon.testing import TestHarness

TOKEN = "tok_" + secrets.token_hex(12)
PASSWORD = "p@ss w/" + secrets.token_hex(6) + "&x=1"  # changes when URL-encoded


def forms(value: str) -> set[str]:
    return {value, quote(value, safe=""), quote(value), quote_plus(value)}


SECRET_FORMS = forms(TOKEN) | forms(PASSWORD)


class Recorder:
    """An observer that keeps every event, to search them too."""

    def __init__(self) -> None:
        self.events: list[WorkflowEvent] = []

    def wants(self, kind: EventKind) -> bool:
        return True

    async def on_event(self, event: WorkflowEvent) -> None:
        self.events.append(event)
        await LoggingObserver().on_event(event)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    without_proxies(monkeypatch)
    monkeypatch.setenv("SVC_TOKEN", TOKEN)
    monkeypatch.setenv("SVC_PASSWORD", PASSWORD)
    local = LocalServer()
    yield local
    local.close()


def call(name: str, url: str, **config: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "HTTP",
        "automate_next": True,
        "http_config": {
            "method": "POST",
            "url": url + "?key={{secrets.SVC_TOKEN}}",
            "headers": {
                "Authorization": "Bearer {{secrets.SVC_TOKEN}}",
                "X-Password": "{{secrets.SVC_PASSWORD}}",
            },
            "query_params": {"pw": "{{secrets.SVC_PASSWORD}}"},
            "body": {"token": "{{secrets.SVC_TOKEN}}", "note": "pw={{secrets.SVC_PASSWORD}}"},
            **config,
        },
        "output_key": "reply",
    }


def registry(server: LocalServer) -> dict[str, Any]:
    def workflow(*steps: dict[str, Any], saga: bool = False) -> dict[str, Any]:
        model = "http_support.CallState"
        return {"initial_state_model": model, "saga_mode": saga, "steps": list(steps)}

    retry = {"max_attempts": 2, "delay_seconds": 0}
    undo = {
        "method": "DELETE",
        "url": server.url("/undo") + "?key={{secrets.SVC_TOKEN}}",
        "headers": {"Authorization": "Bearer {{secrets.SVC_TOKEN}}"},
    }
    entries = {
        "Echo": workflow(call("Echo", server.url("/echo"))),
        "Fails": workflow(call("Fails", server.url("/fail"), retry_policy=retry)),
        "Slow": workflow(call("Slow", server.url("/slow"), timeout=0.3)),
        "BadTemplate": workflow(
            call("BadTemplate", server.url("/echo"), body="{{ state.customer[secrets.SVC_TOKEN] }}")
        ),
        "Undo": workflow(
            {**call("Book", server.url("/echo")), "compensate_http_config": undo},
            {"name": "Break", "function": "http_support.explode"},
            saga=True,
        ),
    }
    return {name: {"workflow_type": name, **entry} for name, entry in entries.items()}


def every_row(path: Path) -> Iterator[tuple[str, str]]:
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    yield table, str(value)
    finally:
        db.close()


def leaks(text: str) -> list[str]:
    return [form for form in SECRET_FORMS if form in text]


async def test_secrets_reach_the_server_and_nothing_else(
    server: LocalServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # root at DEBUG: httpx, httpcore and ruvon all write
    server.script("/echo", Reply(echo=True))
    server.script("/fail", Reply(status=500, text=f"bad key {TOKEN} for {PASSWORD}"))
    server.script("/slow", Reply(delay=5))
    server.script("/undo", Reply(status=503, text=f"cannot undo for {TOKEN}"))
    db = tmp_path / "ruvon.db"
    store = SQLitePersistenceProvider(str(db))
    await store.initialize()
    recorder = Recorder()
    builder = WorkflowBuilder(
        workflow_registry=registry(server), persistence_provider=store, workflow_observer=recorder
    )
    outcomes = {}
    for workflow_type in ("Echo", "Fails", "Slow", "BadTemplate", "Undo"):
        wf = await builder.create_workflow(workflow_type, {"customer": {"a": 1}})
        await wf.run()
        outcomes[workflow_type] = wf
    await store.close()

    # the requests really carried the secrets (else this test proves nothing)
    echo = server.hits_to("/echo")[0]
    assert echo.headers["authorization"] == f"Bearer {TOKEN}"
    assert echo.query == {"key": [TOKEN], "pw": [PASSWORD]}
    assert echo.json() == {"token": TOKEN, "note": f"pw={PASSWORD}"}
    assert len(server.hits_to("/fail")) == 2 and server.hits_to("/undo")

    assert {t: wf.status for t, wf in outcomes.items()} == {
        "Echo": S.COMPLETED,
        "Fails": S.FAILED,
        "Slow": S.FAILED,
        "BadTemplate": S.FAILED,
        "Undo": S.COMPENSATION_FAILED,
    }
    echoed = outcomes["Echo"].state.reply["body"]
    assert echoed["headers"]["authorization"] == "Bearer ***"
    assert echoed["query"] == {"key": ["***"], "pw": ["***"]}

    # errors: the workflow's, each attempt's, the journal's, and what observers got
    errors = [wf.error for wf in outcomes.values() if wf.error is not None]
    errors += [r.error for wf in outcomes.values() for r in wf.history if r.error is not None]
    errors += [e.error for wf in outcomes.values() for e in wf.journal if e.error is not None]
    assert len(errors) >= 8
    for error in errors:
        assert not leaks(f"{error.message}\n{error.traceback}"), error
    assert "key=***" in outcomes["Fails"].error.message  # type: ignore[union-attr]
    assert "bad key *** for ***" in outcomes["Fails"].error.message  # type: ignore[union-attr]
    assert not leaks(repr(recorder.events))

    # the store: every row of every table, and the file's bytes (WAL included)
    rows = list(every_row(db))
    assert len(rows) > 50
    for table, value in rows:
        assert not leaks(value), f"a secret in table {table}: {value[:200]}"
    for path in tmp_path.glob("ruvon.db*"):
        raw = path.read_bytes()
        assert not [f for f in SECRET_FORMS if f.encode() in raw], path.name
    assert any("***" in value for _, value in rows)

    # the Python logs
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert "HTTP Request: POST" in logged  # httpx's own line was captured, masked
    assert not leaks(logged)


async def test_an_error_raised_by_the_harness_shows_no_secret(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.script("/fail", Reply(status=401, text=f"token {TOKEN} refused"))
    monkeypatch.chdir(tmp_path)
    harness = TestHarness(workflow_registry=registry(server))
    wf = await harness.start_workflow("Fails", {})
    with pytest.raises(RuvonError) as info:
        await harness.next_step(wf.id)
    assert "status 401" in str(info.value)
    shown = f"{info.value}\n{info.value!r}\n{info.value.__cause__}\n{info.value.__context__}"
    assert not leaks(shown)
