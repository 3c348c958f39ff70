"""Keeping the leases of the workflows this process is advancing alive.

A daemon thread renews, every third of a lease, the leases of the workflows that are inside
``next_step()``. It is a thread, not an asyncio task, because a synchronous step runs on the
event loop's thread and would starve a task: the lease would expire under a live runner and
recovery would run the step a second time. The thread writes through
``renew_leases_blocking``, on a connection of its own. Entering and leaving a step costs a set
insert and removal.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
from collections import defaultdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ruvon.providers.persistence import PersistenceProvider
    from ruvon.workflow import Workflow

log = logging.getLogger("ruvon.leases")


class LeaseKeeper:
    """Renews the leases of the workflows registered with :meth:`hold`."""

    def __init__(self) -> None:
        self.held: set[Workflow] = set()
        self._wake = threading.Event()
        self._running = False

    def hold(self, wf: Workflow) -> None:
        self.held.add(wf)
        if not self._running:  # first use, or a forked child: the thread is not there
            self._running = True
            _watch_forks(self)
            threading.Thread(target=self._run, name="ruvon-lease-keeper", daemon=True).start()
        elif wf.lease_seconds < 3 * self._interval:
            self._wake.set()  # a shorter lease than the thread sleeps for

    def _after_fork(self) -> None:
        # only the forking thread survives in the child: start a keeper there on first use
        self._running = False
        self.held = set()
        self._wake = threading.Event()

    def drop(self, wf: Workflow) -> None:
        self.held.discard(wf)

    _interval = 10.0

    def _run(self) -> None:
        while True:
            held = list(self.held)
            self._interval = min((wf.lease_seconds for wf in held), default=30.0) / 3
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self._renew_due()
            except Exception:  # never let the keeper die; the next commit reports a lost lease
                log.exception("renewing leases failed")

    def _renew_due(self) -> None:
        now = time.time()
        due: dict[PersistenceProvider, list[Workflow]] = defaultdict(list)
        for wf in list(self.held):
            expires = wf.lease_expires_at
            if expires is not None and expires - now < wf.lease_seconds * 2 / 3:
                due[wf.persistence].append(wf)
        for store, workflows in due.items():
            leases = [(wf.id, wf.runner_id, time.time() + wf.lease_seconds) for wf in workflows]
            renewed = store.renew_leases_blocking(leases)
            for wf, (workflow_id, _, expires) in zip(workflows, leases, strict=True):
                if workflow_id in renewed:
                    wf.extend_lease(expires)


_KEEPER = LeaseKeeper()
_FORK_WATCHED: set[int] = set()


def _watch_forks(lease_keeper: LeaseKeeper) -> None:
    """Have a forked child start its own thread (once per keeper; not a getpid() per step)."""
    if id(lease_keeper) not in _FORK_WATCHED and hasattr(os, "register_at_fork"):
        _FORK_WATCHED.add(id(lease_keeper))
        os.register_at_fork(after_in_child=lease_keeper._after_fork)


def keeper() -> LeaseKeeper:
    """The process's lease keeper."""
    return _KEEPER


# --- runner ids: who holds a lease ----------------------------------------------------------

_RUNNER_IDS = itertools.count(1)
_PREFIX: list[str] = []  # "host:pid" of this process; emptied in a forked child


def _forget_prefix() -> None:
    _PREFIX.clear()


def new_runner_id() -> str:
    """A name for one runner (one Workflow object): host, process and a counter."""
    if not _PREFIX:
        if hasattr(os, "register_at_fork") and id(_PREFIX) not in _FORK_WATCHED:
            _FORK_WATCHED.add(id(_PREFIX))  # once: a forked child names itself anew
            os.register_at_fork(after_in_child=_forget_prefix)
        _PREFIX.append(f"{socket.gethostname()}:{os.getpid()}")
    return f"{_PREFIX[0]}:{next(_RUNNER_IDS)}"
