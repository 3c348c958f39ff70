"""What a record may keep besides the state (input, items, what a pause waits for): values that
read back on every store, found by breaking the dashboard's resume form."""

from __future__ import annotations

from typing import Any

import pytest

from ruvon.errors import WorkflowValidationError
from ruvon.runtime.merge import MAX_VALUE_DEPTH, storable
from ruvon.status import WorkflowStatus as S


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def test_a_value_nested_up_to_the_limit_is_kept_and_one_deeper_is_refused() -> None:
    assert storable(nested(MAX_VALUE_DEPTH)) == nested(MAX_VALUE_DEPTH)
    with pytest.raises(ValueError, match=f"more than {MAX_VALUE_DEPTH} levels"):
        storable({"a": nested(MAX_VALUE_DEPTH)})


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = "[{" * 400 + '\\"' + "]}" * 400
    assert storable({"note": text}) == {"note": text}


def test_a_string_with_the_nul_character_is_refused_on_every_store() -> None:
    with pytest.raises(ValueError, match="NUL character"):
        storable({"who": "a\x00b"})
    assert storable({"who": "a\\u0000b"}) == {"who": "a\\u0000b"}  # the six characters are fine


async def test_resume_input_with_a_nul_character_writes_nothing() -> None:
    from flow_support import flow, step

    b = flow(step("A", "flow_steps.take_input", type="HUMAN_IN_LOOP"), step("After"))
    wf = await b.create_workflow("F")
    await wf.next_step()
    version = (await wf.persistence.load_workflow(wf.id)).version
    with pytest.raises(WorkflowValidationError, match="NUL character"):
        await wf.resume({"note": "x\x00"})
    row = await wf.persistence.load_workflow(wf.id)
    assert (row.status, row.version, row.lease_owner) == (S.WAITING_HUMAN, version, None)
