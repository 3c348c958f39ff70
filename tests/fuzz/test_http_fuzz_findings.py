"""Bugs of HTTP steps found by ``test_fuzz_http.py``, each as the smallest workflow that shows it,
against the real local HTTP server (``http_support.LocalServer``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from http_support import LocalServer, Reply, without_proxies
from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.status import WorkflowStatus as S


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    without_proxies(monkeypatch)
    local = LocalServer()
    yield local
    local.close()


class Secrets:
    def __init__(self, **values: str) -> None:
        self.values = values

    def get(self, name: str) -> str | None:
        return self.values.get(name)


def _builder(step: dict[str, Any], **secrets: str) -> WorkflowBuilder:
    definition = {
        "workflow_type": "H",
        "initial_state_model": "http_support.CallState",
        "steps": [step],
    }
    return WorkflowBuilder(
        workflow_registry={"H": definition},
        persistence_provider=InMemoryPersistenceProvider(),
        secrets_provider=Secrets(**secrets),
    )


async def test_a_header_value_http_can_not_carry_fails_before_sending_not_as_no_answer(
    server: LocalServer,
) -> None:
    """A header value ending in a space (here a secret's) is refused by the HTTP client once
    connected, before the request is sent: it was an ``HttpTransportError`` "no answer", so
    ``retry_on: [HttpTransportError]`` retried a request that can never be sent."""
    server.script("/x", Reply(json_body={"ok": True}))
    step = {
        "name": "Call",
        "type": "HTTP",
        "output_key": "reply",
        "retry_policy": {"max_attempts": 3, "initial_delay": 0, "retry_on": ["HttpTransportError"]},
        "http_config": {"url": server.url("/x"), "headers": {"X-Key": "{{secrets.KEY}}"}},
    }
    wf = await _builder(step, KEY="tok-7 ").create_workflow("H")
    await wf.run()
    assert wf.status is S.FAILED and wf.error is not None
    assert wf.error.type == "HttpStepError"
    assert wf.error.message == (
        f"HTTP step 'Call': GET {server.url('/x')}: the request can not be sent: "
        "LocalProtocolError: Illegal header value b'***'"
    )
    assert [r.attempt for r in wf.history] == [1]  # not retried as if no answer had come
    assert not server.hits
