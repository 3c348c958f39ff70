"""Recovery hands each pass's report to the builder's observer when it has ``on_recovery``."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

import flow_steps
from flow_support import flow, step
from ruvon.providers.observer import EventKind, RecoveryObserver, WorkflowEvent
from ruvon.recovery import RecoveryReport, recover_pass
from ruvon.status import WorkflowStatus as S


class Counting:
    """Wants no events; keeps the recovery reports it is given."""

    def __init__(self, fail: bool = False) -> None:
        self.reports: list[RecoveryReport] = []
        self.fail = fail

    def wants(self, kind: EventKind) -> bool:
        return False

    async def on_event(self, event: WorkflowEvent) -> None:
        return None

    async def on_recovery(self, report: Any) -> None:
        self.reports.append(report)
        if self.fail:
            raise RuntimeError("observer bug")


async def _abandoned(observer: Counting) -> tuple[Any, str]:
    """A builder and a workflow whose process died in its second step, its lease run out."""
    b = flow(step("A"), step("Dies", "flow_steps.take_input_or_die"), step("After"))
    b.workflow_observer = observer
    b.lease_seconds = 0.05
    wf = await b.create_workflow("F")
    flow_steps.INTERRUPT_ONCE.add(wf.id)
    with pytest.raises(KeyboardInterrupt):
        await wf.next_step()
    row = await b.persistence_provider.load_workflow(wf.id)
    assert row.status is S.ACTIVE
    await asyncio.sleep(max(0.0, (row.lease_expires_at or 0) - time.time()) + 0.02)
    return b, wf.id


async def test_recovery_observer__gets_the_report_of_each_pass() -> None:
    obs = Counting()
    assert isinstance(obs, RecoveryObserver)
    b, wid = await _abandoned(obs)
    report = await recover_pass(b, b.persistence_provider)
    assert obs.reports == [report] and report.continued == [wid]
    await recover_pass(b, b.persistence_provider)  # nothing left: an empty report, still told
    assert len(obs.reports) == 2 and obs.reports[1].continued == []


async def test_recovery_observer__a_failing_hook_is_logged_and_recovery_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    obs = Counting(fail=True)
    b, wid = await _abandoned(obs)
    with caplog.at_level(logging.ERROR, logger="ruvon.recovery"):
        assert await b.recover() == [wid]
    assert "observer failed on a recovery report" in caplog.text
    assert (await b.load_workflow(wid)).status is S.COMPLETED
