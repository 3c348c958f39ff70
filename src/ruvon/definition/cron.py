"""Cron expressions: checked when a definition loads, and the tick arithmetic of schedules.

An expression is what ``croniter`` accepts: five fields (minute, hour, day of month, month,
day of week), a sixth field for seconds (``* * * * * */5``: every five seconds), or a macro
(``@hourly``, ``@daily``). Ticks are evaluated in UTC and handled as POSIX timestamps.

``croniter`` is imported on first use, not when the definition layer is imported: most
definitions have no schedule.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator

# a fixed start for the load-time check, so that it does not depend on the clock
_CHECK_FROM = datetime(2000, 1, 1, tzinfo=UTC)
_EPSILON = timedelta(microseconds=1)


def _croniter(expression: str, start: datetime) -> Any:
    from croniter import croniter

    return croniter(expression, start)


def check_cron(expression: str) -> str:
    """The expression with its whitespace normalized, or ``ValueError`` saying why croniter
    refuses it (also for an expression that never fires, such as February 30th)."""
    text = " ".join(expression.split())
    if not text:
        raise ValueError("a cron expression must not be empty")
    try:
        _croniter(text, _CHECK_FROM).get_next(datetime)
    except (ValueError, KeyError, IndexError, TypeError) as exc:  # croniter's errors are
        # ValueErrors; its parser lets a few others escape on odd input
        raise ValueError(f"cron expression {expression!r} is not valid: {exc}") from exc
    return text


CronExpression = Annotated[str, AfterValidator(check_cron)]
"""A definition field holding a cron expression, checked at load."""


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def next_tick(expression: str, after: float) -> float:
    """The first tick strictly after ``after``."""
    tick: datetime = _croniter(expression, _at(after)).get_next(datetime)
    return tick.timestamp()


def latest_tick(expression: str, at_or_before: float) -> float:
    """The last tick at or before ``at_or_before`` (croniter's ``get_prev`` is strictly
    before its start, hence the microsecond)."""
    tick: datetime = _croniter(expression, _at(at_or_before) + _EPSILON).get_prev(datetime)
    return tick.timestamp()


def tick_label(tick: float) -> str:
    """A tick as ISO 8601 text in UTC (``2024-05-01T12:00:00+00:00``): part of the
    idempotency key of the workflow the tick starts."""
    return _at(tick).isoformat()
