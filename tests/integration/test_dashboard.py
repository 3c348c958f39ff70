"""The dashboard's API and pages through Starlette's TestClient, over a store seeded with the
saga tutorial's workflows (tests/dashboard_support.py): filters and counts, pages, one
workflow's timeline and journal, every action, escaping, CSRF, the token and the Host check.
"""

from __future__ import annotations

import asyncio
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard_support import Seeded, importable, make_app_dir, seed
from ruvon.builder import WorkflowBuilder
from ruvon.dashboard import DashboardSettings, create_app
from ruvon.dashboard.security import CSRF_COOKIE, SESSION_COOKIE
from ruvon.errors import PersistenceError
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider

with warnings.catch_warnings():  # starlette would rather have httpx2; httpx works the same
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

BASE = "http://localhost"
TOKEN = "s3cret-dashboard-token"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("dashboard_app")
    make_app_dir(directory)
    with importable(directory):
        yield directory


class Env:
    def __init__(self, project: Path, token: str | None = None, host: str = "127.0.0.1"):
        self.store = InMemoryPersistenceProvider()
        self.ids: Seeded = asyncio.run(seed(self.store, project))
        builder = WorkflowBuilder(config_dir=project / "config", persistence_provider=self.store)
        self.app = create_app(
            DashboardSettings(token=token, host=host), store=self.store, builder=builder
        )

    def status(self, workflow_id: str) -> str:
        return asyncio.run(self.store.load_workflow(workflow_id)).status.value


@pytest.fixture
def env(project: Path) -> Env:
    return Env(project)


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    with TestClient(env.app, base_url=BASE, follow_redirects=False) as c:
        yield c


