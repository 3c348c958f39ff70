"""Keeping the leases of the workflows this process is advancing alive.

One background task per event loop renews, every third of a lease, the leases of the workflows
that are in the middle of ``next_step()``. Starting and finishing a step costs a set insert and
removal instead of a timer per call.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ruvon.workflow import Workflow


class LeaseKeeper:
    """Renews the leases of the workflows registered with :meth:`hold`."""

    def __init__(self) -> None:
        self.held: set[Workflow] = set()
        self._task: asyncio.Task[None] | None = None

    def hold(self, wf: Workflow) -> None:
        self.held.add(wf)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def drop(self, wf: Workflow) -> None:
        self.held.discard(wf)

    async def _run(self) -> None:
        try:
            while self.held:
                await asyncio.sleep(min(wf.lease_seconds for wf in self.held) / 3)
                now = time.time()
                for wf in list(self.held):
                    if wf.lease_expires_at is not None and (
                        wf.lease_expires_at - now < wf.lease_seconds * 2 / 3
                    ):
                        await wf.renew_lease()
        finally:
            self._task = None


_CURRENT: list[tuple[asyncio.AbstractEventLoop, LeaseKeeper]] = []


def keeper() -> LeaseKeeper:
    """The lease keeper of the running event loop (one loop at a time, as asyncio.run gives)."""
    loop = asyncio.get_running_loop()
    if _CURRENT and _CURRENT[0][0] is loop:
        return _CURRENT[0][1]
    found = LeaseKeeper()
    _CURRENT[:] = [(loop, found)]
    return found
