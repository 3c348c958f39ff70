"""``initial_state_model: builtins.dict``: a workflow whose state is a plain mapping.

The original Ruvon tutorials name ``builtins.dict`` as the state model and write steps against
a dict (``state.get("name")``, ``state["x"] = v``). The engine merges, validates and stores a
state through its pydantic model (see :mod:`ruvon.runtime.merge`), so such a state is a pydantic
model that allows any key (``extra="allow"``) and has no fields of its own: every key is one of
its extra values, and the mapping methods read and write those. Everything else about it is an
ordinary state: results are merged into it, in-place changes are kept, it is stored as a JSON
object and comes back from any store with the same keys and JSON values.

It is not a ``dict`` subclass (a pydantic model can not be one), but it is registered as a
``MutableMapping``, so ``isinstance(state, Mapping)`` holds and ``dict(state)`` copies it.
Keys are strings, as in the JSON it is stored as; keys are also readable as attributes
(``state.name``) when no method has that name.
"""

from __future__ import annotations

from collections.abc import (
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    Mapping,
    MutableMapping,
    ValuesView,
)
from typing import Any

from pydantic import BaseModel, ConfigDict

#: The state model paths that mean "a plain dict" (``builtins.dict`` in the tutorials).
DICT_STATE_PATHS = frozenset({"builtins.dict", "dict"})

_MISSING: Any = object()


class DictState(BaseModel):
    """A workflow state that behaves as a ``dict`` of JSON values with string keys."""

    model_config = ConfigDict(extra="allow")

    @property
    def _data(self) -> dict[str, Any]:
        extra = self.__pydantic_extra__
        assert extra is not None  # always a dict with extra="allow"
        return extra

    # --- reading ------------------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]  # keys, as a dict does
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def keys(self) -> KeysView[str]:
        return self._data.keys()

    def values(self) -> ValuesView[Any]:
        return self._data.values()

    def items(self) -> ItemsView[str, Any]:
        return self._data.items()

    def copy(self) -> dict[str, Any]:  # type: ignore[override]  # a dict's copy, not a model's
        """A plain ``dict`` with the same keys and values (shallow)."""
        return dict(self._data)

    # --- writing ------------------------------------------------------------------------------

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise TypeError(
                f"state keys must be strings (the state is stored as a JSON object), "
                f"not {type(key).__name__}"
            )
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def pop(self, key: str, default: Any = _MISSING) -> Any:
        if default is _MISSING:
            return self._data.pop(key)
        return self._data.pop(key, default)

    def popitem(self) -> tuple[str, Any]:
        return self._data.popitem()

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self._data:
            self[key] = default
        return self._data[key]

    def update(self, other: Mapping[str, Any] | Iterable[tuple[str, Any]] = (), **kw: Any) -> None:
        for key, value in dict(other, **kw).items():
            self[key] = value

    def clear(self) -> None:
        self._data.clear()

    # --- comparing and showing, as a dict -----------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._data == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, as a dict

    def __repr__(self) -> str:
        return repr(self._data)

    def __str__(self) -> str:
        return repr(self._data)


MutableMapping.register(DictState)
