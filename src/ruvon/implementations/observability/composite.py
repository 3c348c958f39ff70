"""An observer that hands each event to several others (logs, metrics and traces at once)."""

from __future__ import annotations

import logging
from typing import Any

from ruvon.providers.observer import EventKind, WorkflowEvent, WorkflowObserver

log = logging.getLogger("ruvon.observer")


class CompositeObserver:
    """Sends each event to every observer given that wants its kind, in the order given.

    One observer's exception, in ``wants`` as in ``on_event``, is logged and skips that
    observer only: the others still get the event (and, as with any observer, the workflow
    does not fail). A recovery report goes to each observer that has ``on_recovery``
    (:class:`~ruvon.providers.observer.RecoveryObserver`).
    """

    def __init__(self, *observers: WorkflowObserver) -> None:
        self.observers: tuple[WorkflowObserver, ...] = observers

    def wants(self, kind: EventKind) -> bool:
        for observer in self.observers:
            try:
                if observer.wants(kind):
                    return True
            except Exception:  # build the event: on_event logs the failure and skips it
                return True
        return False

    async def on_event(self, event: WorkflowEvent) -> None:
        for observer in self.observers:
            try:
                wanted = observer.wants(event.kind)
            except Exception:  # as in on_event: one observer's bug must not starve the others
                log.exception("%s.wants failed on %s", type(observer).__name__, event.kind.value)
                continue
            if not wanted:
                continue
            try:
                await observer.on_event(event)
            except Exception:  # one observer's bug must not starve the others
                log.exception("%s failed on %s", type(observer).__name__, event.kind.value)

    async def on_recovery(self, report: Any) -> None:
        for observer in self.observers:
            on_recovery = getattr(observer, "on_recovery", None)
            if on_recovery is None:
                continue
            try:
                await on_recovery(report)
            except Exception:
                log.exception("%s failed on a recovery report", type(observer).__name__)
