"""Quote placement: the reward band of a token's book, the buy price at its edge, and the quote size.

Rules (pure; every price returned is on tick and inside [tick, 1 − tick]):
- midpoint = (best bid + best ask) / 2 of the token's own book;
- reward band = midpoint ∓ (rewards_max_spread − 1) / 100 — one cent inside the scoring limit, so
  rounding to the tick can never push a quote out of the band;
- buy price: none when the book has no second bid level or no ask (nothing to stand behind, no
  midpoint); else the second-best bid when it is ≥ the band's lower edge, otherwise the lower
  edge rounded *down* to the tick (buys round down: further from the midpoint is the safe side);
  with `one_tick_inside`, one tick closer to the midpoint, never above the best bid (and never
  below the band-edge price); with `band_floor`, the lower edge rounded down whatever the second bid
  (the furthest scoring price: a sweep has to walk the whole band to reach it, so what fills it is
  mostly flow the book refills behind — docs/STRATEGY.md, "Where in the band");
- never at or above the best ask: a buy must rest, not take;
- none when the final price would not score (at or beyond rewards_max_spread from the midpoint,
  which only a coarse tick can cause);
- size = rewards_min_size × order_size_multiplier, at least the market's minimum order size,
  rounded up to the venue's 0.01-share granularity.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from polymm.domain.ticks import is_valid_price, round_down_to_tick
from polymm.domain.types import Book

CENT = Decimal("0.01")
SIZE_STEP = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class RewardBand:
    midpoint: Decimal
    lower: Decimal
    upper: Decimal


@dataclass(frozen=True, slots=True)
class QuotePrice:
    price: Decimal
    at_band_edge: bool  # True when the band edge (not the second bid) set the price
    band: RewardBand


def reward_band(book: Book, rewards_max_spread_cents: Decimal) -> RewardBand | None:
    mid = book.midpoint
    if mid is None:
        return None
    half_width = (rewards_max_spread_cents - 1) / 100
    return RewardBand(mid, mid - half_width, mid + half_width)


def quote_price(book: Book, rewards_max_spread_cents: Decimal, placement: str = "band_edge") -> QuotePrice | None:
    """The buy price for one token, or None when the book gives no safe place to quote."""
    if len(book.bids) < 2 or not book.asks:
        return None
    band = reward_band(book, rewards_max_spread_cents)
    if band is None:
        return None
    tick = book.tick_size
    second_bid = book.bids[1].price
    if second_bid >= band.lower and placement != "band_floor":
        price, at_edge = second_bid, False
    else:
        # at_edge: the book left no second bid inside the band (under band_floor too: there the floor is chosen
        # behind bids inside the band, deliberately, and the position rule is about a book too thin for them)
        price, at_edge = round_down_to_tick(band.lower, tick), second_bid < band.lower
    if placement == "one_tick_inside":
        # one tick closer, but never past the best bid, and never further out than band_edge would be
        price = max(price, min(price + tick, book.bids[0].price))
    best_ask = book.best_ask
    if best_ask is not None and price >= best_ask:
        price = round_down_to_tick(best_ask - tick, tick)
    # abs: with a max spread under 1¢ the "band" inverts and the price can land above the midpoint.
    if not is_valid_price(price, tick) or abs(band.midpoint - price) * 100 >= rewards_max_spread_cents:
        return None
    return QuotePrice(price, at_edge, band)


def quote_size(rewards_min_size: Decimal, order_size_multiplier: Decimal, min_order_size: Decimal) -> Decimal:
    size = max(rewards_min_size * order_size_multiplier, min_order_size)
    return (size / SIZE_STEP).to_integral_value(rounding=ROUND_CEILING) * SIZE_STEP
