"""Persistence providers, and :func:`store_from_url` to pick one from a URL."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ruvon.providers.persistence import PersistenceProvider


def store_from_url(url: str) -> PersistenceProvider:
    """``memory://`` → in-memory store. SQL stores are added by the durable-store work."""
    from ruvon.errors import PersistenceError

    if url.startswith("memory:"):
        from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider

        return InMemoryPersistenceProvider()
    raise PersistenceError(f"unsupported database URL '{url}' (supported: memory://)")
