"""The terms of one of our orders and of one of our fills, each spelled once, for records, views and actions to hold.

An order's terms are what it is at the venue and which slot of ours it fills; a fill's terms are what one trade
did to one of our orders. Neither holds what moves later — an order's state and matched size, a fill's trade
status — nor how the ledger keeps it: the types that carry those compose the terms (`terms`) and read them by
name through `HasOrderTerms` / `HasFillTerms` (`record.price` is `record.terms.price`). Venue facts:
/work/shared/design/VENUE.md (Orders (V2), Reads, Trades).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class OrderTerms:
    """One order of ours as placed: the venue's id, its market, token, side, price and size, and our slot.

    - `order_id`: the venue's order id, `0x` + the EIP-712 hash of the signed order (VENUE.md, Orders (V2));
    - `slot_key`: our slot, `condition_id|token_id|side|role` (desired/state.py); "" for an order in no slot of
      ours (a stray or a foreign order being cancelled);
    - `condition_id`: the market (an OpenOrder's `market`); `token_id`: the outcome token (`asset_id`, the signed
      `tokenId`);
    - `side`: BUY | SELL, in the token's own terms;
    - `role`: ours — quote | hedge; stray | foreign for an order in no slot;
    - `price`: collateral per share, within [tick, 1 − tick];
    - `size`: shares the order was placed for (an OpenOrder's `original_size`; what is left is that less
      `size_matched`).
    """

    order_id: str
    slot_key: str
    condition_id: str
    token_id: str
    side: str
    role: str
    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class FillTerms:
    """One of our fills in a venue trade, keyed by (trade id, order id); what does not change once matched.

    - `trade_id`: the trade's `id`; `order_id`: our order in it (the taker order, or our `maker_orders[]` entry);
    - `condition_id`, `token_id`: the market and the token WE traded — a maker fill can sit on the complement of
      the taker's token (VENUE.md, Trades);
    - `side`, `size`, `price`: ours, in our token's terms (the top-level side/size/price of a trade belong to its
      taker);
    - `liquidity`: maker | taker; `match_time`: unix seconds of the match;
    - `fee`: the taker fee paid on this fill, in collateral (makers pay none; docs.polymarket.com/trading/fees).
    The trade's status (MATCHED → MINED → CONFIRMED, or RETRYING, or FAILED) moves after the match, so it is not
    a term: `Fill` and the ledger's fill record carry it beside the terms.
    """

    trade_id: str
    order_id: str
    condition_id: str
    token_id: str
    side: str
    size: Decimal
    price: Decimal
    liquidity: str
    match_time: int
    fee: Decimal = ZERO


class HasOrderTerms(Protocol):
    """A value that carries an order's terms (`terms`) and reads each of them by name: the one place the names
    are repeated, so a record, a view or an action spells none of them. The composing types subclass it for these
    readers; as a protocol, a stand-in holding the names as plain fields satisfies it too."""

    __slots__ = ()
    terms: OrderTerms

    @property
    def order_id(self) -> str:
        return self.terms.order_id

    @property
    def slot_key(self) -> str:
        return self.terms.slot_key

    @property
    def condition_id(self) -> str:
        return self.terms.condition_id

    @property
    def token_id(self) -> str:
        return self.terms.token_id

    @property
    def side(self) -> str:
        return self.terms.side

    @property
    def role(self) -> str:
        return self.terms.role

    @property
    def price(self) -> Decimal:
        return self.terms.price

    @property
    def size(self) -> Decimal:
        return self.terms.size


class HasFillTerms(Protocol):
    """A value that carries a fill's terms (`terms`) and reads each of them by name (see `HasOrderTerms`)."""

    __slots__ = ()
    terms: FillTerms

    @property
    def trade_id(self) -> str:
        return self.terms.trade_id

    @property
    def order_id(self) -> str:
        return self.terms.order_id

    @property
    def condition_id(self) -> str:
        return self.terms.condition_id

    @property
    def token_id(self) -> str:
        return self.terms.token_id

    @property
    def side(self) -> str:
        return self.terms.side

    @property
    def size(self) -> Decimal:
        return self.terms.size

    @property
    def price(self) -> Decimal:
        return self.terms.price

    @property
    def liquidity(self) -> str:
        return self.terms.liquidity

    @property
    def match_time(self) -> int:
        return self.terms.match_time

    @property
    def fee(self) -> Decimal:
        return self.terms.fee
