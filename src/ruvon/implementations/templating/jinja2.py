"""A template engine on Jinja2's immutable sandbox.

Templates such as ``"Order {{ state.order_id }} for {{ state.customer.name }}"`` are rendered
in :class:`jinja2.sandbox.ImmutableSandboxedEnvironment`: no access to ``_``-prefixed
attributes (``{{ ''.__class__.__mro__ }}``), no mutation of lists and dicts, ``range`` bounded.
On top of the sandbox, ``**`` and ``*`` are intercepted so that ``{{ 9**9**9 }}`` and
``{{ 'a' * 10**9 }}`` fail instead of hanging or exhausting memory. Undefined names and
attributes fail too (:class:`jinja2.StrictUndefined`) rather than rendering as empty text.

Every failure is a :class:`ruvon.errors.TemplateError` naming the template, with the Jinja2
exception chained as its cause.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

# Absolute import: this is the real ``jinja2`` package, not this module.
import jinja2
import jinja2.sandbox
from jinja2.exceptions import SecurityError

from ruvon.errors import TemplateError

__all__ = ["Jinja2TemplateEngine"]

#: Compiled templates kept per engine.
TEMPLATE_CACHE_SIZE = 512
#: Largest integer, in bits, that ``**`` and ``*`` may produce in a template.
MAX_INT_BITS = 10_000
#: Longest string or list that ``*`` may produce in a template.
MAX_REPEAT_LENGTH = 100_000
#: Deepest nesting of dicts/lists/tuples that :meth:`Jinja2TemplateEngine.render_object` walks.
MAX_OBJECT_DEPTH = 100
#: Longest template text quoted in an error message.
_QUOTE_LENGTH = 200

_MARKERS = ("{{", "{%", "{#")


class _BoundedSandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """The immutable sandbox with ``**`` and ``*`` bounded."""

    intercepted_binops = frozenset({"**", "*"})

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            _check_repeat(left, right)
        return super().call_binop(context, operator, left, right)


def _check_power(base: Any, exponent: Any) -> None:
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and abs(base) > 1
        and exponent * math.log2(abs(base)) > MAX_INT_BITS
    ):
        raise SecurityError(f"{base} ** {exponent} is too large")


def _check_repeat(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise SecurityError("the product is too large")
        return
    for sequence, times in ((left, right), (right, left)):
        if (
            isinstance(sequence, str | bytes | list | tuple)
            and isinstance(times, int)
            and len(sequence) * times > MAX_REPEAT_LENGTH
        ):
            raise SecurityError(f"repeating a sequence {times} times is too long")


def _quote(template: str) -> str:
    if len(template) > _QUOTE_LENGTH:
        return repr(template[:_QUOTE_LENGTH] + "...")
    return repr(template)


class Jinja2TemplateEngine:
    """Renders templates in Jinja2's immutable sandbox with strict undefined handling.

    Autoescaping is off (the output is data, not HTML) and a trailing newline is kept. Text
    without any Jinja2 markup (``{{``, ``{%``, ``{#``) is returned unchanged without rendering.
    Compiled templates are cached (LRU). The engine is safe to share between threads and tasks.
    """

    def __init__(self) -> None:
        self._env = _BoundedSandbox(
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
        )
        self._compile: Callable[[str], jinja2.Template] = functools.lru_cache(
            maxsize=TEMPLATE_CACHE_SIZE
        )(self._compile_uncached)

    def _compile_uncached(self, template: str) -> jinja2.Template:
        try:
            return self._env.from_string(template)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                f"invalid template syntax in template {_quote(template)} (line {exc.lineno}): "
                f"{exc.message}"
            ) from exc
        except Exception as exc:
            raise TemplateError(
                f"can not compile template {_quote(template)}: {type(exc).__name__}: {exc}"
            ) from exc

    def render(self, template: str, names: Mapping[str, Any]) -> str:
        """Render one template string with ``names`` (e.g. ``{"state": state}``) in scope."""
        if not isinstance(template, str):
            raise TemplateError(f"a template must be a string, not {type(template).__name__}")
        if not any(marker in template for marker in _MARKERS):
            return template
        compiled = self._compile(template)
        try:
            return compiled.render(dict(names))
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"undefined value in template {_quote(template)}: {exc}") from exc
        except SecurityError as exc:
            raise TemplateError(f"unsafe operation in template {_quote(template)}: {exc}") from exc
        except Exception as exc:
            raise TemplateError(
                f"rendering template {_quote(template)} failed with {type(exc).__name__}: {exc}"
            ) from exc

    def render_object(self, value: Any, names: Mapping[str, Any]) -> Any:
        """Render every string inside nested dicts/lists/tuples; other values pass through.

        Dict keys are kept as they are; only values are rendered. New containers are returned,
        ``value`` is not modified.
        """
        return self._render_object(value, names, 0)

    def _render_object(self, value: Any, names: Mapping[str, Any], depth: int) -> Any:
        if isinstance(value, str):
            return self.render(value, names)
        if not isinstance(value, dict | list | tuple):
            return value
        if depth >= MAX_OBJECT_DEPTH:
            raise TemplateError(f"object to render is nested deeper than {MAX_OBJECT_DEPTH} levels")
        if isinstance(value, dict):
            return {key: self._render_object(item, names, depth + 1) for key, item in value.items()}
        rendered = [self._render_object(item, names, depth + 1) for item in value]
        return tuple(rendered) if isinstance(value, tuple) else rendered
