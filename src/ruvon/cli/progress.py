"""Live progress of a workflow the command drives: a line per step and per compensation."""

from __future__ import annotations

import os
import sys
from typing import Any

from rich.console import Console

from ruvon.cli.render import printable, scope_text
from ruvon.providers.observer import EventKind, WorkflowEvent

K = EventKind
_SHOWN = frozenset(
    {
        K.STEP_STARTED,
        K.STEP_COMPLETED,
        K.STEP_FAILED,
        K.STEP_RETRIED,
        K.COMPENSATION_STARTED,
        K.COMPENSATION_COMPLETED,
        K.COMPENSATION_FAILED,
        K.COMPENSATION_SKIPPED,
        K.PAUSED,
        K.RESUMED,
    }
)


class _Console(Console):
    """A console whose reader may go away (``ruvon start --run | head -1``): printing stops,
    the workflow it reports on goes on (rich would exit the process mid-step)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        # what else the process writes there (the steps' own prints) goes nowhere too, as
        # Python's documentation advises for a closed pipe
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream.fileno() == self.file.fileno():
                    os.dup2(devnull, stream.fileno())
            except (OSError, ValueError):  # not a real file (captured in tests)
                continue


def console(stderr: bool = False) -> Console:
    """A console as wide as the terminal, or 200 columns when the output is not one (so ids
    and table cells are not cut in files and pipes); colours only on a terminal."""
    stream = sys.stderr if stderr else sys.stdout
    return _Console(
        file=stream,
        width=None if stream.isatty() else 200,
        highlight=False,
        soft_wrap=True,
    )


def _ms(value: float | None) -> str:
    return "" if value is None else f" ({value:.0f} ms)"


def _error(event: WorkflowEvent) -> str:
    return f"{event.error.type}: {event.error.message}" if event.error else ""


class Progress:
    """A :class:`~ruvon.providers.observer.WorkflowObserver` that prints as it goes."""

    def __init__(self, out: Console | None = None) -> None:
        self.out = out or console()

    def wants(self, kind: EventKind) -> bool:
        return kind in _SHOWN

    async def on_event(self, event: WorkflowEvent) -> None:
        where = scope_text(event.scope) if event.scope else event.step_name or "?"
        if event.parent_id is not None:
            where = f"[{event.workflow_type}] {where}"
        line, style = self._line(event, where)
        self.out.print(printable(line), style=style, markup=False)

    def _line(self, event: WorkflowEvent, where: str) -> tuple[str, Any]:
        kind = event.kind
        if kind is K.STEP_STARTED:
            return f"▶ {where}", "dim"
        if kind is K.STEP_COMPLETED:
            return f"✓ {where}{_ms(event.duration_ms)}", "green"
        if kind is K.STEP_FAILED:
            return f"✗ {where} failed: {_error(event)}", "red"
        if kind is K.STEP_RETRIED:
            return f"↻ {where} attempt {event.attempt} failed ({_error(event)}), retrying", "yellow"
        if kind is K.COMPENSATION_STARTED:
            return f"↩ undoing {where}", "dim"
        if kind is K.COMPENSATION_COMPLETED:
            return f"↩ undid {where}{_ms(event.duration_ms)}", "magenta"
        if kind is K.COMPENSATION_FAILED:
            return f"↩ ✗ undoing {where} failed: {_error(event)}", "red"
        if kind is K.COMPENSATION_SKIPPED:
            detail = event.data.get("detail") or "nothing to undo"
            return f"↩ skipped {where}: {detail}", "dim"
        if kind is K.PAUSED:
            return f"⏸ {where} waits", "yellow"
        return f"▶ resumed at {where}", "dim"
