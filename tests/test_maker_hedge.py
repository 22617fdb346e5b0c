"""The default maker hedge end to end (hedge_sell.mode maker): after a fill of our bid, the hedge is a post-only
ask for the whole position at or above its cost, resting on the venue — the position is hedged (RELIABILITY
promise 4) without a taker trade; judged from the venue's truth (`/_sim/state`)."""

from __future__ import annotations

import time
from decimal import Decimal

from controller_support import h


def _started_with_a_quote(ctl, truth, low: str, high: str) -> dict:
    """Start the controller, let it quote, and return one of its buy quotes priced in [low, high]."""
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    return next(q for q in h.live_orders(truth.state(), ctl.address)
                if q["side"] == "BUY" and Decimal(low) <= Decimal(q["price"]) <= Decimal(high))


def test_a_fill_is_hedged_by_a_resting_post_only_ask_at_or_above_cost(venue, truth, controllers):
    ctl = controllers("maker-hedge", {"POLYMM_HEDGE_SELL__MODE": "maker",
                                      "POLYMM_HEDGE_SELL__MAKER_WAIT_SECONDS": "600"})
    quote = _started_with_a_quote(ctl, truth, "0.2", "0.8")
    token, cost = quote["asset_id"], Decimal(quote["price"])
    h.take_through(truth, quote, Decimal(1))
    took = time.time()
    ctl.wait_tick_started_after(took)
    hedge = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and hedge is None:
        state = truth.state()
        hedge = next((o for o in h.live_orders(state, ctl.address) if o["side"] == "SELL" and o["asset_id"] == token), None)
        if hedge is None:
            ctl.wait_ticks(1, timeout=30)
    assert hedge is not None, ctl.log_tail()
    account = state["accounts"][ctl.address]
    held = Decimal(str(account["positions"][token]))
    assert Decimal(hedge["price"]) >= cost  # never below cost while the wait lasts
    assert h.remaining(hedge) == held.quantize(Decimal("0.01"), rounding="ROUND_FLOOR")  # the whole position
    assert account["fees_paid"] == 0  # nothing crossed: no taker fee
    with ctl.ledger() as ledger:
        order = next(o for o in ledger.active_orders() if o.role == "hedge" and o.token_id == token)
    assert order.post_only


def test_the_maker_wait_is_counted_from_the_fill_across_a_restart(venue, truth, controllers):
    """kill -9 while the hedge rests, start again: the ask still crosses when the wait since the fill is over,
    not a whole wait after the restart (the age comes from the ledger's fills, not from the process's memory)."""
    wait_s = 24.0
    # maker_step_seconds 0: the hedge crosses when the wait is over (the default steps the ask down instead)
    ctl = controllers("maker-wait-restart", {"POLYMM_HEDGE_SELL__MODE": "maker",
                                             "POLYMM_HEDGE_SELL__MAKER_WAIT_SECONDS": str(wait_s),
                                             "POLYMM_HEDGE_SELL__MAKER_STEP_SECONDS": "0"})
    quote = _started_with_a_quote(ctl, truth, "0.2", "0.8")
    token = quote["asset_id"]
    h.take_through(truth, quote, Decimal(1))
    took = time.monotonic()

    def resting_ask():
        return next((o for o in h.live_orders(truth.state(), ctl.address)
                     if o["side"] == "SELL" and o["asset_id"] == token), None)

    deadline = took + 20
    while resting_ask() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert resting_ask() is not None, ctl.log_tail()
    time.sleep(max(0.0, took + wait_s / 2 - time.monotonic()))
    ctl.kill9()
    ctl.start()

    def sold() -> bool:
        return any(f.token_id == token and f.side == "SELL" for f in h.venue_fills(truth.state(), ctl.address))

    deadline = took + wait_s + wait_s / 2 + 20
    while not sold() and time.monotonic() < deadline:
        time.sleep(0.2)
    crossed_after = time.monotonic() - took
    assert sold(), f"the hedge never crossed\n{ctl.log_tail()}"
    # a wait started again by the restart would cross at ≥ 1.5 × wait_s after the fill (36 s)
    assert crossed_after < wait_s + 8, f"crossed {crossed_after:.1f} s after the fill (wait {wait_s} s)"


def test_a_stop_loss_fired_by_a_sweep_rests_inside_the_best_ask_instead_of_selling_into_the_hole(venue, truth,
                                                                                                 controllers, make_client):
    """hedge_sell.stop_loss_maker_seconds: a sweep takes the bids far under our cost (the stop fires on the best
    bid) while the asks stand; the hedge becomes a post-only ask one tick inside the best ask — no sale into the
    hole, no taker fee — judged from the venue's book and trades."""
    from py_clob_client_v2.clob_types import OrderArgsV2, OrderType, PartialCreateOrderOptions

    ctl = controllers("maker-stop", {"POLYMM_HEDGE_SELL__MODE": "maker",  # the defaults' hedge (the harness: cross)
                                     "POLYMM_HEDGE_SELL__STOP_LOSS_MAKER_SECONDS": "600"})
    quote = _started_with_a_quote(ctl, truth, "0.3", "0.7")
    token, cost = quote["asset_id"], Decimal(quote["price"])
    floor = cost - Decimal("0.07")  # the stop: min(cost × 0.9, cost − 0.05), at or above cost − 0.07 here
    market = truth.market(quote["market"])
    tick = Decimal(str(market["minimum_tick_size"]))
    bidder = make_client()  # a bid that stands under the hole (placed first: the book is never without bids)
    options = PartialCreateOrderOptions(tick_size=str(market["minimum_tick_size"]), neg_risk=market["neg_risk"])
    bidder.post_order(bidder.create_order(OrderArgsV2(token_id=token, price=float(floor - Decimal("0.03")), size=50,
                                                      side="BUY"), options), OrderType.GTC)
    book = truth.http.get("/book", params={"token_id": token}).json()
    near = [a for a in book["asks"] if Decimal(a["price"]) <= cost + tick]  # lifted: the maker ask at cost would
    if near:  # then sit a tick or more under the best ask, apart from where the stop rests (one tick inside it)
        truth.take(token, "BUY", cost + tick, sum(Decimal(a["size"]) for a in near))
    h.take_through(truth, quote, Decimal(1))  # our fill, then the sweep: every bid from the best to cost − 0.07
    truth.take(token, "SELL", floor, sum(Decimal(b["size"]) for b in book["bids"] if Decimal(b["price"]) >= floor))
    swept = time.time()
    ctl.wait_tick_started_after(swept)
    ctl.wait_ticks(2, timeout=30)
    state = truth.state()
    asks = [o for o in h.live_orders(state, ctl.address) if o["side"] == "SELL" and o["asset_id"] == token]
    assert len(asks) == 1, ctl.log_tail()
    ours, mine = Decimal(asks[0]["price"]), h.remaining(asks[0])
    book = truth.http.get("/book", params={"token_id": token}).json()
    best_bid = max(Decimal(b["price"]) for b in book["bids"])
    others = [Decimal(a["price"]) for a in book["asks"]
              if Decimal(a["price"]) != ours or Decimal(a["size"]) > mine]  # the competing asks
    assert best_bid < floor and min(others) >= cost + 2 * tick
    assert ours == min(others) - tick and ours > cost, (ours, min(others), cost)  # one tick inside the best ask
    assert not [f for f in h.venue_fills(state, ctl.address) if f.token_id == token and f.side == "SELL"]  # no sale
    with ctl.ledger() as ledger:
        assert next(o for o in ledger.active_orders() if o.order_id == asks[0]["id"]).post_only
