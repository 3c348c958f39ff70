"""The Ruvon docs' guide ``docs/how-to-guides/http-steps.md`` (``KamikaziD/ruvon-docs``), run.

The guide's YAML is kept below as the guide shows it. Its services have made-up host names
(``external-service:8080``, ``go-processor:8080`` ...): the guide's reader runs them in their
own network. Here one local server plays all of them, reached through ``HTTP_PROXY``, so the
YAML runs unchanged with no network beyond 127.0.0.1. What the guide never shows (its state
models, ``my_app.steps.validate``) is ours. Its plain bugs are fixed, each marked ``FIX`` and
explained in ``docs/steps/http.md`` ("The Ruvon docs' HTTP guide"):

1. its test mocks ``aiohttp.ClientSession.post``, a client the engine does not use (and that
   is not installed): the local server plays the service instead;
2. it reads the response body as ``state.<output_key>`` itself, where the response is stored
   as ``{status_code, body, headers}`` (its own step-type reference and ruvon-sdk 0.1.5 agree):
   ``.body`` is added where the guide reads the body;
3. its use-case snippets leave out ``output_key``, which its step-type reference requires.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from http_support import LocalServer, Reply, without_proxies
from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.status import WorkflowStatus as S

TESTS = Path(__file__).resolve().parents[1]

# --- the guide's files -------------------------------------------------------------------------

BASIC_YAML = """\
workflow_type: "PolyglotPipeline"
initial_state_model: "my_app.state_models.PipelineState"

steps:
  - name: "Call_External_Service"
    type: "HTTP"
    http_config:
      method: "POST"
      url: "http://external-service:8080/api/process"
      headers:
        Content-Type: "application/json"
        Authorization: "Bearer secret-token"
      body:
        user_id: "{{state.user_id}}"
        data: "{{state.input_data}}"
      timeout: 30
    output_key: "service_response"
    automate_next: true
"""

ML_YAML = """\
workflow_type: "MLPipeline"
initial_state_model: "my_app.state_models.MLState"

steps:
  # Step 1: Python validation
  - name: "Validate_Input"
    type: "STANDARD"
    function: "my_app.steps.validate"
    automate_next: true

  # Step 2: Go service (high-performance data processing)
  - name: "Process_Data_Go"
    type: "HTTP"
    http_config:
      method: "POST"
      url: "http://go-processor:8080/process"
      headers:
        Content-Type: "application/json"
      body:
        data: "{{state.validated_data}}"
        config: "{{state.processing_config}}"
      timeout: 60
    output_key: "processed_data"
    automate_next: true

  # Step 3: Rust service (ML inference)
  - name: "Run_Inference_Rust"
    type: "HTTP"
    http_config:
      method: "POST"
      url: "http://rust-ml:8080/predict"
      headers:
        Content-Type: "application/json"
      body:
        features: "{{state.processed_data.features}}"
        model_id: "{{state.model_id}}"
      timeout: 30
    output_key: "predictions"
    automate_next: true

  # Step 4: Node.js service (notifications)
  - name: "Send_Notifications_Node"
    type: "HTTP"
    http_config:
      method: "POST"
      url: "http://notification-service:3000/send"
      headers:
        Content-Type: "application/json"
      body:
        user_id: "{{state.user_id}}"
        result: "{{state.predictions.result}}"
        channels: ["email", "sms"]
      timeout: 10
    output_key: "notification_status"
"""

# FIX 2: the body of a stored response is ``.body``
ML_YAML_FIXED = ML_YAML.replace(
    "state.processed_data.features", "state.processed_data.body.features"
)
ML_YAML_FIXED = ML_YAML_FIXED.replace("state.predictions.result", "state.predictions.body.result")

METHODS_YAML = """\
- name: "Fetch_User_Data"
  type: "HTTP"
  http_config:
    method: "GET"
    url: "http://user-service:8080/users/{{state.user_id}}"
    headers:
      Authorization: "Bearer {{state.token}}"
    timeout: 10
  output_key: "user_data"

- name: "Create_Order"
  type: "HTTP"
  http_config:
    method: "POST"
    url: "http://order-service:8080/orders"
    headers:
      Content-Type: "application/json"
    body:
      customer_id: "{{state.customer_id}}"
      items: "{{state.cart_items}}"
    timeout: 30
  output_key: "order_result"

- name: "Update_Status"
  type: "HTTP"
  http_config:
    method: "PUT"
    url: "http://status-service:8080/orders/{{state.order_id}}"
    headers:
      Content-Type: "application/json"
    body:
      status: "completed"
      updated_by: "{{state.user_id}}"
    timeout: 10
  output_key: "update_result"

- name: "Cancel_Order"
  type: "HTTP"
  http_config:
    method: "DELETE"
    url: "http://order-service:8080/orders/{{state.order_id}}"
    headers:
      Authorization: "Bearer {{state.token}}"
    timeout: 10
  output_key: "cancel_result"

