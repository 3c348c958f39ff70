"""The resume form: fields built from the waiting step's ``input_model`` JSON schema, and the
submitted form turned back into the input dict.

Strings, numbers, integers, booleans and enums get their own inputs; anything else (a nested
model, a list) is a JSON text area. The values are only converted to the schema's JSON types
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
    default: str = ""

    @property
    def input_name(self) -> str:
        return FIELD_PREFIX + self.name


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
    if isinstance(prop.get("enum"), list):
        return "choice"
    kind, _ = _scalar_type(prop)
    return {  # type: ignore[return-value]
        "string": "text",
        "integer": "integer",
        "number": "number",
        "boolean": "boolean",
    }.get(kind or "", "json")


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
    fields = []
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        kind = _kind(prop)
        fields.append(
            FormField(
                name=name,
                label=str(prop.get("title") or name),
                kind=kind,
                required=name in required,
                description=prop.get("description"),
                choices=[str(c) for c in prop.get("enum", ())] if kind == "choice" else [],
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
