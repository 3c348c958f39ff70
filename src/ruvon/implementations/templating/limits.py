"""What one template render may cost, and the per-render budget that enforces it.

Every bounded operation of the sandbox (a loop iteration, a call, a filter, an operator that
builds a value, a write into an output buffer) asks the budget of the render in progress first,
so a template is stopped before it allocates a huge value, and after a bounded amount of work,
whatever it does. Time is checked on every step against a deadline (no signals or threads:
rendering may run on any thread).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from jinja2.exceptions import SecurityError
from jinja2.utils import Cycler, Namespace
from pydantic import BaseModel

__all__ = ["Budget", "LimitExceeded", "TemplateLimits", "budget", "measure", "render_budget"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateLimits:
    """Bounds on one render (and on the constant folding of one compile).

    Sizes are counted in characters for text and in elements for containers, a value shared
    several times inside another counting once per appearance (so ``[x, x]`` is twice ``x``).
    """

    #: Longest template text accepted, in characters (compiling takes about 1 s per 100,000).
    max_template_length: int = 100_000
    #: Longest output of one render, in characters.
    max_output_length: int = 1_000_000
    #: Largest single value (string, list, dict ...) an operation may build.
    max_value_size: int = 1_000_000
    #: Largest total size of all values and buffered output one render builds.
    max_built_size: int = 10_000_000
    #: Most steps one render may take: loop iterations, calls (macros included) and filters.
    max_steps: int = 1_000_000
    #: Longest wall-clock time of one render, in seconds.
    max_render_seconds: float = 2.0


class LimitExceeded(SecurityError):
    """A template went over one of its :class:`TemplateLimits`."""


class Budget:
    """The remaining allowance of one render; shared by everything the render calls."""

    __slots__ = ("_deadline", "built", "limits", "output", "steps")

    def __init__(self, limits: TemplateLimits) -> None:
        self.limits = limits
        self.steps = 0
        self.built = 0
        self.output = 0
        self._deadline = time.monotonic() + limits.max_render_seconds

    def step(self) -> None:
        """Count one loop iteration, call or filter, and check the clock."""
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise LimitExceeded(
                f"the template takes more than {self.limits.max_steps} steps "
                "(loop iterations, calls and filters)"
            )
        if time.monotonic() > self._deadline:
            raise LimitExceeded(
                f"rendering takes longer than {self.limits.max_render_seconds} seconds"
            )

    def write(self, size: int) -> None:
        """Count ``size`` characters of output."""
        self.output += size
        if self.output > self.limits.max_output_length:
            raise LimitExceeded(
                f"the output is longer than {self.limits.max_output_length} characters"
            )

    def check_size(self, size: int, what: str) -> None:
        """Refuse, before it is built, a value of about ``size`` characters or elements."""
        if size > self.limits.max_value_size:
            raise LimitExceeded(
                f"{what} would be larger than {self.limits.max_value_size} characters or elements"
            )

    def charge(self, size: int, what: str) -> None:
        """Check ``size`` as one value and add it to the total built by this render."""
        self.check_size(size, what)
        self.built += size
        if self.built > self.limits.max_built_size:
            raise LimitExceeded(
                f"the template builds more than {self.limits.max_built_size} characters or "
                "elements in total"
            )

    def charge_value(self, value: object, what: str) -> None:
        """Measure ``value`` (at a cost bounded by the limit) and :meth:`charge` it."""
        if isinstance(value, str):
            self.charge(len(value) + 1, what)
        else:
            self.charge(measure(value, self.limits.max_value_size)[0], what)


_CURRENT: ContextVar[Budget | None] = ContextVar("ruvon_template_budget", default=None)


def budget() -> Budget:
    """The budget of the render in progress; outside one, a fresh budget with default limits."""
    current = _CURRENT.get()
    return current if current is not None else Budget(TemplateLimits())


@contextmanager
def render_budget(limits: TemplateLimits) -> Iterator[Budget]:
    """Make a fresh budget the current one for the duration of the ``with`` block."""
    token = _CURRENT.set(Budget(limits))
    try:
        current = _CURRENT.get()
        assert current is not None
        yield current
    finally:
        _CURRENT.reset(token)


def measure(value: object, limit: int) -> tuple[int, int]:
    """Approximate size and nesting depth of ``value``, as if every shared part were a copy.

    Text counts its characters, containers their elements, big integers their 64-bit words;
    pydantic models and Jinja namespaces and cyclers count what they hold, other objects one.
    Counting stops as soon as the size exceeds ``limit``, so the cost is bounded by ``limit``
    whatever the value (shared, cyclic or huge structures included).
    """
    # Each element is counted once, by the len() of its container; the loop only adds what an
    # element holds beyond itself, so plain numbers cost a type check and no arithmetic.
    size, depth = 1, 0
    pending: list[tuple[Iterable[object], int]] = [((value,), 1)]
    while pending:
        items, level = pending.pop()
        depth = max(depth, level)
        for item in items:
            if isinstance(item, str | bytes):
                size += len(item)
            elif isinstance(item, int):
                if item.bit_length() <= 64:
                    continue
                size += item.bit_length() >> 6
            elif isinstance(item, list | tuple | set | frozenset):
                size += len(item)
                pending.append((item, level + 1))
            elif isinstance(item, Mapping):
                size += 2 * len(item)
                pending.append((item.keys(), level + 1))
                pending.append((item.values(), level + 1))
            elif isinstance(item, BaseModel | Namespace | Cycler):
                # Not vars(): a Namespace answers attribute lookups from what it holds.
                held = object.__getattribute__(item, "__dict__")
                size += len(held)
                pending.append((held.values(), level + 1))
            else:
                continue
            if size > limit:
                return size, depth
    return size, depth