- name: "Call_Payment_Service"
  type: "HTTP"
  http_config:
    method: "POST"
    url: "{{env.PAYMENT_SERVICE_URL}}/charge"
    headers:
      Content-Type: "application/json"
    body:
      amount: "{{state.amount}}"
    timeout: 30
  output_key: "payment_result"

# FIX 3 below: the guide's snippet has no output_key, which its step-type reference requires
- name: "Call_Legacy_System"
  type: "HTTP"
  http_config:
    method: "POST"
    url: "http://legacy-system:8080/api/v1/process"
    headers:
      Content-Type: "application/xml"
      SOAPAction: "ProcessOrder"
    body: |
      <soap:Envelope>
        <soap:Body>
          <ProcessOrder>
            <OrderID>{{state.order_id}}</OrderID>
          </ProcessOrder>
        </soap:Body>
      </soap:Envelope>
  output_key: "legacy_result"
"""

GUIDE_TEST = """\
import pytest
from unittest.mock import Mock, patch
from ruvon.testing.harness import TestHarness

@pytest.mark.asyncio
async def test_http_step():
    \"\"\"Test HTTP step with mocked service.\"\"\"

    harness = TestHarness()

    # Mock HTTP response
    mock_response = {
        "status": "success",
        "result": "processed"
    }

    with patch('aiohttp.ClientSession.post') as mock_post:
        mock_post.return_value.__aenter__.return_value.json.return_value = mock_response

        workflow = await harness.start_workflow(
            workflow_type="PolyglotPipeline",
            initial_data={"user_id": "123"}
        )

        await harness.next_step(workflow.id)

        assert workflow.state.service_response == mock_response
"""

# FIX 1: no aiohttp mock (the service is played by conftest.py's server); FIX 2: ``["body"]``
GUIDE_TEST_FIXED = GUIDE_TEST.replace(
    "    with patch('aiohttp.ClientSession.post') as mock_post:\n"
    "        mock_post.return_value.__aenter__.return_value.json.return_value = mock_response\n"
    "\n",
    "    if True:  # FIX 1: the service is played by conftest.py's local server\n",
).replace(
    "workflow.state.service_response == mock_response",
    'workflow.state.service_response["body"] == mock_response  # FIX 2',
)

# --- ours: what the guide never shows -----------------------------------------------------------

STATE_MODELS = '''\
"""Ours: the guide names these models but never shows them."""
from typing import Any

from pydantic import BaseModel


class PipelineState(BaseModel):
    user_id: str
    input_data: Any = None
    service_response: dict | None = None


class MLState(BaseModel):
    user_id: str
    raw_data: list[float] = []
    validated_data: list[float] | None = None
    processing_config: dict = {"scale": 2}
    processed_data: dict | None = None
    model_id: str = "m-1"
    predictions: dict | None = None
    notification_status: dict | None = None


class OrderState(BaseModel):
    user_id: str = "u-1"
    token: str = "t-1"
    customer_id: str = "c-1"
    cart_items: list[dict] = []
    order_id: str = "o-1"
    amount: float = 0
    user_data: dict | None = None
    order_result: dict | None = None
    update_result: dict | None = None
    cancel_result: dict | None = None
    payment_result: dict | None = None
'''

STEPS = '''\
"""Ours: the guide names ``my_app.steps.validate`` but never shows it."""


def validate(state, context):
    return {"validated_data": [x for x in state.raw_data if x >= 0]}
'''

CONFTEST = '''\
"""Ours: the fake service the guide's test talks to (it mocked aiohttp instead)."""
import pytest

from http_support import LocalServer, Reply


@pytest.fixture(autouse=True)
def external_service(monkeypatch):
    server = LocalServer()
    server.script(
        "external-service:8080/api/process",
        Reply(json_body={"status": "success", "result": "processed"}),
    )
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.url(""))
    yield server
    server.close()
