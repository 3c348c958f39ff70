"""A template engine on Jinja2's immutable sandbox, bounded in time, work and memory.

Templates such as ``"Order {{ state.order_id }} for {{ state.customer.name }}"`` are rendered
in a :class:`~ruvon.implementations.templating.sandbox.BoundedSandbox`: Jinja2's
:class:`jinja2.sandbox.ImmutableSandboxedEnvironment` (no access to ``_``-prefixed attributes
such as ``{{ ''.__class__.__mro__ }}``, no mutation of lists and dicts) with every render held
to its :class:`TemplateLimits`: output length, the size of each value built and of all of them,
steps (loop iterations, calls, filters) and wall-clock time. Operations that could build a huge
value (``'a' * 10**9``, ``'%999999999d' % 1``, ``'{:>999999999}'.format(1)``,
``'a' | center(10**9)``, ``lipsum(n=10**6)``, ``indent(20000)`` ...) are refused before they
allocate it; nested ``range`` loops and recursive macros run out of steps. Undefined names and
attributes fail too (:class:`jinja2.StrictUndefined`) rather than rendering as empty text.

Every failure is a :class:`ruvon.errors.TemplateError` naming the template, with the Jinja2
exception chained as its cause; going over a limit says which limit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

# Absolute import: this is the real ``jinja2`` package, not this module.
import jinja2
from jinja2.exceptions import SecurityError

from ruvon.errors import TemplateError
from ruvon.implementations.templating.limits import (
    Budget,
    LimitExceeded,
    TemplateLimits,
    render_budget,
)
from ruvon.implementations.templating.sandbox import BoundedSandbox

__all__ = ["Jinja2TemplateEngine", "TemplateLimits"]

#: Compiled templates kept per engine.
TEMPLATE_CACHE_SIZE = 512
#: Deepest nesting of dicts/lists/tuples that :meth:`Jinja2TemplateEngine.render_object` walks.
MAX_OBJECT_DEPTH = 100
#: Longest template text quoted in an error message.
_QUOTE_LENGTH = 200

_MARKERS = ("{{", "{%", "{#")


def _generate(compiled: jinja2.Template, names: Mapping[str, Any], current: Budget) -> str:
    """Render piece by piece, stopping as soon as the output is too long."""
    pieces: list[str] = []
    for piece in compiled.generate(dict(names)):
        current.write(len(piece))
        pieces.append(piece)
    return "".join(pieces)


def _shorten(exc: BaseException) -> str:
    """The message of ``exc``, cut: it may quote a value as large as the limits allow."""
    text = str(exc)
    return text if len(text) <= _QUOTE_LENGTH else text[:_QUOTE_LENGTH] + "..."


def _quote(template: str) -> str:
    if len(template) > _QUOTE_LENGTH:
        return repr(template[:_QUOTE_LENGTH] + "...")
    return repr(template)


class Jinja2TemplateEngine:
    """Renders templates in a bounded immutable sandbox with strict undefined handling.

    Autoescaping is off (the output is data, not HTML) and a trailing newline is kept. Text
    without any Jinja2 markup (``{{``, ``{%``, ``{#``) is returned unchanged without rendering.
    Compiled templates are cached (LRU). ``limits`` bounds each render (defaults: 1,000,000
    characters of output, 1,000,000 steps, 2 seconds; see :class:`TemplateLimits`). The engine is
    safe to share between threads and tasks.
    """

    def __init__(self, limits: TemplateLimits | None = None) -> None:
        self.limits = limits or TemplateLimits()
        self._env = BoundedSandbox(
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
        )
        self._compile: Callable[[str], jinja2.Template] = functools.lru_cache(
            maxsize=TEMPLATE_CACHE_SIZE
        )(self._compile_uncached)

    def _compile_uncached(self, template: str) -> jinja2.Template:
        try:
            # Constant folding calls filters at compile time: bounded like a render.
            with render_budget(self.limits):
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
        return self._render(template, names, None)

    def _render(self, template: str, names: Mapping[str, Any], shared: Budget | None) -> str:
        if not isinstance(template, str):
            raise TemplateError(f"a template must be a string, not {type(template).__name__}")
        if not any(marker in template for marker in _MARKERS):
            return template
        if len(template) > self.limits.max_template_length:
            raise TemplateError(
                f"template {_quote(template)} is {len(template)} characters long, longer than "
                f"the {self.limits.max_template_length} allowed"
            )
        compiled = self._compile(template)
        quoted = _quote(template)
        try:
            if shared is not None:
                return _generate(compiled, names, shared)
            with render_budget(self.limits) as current:
                return _generate(compiled, names, current)
        except LimitExceeded as exc:
            raise TemplateError(f"template {quoted} exceeds a limit: {exc}") from exc
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"undefined value in template {quoted}: {_shorten(exc)}") from exc
        except SecurityError as exc:
            raise TemplateError(f"unsafe operation in template {quoted}: {_shorten(exc)}") from exc
        except Exception as exc:
            raise TemplateError(
                f"rendering template {quoted} failed with {type(exc).__name__}: {_shorten(exc)}"
            ) from exc

    def render_object(self, value: Any, names: Mapping[str, Any]) -> Any:
        """Render every string inside nested dicts/lists/tuples; other values pass through.

        Dict keys are kept as they are; only values are rendered. New containers are returned,
        ``value`` is not modified. All the strings together are one render for the limits.
        """
        with render_budget(self.limits) as shared:
            return self._render_object(value, names, 0, shared)

    def _render_object(
        self, value: Any, names: Mapping[str, Any], depth: int, shared: Budget
    ) -> Any:
        if isinstance(value, str):
            return self._render(value, names, shared)
        if not isinstance(value, dict | list | tuple):
            return value
        if depth >= MAX_OBJECT_DEPTH:
            raise TemplateError(f"object to render is nested deeper than {MAX_OBJECT_DEPTH} levels")
        if isinstance(value, dict):
            return {k: self._render_object(v, names, depth + 1, shared) for k, v in value.items()}
        rendered = [self._render_object(item, names, depth + 1, shared) for item in value]
        return tuple(rendered) if isinstance(value, tuple) else rendered
