"""The dashboard in a real browser: Playwright drives Debian's Chromium against a real
``ruvon serve --token`` process on a SQLite file seeded with the saga tutorial's workflows
(tests/dashboard_support.py).

Each test takes a screenshot of the page it ends on. They go to the test's temporary directory;
with ``RUVON_SCREENSHOTS=update`` they replace the ones kept in ``tests/artifacts/dashboard/``
(the README shows one). Chromium is installed by ``make test`` (``apt-get install chromium``);
without it these tests are skipped, except on CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dashboard_support import Seeded, make_app_dir, seed
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider

pytestmark = pytest.mark.slow

TOKEN = "browser-test-token"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "dashboard"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        _unavailable("no chromium on PATH (make test installs Debian's: apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError as exc:  # pragma: no cover - playwright is a dev dependency
        _unavailable(f"playwright is not installed: {exc}")
    return str(path)


@dataclass(slots=True)
class Server:
    url: str
    ids: Seeded
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"ruvon serve exited {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"ruvon serve did not answer in 30 s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Iterator[Server]:
    """``ruvon serve`` over a seeded SQLite file, run from the project's directory."""
    directory = tmp_path_factory.mktemp("dashboard_project")
    make_app_dir(directory)
    db = directory / "ruvon.db"

    async def seeded() -> Seeded:
        store = SQLitePersistenceProvider(str(db))
        try:
            return await seed(store, directory)
        finally:
            await store.close()

    ids = asyncio.run(seeded())
    port = _free_port()
    log = directory / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUVON_")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ruvon.cli", "serve", "--db", f"sqlite:///{db}",
             "--config-dir", "config", "--port", str(port), "--token", TOKEN],
            cwd=directory,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, proc, log)
        yield Server(url, ids, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser(chromium: str, server: Server) -> Iterator[object]:
    """Chromium, started after the server (Playwright's sync API keeps an event loop running
    in this thread, and the server's seeding runs one of its own)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: object, server: Server) -> Iterator[object]:
    """A logged-in page (its own browser context: its own cookies)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(server.url + "/")
    page.fill("input[name=token]", TOKEN)
    page.click("form[action='/login'] button")
    page.wait_for_url(server.url + "/")
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def shot(request: pytest.FixtureRequest, tmp_path: Path):
    """``shot(page, name)``: a full-page screenshot (kept in tests/artifacts/ on demand)."""
    keep = os.environ.get("RUVON_SCREENSHOTS") == "update"
    folder = ARTIFACTS if keep else tmp_path
    folder.mkdir(parents=True, exist_ok=True)

    def take(page: object, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        assert path.stat().st_size > 10_000
        return path

    return take


def test_browser__requests_without_the_token_are_refused(browser, server: Server, shot) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 700})
    try:
        page = context.new_page()
        answer = page.goto(server.url + "/")
        assert answer.status == 401 and page.locator("h1").inner_text() == "Log in"
        shot(page, "login")
        assert context.request.get(server.url + "/api/workflows").status == 401
        api = context.request.post(
            f"{server.url}/api/workflows/{server.ids.active}/cancel", data={}
        )
        assert api.status == 401
        page.fill("input[name=token]", "not the token")
        page.click("form[action='/login'] button")
        assert page.locator("[role=alert]").inner_text() == "wrong token"
    finally:
        context.close()
    plain = httpx.get(f"{server.url}/api/workflows/{server.ids.active}")
    assert plain.status_code == 401
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    ok = httpx.get(f"{server.url}/api/workflows/{server.ids.active}", headers=bearer)
    assert ok.status_code == 200 and ok.json()["status"] == "ACTIVE"


def test_browser__list_then_filter_by_status(page, server: Server, shot) -> None:
    rows = page.locator("table.workflows tbody tr")
    assert rows.count() == 9
    assert page.locator('a.chip[data-status=""] .count').inner_text() == "9"
    shot(page, "list")
    page.click('a.chip[data-status="FAILED_ROLLED_BACK"]')
    page.wait_for_url("**/?status=FAILED_ROLLED_BACK")
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.id)")) == sorted(
        server.ids.rolled_back
    )
    assert page.locator("a.chip.on").get_attribute("data-status") == "FAILED_ROLLED_BACK"
    shot(page, "list-filtered")
    page.fill("input[name=type]", "PaymentReview")
    page.click("form.type-filter button")
    page.wait_for_url("**/?status=FAILED_ROLLED_BACK&type=PaymentReview")
    assert page.locator("table.workflows tbody").inner_text().strip() == "No workflow matches."


