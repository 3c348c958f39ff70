"""The templating contract: rendering ``{{ state.x }}`` templates in a sandbox."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class TemplateEngine(Protocol):
    """Renders templates without giving them access to anything but the given names."""

    def render(self, template: str, names: Mapping[str, Any]) -> str:
        """Render one template string."""

    def render_object(self, value: Any, names: Mapping[str, Any]) -> Any:
        """Render every string inside nested dicts/lists/tuples; other values pass through."""
