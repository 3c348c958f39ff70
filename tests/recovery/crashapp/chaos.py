"""Checkpoints where a process kills itself with SIGKILL, chosen by environment variables.

``CRASHAPP_CRASH_AT`` names the checkpoint, ``CRASHAPP_CRASH_HIT`` (default 1) which of its hits
in this process fires. Checkpoints:

``fn:<function>:before`` / ``fn:<function>:after``
    inside a step or compensation function, before or after its side effect was recorded;
``commit:<n>``
    right after the ``n``-th transition of one workflow was committed (the create is #1):
    "a transition was committed, the next one has not started". Needs :func:`kill_after_commits`
    around the store.
``commit``
    right after any transition this process committed (the hit counts them all): for a
    recovery process, which commits for many workflows.
``claim``
    right after this process took a lease: ``claim`` (a runner's first move on a workflow it
    did not create) or ``claim_for_recovery``, before anything was committed under it.
``program:<point>``
    in the supervised saga program (``saga_program.py``), around ``create_workflow`` and
    ``enable_saga_mode()``.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from crashapp import effects

if TYPE_CHECKING:
    from ruvon.models import CompensationRecord, StepRecord
    from ruvon.providers.persistence import PersistenceProvider, Transition, WorkflowRecord

ENV_AT = "CRASHAPP_CRASH_AT"
ENV_HIT = "CRASHAPP_CRASH_HIT"
ENV_LOG_COMMITS = "CRASHAPP_LOG_COMMITS"

_hits = 0
# completions of the commits this process has in flight (token -> (workflow id, entries))
_in_flight: dict[int, tuple[str, list[tuple[str, str, float]]]] = {}


def checkpoint(name: str, workflow_id: str | None) -> None:
    """SIGKILL this process if ``name`` is the configured checkpoint and this is the hit."""
    global _hits
    if name != os.environ.get(ENV_AT):
        return
    _hits += 1
    if _hits == int(os.environ.get(ENV_HIT, "1")):
        for wid, completed in _in_flight.values():  # committed or not: the store tells
            effects.record_commits(wid, completed, sure=False)
        effects.record_kill(name, workflow_id)
        os.kill(os.getpid(), signal.SIGKILL)


def _completed(
    steps: Sequence[StepRecord], compensations: Sequence[CompensationRecord]
) -> list[tuple[str, str, float]]:
    """``(kind, name, ended_at)`` of what a transition settles as COMPLETED (``ended_at`` is
    the run's own: a journal entry re-committed after a restart keeps its first
    ``started_at`` in the SQL stores)."""
    out = [("step", s.step_name, s.ended_at or -1.0) for s in steps if s.status == "COMPLETED"]
    out += [
        ("compensation", c.function.rsplit(".", 1)[-1], c.ended_at or -1.0)
        for c in compensations
        if c.function and c.status == "COMPLETED"
    ]
    return out


def kill_after_commits(store: PersistenceProvider) -> PersistenceProvider:
    """Wrap ``create_workflow``, ``commit`` and the claims of ``store``: count each workflow's
    transitions and pass ``commit:<n>`` and ``commit`` after each one (claims and renewals are
    not counted), ``claim`` after each lease taken. With ``CRASHAPP_LOG_COMMITS=1`` the
    completions each commit settles are logged (:func:`crashapp.effects.record_commits`): when
    the commit returned, or as in doubt by a checkpoint that kills the process meanwhile.
    """
    counts: Counter[str] = Counter()
    create, commit = store.create_workflow, store.commit
    claim, claim_for_recovery = store.claim, store.claim_for_recovery
    log_commits = os.environ.get(ENV_LOG_COMMITS) == "1"

    async def create_workflow(record: WorkflowRecord) -> WorkflowRecord:
        stored = await create(record)
        if stored.id == record.id:  # a new workflow, not an idempotency-key hit
            counts[stored.id] += 1
            checkpoint(f"commit:{counts[stored.id]}", stored.id)
        return stored

    async def commit_and_count(transition: Transition) -> str | None:
        completed = _completed(transition.steps, transition.compensations) if log_commits else []
        token = id(transition)
        if completed:
            _in_flight[token] = (transition.workflow_id, completed)
        try:
            cancel = await commit(transition)
        finally:
            _in_flight.pop(token, None)
        if completed:
            effects.record_commits(transition.workflow_id, completed, sure=True)
        counts[transition.workflow_id] += 1
        checkpoint(f"commit:{counts[transition.workflow_id]}", transition.workflow_id)
        checkpoint("commit", transition.workflow_id)
        return cancel

    async def claim_and_count(
        workflow_id: str, expected_version: int, owner: str, expires_at: float, now: float
    ) -> None:
        await claim(workflow_id, expected_version, owner, expires_at, now)
        checkpoint("claim", workflow_id)

    async def claim_for_recovery_and_count(
        workflow_id: str, owner: str, expires_at: float, now: float, *, failed: bool = False
    ) -> bool:
        taken = await claim_for_recovery(workflow_id, owner, expires_at, now, failed=failed)
        if taken:
            checkpoint("claim", workflow_id)
        return taken

    wrapped: Any = store
    wrapped.create_workflow = create_workflow
    wrapped.commit = commit_and_count
    wrapped.claim = claim_and_count
    wrapped.claim_for_recovery = claim_for_recovery_and_count
    return store
