"""The evaluator's bounded operations, called directly, at and just past each limit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from simpleeval import FeatureNotAvailable, IterableTooLong, NumberTooHigh

from ruvon.implementations.expression_evaluator import bounded as b


class _Str(str):
    pass


class _Int(int):
    pass


class _List(list[int]):
    pass


class _Dict(dict[str, int]):
    pass


@pytest.mark.parametrize(
    ("value", "size"),
    [
        (5, 1),
        (1 << 128, 3),  # one element plus one per 64 bits (129 bits: 2)
        ("abc", 4),
        (b"ab", 3),
        ([1, "ab"], 5),
        ((1, 2), 3),
        ({1, 2}, 3),
        (frozenset({1}), 2),
        ({"a": [1]}, 5),  # the dict, its key "a" (2), its value [1] (2)
        (_Str("abc"), 4),
        (_Int(1 << 128), 3),
        (_List([1, 2]), 3),
        (_Dict({"a": 1}), 4),
        (None, 1),
        (2.5, 1),
    ],
)
def test_size_of_counts_elements_characters_and_big_int_words(value: object, size: int) -> None:
    assert b.size_of(value, 1000) == size


def test_size_of_stops_as_soon_as_the_limit_is_passed() -> None:
    assert b.size_of([1, 2, 3], 4) == 4  # exactly at the limit: counted to the end
    assert b.size_of([1, 2, 3, 4], 4) == 5  # one past: stops there
    assert b.size_of(list(range(10**6)), 10) == 11


def test_power_is_bounded_by_the_bits_of_its_result() -> None:
    assert b._safe_power(2, 10_000) == 2**10_000
    with pytest.raises(NumberTooHigh, match=r"^2 \*\* 10001 would exceed 10000 bits$"):
        b._safe_power(2, 10_001)
    with pytest.raises(NumberTooHigh):
        b._safe_power(4, 5_001)  # 10,002 bits
    with pytest.raises(NumberTooHigh):
        b._safe_power(2**10_001, 1)
    assert b._safe_power(1, 10**9) == 1 and b._safe_power(-1, 10**9 + 1) == -1
    assert b._safe_power(2, -2) == 0.25


def test_float_powers_are_left_to_float_range() -> None:
    assert b._safe_power(4, 0.5) == 2.0
    with pytest.raises(OverflowError):  # a float result, not a 20,000-bit integer
        b._safe_power(2, 20_000.0)


def test_power_of_other_numbers_bounds_the_exponent() -> None:
    assert b._safe_power(Decimal(1), 10_000) == Decimal(1)
    assert b._safe_power(Decimal(1), -10_000) == Decimal(1)
    with pytest.raises(NumberTooHigh, match=r"^exponent 10001 is larger than 10000$"):
        b._safe_power(Decimal("1.5"), 10_001)
    with pytest.raises(NumberTooHigh):
        b._safe_power(Decimal("1.5"), -10_001)


def test_product_of_integers_is_bounded() -> None:
    assert b._safe_mult(1 << 4_999, 1 << 4_999) == 1 << 9_998  # 5,000 + 5,000 bits: allowed
    with pytest.raises(NumberTooHigh, match=r"^the product would exceed 10000 bits$"):
        b._safe_mult(1 << 5_000, 1 << 4_999)


def test_repetition_is_bounded_by_the_size_it_builds() -> None:
    assert b._safe_mult("ab", 50_000) == "ab" * 50_000
    assert b._safe_mult(3, [1]) == [1, 1, 1]
    with pytest.raises(IterableTooLong, match=r"^repeating a sequence 50001 times is too large$"):
        b._safe_mult("ab", 50_001)
    with pytest.raises(IterableTooLong):
        b._safe_mult("a" * 100_001, 1)  # already too large: repeating it once is refused too
    with pytest.raises(IterableTooLong):
        b._safe_mult(40_000, [1, 2])  # 3 per copy (the list and its two items)
    assert b._safe_mult(2.5, 2) == 5.0


def test_concatenation_is_bounded() -> None:
    assert len(b._safe_add("a" * 50_000, "b" * 50_000)) == 100_000
    with pytest.raises(IterableTooLong, match=r"^concatenating those sequences is too large$"):
        b._safe_add("a" * 50_000, "b" * 50_001)
    assert b._safe_add([1], [2]) == [1, 2] and b._safe_add(1, 2) == 3


def test_percent_formatting_is_refused_but_modulo_works() -> None:
    with pytest.raises(FeatureNotAvailable, match=r"^%-formatting of strings is not allowed$"):
        b._safe_mod("%s", 1)
    assert b._safe_mod(7, 3) == 1


def test_left_shift_is_bounded() -> None:
    assert b._safe_lshift(1, 9_999) == 1 << 9_999  # a 10,000-bit result
    with pytest.raises(NumberTooHigh, match=r"^1 << 10000 would exceed 10000 bits$"):
        b._safe_lshift(1, 10_000)


def test_round_digits_are_bounded() -> None:
    assert b._safe_round(2.5) == 2 and b._safe_round(1.25, 1) == 1.2
    assert b._safe_round(1, 100) == 1 and b._safe_round(1, -100) == 0
    with pytest.raises(NumberTooHigh, match=r"ndigits must be an integer within \+-100$"):
        b._safe_round(1, 101)
    with pytest.raises(NumberTooHigh):
        b._safe_round(1, -101)
    with pytest.raises(NumberTooHigh):
        b._safe_round(1.5, 1.0)


def test_int_of_text_is_bounded() -> None:
    assert b._safe_int("9" * 4_300) == int("9" * 4_300)
    with pytest.raises(NumberTooHigh, match=r"^int\(\) of text longer than 4300 characters$"):
        b._safe_int("9" * 4_301)
    assert b._safe_int("ff", base=16) == 255
    assert b._safe_int(2.7) == 2


def test_sum_adds_only_numbers() -> None:
    assert b._safe_sum([1, 2], 3) == 6
    with pytest.raises(FeatureNotAvailable, match=r"^sum\(\) only adds numbers$"):
        b._safe_sum([[1]], [])
