"""HTTP steps at load time: what the YAML may say, and each mistake as a DefinitionError that
names the file, the step and the key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ruvon.definition import load_definition_file
from ruvon.definition.http_spec import CompiledHttp, HttpMethod, ResponsePart
from ruvon.definition.schema import RetryPolicy
from ruvon.errors import DefinitionError

HEADER = """\
workflow_type: Calls
initial_state_model: defs_fixtures.steps.OrderState
steps:
"""


def write(tmp_path: Path, step: str) -> Path:
    path = tmp_path / "calls.yaml"
    path.write_text(HEADER + textwrap.indent(textwrap.dedent(step), "  "), encoding="utf-8")
    return path


def compiled(tmp_path: Path, step: str) -> CompiledHttp:
    definition = load_definition_file(write(tmp_path, step))
    built = definition.steps[0].compiled
    assert isinstance(built, CompiledHttp)
    return built


def error(tmp_path: Path, step: str) -> DefinitionError:
    path = write(tmp_path, step)
    with pytest.raises(DefinitionError) as info:
        load_definition_file(path)
    err = info.value
    assert err.file == str(path)
    assert err.step == "Call"
    assert err.line is not None
    return err


def test_a_minimal_step_gets_the_documented_defaults(tmp_path: Path) -> None:
    http = compiled(
        tmp_path,
        """\
        - name: Call
          type: HTTP
          http_config:
            url: "https://example.test/x"
          output_key: reply
        """,
    )
    assert http.request.method is HttpMethod.GET
    assert http.request.timeout == 30
    assert http.request.idempotency_header == "Idempotency-Key"
    assert http.includes == (ResponsePart.STATUS_CODE, ResponsePart.BODY, ResponsePart.HEADERS)
    assert http.compensation is None


def test_methods_and_includes_match_in_any_case(tmp_path: Path) -> None:
    http = compiled(
        tmp_path,
        """\
        - name: Call
          type: http
          http_config: {method: patch, url: "https://example.test/x"}
          output_key: reply
          includes: [BODY, Status_Code]
        """,
    )
    assert http.request.method is HttpMethod.PATCH
    assert http.includes == (ResponsePart.BODY, ResponsePart.STATUS_CODE)


def test_the_docs_retry_policy_becomes_the_steps(tmp_path: Path) -> None:
    definition = load_definition_file(
        write(
            tmp_path,
            """\
            - name: Call
              type: HTTP
              http_config:
                url: "https://example.test/x"
                retry_policy: {max_attempts: 3, delay_seconds: 2}
              output_key: reply
            """,
        )
    )
    policy = definition.steps[0].spec.retry_policy
    assert policy == RetryPolicy(max_attempts=3, initial_delay=2, backoff=1, max_delay=60)
    assert [policy.delay(n) for n in (1, 2)] == [2.0, 2.0]  # a fixed delay, as documented


def test_the_docs_retry_policy_may_name_what_to_retry(tmp_path: Path) -> None:
    definition = load_definition_file(
        write(
            tmp_path,
            """\
            - name: Call
              type: HTTP
              http_config:
                url: "https://example.test/x"
                retry_policy: {max_attempts: 2, retry_on: [HttpTransportError]}
              output_key: reply
            """,
        )
    )
    step = definition.steps[0]
    assert step.spec.retry_policy.initial_delay == 5  # the docs' default delay_seconds
    assert step.retry_on == ("HttpTransportError",)


def test_a_compensating_request_is_compiled_too(tmp_path: Path) -> None:
    http = compiled(
        tmp_path,
        """\
        - name: Call
          type: HTTP
          http_config: {method: POST, url: "https://example.test/orders"}
          output_key: reply
          compensate_http_config:
            method: DELETE
            url: "https://example.test/orders/{{response.body.id}}"
        """,
    )
    assert http.compensation is not None
    assert http.compensation.method is HttpMethod.DELETE


BAD = {
    "unknown method": (
        """\
        - name: Call
          type: HTTP
          http_config: {method: FETCH, url: "https://example.test/x"}
          output_key: reply
        """,
        "http_config.method",
        "'GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD' or 'OPTIONS'",
    ),
    "missing url": (
        """\
        - name: Call
          type: HTTP
          http_config: {method: GET}
          output_key: reply
        """,
        "http_config.url",
        "required key is missing",
    ),
    "missing http_config": (
        """\
        - name: Call
          type: HTTP
          output_key: reply
        """,
        "http_config",
        "required key is missing",
    ),
    "missing output_key": (
        """\
        - name: Call
          type: HTTP
          http_config: {url: "https://example.test/x"}
        """,
        "output_key",
        "required key is missing",
    ),
    "unknown include": (
        """\
        - name: Call
          type: HTTP
          http_config: {url: "https://example.test/x"}
          output_key: reply
          includes: [body, cookies]
        """,
        "includes.1",
        "'status_code', 'body' or 'headers'",
    ),
    "empty includes": (
        """\
        - name: Call
          type: HTTP
          http_config: {url: "https://example.test/x"}
          output_key: reply
          includes: []
        """,
        "includes",
        "at least one of status_code, body, headers",
    ),
    "unknown key in http_config": (
        """\
        - name: Call
          type: HTTP
          http_config: {url: "https://example.test/x", header: {A: b}}
          output_key: reply
        """,
        "http_config.header",
        "unknown key (did you mean 'headers'?)",
    ),
    "relative url": (
        """\
        - name: Call
          type: HTTP
          http_config: {url: "/orders"}
          output_key: reply
        """,
        "http_config.url",
        "not an absolute http:// or https:// URL",
    ),
    "template syntax": (
        """\
        - name: Call
          type: HTTP
          http_config:
            url: "https://example.test/x"
            body: {amount: "{{ state.amount }"}
          output_key: reply
        """,
        "http_config.body.amount",
        "is not valid",
    ),
    "a function": (
        """\
        - name: Call
          type: HTTP
          function: defs_fixtures.steps.ok_step
          http_config: {url: "https://example.test/x"}
          output_key: reply
        """,
        "function",
        "takes no 'function'",
    ),
    "two compensations": (
        """\
        - name: Call
          type: HTTP
          compensate_function: defs_fixtures.steps.ok_step
          http_config: {url: "https://example.test/x"}
          compensate_http_config: {method: DELETE, url: "https://example.test/x"}
          output_key: reply
        """,
        "compensate_http_config",
        "not both",
    ),
    "two retry policies": (
        """\
        - name: Call
          type: HTTP
          retry_policy: {max_attempts: 4}
          http_config:
            url: "https://example.test/x"
            retry_policy: {max_attempts: 2}
          output_key: reply
        """,
        "http_config.retry_policy",
        "give one",
    ),
    "a bad docs retry policy": (
        """\
        - name: Call
          type: HTTP
          http_config:
            url: "https://example.test/x"
            retry_policy: {max_attempts: 0}
          output_key: reply
        """,
        "http_config.retry_policy.max_attempts",
        "greater than or equal to 1",
    ),
    "a retry policy on the compensating request": (
        """\
        - name: Call
          type: HTTP
          http_config: {url: "https://example.test/x"}
          compensate_http_config:
            url: "https://example.test/x"
            retry_policy: {max_attempts: 2}
          output_key: reply
        """,
        "compensate_http_config.retry_policy",
        "step's own retry_policy",
    ),
    "a bad timeout": (
        """\
        - name: Call
          type: HTTP
          http_config: {url: "https://example.test/x", timeout: 0}
          output_key: reply
        """,
        "http_config.timeout",
        "greater than 0",
    ),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_http_steps_fail_at_load_naming_the_key(tmp_path: Path, case: str) -> None:
    step, key, detail = BAD[case]
    err = error(tmp_path, step)
    assert err.key == key
    assert detail in err.detail
    assert f"key '{key}'" in str(err) and "calls.yaml" in str(err)


def test_a_template_error_in_a_compensating_request_names_its_key(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        """\
        - name: Call
          type: HTTP
          http_config: {url: "https://example.test/x"}
          compensate_http_config:
            url: "https://example.test/x"
            headers: {X-Id: "{% if %}"}
          output_key: reply
        """,
    )
    assert err.key == "compensate_http_config.headers.X-Id"
