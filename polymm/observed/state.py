"""ObservedState: what the venue showed in one tick, each section a value or Unknown(reason).

A failed read is never an empty list: a section that could not be read is `Unknown`, and the
reconciler holds everything that depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Mapping

from polymm.domain.types import Book, Fill, LiveOrder, RewardMarket
from polymm.domain.unknown import Section, Unknown, known

__all__ = ["ObservedState", "Section", "Unknown", "known"]


@dataclass(frozen=True)
class ObservedState:
    at: float  # wall-clock unix seconds of the observation (the ledger's clock)
    open_orders: Section[tuple[LiveOrder, ...]]
    fills: Section[tuple[Fill, ...]]  # our fills in trades since the cursor (status changes included)
    books: Mapping[str, Book] = field(default_factory=dict)  # token -> book; a missing token is unknown
    reward_markets: Section[tuple[RewardMarket, ...]] = Unknown("not read this tick")
    # details of markets we hold positions or orders in that the reward list lacks (read whatever it says)
    other_markets: Section[tuple[RewardMarket, ...]] = ()
    # the venue's positions (shares per token, Data API) when read this tick: every N ticks, and at start
    venue_positions: Section[Mapping[str, Decimal]] = Unknown("not read this tick")
    # tokens whose ledger position disagreed with the venue's at the last check: the venue's figure, which the
    # exposure cap counts until a later check agrees (carried by the controller between checks)
    venue_overrides: Mapping[str, Decimal] = field(default_factory=dict)
    collateral: Section[Decimal] = Unknown("not read this tick")
    volatility: Mapping[str, float] = field(default_factory=dict)
    problems: tuple[str, ...] = ()  # malformed rows skipped, with the reason
    # True: `reward_markets` is the whole universe (a rescan); False: only the markets in force and those
    # we hold orders or positions in (polymm.marketdata.scope)
    full_scan: bool = True
    # markets with a trade row of ours that did not parse: our fills there are Unknown this tick
    fills_unknown_markets: frozenset[str] = frozenset()
    # True: `fills` is every trade of ours since the cursor (the oldest unsettled fill); False: only the recent
    # window (new fills; older fills' status moves come with the next whole read: controller.core)
    fills_complete: bool = True
    # by condition id, the share of the reward pool our resting orders earn as the venue last sampled them
    # (GET /rewards/user/percentages, read once a minute); empty when not read or unreadable
    reward_shares: Mapping[str, float] = field(default_factory=dict)
    # for tokens the trend rule has not watched yet, the venue's price a minute over its window (GET /prices-history,
    # polymm.desired.toxicity): (unix seconds, price), oldest first; a token whose read failed is absent
    price_history: Mapping[str, tuple[tuple[float, Decimal], ...]] = field(default_factory=dict)
    # token -> condition id of the books read only to watch their markets (polymm.marketdata.scope): markets in
    # neither list above, whose midpoints the toxicity rules still follow
    watched_markets: Mapping[str, str] = field(default_factory=dict)

    @property
    def fills_unknown(self) -> bool | frozenset[str]:
        """True when the trades read failed; else the markets whose fills are Unknown (maybe none)."""
        return True if not known(self.fills) else self.fills_unknown_markets

    def book(self, token_id: str) -> Book | None:
        return self.books.get(token_id)
