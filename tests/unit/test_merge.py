"""Merging a step's result into the state."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any

import pytest
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    WrapSerializer,
    field_serializer,
    model_serializer,
    model_validator,
)

from ruvon.errors import StepResultError
from ruvon.runtime.merge import merge_result


class M(BaseModel):
    a: int = 0
    b: str = "x"
    items: list[str] = []
    positive: float = Field(1.0, gt=0)


def test_keys_replace_fields_and_others_stay() -> None:
    s = M(a=1, b="y")
    merged = merge_result(s, {"a": 2}, "s1").state
    assert merged.a == 2 and merged.b == "y"
    assert s.a == 1, "the input state object is not modified"


def test_values_are_validated_and_coerced() -> None:
    assert merge_result(M(), {"a": "7"}, "s1").state.a == 7


def test_in_place_mutations_are_kept() -> None:
    s = M()
    s.items.append("mutated")
    s.b = "assigned"
    merged = merge_result(s, {"a": 1}, "s1").state
    assert merged.items == ["mutated"] and merged.b == "assigned"


@pytest.mark.parametrize("result", [None, {}])
def test_nothing_to_merge_gives_an_equal_state(result: Any) -> None:
    s = M(a=3)
    merged = merge_result(s, result, "s1")
    assert merged.state == s and merged.state_json == s.model_dump_json().encode()


@pytest.mark.parametrize("result", [None, {}])
def test_in_place_changes_are_validated_whatever_the_step_returns(result: Any) -> None:
    s = M()
    s.positive = -5  # no validate_assignment: only the merge can catch it
    with pytest.raises(StepResultError, match=r"step 's1'.*positive"):
        merge_result(s, result, "s1")


def test_result_that_does_not_fit_fails_and_leaves_state_alone() -> None:
    s = M(a=1)
    with pytest.raises(StepResultError, match=r"step 's1'.*positive"):
        merge_result(s, {"a": 5, "positive": -1}, "s1")
    assert s.a == 1


class Strict(M):
    model_config = ConfigDict(extra="forbid")


def test_unknown_key_fails_naming_it_when_the_model_forbids_extra() -> None:
    with pytest.raises(StepResultError, match="key 'zzz' which is not a field of Strict"):
        merge_result(Strict(), {"zzz": 1}, "s1")


def test_unknown_key_is_dropped_from_the_state_but_kept_in_the_result_by_default(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """pydantic ignores keys that are not fields unless told otherwise; so does the merge (as
    ruvon-sdk did): the state gets the fields, the step's result keeps everything."""
    merged = merge_result(M(), {"a": 3, "status": "ok", "step": {"n": 1}}, "s1")
    assert merged.state.a == 3 and not hasattr(merged.state, "status")
    assert merged.result == {"a": 3, "status": "ok", "step": {"n": 1}}
    assert "returned key 'status', which is not a field of M" in caplog.text
    caplog.clear()
    merge_result(M(), {"status": "again"}, "s1")
    assert caplog.text == ""  # said once per step and key


def test_an_ignored_key_whose_value_can_not_be_stored_fails_the_step() -> None:
    with pytest.raises(StepResultError, match=r"not fields of the state.*can not be stored"):
        merge_result(M(), {"zzz": object()}, "s1")


def test_unknown_key_is_kept_when_model_allows_extra() -> None:
    class Open(BaseModel):
        model_config = ConfigDict(extra="allow")
        a: int = 0

    merged = merge_result(Open(), {"zzz": 1}, "s1").state
    assert merged.zzz == 1  # type: ignore[attr-defined]
    assert merge_result(merged, {"a": 2}, "s2").state.zzz == 1  # type: ignore[attr-defined]


def test_non_dict_result_fails() -> None:
    with pytest.raises(StepResultError, match="returned list"):
        merge_result(M(), [1], "s1")


def test_same_model_instance_replaces_state() -> None:
    new = M(a=9)
    assert merge_result(M(), new, "s1").state == new


