"""The desired state: one order per slot — buy quotes for the selected markets, a hedge sell per position.

A slot key is `condition_id|token_id|side|role` (role `quote` or `hedge`). Pure: the selection,
the books and the positions come in; the desired orders, and the markets to hold, go out.

Hedges: every position of at least the market's minimum order size gets a sell for its whole size
(rounded down to 0.01 share) at `hedge_price`; a smaller position cannot be sold with a resting
order and is reported as dust. A position whose token's book is unknown keeps whatever hedge is
live (its slot is held). A position in a market that is closed or not accepting orders gets no hedge
(the venue would refuse it; a resolved market's shares are redeemed at 1 or 0, not sold). With `dynamic_follow_enabled` off, a live hedge keeps its price unless
the stop-loss fires (`keep_any_price`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Mapping

from polymm.desired.funnel import Selection
from polymm.desired.hedge import HedgeParams, hedge_price
from polymm.domain.types import Book, Position, RewardMarket

SIZE_STEP = Decimal("0.01")


def slot_key(condition_id: str, token_id: str, side: str, role: str) -> str:
    return f"{condition_id}|{token_id}|{side}|{role}"


@dataclass(frozen=True, slots=True)
class DesiredOrder:
    slot_key: str
    condition_id: str
    token_id: str
    side: str
    role: str  # quote | hedge
    price: Decimal
    size: Decimal
    min_keep_size: Decimal  # a live order with at least this much left is kept (a partly filled quote still scores)
    tick_size: Decimal
    neg_risk: bool
    post_only: bool
    reason: str
    keep_any_price: bool = False


@dataclass(frozen=True)
class DesiredState:
    orders: tuple[DesiredOrder, ...]
    held_slots: frozenset[str]  # slots whose inputs are unknown: keep what is live, place nothing
    held_markets: frozenset[str]
    notes: tuple[str, ...] = ()
    stops: frozenset[str] = frozenset()  # tokens whose hedge the stop-loss prices this tick

    def by_slot(self) -> dict[str, DesiredOrder]:
        return {o.slot_key: o for o in self.orders}


def desire(
    selection: Selection,
    positions: Mapping[str, Position],
    markets_by_token: Mapping[str, RewardMarket],
    books: Mapping[str, Book],
    hedge_params: HedgeParams,
    follow: bool,
    quoting_enabled: bool = True,
    held_markets: frozenset[str] = frozenset(),
    position_ages: Mapping[str, float] | None = None,
    paused_markets: Mapping[str, str] | None = None,
    stop_ages: Mapping[str, float] | None = None,
) -> DesiredState:
    """`held_markets`: markets whose data is Unknown this tick; their live orders stay as they are.
    `position_ages`: seconds each position (by token) has been held — unknown counts as just opened (0).
    `paused_markets`: markets stepped back from this tick (desired/toxicity.py), with the reason: no quotes
    there; their hedges are desired as always.
    `stop_ages`: seconds the stop-loss has been firing on each position (by token) — absent: it has not yet (0)."""
    ages = position_ages or {}
    stops = stop_ages or {}
    paused = paused_markets or {}
    orders: list[DesiredOrder] = []
    held_slots: set[str] = set()
    held_markets = set(held_markets)
    notes: list[str] = []
    stopped: set[str] = set()

    for token_id, pos in sorted(positions.items()):
        if pos.size <= 0:
            continue
        market = markets_by_token.get(token_id)
        if market is None:
            notes.append(f"position in {token_id[:12]}… of an unknown market: not hedged this tick")
            continue
        key = slot_key(market.condition_id, token_id, "SELL", "hedge")
        if not market.trading:
            # the venue takes no order here: a hedge would be refused; a resolved market's shares are redeemed
            # on chain at 1 or 0, never sold
            value = market.redemption_value(token_id)
            notes.append(f"position {pos.size} in {token_id[:12]}…: market resolved, redeemable at {value} a share: "
                         "not hedged (it cannot be sold)" if value is not None else
                         f"position {pos.size} in {token_id[:12]}…: market {'closed' if market.closed else 'not accepting orders'}"
                         ": not hedged (the venue takes no order there)")
            continue
        book = books.get(token_id)
        if book is None:
            held_slots.add(key)
            notes.append(f"hedge {key}: book unknown, holding")
            continue
        size = (pos.size / SIZE_STEP).to_integral_value(rounding=ROUND_FLOOR) * SIZE_STEP
        if size < market.min_order_size:
            notes.append(f"dust {size} in {token_id[:12]}… below min order size {market.min_order_size}: not hedged")
            continue
        hp = hedge_price(pos, book, hedge_params, market.fee_rate, ages.get(token_id, 0.0), stops.get(token_id, 0.0))
        if hp.reason.startswith("stop_loss"):
            stopped.add(token_id)
        orders.append(DesiredOrder(
            slot_key=key, condition_id=market.condition_id, token_id=token_id, side="SELL", role="hedge",
            price=hp.price, size=size, min_keep_size=size, tick_size=market.tick_size, neg_risk=market.neg_risk,
            post_only=hedge_params.post_only or hp.post_only, reason=f"hedge {hp.reason} for {pos.size} @ {pos.avg_cost:.4f}",
            keep_any_price=(not follow) and not hp.reason.startswith("stop_loss"),
        ))

    if quoting_enabled:
        for ev in selection.selected:
            m = ev.market
            if m.condition_id in paused:
                notes.append(f"not quoting {m.condition_id[:12]}…: {paused[m.condition_id]}")
                continue
            for q in ev.quotes:
                orders.append(DesiredOrder(
                    slot_key=slot_key(m.condition_id, q.token_id, "BUY", "quote"), condition_id=m.condition_id,
                    token_id=q.token_id, side="BUY", role="quote", price=q.price, size=q.size,
                    # never more than the quote itself: with order_size_multiplier < 1 the quote is smaller
                    # than rewards_min_size, and a min_keep_size above its size would make the gate drop it
                    min_keep_size=min(q.size, max(m.rewards_min_size, m.min_order_size)), tick_size=m.tick_size,
                    neg_risk=m.neg_risk, post_only=True,
                    reason=("band edge" if q.at_band_edge else "second-best bid") + f", exp ${ev.expected_per_day:.2f}/day",
                ))
    return DesiredState(tuple(orders), frozenset(held_slots), frozenset(held_markets), tuple(notes), frozenset(stopped))
