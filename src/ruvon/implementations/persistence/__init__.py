"""Persistence providers, and :func:`store_from_url` to pick one from a URL."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ruvon.errors import PersistenceError

if TYPE_CHECKING:
    from ruvon.providers.persistence import PersistenceProvider


def store_from_url(url: str) -> PersistenceProvider:
    """The store a URL names.

    ``memory://`` (in-memory), ``sqlite:///path.db`` (relative), ``sqlite:////abs/path.db``,
    ``sqlite:///:memory:``, with ``?synchronous=NORMAL`` to trade power-loss durability for
    speed, and ``postgresql://user@host:5432/db`` (also ``postgres://``).
    """
    scheme = url.split(":", 1)[0].lower()
    if scheme == "memory":
        from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider

        return InMemoryPersistenceProvider()
    if scheme == "sqlite":
        from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider

        return SQLitePersistenceProvider(url)
    if scheme in ("postgresql", "postgres"):
        from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

        return PostgresPersistenceProvider(url)
    from ruvon.implementations.persistence.postgres import redact

    raise PersistenceError(
        f"unsupported database URL '{redact(url)}' "
        "(use memory://, sqlite:///FILE or postgresql://...)"
    )
