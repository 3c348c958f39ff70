"""Merging a step's result into the state, through the form the store keeps.

The returned dict's keys replace the model's fields (a shallow merge). In-place mutations the
step made to ``state`` are kept: the merge starts from the live object. The merged state is then
serialized with the state model's own serializer and validated back from that JSON, so

- the state in memory is exactly what every store gives back after a reload (a ``Decimal``, a
  ``set``, a nested model or a ``datetime`` behave the same on the in-memory store and on SQLite);
- the state is validated after every step, whatever it returned (``None`` and ``{}`` included):
  in-place changes that break the model fail the step;
- a value the model's JSON form can not hold (bytes that are not UTF-8 under the default
  ``ser_json_bytes``, an object of no serializable type) fails the step here, before anything is
  written, instead of failing the commit.

Keys that are not fields fail the step too, unless the model allows extras. The live ``state``
object is never modified by the merge; on error nothing changed.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

import pydantic_core
from pydantic import BaseModel, PlainSerializer, ValidationError, WrapSerializer
from pydantic_core import PydanticSerializationError

from ruvon.errors import StepResultError

log = logging.getLogger("ruvon.merge")


@dataclass(slots=True, kw_only=True)
class Merged:
    """The state after a step: the model, its JSON (what the commit writes), and the step's
    result as JSON-ready data taken from that state (what the step record keeps)."""

    state: BaseModel
    state_json: bytes
    result: dict[str, Any] | None


def _what(step: str, compensation: bool) -> str:
    return f"compensation of step '{step}'" if compensation else f"step '{step}'"


# a JSON ``\u0000`` escape that is not itself an escaped backslash followed by "u0000"
_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def dump_state(state: BaseModel, step: str, *, compensation: bool = False) -> bytes:
    """The state as the store keeps it; ``StepResultError`` naming the step if it can not be."""
    try:
        data = type(state).__pydantic_serializer__.to_json(state, round_trip=True, warnings=False)
    except (PydanticSerializationError, ValueError, TypeError) as exc:
        raise StepResultError(
            f"{_what(step, compensation)} left a state that can not be stored as JSON by "
            f"{type(state).__name__}: {exc}",
            step=step,
        ) from exc
    # refused on every store, so that a workflow behaves the same on each
    if b"\\" in data and _NUL.search(data):  # one byte: a memchr, unlike "u0000"
        raise StepResultError(
            f"{_what(step, compensation)} left a string holding the NUL character (U+0000) in "
            "the state; Ruvon refuses it on every store, because PostgreSQL's JSONB can not "
            "store it",
            step=step,
        )
    if (b"Infinity" in data or b"NaN" in data) and not _standard_json(data):
        raise StepResultError(
            f"{_what(step, compensation)} left an infinite or NaN number in the state "
            "(ser_json_inf_nan='constants' writes them as Infinity/NaN, which is not JSON); "
            "Ruvon refuses them on every store, because PostgreSQL's JSONB can not store them",
            step=step,
        )
    return data


def _standard_json(data: bytes) -> bool:
    """Whether ``data`` is standard JSON (no ``Infinity``/``NaN`` number tokens)."""
    try:
        pydantic_core.from_json(data, allow_inf_nan=False)
    except ValueError:
        return False
    return True


def load_state(
    cls: type[BaseModel], data: bytes | str, step: str, *, compensation: bool = False
) -> BaseModel:
    """Validate stored JSON into ``cls``; ``StepResultError`` naming the first bad field."""
    try:
        return cls.__pydantic_validator__.validate_json(data)  # type: ignore[no-any-return]
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "<root>"
        raise StepResultError(
            f"{_what(step, compensation)} returned a result that does not fit {cls.__name__}: "
            f"{key}: {first['msg']}",
            step=step,
        ) from exc


def _candidate(
    state: BaseModel, result: Any, step: str, compensation: bool
) -> tuple[BaseModel, dict[str, Any], dict[str, Any]]:
    """The live state with ``result``'s keys set (unvalidated), the keys set as a dict, and the
    keys the model ignores (not fields, and the model neither allows nor forbids extras)."""
    if result is None:
        return state, {}, {}
    if isinstance(result, BaseModel):
        if type(result) is type(state):
            return result, {}, {}
        result = result.model_dump()
    if not isinstance(result, dict):
        raise StepResultError(
            f"{_what(step, compensation)} returned {type(result).__name__}; a step must return "
            "a dict (or None)",
            step=step,
        )
    if not result:
        return state, {}, {}
    cls = type(state)
    fields = cls.__pydantic_fields__  # the class's dict itself; ``model_fields`` builds a copy
    if state.__pydantic_extra__ is None and not fields.keys() >= result.keys():
        unknown = [k for k in result if k not in fields]
        if cls.model_config.get("extra") == "forbid":
            raise StepResultError(
                f"{_what(step, compensation)} returned key '{unknown[0]}' which is not a field "
                f"of {cls.__name__} (its model forbids other keys)",
                step=step,
            )
        # pydantic's default: a model ignores keys that are not fields; so does the merge
        _warn_ignored(cls, step, unknown)
        known = {k: v for k, v in result.items() if k in fields}
        ignored = {k: v for k, v in result.items() if k not in fields}
        return (_with(state, known) if known else state), known, ignored
    return _with(state, result), result, {}


_WARNED: set[tuple[type[BaseModel], str, str]] = set()


def _warn_ignored(cls: type[BaseModel], step: str, keys: list[str]) -> None:
    """Say once per step and key that a returned key is not kept in the state."""
    for key in keys:
        if (cls, step, key) not in _WARNED:
            _WARNED.add((cls, step, key))
            log.warning(
                "step '%s' returned key '%s', which is not a field of %s: it is kept in the "
                "step's result only, not in the state (give the model the field, or "
                "extra='allow' to keep it, or extra='forbid' to make it an error)",
                step,
                key,
                cls.__name__,
            )


def _with(state: BaseModel, result: dict[str, Any]) -> BaseModel:
    """``state.model_copy(update=result)`` without its cost (measured: 4 µs of the merge's
    10 on the tutorial's state, against under 1 µs here): a shallow copy whose fields are
    replaced, unvalidated, to be serialized once."""
    cls = type(state)
    fields = cls.__pydantic_fields__
    extra = state.__pydantic_extra__
    if extra is None:
        values, new_extra = {**state.__dict__, **result}, None
    else:
        values = {**state.__dict__, **{k: v for k, v in result.items() if k in fields}}
        new_extra = {**extra, **{k: v for k, v in result.items() if k not in fields}}
    copy = cls.__new__(cls)
    object.__setattr__(copy, "__dict__", values)
    object.__setattr__(copy, "__pydantic_extra__", new_extra)
    # the copy is only serialized, never read: its fields-set need not count the new keys
    object.__setattr__(copy, "__pydantic_fields_set__", state.__pydantic_fields_set__)
    object.__setattr__(copy, "__pydantic_private__", state.__pydantic_private__)
    return copy


def _check_lossless(
    raw: dict[str, Any], merged: BaseModel, changed: dict[str, Any], step: str, compensation: bool
) -> None:
    """Fail the step if a value it returned would be changed by the stored form in a way the
    model's own JSON does not promise: a UTC offset with seconds, which the JSON form cuts to
    whole minutes (another instant). Equal values cost one comparison each. Untyped values
    (``Any``, a bare ``dict``) are JSON data: a tuple or set there comes back as a list, a
    ``Decimal`` as a string, as after any reload; that is not an error."""
    merged_values = merged.__dict__
    for key, returned in changed.items():
        if type(returned) in _SCALARS:  # no scalar holds a UTC offset
            continue
        value = raw.get(key)
        if value != merged_values.get(key) and _has_cut_offset(value):
            raise StepResultError(
                f"{_what(step, compensation)} returned a value for '{key}' that its stored JSON "
                f"form does not keep (a UTC offset with seconds is cut to whole minutes): "
                f"{value!r} comes back as {merged_values.get(key)!r}",
                step=step,
            )


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _has_cut_offset(value: Any) -> bool:
    if isinstance(value, datetime | time):
        offset = value.utcoffset()
        return offset is not None and bool(offset.seconds % 60 or offset.microseconds)
    if isinstance(value, dict):
        return any(_has_cut_offset(k) or _has_cut_offset(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_has_cut_offset(v) for v in value)
    if isinstance(value, BaseModel):
        return any(_has_cut_offset(v) for v in value.__dict__.values())
    return False


def _plain_fields(cls: type[BaseModel]) -> frozenset[str]:
    """The fields whose JSON form of a plain ``str``/``int``/``float``/``bool``/``None`` value is
    the value itself: no serializer of the model's own touches them and they are not excluded.
    Cached on the class; a step's result for these is recorded without serializing it again."""
    decorators = cls.__pydantic_decorators__
    plain: frozenset[str] = frozenset()
    if not decorators.model_serializers:
        serialized = {name for d in decorators.field_serializers.values() for name in d.info.fields}
        plain = frozenset(
            name
            for name, info in cls.__pydantic_fields__.items()
            if name not in serialized
            and not info.exclude
            and info.alias is None  # recorded under its alias if the model serializes by alias
            and info.serialization_alias is None
            and not any(isinstance(m, _SERIALIZERS) for m in info.metadata)
        )
    _PLAIN[cls] = plain
    return plain


# by state class; a plain dict (a WeakKeyDictionary's get is Python code, on every step): a
# state class lives as long as the workflow definitions that name it
_PLAIN: dict[type[BaseModel], frozenset[str]] = {}
_SERIALIZERS = (PlainSerializer, WrapSerializer)


def merge_result(state: BaseModel, result: Any, step: str, *, compensation: bool = False) -> Merged:
    """Merge ``result`` into ``state`` (left untouched) and prove the outcome can be stored."""
    cls = type(state)
    if (
        type(result) is dict
        and result
        and state.__pydantic_extra__ is None
        and cls.__pydantic_fields__.keys() >= result.keys()
    ):  # the common case, checked as _candidate would; serialized without building a copy:
        # the live state's fields are swapped for the merged ones just for the serializer
        live, raw, changed = state.__dict__, {**state.__dict__, **result}, result
        ignored: dict[str, Any] = {}
        object.__setattr__(state, "__dict__", raw)
        try:
            data = dump_state(state, step, compensation=compensation)
        finally:
            object.__setattr__(state, "__dict__", live)
    else:
        candidate, changed, ignored = _candidate(state, result, step, compensation)
        raw = candidate.__dict__
        data = dump_state(candidate, step, compensation=compensation)
    try:
        merged: BaseModel = cls.__pydantic_validator__.validate_json(data)
    except ValidationError:
        merged = load_state(cls, data, step, compensation=compensation)  # raises, naming the key
    if state.__pydantic_private__:
        merged.__pydantic_private__ = dict(state.__pydantic_private__)
    recorded = _recorded(cls, merged, raw, changed, step, compensation)
    if recorded is None and not isinstance(result, dict):
        return Merged(state=merged, state_json=data, result=None)
    recorded = recorded or {}
    if ignored:  # not in the state, but the step's result keeps them (as JSON data)
        recorded = {**recorded, **_as_json(ignored, step, compensation)}
    return Merged(state=merged, state_json=data, result=recorded)


def _recorded(
    cls: type[BaseModel],
    merged: BaseModel,
    raw: dict[str, Any],
    changed: dict[str, Any],
    step: str,
    compensation: bool,
) -> dict[str, Any] | None:
    """The merged values of the keys the step set, as JSON data (``None``: it set none)."""
    if not changed:
        return None
    values = merged.__dict__
    plain = _PLAIN.get(cls) or _plain_fields(cls)
    # the common case: plain values of plain fields are their own JSON form
    recorded: dict[str, Any] = {}
    for key in changed:
        value = values.get(key, _MISSING)
        if type(value) not in _SCALARS or key not in plain:
            break
        recorded[key] = value
    else:
        return recorded
    _check_lossless(raw, merged, changed, step, compensation)
    serialized: dict[str, Any] = cls.__pydantic_serializer__.to_python(
        merged, mode="json", include=set(changed), round_trip=True, warnings=False
    )
    return serialized


MAX_VALUE_DEPTH = 150
"""How deeply a value kept inside a record (input, an item, what a pause waits for) may nest:
it is stored inside other JSON (a frame, a record), and must still read back under the JSON
parser's limit of 200 levels."""


def storable(value: Any) -> Any:
    """``value`` as the JSON data a store gives back; ``ValueError`` if it can not make the
    round trip (an object of no JSON type, an integer too long to read back, a string with the
    NUL character, nesting deeper than :data:`MAX_VALUE_DEPTH`) on every store."""
    try:
        data = pydantic_core.to_json(value)
    except (PydanticSerializationError, ValueError, TypeError) as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from exc
    if b"\\" in data and _NUL.search(data):
        raise ValueError(
            "a string holds the NUL character (U+0000), which PostgreSQL's JSONB can not store"
        )
    if _nesting(data) > MAX_VALUE_DEPTH:
        raise ValueError(f"it is nested more than {MAX_VALUE_DEPTH} levels deep")
    try:
        return pydantic_core.from_json(data)
    except ValueError as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from exc


def _nesting(data: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (brackets inside strings do not
    count)."""
    if data.count(b"[") + data.count(b"{") <= MAX_VALUE_DEPTH:
        return 0  # too few to nest that deep: the common case, two counts in C
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def record_item(item: Any) -> Any:
    """An item as an attempt's record keeps it: JSON data (its ``repr`` if it has none)."""
    if item is None or type(item) in (str, int, float, bool):
        return item
    try:
        return storable(item)
    except ValueError:
        return repr(item)


def _as_json(values: dict[str, Any], step: str, compensation: bool) -> dict[str, Any]:
    try:
        data: dict[str, Any] = storable(values)
    except ValueError as exc:
        raise StepResultError(
            f"{_what(step, compensation)} returned keys that are not fields of the state, "
            f"kept in its result only, and their values can not be stored as JSON: {exc}",
            step=step,
        ) from exc
    return data


_MISSING = object()