def test_model_validators_run_on_merge() -> None:
    class Checked(BaseModel):
        low: int = 0
        high: int = 10

        @model_validator(mode="after")
        def ordered(self) -> "Checked":
            if self.low > self.high:
                raise ValueError("low above high")
            return self

    with pytest.raises(StepResultError, match="low above high"):
        merge_result(Checked(), {"low": 11}, "s1")


def test_private_attributes_survive() -> None:
    class P(BaseModel):
        a: int = 0
        _secret: str = PrivateAttr("k")

    s = P()
    s._secret = "kept"
    assert merge_result(s, {"a": 1}, "s1").state._secret == "kept"


class Rich(BaseModel):
    class Inner(BaseModel):
        n: int = 0

    inner: Inner = Inner()
    tags: set[str] = set()
    price: Decimal = Decimal("0")
    when: datetime | None = None
    big: int = 0


def test_values_the_model_accepts_are_recorded_as_json_ready_data() -> None:
    merged = merge_result(
        Rich(),
        {
            "inner": Rich.Inner(n=2),
            "tags": {"a"},
            "price": Decimal("1.10"),
            "when": datetime(2026, 1, 2, tzinfo=UTC),
            "big": 2**70,
        },
        "s1",
    )
    assert merged.state.tags == {"a"} and merged.state.price == Decimal("1.10")
    assert merged.result == {
        "inner": {"n": 2},
        "tags": ["a"],
        "price": "1.10",
        "when": "2026-01-02T00:00:00Z",
        "big": 2**70,
    }
    assert Rich.model_validate_json(merged.state_json) == merged.state


def test_a_value_the_json_form_can_not_hold_fails_the_step_by_name() -> None:
    class B(BaseModel):
        raw: bytes = b""

    with pytest.raises(StepResultError, match=r"step 's1'.*can not be stored as JSON"):
        merge_result(B(), {"raw": b"\xff"}, "s1")


def test_compensation_errors_say_so() -> None:
    with pytest.raises(StepResultError, match=r"compensation of step 's1'.*not a field"):
        merge_result(Strict(), {"zzz": 1}, "s1", compensation=True)


def test_a_nul_character_fails_the_step_on_every_store() -> None:
    class T(BaseModel):
        text: str = ""

    with pytest.raises(StepResultError, match=r"NUL character"):
        merge_result(T(), {"text": "a\x00b"}, "s1")
    # a backslash followed by "u0000" is ordinary text
    assert merge_result(T(), {"text": "a\\u0000b"}, "s1").state.text == "a\\u0000b"


def test_a_utc_offset_the_json_form_cuts_fails_the_step() -> None:
    class T(BaseModel):
        at: datetime | None = None

    odd = datetime(1900, 6, 1, 12, tzinfo=timezone(timedelta(minutes=19, seconds=32)))
    with pytest.raises(StepResultError, match=r"'at'.*does not keep"):
        merge_result(T(), {"at": odd}, "s1")


def test_values_the_model_coerces_are_not_taken_for_losses() -> None:
    class T(BaseModel):
        items: list[int] = []
        n: int = 0

    merged = merge_result(T(), {"items": (1, 2), "n": "3"}, "s1")
    assert (merged.state.items, merged.state.n) == ([1, 2], 3)


def test_an_error_message_with_a_nul_character_can_be_stored() -> None:
    from ruvon.models import WorkflowError

    assert "\x00" not in WorkflowError.from_exception(ValueError("a\x00b"), "s").message


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_infinite_or_nan_numbers_fail_the_step_even_with_constants(value: float) -> None:
    class T(BaseModel):
        model_config = ConfigDict(ser_json_inf_nan="constants")
        f: float = 0.0
        text: str = ""

    with pytest.raises(StepResultError, match=r"infinite or NaN"):
        merge_result(T(), {"f": value}, "s1")
    # the words in a string are ordinary text
    assert merge_result(T(), {"text": "NaN and Infinity"}, "s1").state.text == "NaN and Infinity"


def test_a_lone_surrogate_fails_the_step() -> None:
    class T(BaseModel):
        text: str = ""

    with pytest.raises(StepResultError, match=r"can not be stored as JSON"):
        merge_result(T(), {"text": "\ud800"}, "s1")


