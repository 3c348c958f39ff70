"""Turn loaded YAML data into a validated :class:`WorkflowSpec`, or one clear DefinitionError."""

from __future__ import annotations

import difflib
import functools
import types
from collections.abc import Iterable
from typing import Any, Union, get_args, get_origin

from pydantic import AliasChoices, BaseModel, ValidationError

from ruvon.definition.schema import StepSpec, StepType, WorkflowSpec
from ruvon.definition.step_types import STEP_TYPES
from ruvon.definition.yaml_source import LineIndex
from ruvon.errors import DefinitionError


def closest(word: str, known: Iterable[str]) -> str | None:
    """The known name ``word`` is most likely a misspelling of, if one is close enough."""
    known = list(known)
    lowered = {k.lower(): k for k in known}
    if word.lower() in lowered:  # a difference of case only
        return lowered[word.lower()]
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    if match:
        return lowered[match[0]]
    prefixed = [k for k in known if k.startswith(word) or word.startswith(k)]
    return prefixed[0] if len(prefixed) == 1 and len(word) >= 4 else None


def did_you_mean(word: object, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for a near miss, else nothing."""
    match = closest(word, known) if isinstance(word, str) else None
    return f" (did you mean '{match}'?)" if match else ""


@functools.cache
def _models_by_name() -> dict[str, type[BaseModel]]:
    """The definition models a ValidationError's title may name (built once, on first error)."""
    models: list[type[BaseModel]] = [WorkflowSpec, StepSpec]
    models += [d.spec_model for d in STEP_TYPES.values()]
    return {m.__name__: m for m in models}


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model class inside a field's annotation (``RetryPolicy``, ``tuple[Route, ...]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType) or get_args(annotation):
        for arg in get_args(annotation):
            found = _nested_model(arg)
            if found is not None:
                return found
    return None


def key_names(model: type[BaseModel]) -> list[str]:
    """Every key a definition model accepts: its field names and their aliases."""
    names: list[str] = []
    for name, info in model.model_fields.items():
        names.append(name)
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names += [c for c in alias.choices if isinstance(c, str)]
        elif isinstance(alias, str):
            names.append(alias)
        if info.alias:
            names.append(info.alias)
    return list(dict.fromkeys(names))


def _known_keys(title: str, loc: tuple[str | int, ...]) -> list[str]:
    """The keys accepted where ``loc`` points, inside the model named ``title``."""
    model = _models_by_name().get(title)
    for part in loc[:-1]:
        if model is None:
            return []
        if isinstance(part, str):
            field = model.model_fields.get(part)
            model = _nested_model(field.annotation) if field else None
    return key_names(model) if model is not None else []


def _describe(err: Any, title: str = "") -> str:
    if err["type"] == "extra_forbidden":
        loc = tuple(err["loc"])
        known = _known_keys(title, loc)
        if loc and loc[-1] in known:  # a documented spelling, refused: another one was given too
            return (
                f"'{loc[-1]}' is another spelling of a key this step already has "
                "(e.g. 'items' for 'iterate_over', 'next_step' for 'target'): give only one"
            )
        return "unknown key" + (did_you_mean(loc[-1], known) if loc else "")
    if err["type"] == "missing":
        return "required key is missing"
    return str(err["msg"])


def _raise_from_pydantic(
    exc: ValidationError,
    *,
    source: str,
    lines: LineIndex,
    prefix: tuple[str | int, ...],
    step: str | None,
    workflow_type: str | None,
) -> None:
    errors = exc.errors()
    first = errors[0]
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and "[" in p))
    key = ".".join(str(p) for p in loc) or None
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    raise DefinitionError(
        _describe(first, exc.title) + more,
        file=source,
        step=step,
        key=key,
        line=lines.line((*prefix, *loc)),
        workflow_type=workflow_type,
    ) from exc


def _step_spec_model(stype: StepType) -> type[StepSpec] | None:
    declared = STEP_TYPES.get(stype)
    return declared.spec_model if declared else None


def _parse_step(
    raw: Any,
    index: int,
    *,
    source: str,
    lines: LineIndex,
    workflow_type: str | None,
    at: tuple[str | int, ...] = ("steps",),
) -> StepSpec:
    where = (*at, index)
    if not isinstance(raw, dict):
        raise DefinitionError(
            "each step must be a mapping",
            file=source,
            step=f"#{index + 1}",
            line=lines.line(where),
            workflow_type=workflow_type,
        )
    name = str(raw.get("name") or f"#{index + 1}")
    raw_type = raw.get("type", StepType.STANDARD.value)
    try:
        stype = StepType(raw_type)
    except ValueError:
        known = ", ".join(t.value for t in StepType)
        raise DefinitionError(
            f"unknown step type {raw_type!r} (known: {known})",
            file=source,
            step=name,
            key="type",
            line=lines.line((*where, "type")),
            workflow_type=workflow_type,
        ) from None
    model = _step_spec_model(stype)
    if model is None:
        raise DefinitionError(
            f"step type {stype.value} is not supported by this version of Ruvon",
            file=source,
            step=name,
            key="type",
            line=lines.line((*where, "type")),
            workflow_type=workflow_type,
        )
    nested = {}
    for key in NESTED_STEP_LISTS:  # a loop body: each step validated by its own type
        items = raw.get(key)
        if key in model.model_fields and isinstance(items, list):
            nested[key] = [
                _parse_step(
                    item,
                    j,
                    source=source,
                    lines=lines,
                    workflow_type=workflow_type,
                    at=(*where, key),
                )
                for j, item in enumerate(items)
            ]
    try:
        return model.model_validate({**raw, **nested})
    except ValidationError as exc:
        _raise_from_pydantic(
            exc, source=source, lines=lines, prefix=where, step=name, workflow_type=workflow_type
        )
        raise  # unreachable; keeps type checkers content


# keys whose value is a list of steps, parsed like the top-level ``steps``
NESTED_STEP_LISTS = ("loop_body",)


def parse_definition(data: Any, *, source: str, lines: LineIndex | None = None) -> WorkflowSpec:
    """Validate one workflow definition. ``source`` names the file (or registry entry)."""
    lines = lines or LineIndex()
    if not isinstance(data, dict):
        raise DefinitionError("a workflow definition must be a YAML mapping", file=source, line=1)
    workflow_type = (
        data.get("workflow_type") if isinstance(data.get("workflow_type"), str) else None
    )
    raw_steps = data.get("steps")
    steps: list[StepSpec] | Any = raw_steps
    if isinstance(raw_steps, list):
        steps = []
        seen: dict[str, int] = {}
        for i, raw in enumerate(raw_steps):
            spec = _parse_step(raw, i, source=source, lines=lines, workflow_type=workflow_type)
            if spec.name in seen:
                raise DefinitionError(
                    f"duplicate step name (also step #{seen[spec.name] + 1})",
                    file=source,
                    step=spec.name,
                    key="name",
                    line=lines.line(("steps", i, "name")),
                    workflow_type=workflow_type,
                )
            seen[spec.name] = i
            steps.append(spec)
    try:
        return WorkflowSpec.model_validate(
            {**data, **({"steps": steps} if "steps" in data else {})}
        )
    except ValidationError as exc:
        _raise_from_pydantic(
            exc, source=source, lines=lines, prefix=(), step=None, workflow_type=workflow_type
        )
        raise