def csrf_of(client: TestClient, path: str) -> str:
    """Open a page as a browser would: its forms' CSRF token (the cookie is now set)."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert match, "the page has no CSRF token"
    assert client.cookies.get(CSRF_COOKIE) == match.group(1)
    return match.group(1)


# --- the list ---------------------------------------------------------------------------------


def test_list__counts_each_status_and_shows_every_workflow(client: TestClient, env: Env) -> None:
    page = client.get("/")
    assert page.status_code == 200
    chips = dict(
        re.findall(r'data-status="([A-Z_]*)">[A-Za-z_]+ <span class="count">(\d+)', page.text)
    )
    assert chips == {
        "": "9",
        "ACTIVE": "1",
        "WAITING_HUMAN": "1",
        "WAITING_COMPENSATION_APPROVAL": "1",
        "COMPLETED": "3",
        "FAILED": "1",
        "FAILED_ROLLED_BACK": "2",
    }
    ids = env.ids
    for wid in [
        *ids.completed,
        *ids.rolled_back,
        ids.failed,
        ids.waiting,
        ids.approval,
        ids.active,
    ]:
        assert f'href="/workflows/{wid}"' in page.text


def test_list__filters_by_status_and_by_type(client: TestClient, env: Env) -> None:
    rolled = client.get("/?status=failed_rolled_back")  # any case
    assert rolled.status_code == 200
    listed = re.findall(r'<tr data-id="([^"]+)"', rolled.text)
    assert sorted(listed) == sorted(env.ids.rolled_back)
    assert 'class="chip status-failed_rolled_back on"' in rolled.text

    by_type = client.get("/api/workflows", params={"type": "PaymentReview"}).json()
    assert [w["id"] for w in by_type["items"]] == [env.ids.waiting]
    assert by_type["total"] == 1 and by_type["counts"]["WAITING_HUMAN"] == 1
    assert by_type["counts"]["COMPLETED"] == 0  # counts follow the type filter

    done = client.get("/api/workflows", params={"status": "COMPLETED"}).json()
    assert sorted(w["id"] for w in done["items"]) == sorted(env.ids.completed)
    assert done["total"] == 3 and done["counts"]["FAILED_ROLLED_BACK"] == 2
    assert all(w["status"] == "COMPLETED" and w["current_step_name"] is None for w in done["items"])
    for spelled in ("completed", " Completed "):  # any case, as the page and the CLI take it
        assert client.get("/api/workflows", params={"status": spelled}).json() == done
    everything = client.get("/api/workflows", params={"status": ""}).json()
    assert everything["status"] is None and everything["total"] == 9


def test_list__pages_follow_each_other(client: TestClient) -> None:
    first = client.get("/api/workflows", params={"limit": 4}).json()
    assert first["total"] == 9 and first["next_offset"] == 4 and len(first["items"]) == 4
    second = client.get("/api/workflows", params={"limit": 4, "offset": 4}).json()
    last = client.get("/api/workflows", params={"limit": 4, "offset": 8}).json()
    assert last["next_offset"] is None and len(last["items"]) == 1
    ids = [w["id"] for page in (first, second, last) for w in page["items"]]
    assert len(set(ids)) == 9
    html = client.get("/?offset=4").text
    assert 'rel="next"' not in html and "showing 5&ndash;9" in html
    assert 'rel="prev" href="/"' in html


def test_list__a_bad_filter_is_refused(client: TestClient) -> None:
    page = client.get("/?status=DONE")
    assert page.status_code == 400 and "unknown status &#39;DONE&#39;" in page.text
    assert client.get("/api/workflows", params={"status": "DONE"}).status_code == 422
    assert client.get("/api/workflows", params={"limit": 0}).status_code == 422
    assert client.get("/?offset=x").status_code == 400


def test_a_store_that_fails__answers_503_on_the_pages_as_on_the_api(
    client: TestClient, env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    csrf = csrf_of(client, "/")

    async def down(*args: object, **kwargs: object) -> None:
        raise PersistenceError("the database is down")

    for method in ("list_workflows", "load_workflow"):
        monkeypatch.setattr(env.store, method, down)
    for path in ("/", f"/workflows/{env.ids.active}"):
        page = client.get(path)
        assert page.status_code == 503 and "the database is down" in page.text, path
        assert client.get("/api" + (path if path != "/" else "/workflows")).status_code == 503
    form = client.post(f"/workflows/{env.ids.active}/cancel", data={"csrf_token": csrf})
    assert form.status_code == 503 and "the database is down" in form.text


# --- one workflow -----------------------------------------------------------------------------


def test_unknown_workflow_is_404_everywhere(client: TestClient) -> None:
    assert client.get("/workflows/nope").status_code == 404
    answer = client.get("/api/workflows/nope")
    assert answer.status_code == 404 and "nope" in answer.json()["detail"]
    assert client.post("/api/workflows/nope/cancel", json={}).status_code == 404
    csrf = csrf_of(client, "/")
    assert client.post("/workflows/nope/cancel", data={"csrf_token": csrf}).status_code == 404


def test_rolled_back_workflow__shows_its_compensations_in_unwind_order(
    client: TestClient, env: Env
) -> None:
    wid = env.ids.rolled_back[0]
    detail = client.get(f"/api/workflows/{wid}").json()
    assert detail["status"] == "FAILED_ROLLED_BACK" and detail["actions"] == []
    journal = [(c["step_name"], c["status"]) for c in detail["compensations"]]
    assert journal == [
        ("Create_Shipment", "SKIPPED"),
        ("Reserve_Inventory", "COMPLETED"),
        ("Charge_Payment", "COMPLETED"),
        ("Create_Order", "COMPLETED"),
    ]
    assert [h["step_name"] for h in detail["history"]] == [
        "Create_Order",
        "Charge_Payment",
        "Reserve_Inventory",
        "Create_Shipment",
    ]
    assert detail["history"][0]["result"]["order_created"] is True
    # the whole state each completed step left, in-place changes included; none for the failure
    after = [h["state_after"] for h in detail["history"]]
    assert after[3] is None
    assert (after[0]["order_created"], after[0]["payment_charged"]) == (True, False)
    assert (after[1]["payment_charged"], after[2]["inventory_reserved"]) == (True, True)
    assert after[2]["compensations_run"] == []
    assert detail["error"]["message"] == "Carrier API unavailable"
    assert detail["state"]["compensations_run"] == [
        "release_inventory",
        "refund_payment",
        "cancel_order",
    ]
    assert [s["mark"] for s in detail["steps"]] == ["compensated"] * 3 + ["failed"]
    assert 's3 -.->|"undo: cancel_shipment"| s2' in detail["mermaid"]

    page = client.get(f"/workflows/{wid}").text
    assert page.count('<details class="state-after">') == 3
    functions = re.findall(r'class="comp-function">([^<]+)<', page)
    assert functions == [
        "payment_processor.steps.cancel_shipment",
        "payment_processor.steps.release_inventory",
        "payment_processor.steps.refund_payment",
        "payment_processor.steps.cancel_order",
    ]
    assert 'id="actions"' not in page  # nothing to do to a rolled-back workflow


def test_state_values_and_errors_are_escaped(project: Path) -> None:
    store = InMemoryPersistenceProvider()
    markup = "<script>alert('x')</script>"

    async def make() -> str:
        builder = WorkflowBuilder(config_dir=project / "config", persistence_provider=store)
        wf = await builder.create_workflow(
            "PaymentProcessing", {"order_id": markup, "customer_id": '"><img src=x>', "amount": 1}
        )
        return wf.id

    wid = asyncio.run(make())
    app = create_app(store=store, builder=WorkflowBuilder(persistence_provider=store))
    with TestClient(app, base_url=BASE) as client:
        page = client.get(f"/workflows/{wid}").text
        assert "<script>alert" not in page and "<img src=x>" not in page
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
        assert "&#34;&gt;&lt;img src=x&gt;" in page
        assert client.get(f"/api/workflows/{wid}").json()["state"]["order_id"] == markup


def test_waiting_workflow__offers_a_form_built_from_its_input_model(
    client: TestClient, env: Env
) -> None:
    page = client.get(f"/workflows/{env.ids.waiting}").text
    assert 'id="resume-form"' in page and "dashboard_steps.ReviewInput" in page
    assert re.search(r'<input name="input.reviewer" value=""\s+type="text"\s+required>', page)
    assert '<select name="input.approve" required>' in page
    assert re.search(r'name="input.risk_score" value="0"\s+type="number" step="1"', page)
    assert 'name="input.note"' in page and 'name="input.note" value=""' in page
    assert "Cancel workflow" in page and "Retry" not in page


# --- actions ----------------------------------------------------------------------------------


def test_resume__through_the_form_runs_the_workflow_on(client: TestClient, env: Env) -> None:
    wid = env.ids.waiting
    csrf = csrf_of(client, f"/workflows/{wid}")
    form = {
        "csrf_token": csrf,
        "input.reviewer": "ann",
        "input.approve": "true",
        "input.risk_score": "7",
        "input.note": "",
    }
    answer = client.post(f"/workflows/{wid}/resume", data=form)
    assert (
        answer.status_code == 303 and answer.headers["location"] == f"/workflows/{wid}?done=resume"
    )
    page = client.get(answer.headers["location"]).text
    assert "Resumed with the input." in page and 'id="status">COMPLETED<' in page
    state = client.get(f"/api/workflows/{wid}").json()["state"]
    assert state["workflow_status"] == "payment_charged" and state["payment_charged"] is True
    fraud = [
        h
        for h in client.get(f"/api/workflows/{wid}").json()["history"]
        if h["step_name"] == "Fraud_Review"
    ]
    assert fraud[0]["result"] == {"workflow_status": "reviewed by ann (risk 7)"}


def test_resume__input_the_model_refuses_keeps_it_waiting(client: TestClient, env: Env) -> None:
    wid = env.ids.waiting
    csrf = csrf_of(client, f"/workflows/{wid}")
    bad = {
        "csrf_token": csrf,
        "input.reviewer": "",
        "input.approve": "true",
        "input.risk_score": "500",
    }
    answer = client.post(f"/workflows/{wid}/resume", data=bad)
    assert answer.status_code == 422
    assert "reviewer: Field required" in answer.text and "risk_score" in answer.text
    assert env.status(wid) == "WAITING_HUMAN"
    typo = {**bad, "input.reviewer": "bo", "input.risk_score": "lots"}
    again = client.post(f"/workflows/{wid}/resume", data=typo)
    assert (
        again.status_code == 422
        and "risk_score: &#39;lots&#39; is not a whole number" in again.text
    )
    assert 'name="input.reviewer" value="bo"' in again.text  # what was entered stays
    api = client.post(f"/api/workflows/{wid}/resume", json={"input": {"reviewer": "x"}})
    assert api.status_code == 422 and "approve" in api.json()["detail"]
    assert env.status(wid) == "WAITING_HUMAN"


def test_approve__a_compensation_through_the_form_finishes_the_unwind(
    client: TestClient, env: Env
) -> None:
    wid = env.ids.approval
    page = client.get(f"/workflows/{wid}").text
    assert "The compensation of Charge_Payment waits for approval" in page
    marks = [s["mark"] for s in client.get(f"/api/workflows/{wid}").json()["steps"]]
    assert marks == ["done", "current", "compensated", "failed"]
    csrf = csrf_of(client, f"/workflows/{wid}")
    form = {"csrf_token": csrf, "decided_by": "ops@example.com", "reason": "refund by hand"}
    answer = client.post(f"/workflows/{wid}/approve", data=form)
    assert answer.status_code == 303
    detail = client.get(f"/api/workflows/{wid}").json()
    assert detail["status"] == "FAILED_ROLLED_BACK"
    journal = [(c["step_name"], c["status"], c["decided_by"]) for c in detail["compensations"]]
    assert journal == [
        ("Create_Shipment", "SKIPPED", None),
        ("Reserve_Inventory", "COMPLETED", None),
        ("Charge_Payment", "COMPLETED", "ops@example.com"),
        ("Create_Order", "COMPLETED", None),
    ]


def test_reject__through_the_api_leaves_the_step_done(client: TestClient, env: Env) -> None:
    wid = env.ids.approval
    answer = client.post(
        f"/api/workflows/{wid}/reject", json={"decided_by": "bo", "reason": "keep"}
    )
    assert answer.status_code == 200
    assert answer.json() == {
        "workflow_id": wid,
        "action": "reject",
        "status": "COMPENSATION_FAILED",
        "cancel_requested": None,
    }
    entries = client.get(f"/api/workflows/{wid}").json()["compensations"]
    assert ("Charge_Payment", "REJECTED", "bo") in [
        (c["step_name"], c["status"], c["decided_by"]) for c in entries
    ]


def test_retry__runs_the_failed_step_again(client: TestClient, env: Env) -> None:
    wid = env.ids.failed
    assert client.get(f"/api/workflows/{wid}").json()["actions"] == ["retry"]
    csrf = csrf_of(client, f"/workflows/{wid}")
    answer = client.post(f"/workflows/{wid}/retry", data={"csrf_token": csrf})
    assert answer.status_code == 303
    assert env.status(wid) == "COMPLETED"  # this process's create_shipment works


def test_cancel__an_active_workflow(client: TestClient, env: Env) -> None:
    wid = env.ids.active
    answer = client.post(f"/api/workflows/{wid}/cancel", json={"reason": "customer called"})
    assert answer.status_code == 200 and answer.json()["status"] == "CANCELLED"
    audit = client.get(f"/api/workflows/{wid}").json()["audit"]
    assert audit[-1]["to_status"] == "CANCELLED" and audit[-1]["reason"] == "customer called"


def test_an_action_its_status_does_not_allow_is_409(client: TestClient, env: Env) -> None:
    wid = env.ids.completed[0]
    answer = client.post(f"/api/workflows/{wid}/retry", json={})
    assert answer.status_code == 409 and "COMPLETED" in answer.json()["detail"]
    csrf = csrf_of(client, f"/workflows/{wid}")
    page = client.post(f"/workflows/{wid}/cancel", data={"csrf_token": csrf})
    assert page.status_code == 409 and 'id="problem"' in page.text
    assert client.post(f"/workflows/{wid}/explode", data={"csrf_token": csrf}).status_code == 404


# --- CSRF, the token, the Host header ---------------------------------------------------------


def test_csrf__a_form_without_the_right_token_is_refused(client: TestClient, env: Env) -> None:
    wid = env.ids.active
    csrf = csrf_of(client, f"/workflows/{wid}")
    assert client.post(f"/workflows/{wid}/cancel", data={}).status_code == 403
    assert client.post(f"/workflows/{wid}/cancel", data={"csrf_token": "x" * 43}).status_code == 403
    cross_site = client.post(
        f"/workflows/{wid}/cancel",
        data={"csrf_token": csrf},
        headers={"Origin": "http://evil.example"},
    )
    assert cross_site.status_code == 403
    client.cookies.clear()  # a form from another site comes without the cookie
    assert client.post(f"/workflows/{wid}/cancel", data={"csrf_token": csrf}).status_code == 403
    # a cookie planted by another site (a sibling subdomain can set one), long and well formed
    # but not signed by this server, with the same value in the form: refused
    planted = "p" * 43 + "." + "0" * 64
    for cookie in ("", "x", "p" * 43, planted):  # none of these is a token this server set
        client.cookies.set(CSRF_COOKIE, cookie)
        for form in ({"csrf_token": cookie}, {}):
            answer = client.post(f"/workflows/{wid}/cancel", data=form)
            assert answer.status_code == 403, (cookie, form)
        assert client.post("/logout", data={"csrf_token": cookie}).status_code == 403
    assert env.status(wid) == "ACTIVE"


def test_csrf__the_api_takes_only_json_posts(client: TestClient, env: Env) -> None:
    wid = env.ids.active
    as_form = client.post(f"/api/workflows/{wid}/cancel", data={"reason": "x"})
    assert as_form.status_code == 415
    as_text = client.post(
        f"/api/workflows/{wid}/cancel", content=b"{}", headers={"Content-Type": "text/plain"}
    )
    assert as_text.status_code == 415
    foreign = client.post(
        f"/api/workflows/{wid}/cancel", json={}, headers={"Origin": "http://evil.example"}
    )
    assert foreign.status_code == 403
    assert env.status(wid) == "ACTIVE"


def test_auth__requests_without_the_token_are_refused(project: Path) -> None:
    env = Env(project, token=TOKEN)
    with TestClient(env.app, base_url=BASE, follow_redirects=False) as client:
        page = client.get("/")
        assert page.status_code == 401 and 'action="/login"' in page.text
        assert client.get(f"/workflows/{env.ids.active}").status_code == 401
        api = client.get("/api/workflows")
        assert api.status_code == 401 and api.headers["www-authenticate"] == "Bearer"
        assert client.get("/openapi.json").status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert client.get("/api/workflows", headers=wrong).status_code == 401
        cancel = client.post(f"/api/workflows/{env.ids.active}/cancel", json={})
        assert cancel.status_code == 401 and env.status(env.ids.active) == "ACTIVE"
        assert client.get("/healthz").json() == {"status": "ok"}

        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert client.get("/api/workflows", headers=bearer).json()["total"] == 9
        # a bearer call needs no JSON type: no browser sends that header on its own
        done = client.post(f"/api/workflows/{env.ids.active}/cancel", headers=bearer)
        assert done.status_code == 200 and done.json()["status"] == "CANCELLED"

        csrf = csrf_of(client, "/login")
        refused = client.post("/login", data={"csrf_token": csrf, "token": "guess"})
        assert refused.status_code == 401 and "wrong token" in refused.text
        assert SESSION_COOKIE not in client.cookies
        logged_in = client.post("/login", data={"csrf_token": csrf, "token": TOKEN})
        assert logged_in.status_code == 303
        assert client.cookies[SESSION_COOKIE] != TOKEN  # an HMAC of it, not the token
        assert client.get("/").status_code == 200
        csrf = csrf_of(client, "/")
        assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
        assert client.get("/").status_code == 401
        for blank in (" ", ""):
            refused = client.post("/login", data={"csrf_token": csrf, "token": blank})
            assert refused.status_code == 401 and SESSION_COOKIE not in client.cookies
        pasted = client.post("/login", data={"csrf_token": csrf, "token": f" {TOKEN}\n"})
        assert pasted.status_code == 303  # the whitespace around it is not the token's


def test_auth__the_token_is_stripped_and_a_blank_or_short_one_refused(project: Path) -> None:
    env = Env(project, token=f"  {TOKEN}\n")  # as an env file may give it
    with TestClient(env.app, base_url=BASE, follow_redirects=False) as client:
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert client.get("/api/workflows", headers=bearer).status_code == 200
        assert client.get("/api/workflows", headers={"Authorization": "Bearer "}).status_code == 401
    for token in (" ", "", "too-short"):
        with pytest.raises(ValueError, match="the token"):
            Env(project, token=token)


def test_host_header__must_name_this_machine_without_a_token(project: Path) -> None:
    env = Env(project)
    with TestClient(env.app, base_url="http://evil.example") as client:
        assert client.get("/").status_code == 400
        assert client.get("/api/workflows").status_code == 400
    with TestClient(env.app, base_url="http://127.0.0.1:8080") as client:
        assert client.get("/").status_code == 200
    guarded = Env(project, token=TOKEN, host="0.0.0.0")
    with TestClient(guarded.app, base_url="http://dashboard.internal") as client:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        assert client.get("/api/workflows", headers=headers).status_code == 200


def test_openapi__documents_every_route_and_model(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]) == {
        "/api/workflows",
        "/api/workflows/{workflow_id}",
        *(
            f"/api/workflows/{{workflow_id}}/{a}"
            for a in ("resume", "approve", "reject", "retry", "cancel")
        ),
    }
    schemas = spec["components"]["schemas"]
    assert {"WorkflowList", "WorkflowDetail", "ActionResult", "ResumeRequest"} <= set(schemas)
    assert "404" in spec["paths"]["/api/workflows/{workflow_id}"]["get"]["responses"]
    assert "404" not in spec["paths"]["/api/workflows"]["get"]["responses"]  # no id to miss
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            answers = operation["responses"]
            assert {"200", "401", "503"} <= set(answers), (method, path)  # 503: the store failed
            assert "store failed" in answers["503"]["description"]
    assert client.get("/docs").status_code == 404  # no page that loads scripts from a CDN


def test_metrics__served_with_the_token_and_counting_the_dashboards_actions(
    project: Path,
) -> None:
    pytest.importorskip("prometheus_client")
    store = InMemoryPersistenceProvider()
    ids = asyncio.run(seed(store, project))
    app = create_app(DashboardSettings(token=TOKEN), store=store)  # its own builder, observed
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(app, base_url=BASE) as client:
        assert client.get("/metrics").status_code == 401
        done = client.post(f"/api/workflows/{ids.active}/cancel", headers=bearer)
        assert done.json()["status"] == "CANCELLED"
        metrics = client.get("/metrics", headers=bearer)
        assert metrics.status_code == 200 and metrics.headers["content-type"].startswith(
            "text/plain"
        )
        changes = [
            line
            for line in metrics.text.splitlines()
            if line.startswith("ruvon_workflow_status_changes_total")
            and 'workflow_type="PaymentProcessing"' in line
            and "CANCELLED" in line
        ]
        assert changes and float(changes[0].rsplit(" ", 1)[1]) >= 1


def test_a_parent_whose_child_waits__takes_the_childs_input_through_its_form() -> None:
    """docs/examples/subworkflow: order A-3's payment waits for a fraud review; the parent's
    page offers the child's form, and resuming the parent finishes both."""
    example = Path(__file__).resolve().parents[2] / "docs" / "examples" / "subworkflow"
    store = InMemoryPersistenceProvider()
    with importable(example):
        builder = WorkflowBuilder(config_dir=example / "config", persistence_provider=store)

        async def start() -> str:
            order = await builder.create_workflow("Order", {"order_id": "A-3", "amount": 5000})
            await order.run()
            return order.id

        order_id = asyncio.run(start())
        app = create_app(store=store, builder=builder)
        with TestClient(app, base_url=BASE, follow_redirects=False) as client:
            detail = client.get(f"/api/workflows/{order_id}").json()
            assert detail["status"] == "WAITING_CHILD_HUMAN_INPUT"
            child = detail["waiting_for"]["waiting"]
            assert child["step"] == "Fraud_Check" and child["status"] == "WAITING_HUMAN"
            assert child["workflow_id"] == detail["waiting_for"]["child_workflow_id"]
            page = client.get(f"/workflows/{order_id}").text
            assert 'name="input.reviewer"' in page and '<select name="input.approve"' in page
            form = {"input.reviewer": "dora", "input.approve": "true"}
            form["csrf_token"] = csrf_of(client, f"/workflows/{order_id}")
            answer = client.post(f"/workflows/{order_id}/resume", data=form)
            assert answer.status_code == 303
            assert client.get(f"/api/workflows/{order_id}").json()["status"] == "COMPLETED"
            payment = client.get(f"/api/workflows/{child['workflow_id']}").json()
            assert payment["status"] == "COMPLETED" and payment["state"]["reviewed_by"] == "dora"


