"""Crash recovery: continue workflows whose runner died.

A runner holds a lease on the workflow it advances; every commit extends it and the lease
keeper's thread renews it during long steps. When the lease has expired while the workflow is
``ACTIVE`` (a step was running, or the next one was about to) or ``COMPENSATING`` (an unwind was
under way), the
workflow is continued from its last committed transition: the step that was in flight runs again
with the same ``idempotency_key`` (at-least-once), and an unwind goes on with the first
compensation the journal does not show as finished.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from ruvon.errors import ConcurrentModificationError, RuvonError
from ruvon.runtime.status import WorkflowStatus

if TYPE_CHECKING:
    from ruvon.builder import WorkflowBuilder
    from ruvon.providers.persistence import PersistenceProvider

log = logging.getLogger("ruvon.recovery")


async def recover(
    builder: WorkflowBuilder, store: PersistenceProvider, *, limit: int = 100
) -> list[str]:
    """Continue every abandoned workflow (up to ``limit``); return the ids continued.

    Another runner recovering at the same time is harmless: claiming the lease is a
    compare-and-set, and a workflow claimed by someone else is skipped.
    """
    continued: list[str] = []
    for workflow_id in await store.find_recoverable(time.time(), limit):
        wf = await builder.load_workflow(workflow_id, persistence_provider=store)
        try:
            await wf.acquire()
        except ConcurrentModificationError:
            log.info("workflow %s was claimed by another runner", workflow_id)
            continue
        step = wf.definition.steps[wf.current_step] if wf.current_step_name else None
        if wf.status is WorkflowStatus.ACTIVE and step is not None and step.input_model:
            # the step waits for user input: hand it back to the application untouched
            await wf.commit(
                WorkflowStatus.ACTIVE, reason="recovered; waits for input", release=True
            )
            continue
        try:
            await wf.run()
        except RuvonError:
            log.exception("recovering workflow %s failed", workflow_id)
            continue
        continued.append(workflow_id)
        log.info("recovered workflow %s: now %s", workflow_id, wf.status.value)
    return continued
