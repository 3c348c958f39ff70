"""Merging a step's result into the state."""

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from ruvon.errors import StepResultError
from ruvon.runtime.merge import merge_result


class M(BaseModel):
    a: int = 0
    b: str = "x"
    items: list[str] = []
    positive: float = Field(1.0, gt=0)


def test_keys_replace_fields_and_others_stay() -> None:
    s = M(a=1, b="y")
    merged = merge_result(s, {"a": 2}, "s1")
    assert merged.a == 2 and merged.b == "y"
    assert s.a == 1, "the input state object is not modified"


def test_values_are_validated_and_coerced() -> None:
    assert merge_result(M(), {"a": "7"}, "s1").a == 7


def test_in_place_mutations_are_kept() -> None:
    s = M()
    s.items.append("mutated")
    s.b = "assigned"
    merged = merge_result(s, {"a": 1}, "s1")
    assert merged.items == ["mutated"] and merged.b == "assigned"


@pytest.mark.parametrize("result", [None, {}])
def test_nothing_to_merge_returns_the_same_state(result: Any) -> None:
    s = M()
    assert merge_result(s, result, "s1") is s


def test_result_that_does_not_fit_fails_and_leaves_state_alone() -> None:
    s = M(a=1)
    with pytest.raises(StepResultError, match=r"step 's1'.*positive"):
        merge_result(s, {"a": 5, "positive": -1}, "s1")
    assert s.a == 1


def test_unknown_key_fails_naming_it() -> None:
    with pytest.raises(StepResultError, match="key 'zzz' which is not a field of M"):
        merge_result(M(), {"zzz": 1}, "s1")


def test_unknown_key_is_kept_when_model_allows_extra() -> None:
    class Open(BaseModel):
        model_config = ConfigDict(extra="allow")
        a: int = 0

    merged = merge_result(Open(), {"zzz": 1}, "s1")
    assert merged.zzz == 1  # type: ignore[attr-defined]
    assert merge_result(merged, {"a": 2}, "s2").zzz == 1  # type: ignore[attr-defined]


def test_non_dict_result_fails() -> None:
    with pytest.raises(StepResultError, match="returned list"):
        merge_result(M(), [1], "s1")


def test_same_model_instance_replaces_state() -> None:
    new = M(a=9)
    assert merge_result(M(), new, "s1") is new


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
    assert merge_result(s, {"a": 1}, "s1")._secret == "kept"