# --- a form with a JSON field and enums ---------------------------------------------------------

FORM_STEPS = """\
import enum

from pydantic import BaseModel


class Color(str, enum.Enum):
    red = "red"
    blue = "blue"


class Level(enum.IntEnum):
    low = 1
    high = 2


class Picked(BaseModel):
    picked: dict = {}


class Pick(BaseModel):
    label: str = ""
    tags: list = []
    color: Color = Color.red
    level: Level = Level.low


def pick(state, context, **values):
    return {"picked": values}
"""

FORM_YAML = """\
workflow_type: FormKinds
initial_state_model: form_steps.Picked
steps:
  - name: Pick
    type: HUMAN_IN_LOOP
    function: form_steps.pick
    input_model: form_steps.Pick
"""


class FormEnv:
    """A workflow waiting at a HUMAN_IN_LOOP step whose input_model is form_steps.Pick: a
    string, a list (a JSON text area), a str Enum and an IntEnum."""

    def __init__(self, directory: Path) -> None:
        self.store = InMemoryPersistenceProvider()
        builder = WorkflowBuilder(config_dir=directory / "config", persistence_provider=self.store)

        async def start() -> str:
            wf = await builder.create_workflow("FormKinds", {})
            await wf.run()
            return wf.id

        self.id = asyncio.run(start())
        self.app = create_app(store=self.store, builder=builder)

    def written(self) -> tuple[str, int, int]:
        """The status and how many attempts and status changes the store holds."""
        record = asyncio.run(self.store.load_workflow(self.id))
        history = asyncio.run(self.store.step_history(self.id))
        audit = asyncio.run(self.store.audit_log(self.id))
        return record.status.value, len(history), len(audit)


