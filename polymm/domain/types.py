"""Immutable value types the controller reasons with: reward markets, order books, positions.

Prices and sizes are `Decimal` (never binary floats where they decide an action). Books are
always held best first on both sides, whatever order the venue listed them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from polymm.domain.terms import FillTerms, HasFillTerms

ZERO = Decimal(0)


class Level(NamedTuple):
    """A price level; a NamedTuple so the reward formula can unpack (price, size) without copying."""

    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class Book:
    """One token's order book: bids best (highest) first, asks best (lowest) first."""

    token_id: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    tick_size: Decimal
    min_order_size: Decimal = Decimal(5)
    timestamp_ms: int = 0

    @classmethod
    def from_levels(
        cls,
        token_id: str,
        bids: list[tuple[Decimal, Decimal]] | list[Level],
        asks: list[tuple[Decimal, Decimal]] | list[Level],
        tick_size: Decimal,
        min_order_size: Decimal = Decimal(5),
        timestamp_ms: int = 0,
    ) -> "Book":
        """Build a book from levels in any order; zero-size levels are dropped, equal prices merged."""

        def merged(levels, reverse: bool) -> tuple[Level, ...]:
            sizes: dict[Decimal, Decimal] = {}
            for price, size in levels:
                if size > 0:
                    sizes[price] = sizes.get(price, ZERO) + size
            return tuple(Level(p, sizes[p]) for p in sorted(sizes, reverse=reverse))

        return cls(token_id, merged(bids, True), merged(asks, False), tick_size, min_order_size, timestamp_ms)

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0].price if self.asks else None

    @property
    def midpoint(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        return (self.bids[0].price + self.asks[0].price) / 2

    @property
    def spread(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        return self.asks[0].price - self.bids[0].price

    def without(self, own: dict[tuple[str, Decimal], Decimal]) -> "Book":
        """The book less our own resting sizes, keyed (side 'BUY'|'SELL', price): what competes with us."""
        if not own:
            return self

        def less(levels: tuple[Level, ...], side: str) -> list[Level]:
            out = []
            for lv in levels:
                size = lv.size - own.get((side, lv.price), ZERO)
                if size > 0:
                    out.append(Level(lv.price, size))
            return out

        return Book(self.token_id, tuple(less(self.bids, "BUY")), tuple(less(self.asks, "SELL")),
                    self.tick_size, self.min_order_size, self.timestamp_ms)


@dataclass(frozen=True, slots=True)
class Token:
    token_id: str
    outcome: str


@dataclass(frozen=True, slots=True)
class RewardMarket:
    """A market with a liquidity-reward program, with the details selection needs."""

    condition_id: str
    question: str
    tokens: tuple[Token, Token]
    rewards_max_spread: Decimal  # cents
    rewards_min_size: Decimal  # shares, per order
    rate_per_day: Decimal  # collateral per day
    tick_size: Decimal
    min_order_size: Decimal
    neg_risk: bool
    end_date: datetime | None
    volume_24hr: Decimal | None
    fee_rate: Decimal = Decimal(0)  # taker fee rate (Gamma feeSchedule.rate); a hedge selling into bids pays it
    # lifecycle (Gamma acceptingOrders, closed, outcomePrices): a market that is closed or not accepting orders
    # is not quoted and its orders are cancelled; a resolved one pays `payouts[i]` (1 or 0) per share of token i
    accepting_orders: bool = True
    closed: bool = False
    payouts: tuple[Decimal, Decimal] | None = None

    @property
    def token_ids(self) -> tuple[str, str]:
        return self.tokens[0].token_id, self.tokens[1].token_id

    @property
    def trading(self) -> bool:
        """True while the venue takes new orders in this market."""
        return self.accepting_orders and not self.closed

    def redemption_value(self, token_id: str) -> Decimal | None:
        """What one share of `token_id` redeems for once the market resolved (1 or 0); None before."""
        if self.payouts is None or token_id not in self.token_ids:
            return None
        return self.payouts[self.token_ids.index(token_id)]


@dataclass(frozen=True, slots=True)
class Position:
    """Inventory in one token at its average cost (what a hedge must sell)."""

    token_id: str
    size: Decimal
    avg_cost: Decimal


@dataclass(frozen=True, slots=True)
class Fill(HasFillTerms):
    """One of OUR fills in a venue trade as last observed: its terms (keyed by trade id and order id; side, size
    and price are ours) and the trade's status, which moves on after the match."""

    terms: FillTerms
    status: str  # MATCHED | MINED | CONFIRMED | RETRYING | FAILED


@dataclass(frozen=True, slots=True)
class LiveOrder:
    """An active order as the venue reports it (GET /data/orders), in the venue's terms: it has no slot or role of
    ours, so it does not carry `OrderTerms` (domain/terms.py); the plan makes those of a stray or foreign order it
    cancels."""

    order_id: str
    condition_id: str
    token_id: str
    side: str
    price: Decimal
    original_size: Decimal
    size_matched: Decimal
    owner: str
    created_at: int

    @property
    def remaining(self) -> Decimal:
        return self.original_size - self.size_matched
