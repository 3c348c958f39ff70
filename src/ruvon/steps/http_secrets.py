"""Secrets in HTTP steps: looked up while a request is rendered, masked everywhere after.

A :class:`Masker` notes each secret value a request's templates read. Everything the engine
keeps or reports about that request goes through it first: the step's error message, the
response stored in the state and the step's record (a server may echo a header back), and the
log lines httpx and httpcore write while the request is in flight (:func:`masking_logs`).
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

from ruvon.errors import TemplateError

if TYPE_CHECKING:
    from ruvon.providers.secrets import SecretsProvider

MASK = "***"


@dataclass(slots=True)
class Masker:
    """The secret values one request used, in every form they may take in text: as they are,
    percent-encoded (in a URL) and JSON-escaped (in a body echoed back)."""

    forms: set[str] = field(default_factory=set)

    def add(self, value: str) -> None:
        if value:
            self.forms |= {value, quote(value, safe=""), quote(value), quote_plus(value)}
            self.forms.add(json.dumps(value)[1:-1])

    def mask(self, text: str) -> str:
        for form in sorted(self.forms, key=len, reverse=True):
            if form:
                text = text.replace(form, MASK)
        return text

    def scrub(self, value: Any) -> Any:
        """``value`` (JSON data) with the secrets masked in every string, keys included."""
        if not self.forms:
            return value
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {self.mask(str(k)): self.scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        return value


class Lookup:
    """``env`` and ``secrets`` in templates: one name at a time (``secrets.TOKEN`` or
    ``secrets['TOKEN']``), never listed. A name with no value fails the render, naming it (the
    sandbox refuses ``_``-prefixed names, so the lookup's own attributes are out of reach)."""

    __slots__ = ("_get", "_masker", "_what")

    def __init__(
        self, what: str, get: Callable[[str], str | None], masker: Masker | None = None
    ) -> None:
        self._what, self._get, self._masker = what, get, masker

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> str:
        if not isinstance(name, str):
            raise TypeError(f"{self._what} names are strings")
        value = self._get(name)
        if value is None:
            raise TemplateError(f"{self._what} '{name}' is not set")
        if self._masker is not None:
            self._masker.add(value)
        return value

    def __iter__(self) -> Iterator[str]:
        raise TypeError(f"{self._what}s can not be listed")

    def __repr__(self) -> str:
        return f"<{self._what}s>"


def secrets_lookup(provider: SecretsProvider | None, masker: Masker) -> Lookup:
    """``secrets`` for one request: values from ``provider``, each noted by ``masker``."""
    if provider is None:

        def missing(name: str) -> str | None:
            raise TemplateError(
                f"secret '{name}' asked for, but this workflow has no secrets provider"
            )

        return Lookup("secret", missing, masker)
    return Lookup("secret", provider.get, masker)


def env_lookup() -> Lookup:
    """``env``: environment variables, read at render time (not masked: not secrets)."""
    return Lookup("environment variable", os.environ.get)


# httpx logs each request's URL (INFO) and httpcore the response headers (DEBUG): a filter on
# their loggers masks the secrets of the request in flight, known through this variable
_IN_FLIGHT: ContextVar[Masker | None] = ContextVar("ruvon_http_masker", default=None)
_CLIENT_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


class _MaskSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        masker = _IN_FLIGHT.get()
        if masker is not None and masker.forms:
            record.msg, record.args = masker.mask(record.getMessage()), None
        return True


@functools.cache
def _install_log_filter() -> None:
    """Once per process, on the first request (importing this module changes nothing)."""
    masking = _MaskSecrets()
    for name in _CLIENT_LOGGERS:
        logging.getLogger(name).addFilter(masking)


@contextmanager
def masking_logs(masker: Masker) -> Iterator[None]:
    """While the block runs (in this task), the HTTP client's log lines are masked."""
    _install_log_filter()
    token = _IN_FLIGHT.set(masker)
    try:
        yield
    finally:
        _IN_FLIGHT.reset(token)