def test_untyped_values_become_json_data_as_after_a_reload() -> None:
    class T(BaseModel):
        data: Any = None

    merged = merge_result(T(), {"data": {"t": (1, 2), "s": {3}, 4: Decimal("1.5")}}, "s1")
    assert merged.state.data == {"t": [1, 2], "s": [3], "4": "1.5"}
    assert T.model_validate_json(merged.state_json) == merged.state


def test_a_cut_utc_offset_is_found_inside_containers_too() -> None:
    class T(BaseModel):
        when: list[datetime] = []

    odd = datetime(1900, 6, 1, 12, tzinfo=timezone(timedelta(minutes=19, seconds=32)))
    with pytest.raises(StepResultError, match=r"'when'.*cut to whole minutes"):
        merge_result(T(), {"when": [odd]}, "s1")


# --- paths the mutation run (tests/mutation) found untested ---------------------------------


class _Offbeat(BaseModel):
    """One field for each way a merge can fail."""

    model_config = ConfigDict(ser_json_inf_nan="constants", extra="forbid")

    a: int = 0
    positive: float = Field(1.0, gt=0)
    raw: bytes = b""
    text: str = ""
    f: float = 0.0
    at: datetime | None = None


_ODD = datetime(1900, 6, 1, 12, tzinfo=timezone(timedelta(minutes=19, seconds=32)))


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ([1], "returned list; a step must return a dict (or None)"),
        ({"zzz": 1}, "returned key 'zzz' which is not a field of _Offbeat (its model forbids"),
        (
            {"positive": -1},
            "returned a result that does not fit _Offbeat: positive: Input should be greater "
            "than 0",
        ),
        ({"raw": b"\xff"}, "left a state that can not be stored as JSON by _Offbeat: "),
        (
            {"text": "a\x00b"},
            "left a string holding the NUL character (U+0000) in the state; Ruvon refuses it on "
            "every store, because PostgreSQL's JSONB can not store it",
        ),
        (
            {"f": float("inf")},
            "left an infinite or NaN number in the state (ser_json_inf_nan='constants' writes "
            "them as Infinity/NaN, which is not JSON); Ruvon refuses them on every store, "
            "because PostgreSQL's JSONB can not store them",
        ),
        (
            {"at": _ODD},
            "returned a value for 'at' that its stored JSON form does not keep (a UTC offset "
            "with seconds is cut to whole minutes): "
            # the value the store gives back: the offset cut to 19 minutes (repr by pydantic)
            f"{_ODD!r} comes back as datetime.datetime(1900, 6, 1, 12, 0, tzinfo=",
        ),
    ],
    ids=["not-a-dict", "unknown-key", "does-not-fit", "not-json", "nul", "inf", "cut-offset"],
)
@pytest.mark.parametrize("compensation", [False, True], ids=["step", "compensation"])
def test_every_merge_failure_names_the_step_and_whether_it_was_a_compensation(
    result: Any, message: str, compensation: bool
) -> None:
    with pytest.raises(StepResultError) as info:
        merge_result(_Offbeat(), result, "s1", compensation=compensation)
    what = "compensation of step 's1'" if compensation else "step 's1'"
    assert str(info.value).startswith(f"{what} {message}")
    assert info.value.step == "s1"


def test_a_failure_inside_a_nested_model_names_its_path_and_one_of_the_whole_model_root() -> None:
    with pytest.raises(StepResultError, match=r": inner\.n: Input should be a valid integer"):
        merge_result(Rich(), {"inner": {"n": "x"}}, "s1")

    class Checked(BaseModel):
        low: int = 0

        @model_validator(mode="after")
        def positive(self) -> "Checked":
            if self.low < 0:
                raise ValueError("low below zero")
            return self

    with pytest.raises(StepResultError, match=r"does not fit Checked: <root>: Value error"):
        merge_result(Checked(), {"low": -1}, "s1")


