"""HTTP steps on every store (memory, SQLite, PostgreSQL): the response, the attempts, the
compensating request and the failure read back through a second store on the same database,
and, on the SQL stores, no row holding a secret the requests carried."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from contract_backends import Backend

from http_support import LocalServer, Reply, without_proxies
from ruvon.builder import WorkflowBuilder
from ruvon.models import CompensationStatus as C
from ruvon.models import StepStatus
from ruvon.providers.persistence import PersistenceProvider
from ruvon.status import WorkflowStatus as S

TOKEN = "tok_" + secrets.token_hex(12)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    without_proxies(monkeypatch)
    monkeypatch.setenv("CONTRACT_TOKEN", TOKEN)
    local = LocalServer()
    yield local
    local.close()


def registry(server: LocalServer) -> dict[str, Any]:
    auth = {"Authorization": "Bearer {{secrets.CONTRACT_TOKEN}}"}
    book = {
        "name": "Book",
        "type": "HTTP",
        "automate_next": True,
        "retry_policy": {"max_attempts": 2, "initial_delay": 0},
        "http_config": {
            "method": "POST",
            "url": server.url("/bookings?k={{secrets.CONTRACT_TOKEN}}"),
            "headers": auth,
            "body": {"user": "{{state.user_id}}", "amount": "{{state.amount}}"},
        },
        "output_key": "reply",
        "compensate_http_config": {
            "method": "DELETE",
            "url": server.url("/bookings/{{response.body.id}}"),
            "headers": auth,
        },
    }
    last = {"name": "Confirm", "function": "http_support.mark"}
    return {
        "Book": {
            "workflow_type": "Book",
            "initial_state_model": "http_support.CallState",
            "saga_mode": True,
            "steps": [book, last],
        },
        "BookThenFail": {
            "workflow_type": "BookThenFail",
            "initial_state_model": "http_support.CallState",
            "saga_mode": True,
            "steps": [book, {**last, "function": "http_support.explode"}],
        },
    }


async def test_http_steps_read_back_through_another_store(
    store: PersistenceProvider, backend: Backend, server: LocalServer
) -> None:
    server.script(
        "/bookings",
        Reply(status=503, text=f"busy, key {TOKEN}"),
        Reply(status=201, json_body={"id": "b-1"}),
        Reply(status=201, json_body={"id": "b-2"}),
    )
    server.script("/bookings/b-2", Reply(json_body={"cancelled": True}))
    builder = WorkflowBuilder(workflow_registry=registry(server), persistence_provider=store)
    done = await builder.create_workflow("Book", {"user_id": "u-5"})
    await done.run()
    undone = await builder.create_workflow("BookThenFail", {"user_id": "u-6"})
    await undone.run()
    assert (done.status, undone.status) == (S.COMPLETED, S.FAILED_ROLLED_BACK)

    other = backend.new_store()
    await other.initialize()
    reader = WorkflowBuilder(workflow_registry=registry(server), persistence_provider=other)
    first = await reader.load_workflow(done.id)
    assert first.status is S.COMPLETED
    assert first.state.reply is not None and first.state.reply["body"] == {"id": "b-1"}
    history = await other.step_history(done.id)
    assert [(r.step_name, r.attempt, r.status) for r in history] == [
        ("Book", 1, StepStatus.FAILED),
        ("Book", 2, StepStatus.COMPLETED),
        ("Confirm", 1, StepStatus.COMPLETED),
    ]
    assert history[0].error is not None and "busy, key ***" in history[0].error.message
    assert history[1].result == {"reply": first.state.reply}

    second = await reader.load_workflow(undone.id)
    assert second.status is S.FAILED_ROLLED_BACK
    assert second.state.reply is not None and second.state.reply["body"] == {"cancelled": True}
    journal = {e.step_name: e for e in await other.compensation_journal(undone.id)}
    assert journal["Book"].status is C.COMPLETED
    assert journal["Book"].result is not None
    assert journal["Book"].result["reply"]["status_code"] == 200

    undo = server.hits_to("/bookings/b-2")
    assert len(undo) == 1 and undo[0].headers["idempotency-key"] == f"{undone.id}:Book:compensate"
    assert all(h.headers["authorization"] == f"Bearer {TOKEN}" for h in server.hits)

    if backend.name != "memory":
        await _no_row_holds(backend, TOKEN)


async def _no_row_holds(backend: Backend, secret: str) -> None:
    if backend.name == "sqlite":
        listing = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        listing = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    tables = [row[0] for row in await backend.fetch(listing)]
    assert "ruvon_workflows" in tables
    seen = 0
    for table in tables:
        for row in await backend.fetch(f'SELECT * FROM "{table}"'):
            seen += 1
            assert secret not in repr(row), f"the secret is in a row of {table}"
    assert seen > 10
