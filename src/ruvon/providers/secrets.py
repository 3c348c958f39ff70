"""The secrets contract: where ``{{ secrets.NAME }}`` in a template gets its value.

A secret is looked up when a request is rendered and kept in memory only for that request;
the engine masks its value (``***``) in everything it keeps or reports. The default provider
reads environment variables
(:class:`~ruvon.implementations.secrets.env.EnvironmentSecretsProvider`); give another to
``WorkflowBuilder(secrets_provider=...)`` to read a vault, a file or a cloud secret store.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class SecretsProvider(Protocol):
    """Answers secret names with their values.

    ``get`` is synchronous because templates are rendered synchronously: a provider backed by
    a remote store should cache what it fetched (or fetch it before the workflow runs).
    """

    def get(self, name: str) -> str | None:
        """The value of secret ``name``, or ``None`` when there is no such secret."""
