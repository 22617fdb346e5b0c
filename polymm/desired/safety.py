"""Quoting safety checks: named rules that refuse a buy quote where a fill would be dangerous.

Each rule returns None when it passes, or a one-line reason naming the rule and the numbers.
Levels "behind" a buy at price p are the bid levels strictly below p, best first.

- volatility: the token's measured volatility (coefficient of variation of recent midpoints)
  must not exceed `volatility_threshold` (skipped when the check is disabled; a token with no
  measurement yet passes and says so in the explanation — the market-data service supplies it);
- position: a quote at the band edge must end up second-best bid or better (at most one bid
  level strictly above it), or it sits where fills come only when the price is falling through;
- price cliff: the next one and two levels behind our price must exist, and neither gap (our
  price to the first, the first to the second) may exceed `price_cliff_threshold`;
- protection: size at the best bid plus the second bid ≥ our size × `min_protection_size_multiplier`
  (someone stands in front of us);
- hedge depth: cumulative bid size from the third level down, at prices within `max_bid_gap` of
  our price, ≥ our size × `min_protection_size_multiplier_hedge` (there is depth to sell into).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from polymm.domain.types import Book


@dataclass(frozen=True, slots=True)
class SafetyLimits:
    price_cliff_threshold: Decimal
    min_protection_size_multiplier: Decimal
    min_protection_size_multiplier_hedge: Decimal
    max_bid_gap: Decimal
    volatility_enabled: bool
    volatility_threshold: float


def check_volatility(volatility: float | None, limits: SafetyLimits) -> str | None:
    if not limits.volatility_enabled or volatility is None:
        return None
    if volatility > limits.volatility_threshold:
        return f"volatility: {volatility:.4f} > threshold {limits.volatility_threshold}"
    return None


def check_position(book: Book, price: Decimal, at_band_edge: bool) -> str | None:
    if not at_band_edge:
        return None
    above = 0
    for lv in book.bids:  # best first: count until the first level at or below our price
        if lv.price <= price:
            break
        above += 1
    if above > 1:
        return f"position: at the band edge {price} would be bid #{above + 1} (must be #2 or better)"
    return None


def check_price_cliff(book: Book, price: Decimal, limits: SafetyLimits) -> str | None:
    behind: list[Decimal] = []
    for lv in book.bids:  # best first: the first two levels below our price
        if lv.price < price:
            behind.append(lv.price)
            if len(behind) == 2:
                break
    if len(behind) < 2:
        return f"price_cliff: only {len(behind)} bid level(s) behind {price} (need 2)"
    first_gap, second_gap = price - behind[0], behind[0] - behind[1]
    if first_gap > limits.price_cliff_threshold or second_gap > limits.price_cliff_threshold:
        return (f"price_cliff: gaps {first_gap} and {second_gap} behind {price} "
                f"(max {limits.price_cliff_threshold})")
    return None


def check_protection(book: Book, size: Decimal, limits: SafetyLimits) -> str | None:
    in_front = Decimal(0)
    for lv in book.bids[:2]:
        in_front += lv.size
    need = size * limits.min_protection_size_multiplier
    if in_front < need:
        return f"protection: {in_front} shares at the best two bids < {need} needed"
    return None


def check_hedge_depth(book: Book, price: Decimal, size: Decimal, limits: SafetyLimits) -> str | None:
    floor = price - limits.max_bid_gap
    depth = Decimal(0)
    for lv in book.bids[2:]:  # best first: the first level below the floor ends the walk
        if lv.price < floor:
            break
        depth += lv.size
    need = size * limits.min_protection_size_multiplier_hedge
    if depth < need:
        return f"hedge_depth: {depth} shares from the third bid down to {floor} < {need} needed"
    return None


def refusals(book: Book, price: Decimal, size: Decimal, at_band_edge: bool,
             volatility: float | None, limits: SafetyLimits) -> tuple[str, ...]:
    """Every rule's refusal for one buy quote, in rule order (empty: safe to quote)."""
    found = (
        check_volatility(volatility, limits),
        check_position(book, price, at_band_edge),
        check_price_cliff(book, price, limits),
        check_protection(book, size, limits),
        check_hedge_depth(book, price, size, limits),
    )
    return tuple(r for r in found if r)
