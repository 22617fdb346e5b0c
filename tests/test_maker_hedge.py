"""The default maker hedge end to end (hedge_sell.mode maker): after a fill of our bid, the hedge is a post-only
ask for the whole position at or above its cost, resting on the venue — the position is hedged (RELIABILITY
promise 4) without a taker trade; judged from the venue's truth (`/_sim/state`)."""

from __future__ import annotations

import time
from decimal import Decimal

from controller_support import h


def test_a_fill_is_hedged_by_a_resting_post_only_ask_at_or_above_cost(venue, truth, controllers):
    ctl = controllers("maker-hedge", {"POLYMM_HEDGE_SELL__MODE": "maker",
                                      "POLYMM_HEDGE_SELL__MAKER_WAIT_SECONDS": "600"})
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    quote = next(q for q in h.live_orders(truth.state(), ctl.address)
                 if q["side"] == "BUY" and Decimal("0.2") <= Decimal(q["price"]) <= Decimal("0.8"))
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
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    quote = next(q for q in h.live_orders(truth.state(), ctl.address)
                 if q["side"] == "BUY" and Decimal("0.2") <= Decimal(q["price"]) <= Decimal("0.8"))
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
