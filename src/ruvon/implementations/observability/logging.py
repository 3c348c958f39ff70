"""An observer that writes events through the standard :mod:`logging` module."""

from __future__ import annotations

import logging

from ruvon.providers.observer import EventKind, WorkflowEvent

# A step failure is logged once, at ERROR, by its step_failed event; the workflow-level
# events that follow it are INFO so the same failure is not reported twice.
_FAILURES = frozenset({EventKind.STEP_FAILED, EventKind.COMPENSATION_FAILED})
_WARNINGS = frozenset({EventKind.STEP_RETRIED, EventKind.WORKFLOW_ROLLED_BACK})


_LEVELS: dict[EventKind, int] = {
    kind: logging.ERROR
    if kind in _FAILURES
    else logging.WARNING
    if kind in _WARNINGS
    else logging.DEBUG
    if kind in (EventKind.STEP_STARTED, EventKind.STEP_COMPLETED, EventKind.STATUS_CHANGED)
    else logging.INFO
    for kind in EventKind
}


def level_of(kind: EventKind) -> int:
    """The logging level events of ``kind`` are written at."""
    return _LEVELS[kind]


def reaches_a_handler(logger: logging.Logger, level: int) -> bool:
    """Whether a record at ``level`` would reach a handler that writes it somewhere.

    Walks the handlers as :meth:`logging.Logger.callHandlers` would, ``logging.lastResort``
    included (it writes when the walk finds no handler at all). ``NullHandler`` does not count:
    Ruvon's package logger has one, so without this check every warning and error would build
    a record for nobody when the application has not configured logging.
    """
    found = 0
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            found += 1
            if level >= handler.level and not isinstance(handler, logging.NullHandler):
                return True
        if not current.propagate:
            break
        current = current.parent
    last = logging.lastResort
    return found == 0 and last is not None and level >= last.level


class LoggingObserver:
    """Logs each event on ``logger`` (default ``ruvon.workflow``) at a level that fits it.

    Nothing reaches stdout: Ruvon's package logger has a ``NullHandler``, so events show only
    where the application configured logging.
    """

    def __init__(self, logger: logging.Logger | str = "ruvon.workflow") -> None:
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger

    def wants(self, kind: EventKind) -> bool:
        level = _LEVELS[kind]
        return self.logger.isEnabledFor(level) and reaches_a_handler(self.logger, level)

    async def on_event(self, event: WorkflowEvent) -> None:
        parts = [f"{event.kind.value} workflow={event.workflow_id} type={event.workflow_type}"]
        if event.step_name is not None:
            parts.append(f"step={event.step_name}")
        if event.attempt is not None:
            parts.append(f"attempt={event.attempt}")
        parts.append(f"status={event.status}")
        if event.duration_ms is not None:
            parts.append(f"duration_ms={event.duration_ms:.2f}")
        if event.error is not None:
            parts.append(f"error={event.error.type}: {event.error.message}")
        # makeRecord + handle rather than log(): the caller's file and line would name this
        # method, and looking them up (findCaller walks the stack) is most of a log call's cost
        logger = self.logger
        record = logger.makeRecord(
            logger.name,
            _LEVELS[event.kind],
            __file__,
            0,
            " ".join(parts),
            (),
            None,
            "on_event",
        )
        logger.handle(record)