@pytest.fixture(scope="module")
def form_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("dashboard_forms")
    (directory / "config").mkdir()
    (directory / "form_steps.py").write_text(FORM_STEPS, encoding="utf-8")
    (directory / "config" / "forms.yaml").write_text(FORM_YAML, encoding="utf-8")
    with importable(directory):
        yield directory


def _nested(depth: int) -> str:
    """A JSON list nested ``depth`` levels deep, as text."""
    return "[" * depth + "]" * depth


def _nested_list(depth: int) -> list[object]:
    value: list[object] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_resume__json_nested_too_deep_is_refused_and_nothing_written(form_project: Path) -> None:
    env = FormEnv(form_project)
    before = env.written()
    assert before[0] == "WAITING_HUMAN"
    with TestClient(env.app, base_url=BASE, follow_redirects=False) as client:
        csrf = csrf_of(client, f"/workflows/{env.id}")
        # deeper than Python's json parser goes, then deeper than the dashboard takes
        for tags, problem in (
            (_nested(5000), "tags: the JSON is nested too deeply"),
            (_nested(100), "the input is nested more than 64 levels deep"),
        ):
            form = {"csrf_token": csrf, "input.label": "x", "input.tags": tags}
            answer = client.post(f"/workflows/{env.id}/resume", data=form)
            assert answer.status_code == 422, answer.text[:300]
            assert problem in answer.text and 'role="alert"' in answer.text
            assert env.written() == before
        deep = client.post(
            f"/api/workflows/{env.id}/resume", json={"input": {"tags": _nested_list(100)}}
        )
        assert deep.status_code == 422
        assert deep.json()["detail"] == "the input is nested more than 64 levels deep"
        unparsable = client.post(
            f"/api/workflows/{env.id}/resume",
            content='{"input": {"tags": ' + _nested(5000) + "}}",
            headers={"Content-Type": "application/json"},
        )
        assert unparsable.status_code == 400  # FastAPI: the body can not be parsed
        assert env.written() == before
        ok = {"csrf_token": csrf, "input.label": "x", "input.tags": _nested(60)}
        assert client.post(f"/workflows/{env.id}/resume", data=ok).status_code == 303
        assert env.written()[0] == "COMPLETED"


