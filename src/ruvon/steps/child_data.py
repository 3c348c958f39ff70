"""The initial data a step gives the workflow it starts (SUB_WORKFLOW, FIRE_AND_FORGET).

``initial_data_template`` is rendered in the sandbox over the state (and ``context``: the
workflow, and in a loop body the iteration's item and index). A string that is a single
``{{ expression }}`` keeps the expression's JSON type (``None`` stays ``None``, a list a list);
any other string renders to text.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from ruvon.errors import StepResultError
from ruvon.runtime.merge import record_item

if TYPE_CHECKING:
    from ruvon.runtime.outcome import Where
    from ruvon.workflow import Workflow


def initial_data(
    wf: Workflow, template: dict[str, Any] | str | None, where: Where | None = None
) -> dict[str, Any]:
    """``initial_data_template`` rendered over the state (a mapping, or text that renders to
    a JSON object); with ``where``, also over ``context`` (the workflow, and in a loop body the
    iteration's ``loop_item`` in JSON form and ``loop_index``), unless a state field has that
    name."""
    if template is None:
        return {}
    if wf.template_engine is None:
        raise StepResultError("this workflow has no template engine for initial_data_template")
    from ruvon.steps.decision import condition_names

    names = condition_names(wf.state)
    if where is not None:
        context = {
            "workflow_id": wf.id,
            "workflow_type": wf.workflow_type,
            "loop_item": record_item(where.item),
            "loop_index": where.index,
        }
        names.setdefault("context", context)
    try:  # a string that is one {{ expression }} keeps the expression's JSON type
        data = _decode_native(wf.template_engine.render_object(_native(template), names))
    except Exception:  # a value with no JSON form: every string renders to text instead
        data = wf.template_engine.render_object(template, names)
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise StepResultError(f"initial_data_template did not render to JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise StepResultError(
            f"initial_data_template rendered to {type(data).__name__}, not a mapping"
        )
    return data


_ONE_EXPRESSION = re.compile(r"\s*\{\{((?:(?!\}\}|\{\{|\{%|%\}).)*)\}\}\s*", re.S)
_NATIVE = "\ue000"  # marks a rendered value to read back as JSON (a private-use character)


def _native(template: Any) -> Any:
    """``template`` with each string that is a single ``{{ expression }}`` asking for the
    expression's JSON (``None`` stays ``None``, a number a number, a list a list)."""
    if isinstance(template, str):
        one = _ONE_EXPRESSION.fullmatch(template)
        return template if one is None else f"{_NATIVE}{{{{ ({one.group(1)}) | tojson }}}}"
    if isinstance(template, dict):
        return {k: _native(v) for k, v in template.items()}
    if isinstance(template, list | tuple):
        return [_native(v) for v in template]
    return template


def _decode_native(rendered: Any) -> Any:
    if isinstance(rendered, str):
        return json.loads(rendered[1:]) if rendered.startswith(_NATIVE) else rendered
    if isinstance(rendered, dict):
        return {k: _decode_native(v) for k, v in rendered.items()}
    if isinstance(rendered, list | tuple):
        return [_decode_native(v) for v in rendered]
    return rendered
