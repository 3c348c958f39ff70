"""Secrets used by HTTP requests never reach the state, the store, the logs or an error.

Workflows on a SQLite file send secrets in URLs, query parameters, headers and bodies, to a
server that echoes them back, fails quoting them, or never answers; a template error quotes
one; a compensating request carries one. Then every row of every table of the database file
(and the file's raw bytes), every log record (root logger at DEBUG, with httpx's and
httpcore's own lines), every error message and traceback, and every observer event are
searched for each secret's value, percent-encoded forms included.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
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


# --- a secret that URL syntax would cut and that httpx encodes only in part -----------------------

HEAD, TAIL = secrets.token_hex(8), secrets.token_hex(8)
ODD = f"{HEAD}#é z?&=/+%x{TAIL}"  # '#' starts a fragment; httpx encodes é and space, not ?&=/+
HOOK_HEAD, HOOK_TAIL = secrets.token_hex(8), secrets.token_hex(8)


def encodings(value: str) -> set[str]:
    """``value`` as it is, percent-encoded in full or in part (as httpx leaves a path, a query,
    a fragment or query parameters), query-encoded with ``+`` for space, and JSON-escaped."""
    found = forms(value) | {quote_plus(value, safe="/"), json.dumps(value)[1:-1]}
    found.add(json.dumps(value, ensure_ascii=False)[1:-1])
    for prefix in ("http://x/", "http://x/?q=", "http://x/#"):
        found.add(str(httpx.URL(prefix + value)).removeprefix(prefix))
    query = str(httpx.URL("http://x/").copy_merge_params({"q": value}))
    found.add(query.removeprefix("http://x/?q="))
    return found


def leaked(text: str, values: list[str], pieces: list[str]) -> list[str]:
    """Every encoding of ``values`` found in ``text``, and the random ``pieces`` they hold
    (which no encoding changes: finding one alone means a secret leaked in some form)."""
    forms_found = [form for value in values for form in encodings(value) if form in text]
    return forms_found + [piece for piece in pieces if piece in text]


async def test_a_secret_with_url_syntax_and_non_ascii_is_sent_as_data_and_masked_in_every_form(
    server: LocalServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    hook = server.url("/hook/") + f"{HOOK_HEAD}#é {HOOK_TAIL}"  # a whole URL kept as a secret
    monkeypatch.setenv("SVC_ODD", ODD)
    monkeypatch.setenv("SVC_HOOK", hook)
    path = "/odd/" + quote(ODD, safe="")  # the secret as one path segment, every byte as data
    server.script(path, Reply(echo=True), Reply(status=500, text=f"bad secret {ODD}"))
    server.script("/hook/" + HOOK_HEAD, Reply(status=502, text="no"))
    server.script("/blob", Reply(content=b"\x00" + ODD.encode() + b"\xff"))  # not text

    def step(name: str, url: str, **config: Any) -> dict[str, Any]:
        http_config = {"method": "POST", "url": url, **config}
        return {"name": name, "type": "HTTP", "http_config": http_config, "output_key": "reply"}

    odd = step(
        "Odd",
        server.url("/odd/{{secrets.SVC_ODD}}?key={{secrets.SVC_ODD}}"),
        query_params={"pw": "{{secrets.SVC_ODD}}"},
        body={"odd": "{{secrets.SVC_ODD}}"},
    )
    model = "http_support.CallState"
    reg = {
        name: {"workflow_type": name, "initial_state_model": model, "steps": steps}
        for name, steps in {
            "Odd": [odd, {**odd, "name": "Odd_Again"}],  # echoed, then a 500 quoting it
            "Hook": [step("Hook", "{{secrets.SVC_HOOK}}")],
            "Blob": [step("Blob", server.url("/blob"), query_params={"k": "{{secrets.SVC_ODD}}"})],
        }.items()
    }
    db = tmp_path / "ruvon.db"
    store = SQLitePersistenceProvider(str(db))
    await store.initialize()
    builder = WorkflowBuilder(workflow_registry=reg, persistence_provider=store)
    odd_wf = await builder.create_workflow("Odd", {})
    await odd_wf.run()
    hook_wf = await builder.create_workflow("Hook", {})
    await hook_wf.run()
    blob_wf = await builder.create_workflow("Blob", {})
    await blob_wf.run()
    await store.close()

    # the secret reached the server as that value: in the path, the URL's query, the
    # query_params and the body; the whole-URL secret as the URL it is ('#' starts a fragment)
    first = server.hits_to(path)[0]
    assert first.query == {"key": [ODD], "pw": [ODD]}
    assert first.json() == {"odd": ODD}
    assert len(server.hits_to(path)) == 2 and len(server.hits_to("/hook/" + HOOK_HEAD)) == 1

    assert odd_wf.status is S.FAILED and hook_wf.status is S.FAILED
    assert odd_wf.state.reply is not None
    assert odd_wf.state.reply["body"]["query"] == {"key": ["***"], "pw": ["***"]}
    assert odd_wf.state.reply["body"]["path"] == "/odd/***"
    assert odd_wf.error is not None and hook_wf.error is not None
    assert odd_wf.error.message == (
        f"HTTP step 'Odd_Again': POST {server.url('/odd/***')}?key=***&pw=***: "
        "status 500 Internal Server Error: bad secret ***"
    )
    assert hook_wf.error.message == "HTTP step 'Hook': POST ***: status 502 Bad Gateway: no"
    assert blob_wf.status is S.COMPLETED and blob_wf.state.reply is not None
    blob = base64.b64decode(blob_wf.state.reply["body_base64"])  # echoed in bytes: masked too
    assert blob == b"\x00***\xff"

    values, pieces = [ODD, hook], [HEAD, TAIL, HOOK_HEAD, HOOK_TAIL]
    errors = [wf.error for wf in (odd_wf, hook_wf) if wf.error is not None]
    errors += [r.error for wf in (odd_wf, hook_wf) for r in wf.history if r.error is not None]
    for error in errors:
        assert not leaked(f"{error.message}\n{error.traceback}", values, pieces), error
    rows = list(every_row(db))
    for table, value in rows:
        assert not leaked(value, values, pieces), f"a secret in table {table}: {value[:300]}"
    for file in tmp_path.glob("ruvon.db*"):
        raw = file.read_bytes().decode("utf-8", "replace")
        assert not leaked(raw, values, pieces), file.name
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert "HTTP Request: POST" in logged
    assert not leaked(logged, values, pieces)
