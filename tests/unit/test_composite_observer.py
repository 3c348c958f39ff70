"""CompositeObserver: several observers at once, each getting only the kinds it wants."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from engine_support import builder, st
from ruvon.implementations.observability.composite import CompositeObserver
from ruvon.implementations.observability.noop import NoopObserver
from ruvon.providers.observer import EventKind, RecoveryObserver, WorkflowEvent
from ruvon.status import WorkflowStatus as S

E = EventKind


class Picky:
    def __init__(self, kinds: set[EventKind], fail: bool = False) -> None:
        self.kinds = kinds
        self.fail = fail
        self.seen: list[tuple[EventKind, str | None]] = []
        self.reports: list[Any] = []

    def wants(self, kind: EventKind) -> bool:
        return kind in self.kinds

    async def on_event(self, event: WorkflowEvent) -> None:
        self.seen.append((event.kind, event.step_name))
        if self.fail:
            raise RuntimeError("observer bug")

    async def on_recovery(self, report: Any) -> None:
        self.reports.append(report)
        if self.fail:
            raise RuntimeError("observer bug")


async def test_composite__each_observer_gets_the_kinds_it_wants_even_after_one_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    steps = Picky({E.STEP_STARTED, E.STEP_COMPLETED}, fail=True)
    ends = Picky({E.WORKFLOW_STARTED, E.WORKFLOW_COMPLETED})
    both = CompositeObserver(steps, ends, NoopObserver())
    assert both.wants(E.STEP_STARTED) and both.wants(E.WORKFLOW_COMPLETED)
    assert not both.wants(E.STATUS_CHANGED)  # nobody wants it: the engine builds no event
    with caplog.at_level(logging.ERROR, logger="ruvon.observer"):
        wf = await builder(st("A"), st("B"), workflow_observer=both).create_workflow("T")
        assert await wf.run() is S.COMPLETED
    assert steps.seen == [
        (E.STEP_STARTED, "A"),
        (E.STEP_COMPLETED, "A"),
        (E.STEP_STARTED, "B"),
        (E.STEP_COMPLETED, "B"),
    ]
    assert ends.seen == [(E.WORKFLOW_STARTED, None), (E.WORKFLOW_COMPLETED, None)]
    assert caplog.text.count("Picky failed on step_") == 4


async def test_composite__a_recovery_report_goes_to_those_that_count_recoveries() -> None:
    failing, counting = Picky(set(), fail=True), Picky(set())
    both = CompositeObserver(failing, NoopObserver(), counting)
    assert isinstance(both, RecoveryObserver)
    await both.on_recovery("report")
    assert failing.reports == ["report"] and counting.reports == ["report"]


class WantsFails(Picky):
    """An observer whose ``wants`` raises for some kinds."""

    def __init__(self, failing: set[EventKind]) -> None:
        super().__init__(set(EventKind))
        self.failing = failing

    def wants(self, kind: EventKind) -> bool:
        if kind in self.failing:
            raise RuntimeError("observer bug in wants()")
        return True


async def test_composite__an_observer_whose_wants_raises_is_logged_and_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    flaky = WantsFails({E.STEP_FAILED, E.WORKFLOW_ROLLED_BACK})
    recorder = Picky(set(EventKind))
    alone = CompositeObserver(WantsFails({E.STEP_FAILED}))
    assert alone.wants(E.STEP_FAILED)  # the event is built: on_event logs the failure
    both = CompositeObserver(flaky, recorder)
    saga = builder(st("A"), st("B"), saga=True, workflow_observer=both)
    with caplog.at_level(logging.ERROR, logger="ruvon.observer"):
        wf = await saga.create_workflow("T", {"fail_at": ["B"]})
        assert await wf.run() is S.FAILED_ROLLED_BACK  # the unwind ran to the end
    kinds = [kind for kind, _ in recorder.seen]
    assert E.STEP_FAILED in kinds and E.WORKFLOW_ROLLED_BACK in kinds  # the others got them
    assert E.COMPENSATION_COMPLETED in kinds
    flaky_kinds = [kind for kind, _ in flaky.seen]
    assert E.STEP_FAILED not in flaky_kinds and E.COMPENSATION_COMPLETED in flaky_kinds
    assert caplog.text.count("WantsFails.wants failed on step_failed") == 1
    assert caplog.text.count("WantsFails.wants failed on workflow_rolled_back") == 1
    assert "observer bug in wants()" in caplog.text
