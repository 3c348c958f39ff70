"""Merging a step's result into the state.

The returned dict's keys replace the model's fields (a shallow merge); the merged data is
validated as a new model instance, so a result that does not fit fails the step and leaves the
state as it was. Keys that are not fields fail the step too, unless the model allows extras.
In-place mutations the step made to ``state`` are kept: the merge starts from the live object.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from ruvon.errors import StepResultError


def merge_result(state: BaseModel, result: Any, step_name: str) -> BaseModel:
    """Return the state with ``result`` merged in; ``state`` itself is not modified."""
    if result is None:
        return state
    if isinstance(result, BaseModel):
        if type(result) is type(state):
            return result
        result = result.model_dump()
    if not isinstance(result, dict):
        raise StepResultError(
            f"step '{step_name}' returned {type(result).__name__}; a step must return a dict "
            f"(or None)",
            step=step_name,
        )
    if not result:
        return state
    cls = type(state)
    fields = cls.__pydantic_fields__  # the class's dict itself; ``model_fields`` builds a copy
    extra = state.__pydantic_extra__
    if extra is None and not fields.keys() >= result.keys():
        unknown = [k for k in result if k not in fields]
        raise StepResultError(
            f"step '{step_name}' returned key '{unknown[0]}' which is not a field of "
            f"{cls.__name__}",
            step=step_name,
        )
    # Validating the whole merged mapping keeps model validators honest and is atomic: on error
    # the live state is untouched. ``state.__dict__`` already holds in-place mutations.
    data = (
        {**state.__dict__, **extra, **result} if extra is not None else {**state.__dict__, **result}
    )
    try:
        merged: BaseModel = cls.__pydantic_validator__.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise StepResultError(
            f"step '{step_name}' returned a result that does not fit {cls.__name__}: "
            f"{key}: {first['msg']}",
            step=step_name,
        ) from exc
    if state.__pydantic_private__:
        merged.__pydantic_private__ = dict(state.__pydantic_private__)
    return merged