def test_actions__a_nul_character_is_refused_before_anything_is_written(
    form_project: Path,
) -> None:
    env = FormEnv(form_project)
    before = env.written()
    with TestClient(env.app, base_url=BASE, follow_redirects=False) as client:
        csrf = csrf_of(client, f"/workflows/{env.id}")
        form = {"csrf_token": csrf, "input.label": "a\x00b"}
        answer = client.post(f"/workflows/{env.id}/resume", data=form)
        assert answer.status_code == 422
        assert "the input holds a NUL character" in answer.text
        api = client.post(f"/api/workflows/{env.id}/resume", json={"input": {"a\x00": 1}})
        assert api.status_code == 422 and "NUL" in api.json()["detail"]
        cancel = client.post(f"/api/workflows/{env.id}/cancel", json={"reason": "r\x00"})
        assert cancel.status_code == 422
        assert cancel.json()["detail"] == "the reason holds a NUL character: no store keeps one"
        assert env.written() == before


def test_resume__an_enum_field_is_a_choice_and_its_value_goes_back(form_project: Path) -> None:
    env = FormEnv(form_project)
    with TestClient(env.app, base_url=BASE, follow_redirects=False) as client:
        page = client.get(f"/workflows/{env.id}").text
        color = re.search(r'<select name="input\.color"[^>]*>(.*?)</select>', page, re.S)
        level = re.search(r'<select name="input\.level"[^>]*>(.*?)</select>', page, re.S)
        assert color and level, page
        assert re.findall(r"<option[^>]*>([^<]*)</option>", color.group(1)) == ["—", "red", "blue"]
        assert "<option selected>red</option>" in color.group(1)  # the default
        assert "<option selected>1</option>" in level.group(1)
        csrf = csrf_of(client, f"/workflows/{env.id}")
        wrong = {"csrf_token": csrf, "input.color": "green"}
        answer = client.post(f"/workflows/{env.id}/resume", data=wrong)
        assert answer.status_code == 422 and "color: choose one of red, blue" in answer.text
        form = {"csrf_token": csrf, "input.color": "blue", "input.level": "2"}
        assert client.post(f"/workflows/{env.id}/resume", data=form).status_code == 303
        state = client.get(f"/api/workflows/{env.id}").json()["state"]
        assert state["picked"] == {"color": "blue", "level": 2}  # the values the model made
