"""Scope paths: how nested scopes are named in step records, keys and the journal."""

from ruvon.models import ScopePath, StepRecord, StepStatus


def test_a_top_level_step_is_its_name() -> None:
    assert str(ScopePath.of_step("Charge_Payment")) == "Charge_Payment"


def test_nested_scopes_add_kind_and_name_segments() -> None:
    loop = ScopePath.of_step("Items").child("iter", 3).step("Reserve")
    assert str(loop) == "Items/iter:3/Reserve"
    assert str(ScopePath.of_step("Fan").child("task", "inventory")) == "Fan/task:inventory"
    assert loop.top_step == "Items"


def test_slashes_and_percents_in_names_survive_a_round_trip() -> None:
    path = ScopePath.of_step("a/b").child("task", "50% off")
    text = str(path)
    assert text == "a%2Fb/task:50%25 off"
    assert ScopePath.parse(text) == path


def test_a_record_without_a_scope_gets_its_steps() -> None:
    record = StepRecord(
        seq=0, step_name="A/B", step_index=0, attempt=1, status=StepStatus.COMPLETED, started_at=0
    )
    assert record.scope == "A%2FB"
