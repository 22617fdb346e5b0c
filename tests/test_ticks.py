"""Tick arithmetic: parsing, exact rounding to multiples of the tick, validity and pips."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polymm.domain.ticks import (
    ALLOWED_TICKS,
    clamp_to_valid,
    complement,
    from_pips,
    is_on_tick,
    is_valid_price,
    parse_tick,
    round_down_to_tick,
    round_nearest_to_tick,
    round_up_to_tick,
    to_pips,
)

ticks = st.sampled_from(ALLOWED_TICKS)
prices = st.decimals(min_value=0, max_value=1, places=8, allow_nan=False, allow_infinity=False)
any_prices = st.decimals(min_value=-2, max_value=3, places=8, allow_nan=False, allow_infinity=False)
ROUNDINGS = [round_down_to_tick, round_up_to_tick, round_nearest_to_tick]


@pytest.mark.parametrize("spelling", ["0.1", "0.01", "0.005", "0.001", "0.0025", "0.0001"])
def test_parse_tick_accepts_every_allowed_tick_as_str_float_or_decimal(spelling: str) -> None:
    expected = D(spelling)
    assert parse_tick(spelling) == expected
    assert parse_tick(float(spelling)) == expected
    assert parse_tick(D(spelling)) == expected


def test_parse_tick_returns_the_canonical_tick_for_another_spelling() -> None:
    assert str(parse_tick("0.010")) == "0.01"
    assert str(parse_tick(" 1E-2 ")) == "0.01"


@pytest.mark.parametrize(
    "bad", ["0.02", 0.03, D("0.05"), "1", "abc", "", True, D("NaN"), D("sNaN")]
)
def test_parse_tick_rejects_a_value_that_is_not_an_allowed_tick_naming_it_and_the_allowed_ones(
    bad: object,
) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_tick(bad)  # type: ignore[arg-type]
    message = str(excinfo.value)
    assert repr(bad) in message
    assert "0.0025" in message and "0.0001" in message


@pytest.mark.parametrize(
    ("price", "tick", "down", "up", "nearest"),
    [
        ("0.4937", "0.0025", "0.4925", "0.4950", "0.4925"),
        ("0.4938", "0.0025", "0.4925", "0.4950", "0.4950"),
        ("0.123", "0.005", "0.120", "0.125", "0.125"),
        ("0.4949", "0.01", "0.49", "0.50", "0.49"),
        ("0.125", "0.01", "0.12", "0.13", "0.13"),  # an exact half rounds up
        ("0.55", "0.1", "0.5", "0.6", "0.6"),
        ("0.00005", "0.0001", "0.0000", "0.0001", "0.0001"),
        ("-0.013", "0.01", "-0.02", "-0.01", "-0.01"),
    ],
)
def test_rounding_goes_to_multiples_of_the_tick_not_to_decimal_places(
    price: str, tick: str, down: str, up: str, nearest: str
) -> None:
    assert round_down_to_tick(D(price), D(tick)) == D(down)
    assert round_up_to_tick(D(price), D(tick)) == D(up)
    assert round_nearest_to_tick(D(price), D(tick)) == D(nearest)


def test_rounded_prices_carry_the_tick_exponent() -> None:
    assert str(round_down_to_tick(D("0.49"), D("0.0025"))) == "0.4900"
    assert str(round_up_to_tick(D("0.491"), D("0.01"))) == "0.50"


def test_tick_arithmetic_refuses_binary_floats() -> None:
    # Decimal(0.3) is 0.29999..., which would silently round down to 0.29.
    with pytest.raises(TypeError, match="Decimal"):
        round_down_to_tick(0.3, D("0.01"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        to_pips(0.49)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        round_down_to_tick(D("Infinity"), D("0.01"))


@pytest.mark.parametrize(
    ("price", "tick", "clamped"),
    [
        ("0", "0.01", "0.01"),
        ("1", "0.01", "0.99"),
        ("0.5", "0.0025", "0.5"),
        ("-3", "0.1", "0.1"),
        ("0.9999", "0.001", "0.999"),
    ],
)
def test_clamp_to_valid_limits_price_to_tick_and_one_minus_tick(
    price: str, tick: str, clamped: str
) -> None:
    assert clamp_to_valid(D(price), D(tick)) == D(clamped)


@pytest.mark.parametrize(
    ("price", "tick", "on_tick", "valid"),
    [
        ("0.01", "0.01", True, True),
        ("0.99", "0.01", True, True),
        ("0", "0.01", True, False),
        ("1", "0.01", True, False),
        ("0.495", "0.01", False, False),
        ("0.4975", "0.0025", True, True),
        ("0.4980", "0.0025", False, False),
        ("0.005", "0.005", True, True),
        ("0.9975", "0.0025", True, True),
    ],
)
def test_validity_means_on_tick_and_within_the_tradable_range(
    price: str, tick: str, on_tick: bool, valid: bool
) -> None:
    assert is_on_tick(D(price), D(tick)) is on_tick
    assert is_valid_price(D(price), D(tick)) is valid


@pytest.mark.parametrize(
    ("price", "pips"),
    [("0.49", 4900), ("1", 10000), ("0", 0), ("0.0001", 1), ("0.4925", 4925)],
)
def test_pips_are_exact_ten_thousandths(price: str, pips: int) -> None:
    assert to_pips(D(price)) == pips
    assert from_pips(pips) == D(price)


def test_to_pips_refuses_a_price_finer_than_a_pip() -> None:
    with pytest.raises(ValueError, match="0.00005"):
        to_pips(D("0.00005"))


def test_from_pips_refuses_non_integers() -> None:
    with pytest.raises(TypeError):
        from_pips(49.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        from_pips(True)


def test_complement_is_one_minus_price() -> None:
    assert complement(D("0.49")) == D("0.51")
    assert complement(D("0.4925")) == D("0.5075")


@given(prices, ticks)
def test_round_down_and_up_bracket_the_price_on_tick(price: D, tick: D) -> None:
    down = round_down_to_tick(price, tick)
    up = round_up_to_tick(price, tick)
    assert down <= price <= up
    assert is_on_tick(down, tick) and is_on_tick(up, tick)
    assert up - down in (0, tick)
    assert (up == down) is is_on_tick(price, tick)


@given(prices, ticks)
def test_round_nearest_is_one_of_the_brackets_and_within_half_a_tick(price: D, tick: D) -> None:
    nearest = round_nearest_to_tick(price, tick)
    assert nearest in (round_down_to_tick(price, tick), round_up_to_tick(price, tick))
    assert abs(nearest - price) <= tick / 2


@given(any_prices, ticks, st.sampled_from(ROUNDINGS))
def test_a_rounded_then_clamped_price_is_always_valid(
    price: D, tick: D, rounding: Callable[[D, D], D]
) -> None:
    assert is_valid_price(clamp_to_valid(rounding(price, tick), tick), tick)


@given(any_prices, ticks)
def test_clamp_to_valid_keeps_the_price_within_tick_and_one_minus_tick(price: D, tick: D) -> None:
    clamped = clamp_to_valid(price, tick)
    assert tick <= clamped <= 1 - tick
    if tick <= price <= 1 - tick:
        assert clamped == price


@given(st.integers(min_value=-20_000, max_value=20_000))
def test_pips_round_trip_from_integers(pips: int) -> None:
    assert to_pips(from_pips(pips)) == pips


@given(prices, ticks)
def test_every_on_tick_price_round_trips_through_pips(price: D, tick: D) -> None:
    # Every allowed tick is a whole number of pips, so rounded prices always have exact pips.
    on_tick = round_nearest_to_tick(price, tick)
    assert from_pips(to_pips(on_tick)) == on_tick


@given(prices, ticks)
def test_the_complement_of_a_valid_price_is_valid_and_complements_back(price: D, tick: D) -> None:
    valid = clamp_to_valid(round_down_to_tick(price, tick), tick)
    assert is_valid_price(complement(valid), tick)
    assert complement(complement(valid)) == valid