'''

ORDERS_HEADER = """\
workflow_type: "Orders"
initial_state_model: "my_app.state_models.OrderState"
steps:
"""


GUIDE_TEST_FILE = "test_http_steps_guide.py"


def lay_out(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def project(root: Path, guide_test: str) -> Path:
    return lay_out(
        root,
        {
            "config/pipeline.yaml": BASIC_YAML,
            "my_app/__init__.py": "",
            "my_app/state_models.py": STATE_MODELS,
            "my_app/steps.py": STEPS,
            "conftest.py": CONFTEST,
            GUIDE_TEST_FILE: guide_test,
        },
    )


def pytest_in(root: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PYTHONPATH"] = str(TESTS)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "test_http_steps_guide.py",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_the_guides_test_passes_with_its_two_fixes(tmp_path: Path) -> None:
    done = pytest_in(project(tmp_path, GUIDE_TEST_FIXED))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_the_guides_test_as_written_fails_for_the_reasons_fixed(tmp_path: Path) -> None:
    as_written = pytest_in(project(tmp_path / "as_written", GUIDE_TEST))
    assert as_written.returncode == 1
    assert "No module named 'aiohttp'" in as_written.stdout  # FIX 1 is needed
    only_mock_fixed = GUIDE_TEST_FIXED.replace('service_response["body"]', "service_response")
    body = pytest_in(project(tmp_path / "body", only_mock_fixed))
    assert body.returncode == 1
    assert "service_response == mock_response" in body.stdout  # FIX 2 is needed
    assert "'body': {'result': 'processed', 'status': 'success'}" in body.stdout


# --- the other workflows of the guide, in this process ------------------------------------------


@pytest.fixture
def services(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    """One local server playing every service of the guide, as the HTTP proxy."""
    without_proxies(monkeypatch)
    server = LocalServer()
    monkeypatch.setenv("HTTP_PROXY", server.url(""))
    yield server
    server.close()


async def run(root: Path, workflow_type: str, data: dict[str, Any]) -> Any:
    sys.path.insert(0, str(root))
    try:
        for name in [m for m in sys.modules if m == "my_app" or m.startswith("my_app.")]:
            del sys.modules[name]
        builder = WorkflowBuilder(
            config_dir=root / "config", persistence_provider=InMemoryPersistenceProvider()
        )
        wf = await builder.create_workflow(workflow_type, data)
        await wf.run()
        return wf
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == "my_app" or m.startswith("my_app.")]:
            del sys.modules[name]


async def test_the_multi_language_pipeline_calls_its_three_services(
    tmp_path: Path, services: LocalServer
) -> None:
    services.script("go-processor:8080/process", Reply(json_body={"features": [2.0, 6.0]}))
    services.script("rust-ml:8080/predict", Reply(json_body={"result": "cat", "score": 0.9}))
    services.script("notification-service:3000/send", Reply(status=202, json_body={"sent": 2}))
    root = project(tmp_path, GUIDE_TEST_FIXED)
    lay_out(root, {"config/ml.yaml": ML_YAML_FIXED})
    wf = await run(root, "MLPipeline", {"user_id": "u-7", "raw_data": [1, -5, 3]})
    assert wf.status is S.COMPLETED, wf.error
    go, rust, node = services.hits
    assert go.json() == {"data": [1.0, 3.0], "config": {"scale": 2}}
    assert rust.json() == {"features": [2.0, 6.0], "model_id": "m-1"}
    assert node.json() == {"user_id": "u-7", "result": "cat", "channels": ["email", "sms"]}
    assert wf.state.notification_status["status_code"] == 202


async def test_the_pipeline_as_written_reads_a_key_the_response_does_not_have(
    tmp_path: Path, services: LocalServer
) -> None:
    services.script("go-processor:8080/process", Reply(json_body={"features": [2.0]}))
    root = project(tmp_path, GUIDE_TEST_FIXED)
    lay_out(root, {"config/ml.yaml": ML_YAML})
    wf = await run(root, "MLPipeline", {"user_id": "u-7"})
    assert wf.status is S.FAILED and wf.error.step == "Run_Inference_Rust"
    assert "has no attribute 'features'" in wf.error.message  # FIX 2 is needed


async def test_the_method_service_discovery_and_legacy_examples_run(
    tmp_path: Path, services: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYMENT_SERVICE_URL", "http://payment-service:8080")  # as the guide says
    services.script("user-service:8080/users/u-1", Reply(json_body={"name": "John"}))
    services.script("order-service:8080/orders", Reply(status=201, json_body={"id": "o-1"}))
    services.script("status-service:8080/orders/o-1", Reply(json_body={"ok": True}))
    services.script("order-service:8080/orders/o-1", Reply(status=204, text=""))
    services.script("payment-service:8080/charge", Reply(json_body={"charged": 9.5}))
    services.script(
        "legacy-system:8080/api/v1/process", Reply(text="<ok/>", content_type="text/xml")
    )
    root = project(tmp_path, GUIDE_TEST_FIXED)
    lay_out(root, {"config/orders.yaml": ORDERS_HEADER + textwrap.indent(METHODS_YAML, "  ")})
    data = {"cart_items": [{"sku": "a", "qty": 2}], "amount": 9.5}
    wf = await run(root, "Orders", data)
    assert wf.status is S.COMPLETED, wf.error
    sent = [(h.method, h.key) for h in services.hits]
    assert sent == [
        ("GET", "user-service:8080/users/u-1"),
        ("POST", "order-service:8080/orders"),
        ("PUT", "status-service:8080/orders/o-1"),
        ("DELETE", "order-service:8080/orders/o-1"),
        ("POST", "payment-service:8080/charge"),
        ("POST", "legacy-system:8080/api/v1/process"),
    ]
    get, post, put, _delete, pay, legacy = services.hits
    assert get.headers["authorization"] == "Bearer t-1"
    assert post.json() == {"customer_id": "c-1", "items": [{"sku": "a", "qty": 2}]}
    assert put.json() == {"status": "completed", "updated_by": "u-1"}
    assert pay.json() == {"amount": 9.5}
    assert legacy.headers["content-type"] == "application/xml"
    assert "<OrderID>o-1</OrderID>" in legacy.body.decode()
    assert wf.state.user_data["body"] == {"name": "John"}
    assert wf.state.cancel_result["status_code"] == 204
    assert json.loads(json.dumps(wf.state.payment_result))["body"] == {"charged": 9.5}
