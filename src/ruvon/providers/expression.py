"""The expression contract: conditions over the workflow state, evaluated safely."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class ExpressionEvaluator(Protocol):
    """Evaluates expressions such as ``state.amount > 1000 and state.country in ['DE', 'FR']``.

    Implementations must refuse attribute escapes (``__class__`` and friends), imports and calls
    of arbitrary functions, and bound the work an expression can do.
    """

    def evaluate(self, expression: str, names: Mapping[str, Any]) -> Any:
        """Evaluate ``expression`` with ``names`` (e.g. ``{"state": state}``) in scope."""
