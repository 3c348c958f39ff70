"""Load-time checks shared by the step types: conditions and route targets."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ruvon.errors import DefinitionError

if TYPE_CHECKING:
    from ruvon.definition.step_types import Siblings


def check_condition(expression: Any, key: str) -> str:
    """A condition as text, its syntax checked at load (the evaluator checks the rest)."""
    if isinstance(expression, bool):  # YAML reads a bare True as a boolean
        return str(expression)
    if not isinstance(expression, str) or not expression.strip():
        raise DefinitionError("a condition must be a non-empty expression", key=key)
    try:
        ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise DefinitionError(f"condition {expression!r} is not valid: {exc.msg}", key=key) from exc
    return expression.strip()


def resolve_target(name: str, siblings: Siblings, key: str) -> int:
    position = siblings.index_by_name.get(name)
    if position is None:
        known = ", ".join(siblings.index_by_name)
        raise DefinitionError(f"route target '{name}' is not a step here (steps: {known})", key=key)
    return position


def takes_keyword(function: Callable[..., Any] | None, name: str) -> bool:
    if function is None:
        return False
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: do not guess
        return False
    return any(
        p.kind is inspect.Parameter.VAR_KEYWORD
        or (p.name == name and p.kind is not inspect.Parameter.POSITIONAL_ONLY)
        for p in parameters
    )
