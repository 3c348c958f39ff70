"""HTTP steps against a real HTTP server on 127.0.0.1 (a thread of this process): status codes,
JSON and text bodies, timeouts, refused connections, retries, templates, includes, loops and
compensating requests in saga mode."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from http_support import LocalServer, Reply, free_port, without_proxies
from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.models import CompensationStatus, StepStatus
from ruvon.status import WorkflowStatus as S
from ruvon.workflow import Workflow


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    without_proxies(monkeypatch)
    local = LocalServer()
    yield local
    local.close()


def http(name: str, url: str, output_key: str = "reply", **keys: Any) -> dict[str, Any]:
    config = {"url": url, **keys.pop("config", {})}
    return {
        "name": name,
        "type": "HTTP",
        "automate_next": True,
        "http_config": config,
        "output_key": output_key,
        **keys,
    }


def fn(name: str, function: str = "http_support.mark", **keys: Any) -> dict[str, Any]:
    return {"name": name, "function": f"{function}", "automate_next": True, **keys}


def registry(*steps: dict[str, Any], saga: bool = False, model: str = "CallState") -> Any:
    return {
        "W": {
            "workflow_type": "W",
            "initial_state_model": f"http_support.{model}",
            "saga_mode": saga,
            "steps": list(steps),
        }
    }


async def run(reg: Any, data: dict[str, Any] | None = None, **builder: Any) -> Workflow:
    store = InMemoryPersistenceProvider()
    wf = await WorkflowBuilder(
        workflow_registry=reg, persistence_provider=store, **builder
    ).create_workflow("W", data or {})
    await wf.run()
    return wf


# --- responses -----------------------------------------------------------------------------------


async def test_a_json_response_is_stored_under_output_key(server: LocalServer) -> None:
    server.script("/users/u-1", Reply(json_body={"name": "Ann", "tier": "gold"}))
    wf = await run(registry(http("Fetch", server.url("/users/{{state.user_id}}"))))
    assert wf.status is S.COMPLETED
    reply = wf.state.reply
    assert reply is not None
    assert reply["status_code"] == 200
    assert reply["body"] == {"name": "Ann", "tier": "gold"}
    assert reply["headers"]["content-type"] == "application/json"
    (record,) = await wf.persistence.step_history(wf.id)
    assert record.status is StepStatus.COMPLETED and record.result == {"reply": reply}


async def test_a_text_response_is_kept_as_text(server: LocalServer) -> None:
    server.script("/t", Reply(text="plain words", content_type="text/plain"))
    server.script("/j", Reply(text="{not json", content_type="application/problem+json"))
    server.script("/e", Reply(status=204, text="", content_type="application/json"))
    wf = await run(
        registry(
            http("Text", server.url("/t")),
            http("Broken_Json", server.url("/j"), "other"),
        )
    )
    assert wf.state.reply["body"] == "plain words"
    assert wf.state.other["body"] == "{not json"
    empty = await run(registry(http("Empty", server.url("/e"))))
    assert empty.state.reply["status_code"] == 204 and empty.state.reply["body"] is None


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\xff\xfe"  # NUL bytes, not UTF-8


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param == "memory":
        yield InMemoryPersistenceProvider()
        return
    sqlite = SQLitePersistenceProvider(str(tmp_path / "ruvon.db"))
    await sqlite.initialize()
    yield sqlite
    await sqlite.close()


async def test_a_body_that_is_not_text_is_kept_base64_encoded_and_text_decodes_by_charset(
    server: LocalServer, store: Any
) -> None:
    server.script("/png", Reply(content=PNG, content_type="image/png"))
    server.script("/nul", Reply(content=b"a\x00b", content_type="text/plain; charset=utf-8"))
    server.script("/bin", Reply(content=b"\xff\x00\x01"))  # application/octet-stream
    server.script(
        "/latin",
        Reply(content="café".encode("latin-1"), content_type="text/plain; charset=ISO-8859-1"),
    )
    server.script(
        "/u16",
        Reply(
            content='{"name": "Zoë"}'.encode("utf-16"),
            content_type="application/json; charset=utf-16",
        ),
    )
    server.script("/octets", Reply(content=b"plain ascii"))  # application/octet-stream, text
    steps = [
        http("Png", server.url("/png"), "reply", includes=["status_code", "body"]),
        http("Nul", server.url("/nul"), "other", includes=["body"]),
        http("Bin", server.url("/bin"), "bin", includes=["body"]),
        http("Latin", server.url("/latin"), "latin", includes=["body"]),
        http("Utf16", server.url("/u16"), "u16", includes=["body"]),
        http("Octets", server.url("/octets"), "octets", includes=["body"]),
    ]
    builder = WorkflowBuilder(
        workflow_registry=registry(*steps, model="OpenState"), persistence_provider=store
    )
    wf = await builder.create_workflow("W", {})
    await wf.run()
    assert wf.status is S.COMPLETED, wf.error
    expected = {
        "reply": {"status_code": 200, "body_base64": base64.b64encode(PNG).decode()},
        "other": {"body_base64": base64.b64encode(b"a\x00b").decode()},
        "bin": {"body_base64": "/wAB"},
        "latin": {"body": "café"},
        "u16": {"body": {"name": "Zoë"}},
        "octets": {"body": "plain ascii"},
    }
    again = await builder.load_workflow(wf.id)  # read back from the store
    for w in (wf, again):
        assert {k: v for k, v in w.state.model_dump().items() if k in expected} == expected
        history = await w.persistence.step_history(w.id)
        results = {k: v for r in history for k, v in (r.result or {}).items()}
        assert results == expected
    assert base64.b64decode(results["reply"]["body_base64"]) == PNG


async def test_an_error_response_that_is_not_text_is_named_by_its_size_in_the_error(
    server: LocalServer, store: Any
) -> None:
    server.script("/png", Reply(status=500, content=PNG, content_type="image/png"))
    builder = WorkflowBuilder(
        workflow_registry=registry(http("Png", server.url("/png"))), persistence_provider=store
    )
    wf = await builder.create_workflow("W", {})
    await wf.run()
    assert wf.status is S.FAILED and wf.error is not None
    assert wf.error.message == (
        f"HTTP step 'Png': GET {server.url('/png')}: status 500 Internal Server Error: "
        f"{len(PNG)} bytes that are not text (image/png)"
    )
    stored = await builder.load_workflow(wf.id)
    assert stored.error is not None and stored.error.message == wf.error.message


async def test_includes_keeps_only_the_parts_named(server: LocalServer) -> None:
    server.script("/x", Reply(json_body={"ok": True}, headers={"X-Trace": "t-1"}))
    wf = await run(registry(http("Call", server.url("/x"), includes=["status_code"])))
    assert wf.state.reply == {"status_code": 200}
    wf = await run(registry(http("Call", server.url("/x"), includes=["headers", "body"])))
    assert list(wf.state.reply) == ["body", "headers"]
    assert wf.state.reply["headers"]["x-trace"] == "t-1"


@pytest.mark.parametrize("status", [400, 404, 409, 422, 500, 502, 503])
async def test_a_status_outside_2xx_fails_the_step_naming_it(
    server: LocalServer, status: int
) -> None:
    server.script("/orders", Reply(status=status, text=f"nope {status}"))
    wf = await run(registry(http("Create", server.url("/orders"), config={"method": "post"})))
    assert wf.status is S.FAILED
    assert wf.error is not None and wf.error.type == "HttpStatusError"
    assert wf.error.step == "Create"
    message = wf.error.message
    assert message.startswith(f"HTTP step 'Create': POST {server.url('/orders')}: status {status}")
    assert message.endswith(f"nope {status}")
    assert len(server.hits) == 1  # no retry_policy: one attempt
    assert wf.state.reply is None


async def test_a_redirect_is_followed(server: LocalServer) -> None:
    server.script("/old", Reply(status=307, headers={"Location": server.url("/new")}))
    server.script("/new", Reply(json_body={"here": True}))
    wf = await run(registry(http("Call", server.url("/old"))))
    assert wf.state.reply["body"] == {"here": True}
    assert [h.key for h in server.hits] == ["/old", "/new"]


# --- no answer -----------------------------------------------------------------------------------


async def test_a_timeout_fails_the_step_without_waiting_for_the_server(server: LocalServer) -> None:
    server.script("/slow", Reply(delay=10, text="late"))
    started = time.monotonic()
    wf = await run(registry(http("Slow", server.url("/slow"), config={"timeout": 0.5})))
    assert time.monotonic() - started < 5
    assert wf.status is S.FAILED
    assert wf.error is not None and wf.error.type == "HttpTransportError"
    assert wf.error.message == (
        f"HTTP step 'Slow': GET {server.url('/slow')}: no answer within 0.5 s (status: none)"
    )


async def test_a_refused_connection_fails_the_step(server: LocalServer) -> None:
    url = f"http://127.0.0.1:{free_port()}/x"
    wf = await run(registry(http("Call", url, config={"method": "DELETE"})))
    assert wf.status is S.FAILED
    assert wf.error is not None and wf.error.type == "HttpTransportError"
    assert wf.error.message.startswith(
        f"HTTP step 'Call': DELETE {url}: no answer (status: none): ConnectError"
    )


async def test_a_rendered_url_that_is_not_a_url_fails_the_step(server: LocalServer) -> None:
    wf = await run(registry(http("Call", "{{state.base_url}}/x")), {"base_url": ""})
    assert wf.status is S.FAILED
    assert wf.error is not None and wf.error.type == "HttpStepError"
    assert wf.error.message == (
        "HTTP step 'Call': GET /x: not a valid URL: not an absolute http:// or https:// URL"
    )
    wf = await run(registry(http("Call", "{{state.base_url}}/x")), {"base_url": "http://[::1"})
    assert wf.error is not None and wf.error.type == "HttpStepError"
    assert "not a valid URL" in wf.error.message
    assert not server.hits


# --- retries -------------------------------------------------------------------------------------


async def test_retries_repeat_the_request_with_the_same_idempotency_key(
    server: LocalServer,
) -> None:
    server.script("/pay", Reply(status=503), Reply(status=502), Reply(json_body={"paid": 1}))
    policy = {"max_attempts": 3, "delay_seconds": 0.05}
    step = http("Pay", server.url("/pay"), config={"method": "POST", "retry_policy": policy})
    wf = await run(registry(step))
    assert wf.status is S.COMPLETED and wf.state.reply["body"] == {"paid": 1}
    keys = {h.headers["idempotency-key"] for h in server.hits}
    assert len(server.hits) == 3 and keys == {f"{wf.id}:Pay"}
    history = await wf.persistence.step_history(wf.id)
    assert [(r.attempt, r.status) for r in history] == [
        (1, StepStatus.FAILED),
        (2, StepStatus.FAILED),
        (3, StepStatus.COMPLETED),
    ]
    assert history[0].error is not None and "status 503" in history[0].error.message


async def test_retries_stop_after_max_attempts(server: LocalServer) -> None:
    server.script("/pay", Reply(status=500))
    step = http("Pay", server.url("/pay"), retry_policy={"max_attempts": 4, "initial_delay": 0})
    wf = await run(registry(step))
    assert wf.status is S.FAILED and len(server.hits) == 4


async def test_retry_on_can_leave_status_errors_alone(server: LocalServer) -> None:
    server.script("/pay", Reply(status=400, text="bad card"))
    policy = {"max_attempts": 3, "delay_seconds": 0, "retry_on": ["HttpTransportError"]}
    wf = await run(registry(http("Pay", server.url("/pay"), config={"retry_policy": policy})))
    assert wf.status is S.FAILED and len(server.hits) == 1


async def test_retry_on_retries_transport_errors(server: LocalServer) -> None:
    server.script("/slow", Reply(delay=10), Reply(json_body={"ok": True}))
    policy = {"max_attempts": 2, "delay_seconds": 0, "retry_on": ["HttpTransportError"]}
    config = {"timeout": 0.3, "retry_policy": policy}
    wf = await run(registry(http("Call", server.url("/slow"), config=config)))
    assert wf.status is S.COMPLETED and len(server.hits) == 2


# --- templates -----------------------------------------------------------------------------------


async def test_templates_read_state_env_secrets_and_context(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.script("/echo/u-9", Reply(echo=True))
    monkeypatch.setenv("ECHO_BASE", server.url("/echo"))
    monkeypatch.setenv("API_TOKEN", "tok-123")
    step = http(
        "Echo",
        "{{env.ECHO_BASE}}/{{state.user_id}}",
        config={
            "method": "put",
            "headers": {
                "Authorization": "Bearer {{secrets.API_TOKEN}}",
                "X-Step": "{{context.step_name}}",
            },
            "query_params": {"tag": "{{state.tags}}", "fixed": "yes"},
            "body": {"amount": "{{state.amount}}", "who": "{{state.customer.name | upper}}"},
        },
    )
    data = {"user_id": "u-9", "tags": ["a", "b"], "customer": {"name": "ann"}, "amount": 3}
    wf = await run(registry(step), data)
    assert wf.status is S.COMPLETED
    (hit,) = server.hits
    assert hit.method == "PUT"
    assert hit.query == {"tag": ["a", "b"], "fixed": ["yes"]}
    assert hit.headers["authorization"] == "Bearer tok-123"
    assert hit.headers["x-step"] == "Echo"
    assert hit.headers["idempotency-key"] == f"{wf.id}:Echo"
    assert hit.headers["content-type"] == "application/json"
    assert hit.json() == {"amount": 3.0, "who": "ANN"}


async def test_a_custom_secrets_provider_answers_secrets(server: LocalServer) -> None:
    class Vault:
        def get(self, name: str) -> str | None:
            return {"TOKEN": "from-vault"}.get(name)

    server.script("/x", Reply(echo=True))
    step = http("Call", server.url("/x"), config={"headers": {"X-Key": "{{secrets.TOKEN}}"}})
    wf = await run(registry(step), secrets_provider=Vault())
    assert server.hits[0].headers["x-key"] == "from-vault"
    assert wf.state.reply["body"]["headers"]["x-key"] == "***"  # echoed back: masked


async def test_a_missing_secret_fails_the_step_naming_it(server: LocalServer) -> None:
    step = http("Call", server.url("/x"), config={"headers": {"X": "{{secrets.RUVON_NO_SUCH}}"}})
    wf = await run(registry(step))
    assert wf.status is S.FAILED and not server.hits
    assert wf.error is not None and wf.error.type == "TemplateError"
    assert "secret 'RUVON_NO_SUCH' is not set" in wf.error.message


async def test_http_steps_run_inside_a_loop_once_per_item(server: LocalServer) -> None:
    for sku in ("a", "b", "c"):
        server.script(f"/stock/{sku}", Reply(json_body={"sku": sku}))
    loop = {
        "name": "Each",
        "type": "LOOP",
        "iterate_over": "state.tags",
        "automate_next": True,
        "loop_body": [http("Check", server.url("/stock/{{context.loop_item}}"))],
    }
    wf = await run(registry(loop), {"tags": ["a", "b", "c"]})
    assert wf.status is S.COMPLETED
    assert [h.key for h in server.hits] == ["/stock/a", "/stock/b", "/stock/c"]
    keys = [h.headers["idempotency-key"] for h in server.hits]
    assert len(set(keys)) == 3  # one key per iteration
    assert wf.state.reply["body"] == {"sku": "c"}


async def test_every_documented_method_is_sent(server: LocalServer) -> None:
    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
    server.script("/m", Reply(text="x"))
    steps = [
        http(f"M{i}", server.url("/m"), config={"method": m.lower()}) for i, m in enumerate(methods)
    ]
    wf = await run(registry(*steps))
    assert wf.status is S.COMPLETED
    assert [h.method for h in server.hits] == methods


# --- where the response goes ---------------------------------------------------------------------


async def test_a_model_without_the_field_keeps_the_response_in_the_record(
    server: LocalServer,
) -> None:
    server.script("/x", Reply(json_body={"v": 1}))
    wf = await run(registry(http("Call", server.url("/x")), model="LooseState"))
    assert wf.status is S.COMPLETED
    assert "reply" not in wf.state.model_dump()
    (record,) = await wf.persistence.step_history(wf.id)
    assert record.result is not None and record.result["reply"]["body"] == {"v": 1}


async def test_a_model_that_forbids_other_keys_needs_the_field(server: LocalServer) -> None:
    server.script("/x", Reply(json_body={"v": 1}))
    wf = await run(registry(http("Call", server.url("/x")), model="StrictState"))
    assert wf.status is S.FAILED
    assert wf.error is not None and "key 'reply' which is not a field" in wf.error.message


# --- saga ----------------------------------------------------------------------------------------


def booking(server: LocalServer, **keys: Any) -> dict[str, Any]:
    return http(
        "Book",
        server.url("/bookings"),
        config={"method": "POST", "body": {"user": "{{state.user_id}}"}},
        compensate_http_config={
            "method": "DELETE",
            "url": server.url("/bookings/{{response.body.id}}"),
            "headers": {"X-Was": "{{response.status_code}}"},
        },
        **keys,
    )


async def test_a_later_failure_sends_the_compensating_request(server: LocalServer) -> None:
    server.script("/bookings", Reply(status=201, json_body={"id": "b-7"}))
    server.script("/bookings/b-7", Reply(json_body={"cancelled": "b-7"}))
    wf = await run(registry(booking(server), fn("Fail", "http_support.explode"), saga=True))
    assert wf.status is S.FAILED_ROLLED_BACK
    forward, undo = server.hits
    assert (undo.method, undo.key, undo.headers["x-was"]) == ("DELETE", "/bookings/b-7", "201")
    assert forward.headers["idempotency-key"] == f"{wf.id}:Book"
    assert undo.headers["idempotency-key"] == f"{wf.id}:Book:compensate"
    # the compensating request's response replaces the forward one
    assert wf.state.reply["body"] == {"cancelled": "b-7"}
    book = next(e for e in wf.compensation_journal if e.step_name == "Book")
    assert book.status is CompensationStatus.COMPLETED
    assert book.result is not None and book.result["reply"]["status_code"] == 200


async def test_a_failing_compensating_request_leaves_compensation_failed(
    server: LocalServer,
) -> None:
    server.script("/bookings", Reply(status=201, json_body={"id": "b-7"}))
    server.script("/bookings/b-7", Reply(status=500, text="cannot cancel"))
    reg = registry(
        fn("Before", compensate_function="http_support.unmark"),
        booking(server, retry_policy={"max_attempts": 2, "initial_delay": 0}),
        fn("Fail", "http_support.explode"),
        saga=True,
    )
    wf = await run(reg)
    assert wf.status is S.COMPENSATION_FAILED
    assert [h.key for h in server.hits] == ["/bookings", "/bookings/b-7", "/bookings/b-7"]
    entries = {e.step_name: e for e in wf.compensation_journal}
    assert entries["Book"].status is CompensationStatus.FAILED
    assert entries["Book"].attempts == 2  # the step's retry_policy applies to the undo too
    error = entries["Book"].error
    assert error is not None and error.type == "HttpStatusError"
    assert "DELETE" in error.message and "status 500" in error.message
    assert entries["Before"].status is CompensationStatus.COMPLETED  # the unwind went on
    assert wf.state.log == ["Before", "undo:Before"]

    server.script("/bookings/b-7", Reply(json_body={"cancelled": "b-7"}))
    assert await wf.retry() is S.FAILED_ROLLED_BACK  # the operator's retry sends it again
    assert wf.state.reply["body"] == {"cancelled": "b-7"}
    assert len(server.hits_to("/bookings/b-7")) == 3


async def test_an_http_step_may_be_undone_by_a_function(server: LocalServer) -> None:
    server.script("/bookings", Reply(status=201, json_body={"id": "b-1"}))
    step = http("Book", server.url("/bookings"), compensate_function="http_support.unmark")
    wf = await run(registry(step, fn("Fail", "http_support.explode"), saga=True))
    assert wf.status is S.FAILED_ROLLED_BACK
    assert wf.state.log == ["undo:Book"]
    assert len(server.hits) == 1


async def test_a_failing_http_step_unwinds_the_steps_before_it(server: LocalServer) -> None:
    server.script("/bookings", Reply(status=409, text="taken"))
    reg = registry(fn("Before", compensate_function="http_support.unmark"), booking(server))
    reg["W"]["saga_mode"] = True
    wf = await run(reg)
    assert wf.status is S.FAILED_ROLLED_BACK
    assert wf.state.log == ["Before", "undo:Before"]
    assert [h.method for h in server.hits] == ["POST"]  # the failed step is not undone
    book = next(e for e in wf.compensation_journal if e.step_name == "Book")
    assert book.status is CompensationStatus.SKIPPED


async def test_compensate_on_failure_undoes_the_failed_request_too(server: LocalServer) -> None:
    server.script("/bookings", Reply(status=500, json_body={"id": "b-3"}))
    server.script("/bookings/by-user/u-1", Reply(text="nothing to cancel"))
    step = http(
        "Book",
        server.url("/bookings"),
        config={"method": "POST"},
        compensate_on_failure=True,
        compensate_http_config={
            "method": "DELETE",
            "url": server.url("/bookings/by-user/{{state.user_id}}"),
            # a failed attempt recorded no response: ``response`` is none in the templates
            "headers": {"X-Had-Response": "{{ response is not none }}"},
        },
    )
    wf = await run(registry(step, saga=True))
    assert wf.status is S.FAILED_ROLLED_BACK
    forward, undo = server.hits
    assert (forward.method, undo.method, undo.key) == ("POST", "DELETE", "/bookings/by-user/u-1")
    assert undo.headers["x-had-response"] == "False"


async def test_a_compensating_request_can_wait_for_approval(server: LocalServer) -> None:
    server.script("/bookings", Reply(status=201, json_body={"id": "b-9"}))
    server.script("/bookings/b-9", Reply(json_body={"cancelled": "b-9"}))
    step = booking(server, compensation_requires_approval=True)
    wf = await run(registry(step, fn("Fail", "http_support.explode"), saga=True))
    assert wf.status is S.WAITING_COMPENSATION_APPROVAL
    assert wf.waiting_for is not None and wf.waiting_for["step"] == "Book"
    assert [h.method for h in server.hits] == ["POST"]  # nothing undone yet
    assert await wf.approve_compensation(decided_by="ops") is S.FAILED_ROLLED_BACK
    assert [h.method for h in server.hits] == ["POST", "DELETE"]
