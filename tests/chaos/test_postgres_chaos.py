"""Chaos: the PostgreSQL server restarted, then stopped, while ~50 workflows run on the engine.

The workflows (a small YAML definition, plain and in saga mode, some failing on purpose) run
on one store of a private cluster. Part-way, the server is restarted (``fast``) and then killed
(``immediate``) and kept down for a while. What must hold: callers see only Ruvon errors
(``PersistenceError`` for the store); the same store object works again once the server is
back; after the leases expired, ``builder.recover()`` brings every workflow to the final state
its data calls for, each step's effect in the state exactly once, and no workflow is lost.

``RUVON_CHAOS_WORKFLOWS`` (default 50) and ``RUVON_CHAOS_OUTAGE`` (seconds down, default 2)
make a longer run.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import chaos_steps
import pytest
from pg_cluster import PrivateCluster

from ruvon.builder import WorkflowBuilder
from ruvon.errors import PersistenceError, RuvonError
from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider
from ruvon.models import CompensationStatus, WorkflowStatus

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

WORKFLOWS = int(os.environ.get("RUVON_CHAOS_WORKFLOWS", "50"))
OUTAGE = float(os.environ.get("RUVON_CHAOS_OUTAGE", "2"))
LEASE = 1.0
STEPS = ["A", "B", "C", "D", "E", "F"]
FORWARD = STEPS[:4]  # what runs before a failure at E
ROLLED_BACK = [*FORWARD, *(f"undo:{s}" for s in reversed(FORWARD))]

# workflow type, step that fails -> final status, final state.log
KINDS: list[tuple[str, str | None, WorkflowStatus, list[str]]] = [
    ("Chaos", None, WorkflowStatus.COMPLETED, STEPS),
    ("ChaosSaga", None, WorkflowStatus.COMPLETED, STEPS),
    ("ChaosSaga", "E", WorkflowStatus.FAILED_ROLLED_BACK, ROLLED_BACK),
    ("Chaos", "E", WorkflowStatus.FAILED, FORWARD),
]


def _write_definitions(config: Path) -> None:
    config.mkdir()
    steps = "".join(
        f"  - name: {name}\n"
        "    function: chaos_steps.work\n"
        "    compensate_function: chaos_steps.undo\n"
        "    automate_next: true\n"
        for name in STEPS
    )
    for wf_type, saga in (("Chaos", "false"), ("ChaosSaga", "true")):
        (config / f"{wf_type}.yaml").write_text(
            f"workflow_type: {wf_type}\n"
            "workflow_version: '1'\n"
            "initial_state_model: chaos_steps.Order\n"
            f"saga_mode: {saga}\n"
            f"steps:\n{steps}"
        )


async def _create(builder: WorkflowBuilder, i: int) -> Any:
    wf_type, fail_at, _, _ = KINDS[i % len(KINDS)]
    return await builder.create_workflow(
        wf_type, {"fail_at": fail_at}, idempotency_key=f"chaos-{i}"
    )


async def _until_it_works(store: PostgresPersistenceProvider, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            await store.list_workflows(limit=1)
            return
        except PersistenceError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def _recover_all(builder: WorkflowBuilder, store: PostgresPersistenceProvider) -> None:
    deadline = time.monotonic() + 30
    while await store.find_recoverable(time.time() + LEASE + 0.5):
        assert time.monotonic() < deadline, "workflows still waiting for recovery"
        if not await store.find_recoverable(time.time()):
            await asyncio.sleep(0.1)  # a lease not expired yet
            continue
        await builder.recover(persistence_provider=store)


async def test_restart_and_outage_with_workflows_in_flight__recovery_finishes_every_one(
    pg_cluster: PrivateCluster, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chaos_steps, "DELAY", 0.25)  # six steps: ~1.5 s a workflow
    _write_definitions(tmp_path / "config")
    store = PostgresPersistenceProvider(pg_url, max_size=10, connect_timeout=2.0)
    builder = WorkflowBuilder(
        config_dir=tmp_path / "config", persistence_provider=store, lease_seconds=LEASE
    )
    await store.initialize()
    seen: list[BaseException] = []
    down_error: list[BaseException] = []

    async def drive(i: int) -> None:
        await asyncio.sleep(i * 0.01)
        try:
            wf = await _create(builder, i)
            await wf.run()
        except Exception as exc:  # what a caller sees; checked below
            seen.append(exc)

    async def faults() -> None:
        await asyncio.sleep(0.4)
        await asyncio.to_thread(pg_cluster.restart, "fast")
        await asyncio.sleep(0.5)
        await asyncio.to_thread(pg_cluster.stop, "immediate")
        try:
            await store.list_workflows(limit=1)
        except Exception as exc:
            down_error.append(exc)
        await asyncio.sleep(OUTAGE)
        await asyncio.to_thread(pg_cluster.start)

    try:
        await asyncio.wait_for(
            asyncio.gather(faults(), *(drive(i) for i in range(WORKFLOWS))), 60 + OUTAGE
        )
        monkeypatch.setattr(chaos_steps, "DELAY", 0.0)

        raw = [e for e in seen if not isinstance(e, RuvonError)]
        assert not raw, raw[:3]
        assert any(isinstance(e, PersistenceError) for e in seen)  # the faults were felt
        assert len(down_error) == 1 and isinstance(down_error[0], PersistenceError)

        await _until_it_works(store)  # the same store object, not reopened
        # the program goes on: it creates what it could not create (same idempotency keys)
        # and starts what was created but never started; recovery continues the rest
        created = [await _create(builder, i) for i in range(WORKFLOWS)]
        await asyncio.sleep(LEASE + 0.2)  # every lease taken before has expired
        for wf in created:
            if wf.version == 0:
                await (await builder.load_workflow(wf.id)).run()
        ids = [wf.id for wf in created]
        await _recover_all(builder, store)

        for i, wid in enumerate(ids):
            _, _, status, log = KINDS[i % len(KINDS)]
            wf = await builder.load_workflow(wid)
            assert (wf.status, wf.state.log) == (status, log), f"workflow {i}"
            row = await store.load_workflow(wid)
            assert row.lease_owner is None
            if status is WorkflowStatus.FAILED_ROLLED_BACK:
                journal = await store.compensation_journal(wid)
                # the failed step has nothing to undo (recorded as skipped), then the others
                assert [(c.step_name, c.status) for c in journal] == [
                    ("E", CompensationStatus.SKIPPED),
                    *((s, CompensationStatus.COMPLETED) for s in reversed(FORWARD)),
                ]
        assert len(await store.list_workflows(limit=10 * WORKFLOWS)) == WORKFLOWS
    finally:
        if not pg_cluster.running():
            await asyncio.to_thread(pg_cluster.start)
        await asyncio.wait_for(store.close(), 10)
