"""Secrets in HTTP steps: looked up while a request is rendered, masked everywhere after.

A :class:`Masker` notes each secret value a request's templates read. Everything the engine
keeps or reports about that request goes through it first: the step's error message, the
response stored in the state and the step's record (a server may echo a header back), and the
log lines httpx and httpcore write while the request is in flight (:func:`masking_logs`).
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ruvon.errors import TemplateError

if TYPE_CHECKING:
    from ruvon.providers.secrets import SecretsProvider

MASK = "***"


# backslash escapes a JSON or Python string literal may give a character, besides \uXXXX
_SHORT_ESCAPES = {
    '"': '\\"',
    "'": "\\'",
    "\\": "\\\\",
    "/": "\\/",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def _any_form(char: str) -> str:
    """A pattern for ``char`` in any of its forms: as it is; percent-encoded (its UTF-8
    bytes, once or more: ``%C3%A9``, ``%25C3%25A9``); ``+`` for a space (a query); escaped in
    a JSON or Python string (``\\u00e9``, ``\\xe9``, ``\\"``). Hex digits match in any case."""
    code = ord(char)
    try:  # a lone surrogate: an undecodable byte of an environment variable
        data = char.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        data = char.encode("utf-8", "surrogatepass")
    forms = {re.escape(char), "".join(f"%(?:25)*{byte:02x}" for byte in data)}
    if char == " ":
        forms |= {r"\+", "%(?:25)*2b"}
    if code > 0xFFFF:
        high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
        forms |= {re.escape(f"\\u{high:04x}\\u{low:04x}"), re.escape(f"\\U{code:08x}")}
    else:
        forms.add(re.escape(f"\\u{code:04x}"))
    if code < 0x100:
        forms.add(re.escape(f"\\x{code:02x}"))
    if char in _SHORT_ESCAPES:
        forms.add(re.escape(_SHORT_ESCAPES[char]))
    return "(?:" + "|".join(sorted(forms, key=len, reverse=True)) + ")"


def _spellings(value: str) -> set[str]:
    """``value`` and what httpx makes of it as a URL (hosts in IDNA form, lowercased)."""
    import httpx

    found = {value}
    with suppress(Exception):  # not a URL: nothing more to mask
        found.add(str(httpx.URL(value)))  # a whole URL kept as a secret, as httpx shows it
    if not value.isascii():
        with suppress(Exception):  # not a host name
            host = httpx.URL(f"http://{value}/")
            if host.host == value.lower():  # the value is a host name: also in IDNA form
                found.add(host.raw_host.decode("ascii"))
    return found


@dataclass(slots=True)
class Masker:
    """The secret values one request used, masked in every form they may take in text: as
    they are, percent-encoded in full or in part (a URL, as httpx leaves it: ``a#%C3%A9``),
    with ``+`` for a space (a query), JSON- or Python-escaped (a body echoed back, an error),
    in any letter case (httpx lowercases a host), and as httpx spells a whole URL."""

    values: set[str] = field(default_factory=set)
    _pattern: re.Pattern[str] | None = field(default=None, repr=False)

    def add(self, value: str) -> None:
        if value and value not in self.values:
            self.values.add(value)
            self._pattern = None

    def pattern(self) -> re.Pattern[str] | None:
        """One pattern for every form of every value, longest values first."""
        if self._pattern is None and self.values:
            spellings = {s for value in self.values for s in _spellings(value) if s}
            ordered = sorted(spellings, key=len, reverse=True)
            self._pattern = re.compile(
                "|".join("".join(_any_form(c) for c in s) for s in ordered), re.IGNORECASE
            )
        return self._pattern

    def mask(self, text: str) -> str:
        pattern = self.pattern()
        return text if pattern is None else pattern.sub(MASK, text)

    def mask_bytes(self, data: bytes) -> bytes:
        """``data`` with the secrets masked where its bytes are UTF-8 text; other bytes kept."""
        if not self.values:
            return data
        text = data.decode("utf-8", "surrogateescape")
        return self.mask(text).encode("utf-8", "surrogateescape")

    def scrub(self, value: Any) -> Any:
        """``value`` (JSON data) with the secrets masked in every string, keys included."""
        if not self.values:
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
        if masker is not None and masker.values:
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