def test_browser__a_rolled_back_workflow_shows_its_compensations_in_order(
    page, server: Server, shot
) -> None:
    page.click('a.chip[data-status="FAILED_ROLLED_BACK"]')
    wid = server.ids.rolled_back[0]
    page.click(f'a.wid[href="/workflows/{wid}"]')
    page.wait_for_url(f"**/workflows/{wid}")
    assert page.locator("#status").inner_text() == "FAILED_ROLLED_BACK"
    functions = page.locator("#compensations .comp-function").all_inner_texts()
    assert functions == [
        "payment_processor.steps.cancel_shipment",
        "payment_processor.steps.release_inventory",
        "payment_processor.steps.refund_payment",
        "payment_processor.steps.cancel_order",
    ]
    statuses = page.locator("#compensations .badge").all_inner_texts()
    assert statuses == ["SKIPPED", "COMPLETED", "COMPLETED", "COMPLETED"]
    marks = page.locator("#graph li.step").evaluate_all("ls => ls.map(l => l.dataset.mark)")
    assert marks == ["compensated", "compensated", "compensated", "failed"]
    assert "Carrier API unavailable" in page.locator("#error").inner_text()
    shot(page, "workflow-rolled-back")


def test_browser__resume_a_waiting_workflow_through_its_form(page, server: Server, shot) -> None:
    wid = server.ids.waiting
    page.goto(f"{server.url}/workflows/{wid}")
    assert page.locator("#status").inner_text() == "WAITING_HUMAN"
    assert page.locator("#graph li.current .name").inner_text() == "Fraud_Review"
    shot(page, "workflow-waiting")
    page.fill('input[name="input.reviewer"]', "ann")
    page.select_option('select[name="input.approve"]', "true")
    page.fill('input[name="input.risk_score"]', "7")
    page.click("#resume-form button[type=submit]")
    page.wait_for_url(f"**/workflows/{wid}?done=resume")
    assert page.locator("#notice").inner_text() == "Resumed with the input."
    assert page.locator("#status").inner_text() == "COMPLETED"
    steps = page.locator("#timeline tbody tr td:nth-child(2)").all_inner_texts()
    assert steps == ["Create_Order", "Fraud_Review", "Charge_Payment"]
    assert "reviewed by ann (risk 7)" in page.locator("#timeline").inner_text()
    shot(page, "workflow-resumed")


def test_browser__approve_a_compensation(page, server: Server, shot) -> None:
    wid = server.ids.approval
    page.goto(f"{server.url}/workflows/{wid}")
    assert page.locator("#status").inner_text() == "WAITING_COMPENSATION_APPROVAL"
    assert "Charge_Payment waits for approval" in page.locator("#approval-form").inner_text()
    shot(page, "workflow-approval")
    page.fill('#approval-form input[name="decided_by"]', "ops@example.com")
    page.fill('#approval-form input[name="reason"]', "refund by hand")
    page.click("#approval-form button:has-text('Approve compensation')")
    page.wait_for_url(f"**/workflows/{wid}?done=approve")
    assert page.locator("#status").inner_text() == "FAILED_ROLLED_BACK"
    steps = page.locator("#compensations .comp-step").all_inner_texts()
    assert steps == ["Create_Shipment", "Reserve_Inventory", "Charge_Payment", "Create_Order"]
    charge = page.locator("#compensations tr", has_text="Charge_Payment").inner_text()
    assert "compensation approved by ops@example.com: refund by hand" in charge
    shot(page, "workflow-approved")


def test_browser__cancel_a_running_workflow(page, server: Server, shot) -> None:
    wid = server.ids.active
    page.goto(f"{server.url}/workflows/{wid}")
    assert page.locator("#status").inner_text() == "ACTIVE"
    page.fill('#cancel-form input[name="reason"]', "customer called")
    page.click("#cancel-form button")
    page.wait_for_url(f"**/workflows/{wid}?done=cancel")
    assert page.locator("#status").inner_text() == "CANCELLED"
    assert "customer called" in page.locator("#audit").inner_text()
    assert page.locator("#actions").count() == 0
    shot(page, "workflow-cancelled")
