"""Checkpoints named after what a commit settled, so a test can say *where* a process dies
without counting transitions.

After each commit of the wrapped store (through :func:`crashapp.chaos.checkpoint`, which
SIGKILLs the process at the configured hit):

``committed:step:<scope>:<status>``
    for each step attempt the transition recorded, e.g. ``committed:step:Items/iter:1/Charge:
    COMPLETED`` is right after iteration 1's last body step was committed, before iteration 2;
``committed:comp:<scope>:<status>``
    for each compensation-journal entry it wrote (a finished one goes with the next ``STARTED``);
``committed:status:<status>``
    the status it moved the workflow to, e.g. ``committed:status:WAITING_HUMAN``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crashapp.chaos import checkpoint

if TYPE_CHECKING:
    from ruvon.providers.persistence import PersistenceProvider, Transition


def labels(transition: Transition) -> list[str]:
    """The checkpoint names one committed transition passes, in that order."""
    out = [f"committed:step:{s.scope}:{s.status.value}" for s in transition.steps]
    out += [f"committed:comp:{c.scope}:{c.status.value}" for c in transition.compensations]
    out.append(f"committed:status:{transition.status.value}")
    return out


def announce_commits(store: PersistenceProvider) -> PersistenceProvider:
    """Pass the checkpoints of :func:`labels` after each commit of ``store`` returns."""
    commit = store.commit

    async def commit_and_announce(transition: Transition) -> str | None:
        cancel = await commit(transition)
        for name in labels(transition):
            checkpoint(name, transition.workflow_id)
        return cancel

    wrapped: Any = store
    wrapped.commit = commit_and_announce
    return store
