"""Secrets read from environment variables: the default secrets provider."""

from __future__ import annotations

import os


class EnvironmentSecretsProvider:
    """``secrets.NAME`` is the environment variable ``<prefix>NAME``.

    The environment is read at each lookup, not copied when the provider is made, so a value
    set (or rotated) after the builder was created is the one used. ``prefix`` (default none)
    keeps templates from reading variables that are not meant as secrets:
    ``EnvironmentSecretsProvider(prefix="APP_SECRET_")`` answers ``secrets.TOKEN`` from
    ``APP_SECRET_TOKEN`` only.
    """

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix

    def get(self, name: str) -> str | None:
        return os.environ.get(self.prefix + name)

    def __repr__(self) -> str:
        return f"EnvironmentSecretsProvider(prefix={self.prefix!r})"
