"""An observer that wants nothing, so the engine builds no events for it."""

from __future__ import annotations

from ruvon.providers.observer import EventKind, WorkflowEvent


class NoopObserver:
    """Ignores every event (the default)."""

    def wants(self, kind: EventKind) -> bool:
        return False

    async def on_event(self, event: WorkflowEvent) -> None:
        return None


NoopWorkflowObserver = NoopObserver  # alias used by other Ruvon material