def test_a_json_field_is_stored_and_recorded_in_its_input_form() -> None:
    from pydantic import Json

    class J(BaseModel):
        raw: Json[list[int]] = []  # type: ignore[assignment]

    merged = merge_result(J.model_validate({"raw": "[1]"}), {"raw": [3]}, "s1")
    assert merged.state.raw == [3]
    assert merged.state_json == b'{"raw":"[3]"}'
    assert merged.result == {"raw": "[3]"}
    assert J.model_validate(merged.result) == merged.state  # the record can be fed back


def test_a_value_the_model_coerces_is_merged_without_serializer_warnings() -> None:
    import warnings

    s = M()
    s.a = "7"  # type: ignore[assignment]  # in place, unvalidated: the merge validates it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        merged = merge_result(s, {"b": "y"}, "s1")
    assert (merged.state.a, merged.state.b) == (7, "y")


def test_a_model_instance_of_another_type_is_merged_by_its_fields() -> None:
    class Part(BaseModel):
        a: int = 5
        b: str = "from part"

    merged = merge_result(M(items=["kept"]), Part(), "s1")
    assert (merged.state.a, merged.state.b, merged.state.items) == (5, "from part", ["kept"])
    assert merged.result == {"a": 5, "b": "from part"}


def test_a_whole_new_state_replaces_the_state_and_records_no_keys() -> None:
    merged = merge_result(M(a=1), M(a=9, b="z"), "s1")
    assert (merged.state.a, merged.state.b) == (9, "z")
    assert merged.result is None  # not a dict of keys: the record keeps no result


@pytest.mark.parametrize(("result", "recorded"), [(None, None), ({}, {})])
def test_a_step_that_returns_nothing_records_what_it_returned(
    result: Any, recorded: dict[str, Any] | None
) -> None:
    assert merge_result(M(), result, "s1").result == recorded


def test_a_model_that_allows_extras_takes_fields_and_extras_from_one_result() -> None:
    class Open(BaseModel):
        model_config = ConfigDict(extra="allow")
        a: int = 0

    merged = merge_result(Open(), {"a": 2, "zzz": 1}, "s1")
    assert merged.state.a == 2 and merged.state.zzz == 1  # type: ignore[attr-defined]
    again = merge_result(merged.state, {"a": 3}, "s2").state
    assert again.a == 3 and again.zzz == 1  # type: ignore[attr-defined]


def test_a_serializer_reading_private_attributes_and_the_fields_set_works_in_the_merge() -> None:
    from pydantic import field_serializer

    seen: list[tuple[str, int]] = []

    class P(BaseModel):
        a: int = 0
        _tag: str = PrivateAttr("")

        @field_serializer("a")
        def _a(self, value: int) -> int:
            seen.append((self._tag, len(self.model_fields_set)))  # user code may read both
            return value

    s = P()
    s._tag = "live"
    merged = merge_result(s, {"a": 2}, "s1")
    assert merged.state.a == 2 and merged.result == {"a": 2}
    assert {tag for tag, _ in seen} == {"live"}


def test_dump_and_load_on_their_own_speak_of_a_step() -> None:
    from ruvon.runtime.merge import dump_state, load_state

    s = _Offbeat()
    s.text = "a\x00b"
    with pytest.raises(StepResultError, match=r"^step 's1' left a string holding the NUL"):
        dump_state(s, "s1")
    with pytest.raises(StepResultError, match=r"^step 's1' returned a result that does not fit"):
        load_state(_Offbeat, b'{"a": "x"}', "s1")


async def test_initial_data_that_can_not_be_stored_is_the_callers_error_not_a_compensation() -> (
    None
):
    from engine_support import builder, st
    from ruvon.errors import WorkflowValidationError

    with pytest.raises(WorkflowValidationError) as info:
        await builder(st("A")).create_workflow("T", {"note": "a\x00b"})
    assert str(info.value).startswith(
        "initial data for workflow 'T' can not be stored: step 'initial data' left a string "
        "holding the NUL character"
    )


