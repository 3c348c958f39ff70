"""The resume form: fields built from the waiting step's ``input_model`` JSON schema, and the
submitted form turned back into the input dict.

Strings, numbers, integers, booleans and enums get their own inputs (an ``Enum`` class, a
``Literal[...]``, optional or not, is a choice of its values); anything else (a nested model, a
list) is a JSON text area. The values are only converted to the schema's JSON types
here: the workflow validates them against the model on ``resume()``, which names each bad
field. Without a schema (a step that paused with no ``input_model``) the form is one JSON text
area.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

FIELD_PREFIX = "input."
RAW_FIELD = "input_json"

Kind = Literal["text", "integer", "number", "boolean", "choice", "json"]


@dataclass(slots=True, kw_only=True)
class FormField:
    name: str
    label: str
    kind: Kind
    required: bool
    description: str | None = None
    choices: list[str] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)  # the JSON value of each choice
    default: str = ""

    @property
    def input_name(self) -> str:
        return FIELD_PREFIX + self.name


DEFS = "#/$defs/"


def _deref(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """``node`` with the definition its ``$ref`` names (an ``Enum`` class, a nested model)
    merged in; its own keys (``default``, ``description``) win."""
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(DEFS):
        target = defs.get(ref.removeprefix(DEFS))
        if isinstance(target, dict):
            return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
        return {**_deref(all_of[0], defs), **{k: v for k, v in node.items() if k != "allOf"}}
    return node


def _resolved(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """The property with its ``$ref`` (and those of its ``anyOf`` options) resolved."""
    prop = _deref(prop, defs)
    options = prop.get("anyOf")
    if isinstance(options, list):
        options = [_deref(o, defs) if isinstance(o, dict) else o for o in options]
        prop = {**prop, "anyOf": options}
    return prop


def _choices(prop: dict[str, Any]) -> list[Any] | None:
    """The values an enum (``Enum`` class, ``Literal``) allows, ``X | None`` too."""
    if isinstance(prop.get("enum"), list):
        return list(prop["enum"])
    if "const" in prop:
        return [prop["const"]]
    options = prop.get("anyOf")
    if isinstance(options, list):
        rest = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
        if len(rest) == 1 and isinstance(rest[0], dict):
            return _choices(rest[0])
    return None


def _scalar_type(prop: dict[str, Any]) -> tuple[str | None, bool]:
    """The property's JSON type and whether ``null`` is allowed (``X | None`` is an anyOf)."""
    options = prop.get("anyOf")
    if isinstance(options, list):
        types = [o.get("type") for o in options if isinstance(o, dict)]
        nullable = "null" in types
        rest = [t for t in types if t != "null"]
        return (rest[0] if len(rest) == 1 and len(options) - nullable == 1 else None), nullable
    kind = prop.get("type")
    return (kind if isinstance(kind, str) else None), False


def _kind(prop: dict[str, Any]) -> Kind:
    if _choices(prop) is not None:
        return "choice"
    kind, _ = _scalar_type(prop)
    return {  # type: ignore[return-value]
        "string": "text",
        "integer": "integer",
        "number": "number",
        "boolean": "boolean",
    }.get(kind or "", "json")


def _label(name: str, own: dict[str, Any]) -> str:
    """The property's title; pydantic gives none to a ``$ref`` property (an ``Enum``): then the
    title it gives the others (``risk_score`` is "Risk Score"), not the Enum class's."""
    title = own.get("title")
    if title:
        return str(title)
    return name.title().replace("_", " ") if "$ref" in own or "allOf" in own else name


def _default(prop: dict[str, Any], kind: Kind) -> str:
    if "default" not in prop or prop["default"] is None:
        return ""
    value = prop["default"]
    if kind == "json":
        return json.dumps(value)
    if kind == "boolean":
        return "true" if value else "false"
    return str(value)


def form_fields(schema: dict[str, Any] | None) -> list[FormField]:
    """The form's fields, in the model's order; ``[]`` for no schema (then: raw JSON)."""
    if not schema:
        return []
    required = set(schema.get("required") or ())
    defs = schema.get("$defs")
    defs = defs if isinstance(defs, dict) else {}
    fields = []
    for name, own in (schema.get("properties") or {}).items():
        if not isinstance(own, dict):
            continue
        prop = _resolved(own, defs)
        kind = _kind(prop)
        values = (_choices(prop) or []) if kind == "choice" else []
        fields.append(
            FormField(
                name=name,
                label=_label(name, own),
                kind=kind,
                required=name in required,
                description=own.get("description"),
                choices=[str(v) for v in values],
                values=values,
                default=_default(prop, kind),
            )
        )
    return fields


class FormInputError(ValueError):
    """A value that is not of its field's type (before the model sees it)."""


def _convert(field_: FormField, text: str) -> Any:
    try:
        if field_.kind == "integer":
            return int(text)
        if field_.kind == "number":
            return float(text)
        if field_.kind == "json":
            return json.loads(text)
    except RecursionError:
        raise FormInputError(f"{field_.name}: the JSON is nested too deeply") from None
    except ValueError as exc:
        what = {"integer": "a whole number", "number": "a number", "json": "JSON"}[field_.kind]
        raise FormInputError(f"{field_.name}: {text!r} is not {what}") from exc
    if field_.kind == "boolean":
        if text not in ("true", "false"):
            raise FormInputError(f"{field_.name}: choose true or false")
        return text == "true"
    if field_.kind == "choice":  # back to the value the option stands for (1, not "1")
        if text not in field_.choices:
            raise FormInputError(f"{field_.name}: choose one of {', '.join(field_.choices)}")
        return field_.values[field_.choices.index(text)]
    return text


def form_input(schema: dict[str, Any] | None, form: dict[str, str]) -> dict[str, Any]:
    """The user input a submitted form says. An empty field is left out: the model's default
    applies, or the model refuses the input naming the required field."""
    fields = form_fields(schema)
    if not fields:
        raw = form.get(RAW_FIELD, "").strip() or "{}"
        try:
            value = json.loads(raw)
        except RecursionError:
            raise FormInputError("the input's JSON is nested too deeply") from None
        except ValueError as exc:
            raise FormInputError(f"the input is not JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise FormInputError("the input must be a JSON object")
        return value
    values: dict[str, Any] = {}
    problems = []
    for f in fields:
        text = form.get(f.input_name, "")
        if f.kind != "text":
            text = text.strip()
        if text == "":
            continue  # left to the model: its default, or "Field required" by name
        try:
            values[f.name] = _convert(f, text)
        except FormInputError as exc:
            problems.append(str(exc))
    if problems:
        raise FormInputError("; ".join(problems))
    return values
