"""Jinja2's immutable sandbox with every way of doing unbounded work bounded.

The sandbox already stops attribute escapes and mutation. On top of it, through Jinja2's own
hooks (``call``, ``call_binop``, ``wrap_str_format``, ``concat``, the filter table and the code
generator class):

* every ``for`` loop iterates through :meth:`BoundedSandbox.ruvon_iterate`, and every call
  (macros, ``loop(...)`` recursion, methods, globals) and filter is a step of the budget, so
  loop work, recursion and render time are bounded;
* operators, literals, ``~``, ``%``, ``str.format``, growing string methods, filters and
  globals are checked before they build a value, and what they build is charged to the budget;
* output buffered inside a template (``{% set %}`` blocks, macros, filter blocks, blocks
  rendered with ``self.name()``) is charged piece by piece as it is written.

Limits are per render (:mod:`~ruvon.implementations.templating.limits`).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable, Iterator
from functools import update_wrapper
from typing import Any

import jinja2.sandbox
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.runtime import Context, LoopContext, markup_join
from markupsafe import Markup
from pydantic import BaseModel

from ruvon.implementations.templating import bounded
from ruvon.implementations.templating.limits import Budget, budget

__all__ = ["BoundedSandbox"]

# Pydantic's own API on a model (``model_dump_json(indent=10**9)``, ``copy``, ``json`` ...):
# templates read a model's fields, not its methods.
_MODEL_API = frozenset(dir(BaseModel))


class _Buffer(list[str]):
    """An output buffer that charges every piece written into it to the render's budget."""

    __slots__ = ("_budget", "_size")

    def __init__(self, current: Budget) -> None:
        super().__init__()
        self._budget = current
        self._size = 0

    def _charge(self, size: int) -> None:
        self._size += size
        self._budget.check_size(self._size, "the buffered output")
        self._budget.charge(size, "the buffered output")

    def append(self, piece: str) -> None:
        self._charge(len(piece))
        super().append(piece)

    def extend(self, pieces: Iterable[str]) -> None:
        pieces = tuple(pieces)
        self._charge(sum(len(piece) for piece in pieces))
        super().extend(pieces)


class _BoundedCodeGenerator(CodeGenerator):
    """Generates code that loops through the budget, and checks literals, ``~`` and buffers."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        for loop in node.find_all(nodes.For):
            counter = nodes.EnvironmentAttribute("ruvon_iterate", lineno=loop.iter.lineno)
            loop.iter = nodes.Call(counter, [loop.iter], [], None, None, lineno=loop.iter.lineno)
        super().visit_Template(node, frame)

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.ruvon_buffer()")

    def _checked(self, visit: Callable[[Any, Frame], None], node: Any, frame: Frame) -> None:
        self.write("environment.ruvon_literal(")
        visit(node, frame)
        self.write(")")

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self._checked(super().visit_List, node, frame)

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self._checked(super().visit_Dict, node, frame)

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx == "load":
            self._checked(super().visit_Tuple, node, frame)
        else:
            super().visit_Tuple(node, frame)

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            escaping = "context.eval_ctx.autoescape"
        else:
            escaping = str(bool(frame.eval_ctx.autoescape))
        self.write("environment.ruvon_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(f"), {escaping})")


class _BoundedFormatter(jinja2.sandbox.SandboxedFormatter):
    """``str.format`` in the sandbox, with each field's width and precision bounded."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        current = budget()
        bounded.check_format_field(value, format_spec, current)
        result = super().format_field(value, format_spec)
        current.charge_value(result, "the formatted field")
        return result


class _BoundedEscapeFormatter(_BoundedFormatter, jinja2.sandbox.SandboxedEscapeFormatter):
    """The same for ``Markup.format``, which escapes its arguments."""


class BoundedSandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """The immutable sandbox with loop work, calls, values and output bounded per render."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"**", "*", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = bounded.bounded_filters(self.filters)
        self.globals["lipsum"] = bounded.bounded_lipsum

    # --- hooks the generated code calls -----------------------------------------------------

    def ruvon_iterate(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """``iterable``, one budget step per item: every ``for`` loop goes through this."""
        current = budget()
        for item in iterable:
            current.step()
            yield item

    def ruvon_buffer(self) -> _Buffer:
        """A new output buffer charged to the current render."""
        return _Buffer(budget())

    def ruvon_literal(self, value: Any) -> Any:
        """A list, tuple or dict literal, charged (``[x, x, x]`` counts ``x`` three times)."""
        budget().charge_value(value, "the literal")
        return value

    def ruvon_concat(self, parts: tuple[Any, ...], escaping: bool) -> str:
        """``a ~ b``: the parts as text, refused before joining when too long."""
        current = budget()
        texts = [part if isinstance(part, str) else str(part) for part in parts]
        # Escaping may turn one character into up to six (``&#34;``).
        current.charge(sum(map(len, texts)) * (6 if escaping else 1), "the concatenation")
        return markup_join(parts) if escaping else "".join(texts)

    def concat(self, pieces: Iterable[str]) -> str:
        """Join rendered pieces (block references and buffers), charging unbuffered ones."""
        if isinstance(pieces, _Buffer):
            return "".join(pieces)
        current, size, joined = budget(), 0, []
        for piece in pieces:
            size += len(piece)
            current.check_size(size, "the rendered block")
            joined.append(piece)
        current.charge(size, "the rendered block")
        return "".join(joined)

    # --- sandbox hooks ----------------------------------------------------------------------

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, BaseModel) and attr in _MODEL_API and attr not in type(obj).model_fields:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        current = budget()
        bounded.check_binop(operator, left, right, current)
        result = super().call_binop(context, operator, left, right)
        if isinstance(result, str | bytes | list | tuple):
            current.charge_value(result, f"the result of {operator}")
        return result

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        if obj == self.ruvon_iterate:
            # The loop counter itself, put there by the code generator: not a step.
            return obj(*args)
        current = budget()
        current.step()
        if isinstance(obj, LoopContext) and args:
            # ``loop(children)`` in a recursive loop: the inner loop is counted too.
            args = (self.ruvon_iterate(args[0]), *args[1:])
        else:
            args = bounded.check_call(obj, args, kwargs, current)
        result = super().call(context, obj, *args, **kwargs)
        if not isinstance(result, Iterator | range):
            current.charge_value(result, "the result of a call")
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # As in SandboxedEnvironment, with the bounded formatters.
        if not isinstance(
            value, types.MethodType | types.BuiltinMethodType
        ) or value.__name__ not in (
            "format",
            "format_map",
        ):
            return None
        text: Any = value.__self__
        if not isinstance(text, str):
            return None
        formatter: _BoundedFormatter
        if isinstance(text, Markup):
            formatter = _BoundedEscapeFormatter(self, escape=text.escape)
        else:
            formatter = _BoundedFormatter(self)
        is_format_map = value.__name__ == "format_map"

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if not is_format_map:
                return type(text)(formatter.vformat(text, args, kwargs))
            if kwargs or len(args) != 1:
                raise TypeError("format_map() takes exactly one positional argument")
            return type(text)(formatter.vformat(text, (), args[0]))

        return update_wrapper(wrapper, value)
