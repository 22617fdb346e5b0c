"""Tick arithmetic on exact Decimal prices: parsing tick sizes, rounding, validity, pips."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from fractions import Fraction

# Invariants (every function below keeps them):
# - arithmetic is exact: the quotient of a price by a tick is a small integer, so Decimal's
#   integer division and remainder (exact whenever the quotient fits the context's 28 digits)
#   round 0.0025 and 0.005 ticks correctly;
# - "on tick" means an integer multiple of the tick, not a number of decimal places;
# - rounded results carry the tick's exponent (0.4900 for tick 0.0025), equal in value
#   to any other spelling of the same price;
# - binary floats are refused: Decimal(0.3) is 0.29999..., which would round down a tick.

ALLOWED_TICKS: tuple[Decimal, ...] = tuple(
    Decimal(t) for t in ("0.1", "0.01", "0.005", "0.001", "0.0025", "0.0001")
)
_TICK_BY_VALUE: dict[Decimal, Decimal] = {t: t for t in ALLOWED_TICKS}

ONE = Decimal(1)
PIPS_PER_UNIT = 10_000  # 1 pip = 0.0001, the finest tick the venue allows


def parse_tick(value: str | float | Decimal) -> Decimal:
    """Return the allowed tick equal to `value`; ValueError if it is not one of them."""
    try:
        # str() of a float is its shortest repr ("0.01"), which is the value meant.
        candidate = value if isinstance(value, Decimal) else Decimal(str(value).strip())
        tick = _TICK_BY_VALUE.get(candidate)
    except (InvalidOperation, TypeError, ValueError):
        tick = None  # unparseable or a signalling NaN (unhashable): same answer
    if tick is None or isinstance(value, bool):
        allowed = ", ".join(str(t) for t in ALLOWED_TICKS)
        raise ValueError(f"tick size {value!r} is not one of the allowed ticks: {allowed}")
    return tick


def _floor_div(price: Decimal, tick: Decimal) -> Decimal:
    """floor(price / tick) as an integral Decimal. Decimal's // truncates toward zero and is exact here
    (quotients of prices by ticks are small integers), so only negative inexact quotients need a step down."""
    _check(price)
    _check(tick)
    quotient = price // tick
    if quotient * tick > price:
        quotient -= 1
    return quotient


def round_down_to_tick(price: Decimal, tick: Decimal) -> Decimal:
    """The largest multiple of `tick` that is <= `price`."""
    return _floor_div(price, tick) * tick


def round_up_to_tick(price: Decimal, tick: Decimal) -> Decimal:
    """The smallest multiple of `tick` that is >= `price`."""
    down = _floor_div(price, tick) * tick
    return down if down == price else down + tick


def round_nearest_to_tick(price: Decimal, tick: Decimal) -> Decimal:
    """The multiple of `tick` nearest to `price`; an exact half rounds up (toward 1)."""
    return _floor_div(price + tick / 2, tick) * tick


def clamp_to_valid(price: Decimal, tick: Decimal) -> Decimal:
    """`price` limited to [tick, 1 − tick], the venue's tradable range for that tick."""
    _check(price)
    low, high = tick, ONE - tick
    if price < low:
        return low
    if price > high:
        return high
    return price


def is_on_tick(price: Decimal, tick: Decimal) -> bool:
    """Whether `price` is an exact integer multiple of `tick` (Decimal remainder is exact)."""
    _check(price)
    _check(tick)
    return price % tick == 0


def is_valid_price(price: Decimal, tick: Decimal) -> bool:
    """Whether the venue would accept `price`: on tick and within [tick, 1 − tick]."""
    return is_on_tick(price, tick) and tick <= price <= ONE - tick


def to_pips(price: Decimal) -> int:
    """`price` as an integer count of 0.0001 (10000 pips = 1.0); ValueError if not exact."""
    scaled = _exact(price) * PIPS_PER_UNIT
    if scaled.denominator != 1:
        raise ValueError(f"price {price} is not a multiple of 0.0001 and has no exact pip count")
    return scaled.numerator


def from_pips(pips: int) -> Decimal:
    """The exact Decimal price for an integer number of pips (0.0001 each)."""
    if isinstance(pips, bool) or not isinstance(pips, int):
        raise TypeError(f"pips must be an int, got {type(pips).__name__}: {pips!r}")
    return Decimal(pips).scaleb(-4)


def complement(price: Decimal) -> Decimal:
    """The price of the complementary outcome token: 1 − price."""
    _check(price)
    return ONE - price


def _check(value: Decimal) -> None:
    """Refuse floats and non-finite Decimals (the fast path of `_exact`, for the hot rounding code)."""
    if type(value) is Decimal:
        if not value.is_finite():
            raise ValueError(f"price must be finite, got {value}")
        return
    _exact(value)


def _exact(value: Decimal) -> Fraction:
    """`value` as an exact fraction; refuses floats and non-finite Decimals."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"price must be finite, got {value}")
        return Fraction(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return Fraction(value)
    raise TypeError(
        "prices and ticks must be Decimal (e.g. Decimal(str(x))), "
        f"got {type(value).__name__}: {value!r}"
    )
