"""A market's life after listing: tick-size changes, trading halts, close and resolution to 0/1.

Driven by the admin hook `POST /_sim/market` (polymm.sim.admin) or scheduled (`Engine.schedule_resolution`,
a market resolving at a set time, which chaos runs and backtests meet). What the venue does, and the
sources:

- tick size: the market's minimum tick changes (Polymarket narrows 0.01 → 0.001 when the book's price
  goes above 0.96 or below 0.04, and widens it back; docs.polymarket.com/market-data/websocket/market-channel,
  `tick_size_change`), announced on the market channel in the shape of the capture
  `../shared/fixtures/polymarket/ws_market_tick_size_change.json` ({event_type, asset_id, market,
  old_tick_size, new_tick_size, timestamp}, one per token). From then on a new order at a price the new tick
  does not divide is refused INVALID_ORDER_MIN_TICK_SIZE ("breaks minimum tick size rule: <tick>",
  docs.polymarket.com/resources/error-codes) and `/tick-size`, `/book`, `/markets`, Gamma agree. Orders
  already resting stay where they are (the sources do not say the venue cancels them; our choice: the
  harder case, an order at a price the venue would no longer take, is the controller's to replace);
- `accepting_orders=false`: new orders are refused MARKET_NOT_READY (the sim's existing wording, from the
  error-codes page); cancels still work; resting orders stay, and nothing trades (the simulated traders
  skip the market);
- close and resolution: the market stops accepting orders and is `closed`; every resting order is
  cancelled with the venue's own status for it, CANCELED_MARKET_RESOLVED (nautilus_trader
  adapters/polymarket/common/enums.py `PolymarketOrderStatus`; the official `polymarket-client`'s
  ORDER_STATUS_CANCELED_MARKET_RESOLVED); the tokens report `winner` and a price of 1 or 0 (as in the
  capture `clob_market_closed_binary_accepting_false.json`); a position then carries its redemption value,
  1 per share of the winner and 0 of the loser (docs.polymarket.com/concepts/resolution), shown as
  `redeemable` with `curPrice` 1 or 0 by the Data API (/positions) and as `redemption` in `/_sim/state`.
  The market leaves the reward list (its rewards end) but stays readable by condition id.
"""

from __future__ import annotations

from typing import Protocol

from polymm.sim.model import PIPS, Account, SimMarket, SimOrder, format_pips

TICKS_PIPS = (1000, 100, 50, 25, 10, 1)  # 0.1, 0.01, 0.005, 0.0025, 0.001, 0.0001: the venue's tick sizes
RESOLVED_CANCEL_STATUS = "CANCELED_MARKET_RESOLVED"


class Venue(Protocol):
    """What a lifecycle change needs of the venue (polymm.sim.engine.Engine), named here so that this module
    does not import the engine that calls it."""

    now: float
    accounts: dict[str, Account]

    def cancel_order(self, order: SimOrder, status: str = "CANCELED") -> None: ...

    def emit_market(self, token_id: str, payload: dict) -> None: ...

    def flush_book_events(self) -> None: ...


def tick_pips_of(value: float | str) -> int:
    """Pips of a tick size given as 0.01 or "0.001"; ValueError naming the allowed ones otherwise."""
    try:
        pips = round(float(value) * PIPS)
    except (TypeError, ValueError):
        pips = -1
    if pips not in TICKS_PIPS or abs(float(value) * PIPS - pips) > 1e-6:
        allowed = ", ".join(format_pips(t) for t in TICKS_PIPS)
        raise ValueError(f"tick_size {value!r} is not one of the venue's tick sizes: {allowed}")
    return pips


def change_tick(engine: Venue, market: SimMarket, tick_pips: int) -> dict | None:
    """Set the market's tick; announce it on the market channel (one event per token). None if unchanged."""
    old = market.tick_pips
    if tick_pips == old:
        return None
    market.tick_pips = tick_pips
    ts = str(int(engine.now * 1000))
    event = None
    for token_id in market.token_ids:
        event = {"event_type": "tick_size_change", "asset_id": token_id, "market": market.condition_id,
                 "old_tick_size": format_pips(old), "new_tick_size": format_pips(tick_pips), "timestamp": ts}
        engine.emit_market(token_id, event)
    return event


def set_accepting(market: SimMarket, accepting: bool) -> None:
    if market.closed and accepting:
        raise ValueError("a closed market does not accept orders again")
    market.accepting_orders = accepting


def close(engine: Venue, market: SimMarket, winner: int | None) -> int:
    """Close the market (and resolve it to `winner`, the winning outcome's index, when given): no more orders,
    every resting order cancelled with CANCELED_MARKET_RESOLVED. Returns how many orders were cancelled."""
    if winner is not None and winner not in (0, 1):
        raise ValueError("winner must be the index of an outcome: 0 or 1")
    if market.winner is not None and winner is not None and winner != market.winner:
        raise ValueError(f"the market already resolved to outcome {market.winner}")
    market.accepting_orders = False
    if not market.closed:
        market.closed_time = engine.now
    market.closed = True
    if winner is not None:
        announce = market.winner is None
        market.winner = winner
        market.fair_value = 1.0 if winner == 0 else 0.0
        if announce:
            engine.emit_market(market.condition_id, resolved_event(market, engine.now))
    resting = [o for acct in engine.accounts.values() for o in list(acct.open_orders.values()) if o.market is market]
    for order in resting:
        engine.cancel_order(order, status=RESOLVED_CANCEL_STATUS)
    engine.flush_book_events()
    return len(resting)


def resolved_event(market: SimMarket, now: float) -> dict:
    """The market channel's `market_resolved`, sent only to subscriptions with `custom_feature_enabled: true`
    (docs.polymarket.com/market-data/websocket/market-channel). The page names the event; its fields here are
    the ones the public parsers agree on (nautilus_trader `PolymarketMarketResolved`, ex_polymarket
    `MarketResolvedEvent`): id, market, assets_ids, winning_asset_id, winning_outcome, timestamp (ms, a string).
    `id` is the condition id here (the sim has no separate market id at this layer); `event_message` is left out."""
    return {"event_type": "market_resolved", "id": market.condition_id, "market": market.condition_id,
            "assets_ids": list(market.token_ids), "winning_asset_id": market.token_ids[market.winner],
            "winning_outcome": market.outcomes[market.winner], "timestamp": str(int(now * 1000))}


def token_price(market: SimMarket, index: int) -> float:
    """What one share of outcome `index` is worth: 1 or 0 once resolved, else the fair value."""
    if market.winner is not None:
        return 1.0 if index == market.winner else 0.0
    return market.fair_value if index == 0 else 1 - market.fair_value


def redemption_value(market: SimMarket, token_id: str) -> float | None:
    """Collateral one share of `token_id` redeems for (1 or 0), or None while the market is unresolved."""
    if market.winner is None:
        return None
    return 1.0 if market.token_index(token_id) == market.winner else 0.0
