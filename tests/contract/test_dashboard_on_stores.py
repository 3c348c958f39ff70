"""The dashboard's answers to values no store can take, on every store: an offset beyond a
64-bit integer, a NUL in a workflow id or in the type filter. Each is a client's mistake
(400, 404, 422 or an empty list), never a database error (503) nor a crash (500).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from contract_helpers import record

from ruvon.builder import WorkflowBuilder
from ruvon.dashboard import DashboardSettings, create_app
from ruvon.dashboard.service import MAX_OFFSET
from ruvon.providers.persistence import PersistenceProvider

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

BASE = "http://localhost"


@pytest.fixture
async def client(store: PersistenceProvider, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    await store.create_workflow(record("wf-1", workflow_type="T"))
    builder = WorkflowBuilder(config_dir=tmp_path, persistence_provider=store)
    app = create_app(DashboardSettings(), store=store, builder=builder)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        yield c


async def test_dashboard__an_offset_beyond_64_bits_is_a_bad_value(
    client: httpx.AsyncClient,
) -> None:
    for offset in (MAX_OFFSET + 1, 10**20):
        api = await client.get("/api/workflows", params={"offset": offset})
        assert api.status_code == 422, api.text
        page = await client.get("/", params={"offset": offset})
        assert page.status_code == 400, page.text
        assert "offset must be 0 to" in page.text
    last = await client.get("/api/workflows", params={"offset": MAX_OFFSET})
    assert last.status_code == 200, last.text
    assert last.json()["items"] == [] and last.json()["total"] == 1
    assert (await client.get("/", params={"offset": MAX_OFFSET})).status_code == 200


async def test_dashboard__a_nul_in_a_workflow_id_is_not_found(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/workflows/a%00b")).status_code == 404
    assert (await client.get("/workflows/a%00b")).status_code == 404
    for action in ("cancel", "retry"):
        answer = await client.post(f"/api/workflows/a%00b/{action}", json={})
        assert answer.status_code == 404, answer.text
    page = await client.get("/workflows/wf-1")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert csrf, page.text
    form = await client.post("/workflows/a%00b/cancel", data={"csrf_token": csrf.group(1)})
    assert form.status_code == 404, form.text


async def test_dashboard__a_nul_in_the_type_filter_matches_nothing(
    client: httpx.AsyncClient,
) -> None:
    api = await client.get("/api/workflows", params={"type": "T\x00"})
    assert api.status_code == 200, api.text
    assert api.json()["items"] == [] and api.json()["total"] == 0
    page = await client.get("/", params={"type": "T\x00"})
    assert page.status_code == 200, page.text
    assert 'data-id="wf-1"' not in page.text
    assert 'data-id="wf-1"' in (await client.get("/", params={"type": "T"})).text
