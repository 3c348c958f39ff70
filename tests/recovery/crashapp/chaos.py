"""Checkpoints where a process kills itself with SIGKILL, chosen by environment variables.

``CRASHAPP_CRASH_AT`` names the checkpoint, ``CRASHAPP_CRASH_HIT`` (default 1) which of its hits
in this process fires. Checkpoints:

``fn:<function>:before`` / ``fn:<function>:after``
    inside a step or compensation function, before or after its side effect was recorded;
``commit:<n>``
    right after the ``n``-th transition of one workflow was committed (the create is #1):
    "a transition was committed, the next one has not started". Needs :func:`kill_after_commits`
    around the store.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from typing import TYPE_CHECKING, Any

from crashapp import effects

if TYPE_CHECKING:
    from ruvon.providers.persistence import PersistenceProvider, Transition, WorkflowRecord

ENV_AT = "CRASHAPP_CRASH_AT"
ENV_HIT = "CRASHAPP_CRASH_HIT"

_hits = 0


def checkpoint(name: str, workflow_id: str | None) -> None:
    """SIGKILL this process if ``name`` is the configured checkpoint and this is the hit."""
    global _hits
    if name != os.environ.get(ENV_AT):
        return
    _hits += 1
    if _hits == int(os.environ.get(ENV_HIT, "1")):
        effects.record_kill(name, workflow_id)
        os.kill(os.getpid(), signal.SIGKILL)


def kill_after_commits(store: PersistenceProvider) -> PersistenceProvider:
    """Wrap ``create_workflow`` and ``commit`` of ``store`` to count each workflow's
    transitions and pass ``commit:<n>`` after each one (claims and renewals are not counted)."""
    counts: Counter[str] = Counter()
    create, commit = store.create_workflow, store.commit

    async def create_workflow(record: WorkflowRecord) -> WorkflowRecord:
        stored = await create(record)
        if stored.id == record.id:  # a new workflow, not an idempotency-key hit
            counts[stored.id] += 1
            checkpoint(f"commit:{counts[stored.id]}", stored.id)
        return stored

    async def commit_and_count(transition: Transition) -> None:
        await commit(transition)
        counts[transition.workflow_id] += 1
        checkpoint(f"commit:{counts[transition.workflow_id]}", transition.workflow_id)

    wrapped: Any = store
    wrapped.create_workflow = create_workflow
    wrapped.commit = commit_and_count
    return store