def test_a_datetime_a_serializer_writes_in_utc_keeps_its_instant_and_merges() -> None:
    from pydantic import field_serializer

    class T(BaseModel):
        at: datetime | None = None

        @field_serializer("at")
        def _utc(self, value: datetime | None) -> datetime | None:
            return None if value is None else value.astimezone(UTC)

    merged = merge_result(T(), {"at": _ODD}, "s1")  # the offset's seconds do not matter here
    assert merged.state.at == _ODD  # the same instant


def test_datetimes_in_untyped_fields_become_json_text_whatever_their_offset() -> None:
    class T(BaseModel):
        data: Any = None

    naive, whole_hour = (
        datetime(2026, 1, 2),
        datetime(2026, 1, 2, tzinfo=timezone(timedelta(hours=1))),
    )
    assert merge_result(T(), {"data": naive}, "s1").state.data == "2026-01-02T00:00:00"
    assert merge_result(T(), {"data": whole_hour}, "s1").state.data == "2026-01-02T00:00:00+01:00"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("by_when", {_ODD: 1}),
        ("whens", {"x": _ODD}),
        ("inner", None),
    ],
    ids=["dict-key", "dict-value", "nested-model"],
)
def test_a_cut_utc_offset_is_found_in_dict_keys_values_and_nested_models(
    key: str, value: Any
) -> None:
    class Inner(BaseModel):
        at: datetime

    class T(BaseModel):
        by_when: dict[datetime, int] = {}
        whens: dict[str, datetime] = {}
        inner: Inner | None = None

    result = {key: Inner(at=_ODD) if key == "inner" else value}
    with pytest.raises(StepResultError, match=rf"'{key}'.*cut to whole minutes"):
        merge_result(T(), result, "s1")


def test_a_serializer_returning_other_than_its_annotation_does_not_make_the_merge_warn() -> None:
    import warnings

    from pydantic import field_serializer

    class T(BaseModel):
        a: int = 0

        @field_serializer("a")
        def _a(self, value: int) -> int:
            return str(value)  # type: ignore[return-value]  # a user's slip

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        merged = merge_result(T(), {"a": 1}, "s1")
    assert merged.state.a == 1


# --- the recorded result: plain values are recorded as they are, unless the model's own
# --- serialization touches the field (then the record is what the serializer writes)


class Serialized(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True, populate_by_name=True)

    plain: str = ""
    upper: str = ""
    tagged: Annotated[str, PlainSerializer(lambda v: v.strip(), return_type=str)] = ""
    wrapped: Annotated[int, WrapSerializer(lambda v, nxt: abs(nxt(v)), return_type=int)] = 0
    aliased: int = Field(0, alias="Aliased")
    hidden: int = Field(0, exclude=True)

    @field_serializer("upper")
    def _upper(self, value: str) -> str:
        return value.upper()


def test_plain_fields_are_recorded_as_returned() -> None:
    merged = merge_result(Serialized(), {"plain": "a"}, "s1")
    assert merged.result == {"plain": "a"}


@pytest.mark.parametrize(
    ("result", "recorded"),
    [
        ({"upper": "abc"}, {"upper": "ABC"}),
        ({"tagged": " x "}, {"tagged": "x"}),
        ({"wrapped": -2}, {"wrapped": 2}),
        ({"aliased": 3}, {"Aliased": 3}),
        ({"hidden": 4}, {}),
        ({"plain": "a", "upper": "b"}, {"plain": "a", "upper": "B"}),
    ],
)
def test_fields_with_their_own_serialization_are_recorded_as_serialized(
    result: dict[str, Any], recorded: dict[str, Any]
) -> None:
    assert merge_result(Serialized(), result, "s1").result == recorded


def test_a_model_serializer_makes_every_field_recorded_through_it() -> None:
    class Whole(BaseModel):
        a: str = ""

        @model_serializer(mode="wrap")
        def _all(self, nxt: Any) -> dict[str, Any]:
            return {k: v.upper() if isinstance(v, str) else v for k, v in nxt(self).items()}

    assert merge_result(Whole(), {"a": "q"}, "s1").result == {"a": "Q"}
