"""Matching-engine restarts (docs.polymarket.com/trading/matching-engine): ~90 s of HTTP 425 on the order
endpoints, then 2 minutes of post-only mode. The simulator doing it through the SDK, and the controller
coping with it as a real process: no churn during the 425s, hedges as post-only asks afterwards.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from py_clob_client_v2.clob_types import OrderArgsV2, OrderPayload, OrderType, PartialCreateOrderOptions
from py_clob_client_v2.exceptions import PolyApiException

from controller_support import h
from polymm.sim.model import PIPS


def order(client, market, pips: int, side: str = "BUY", size: float = 10):
    options = PartialCreateOrderOptions(tick_size=market.tick_str, neg_risk=market.neg_risk)
    return client.create_order(OrderArgsV2(token_id=market.token_ids[0], price=pips / PIPS, size=size, side=side), options)


def test_a_restart_answers_425_then_takes_only_post_only_orders_then_everything(admin, client, reward_market):
    low = reward_market.book.best_bid() - 5 * reward_market.tick_pips
    resting = client.post_order(order(client, reward_market, low))["orderID"]
    r = admin.http.post("/_sim/restart", json={"down_s": 90, "post_only_s": 120}).json()
    assert r["down"] and r["restarts"] == 1

    with pytest.raises(PolyApiException) as too_early:
        client.post_order(order(client, reward_market, low - reward_market.tick_pips))
    assert too_early.value.status_code == 425
    with pytest.raises(PolyApiException) as cancel_too_early:
        client.cancel_order(OrderPayload(orderID=resting))
    assert cancel_too_early.value.status_code == 425
    assert client.get_order_book(reward_market.token_ids[0])["bids"]  # reads work; the book is kept

    admin.advance(90)
    assert admin.state()["engine"]["post_only"]
    with pytest.raises(PolyApiException) as refused:
        client.post_order(order(client, reward_market, low - reward_market.tick_pips), OrderType.GTC, post_only=False)
    assert refused.value.status_code == 400 and "post-only" in str(refused.value.error_msg)
    assert client.post_order(order(client, reward_market, low - reward_market.tick_pips), OrderType.GTC,
                             post_only=True)["status"] == "live"
    assert client.cancel_order(OrderPayload(orderID=resting))["canceled"] == [resting]

    admin.advance(120)
    assert not admin.state()["engine"]["post_only"]
    assert client.post_order(order(client, reward_market, low - 2 * reward_market.tick_pips))["status"] == "live"


def test_the_weekly_restart_is_scheduled_for_tuesday_7_am_new_york():
    from datetime import datetime, timezone

    from polymm.sim.settings import next_weekly_restart

    at = datetime.fromtimestamp(next_weekly_restart(1_790_035_200), tz=timezone.utc)
    assert at.weekday() == 1 and at.hour in (11, 12) and at.minute == 0  # 07:00 EDT or EST


def test_the_controller_waits_out_the_425s_and_hedges_with_post_only_asks_afterwards(venue, truth, controllers):
    ctl = controllers("restart")
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    quote = next(q for q in h.live_orders(truth.state(), ctl.address)
                 if q["side"] == "BUY" and Decimal("0.2") <= Decimal(q["price"]) <= Decimal("0.8"))

    # a short outage (10 s, not 90): on a manual clock every simulated second must pass within the heartbeat
    # timeout of the controller's wall-clock heartbeats; what the controller sees is the same 425
    truth.http.post("/_sim/restart", json={"down_s": 10, "post_only_s": 120})
    before = truth.requests()
    started = time.monotonic()
    ctl.wait_ticks(6, timeout=60)
    assert h.take_through(truth, quote, Decimal(1))["filled"] == 0  # nothing trades while the engine is down
    ctl.wait_ticks(4, timeout=60)
    elapsed = time.monotonic() - started
    after = truth.requests()
    posts = sum(after.get(k, 0) - before.get(k, 0) for k in ("POST /order", "POST /orders"))
    # at most one probe per back-off step (2, 4, 8, 16 s): no resend every tick
    assert posts <= 2 + elapsed / 4, (posts, elapsed)
    assert ctl.alive

    for step in (4, 4, 2):  # the engine comes back, in post-only mode: a fill now wants a hedge
        truth.advance(step)
        time.sleep(2)
    state = truth.state()
    assert state["engine"]["post_only"]
    quote = next(q for q in h.live_orders(state, ctl.address)
                 if q["side"] == "BUY" and Decimal("0.2") <= Decimal(q["price"]) <= Decimal("0.8"))
    h.take_through(truth, quote, Decimal(1))
    deadline = time.monotonic() + 30
    hedge = None
    while time.monotonic() < deadline and hedge is None:
        ctl.wait_ticks(1, timeout=30)
        hedge = next((o for o in h.live_orders(truth.state(), ctl.address)
                      if o["side"] == "SELL" and o["asset_id"] == quote["asset_id"]), None)
    assert hedge is not None, ctl.log_tail()
    book = truth.book(quote["asset_id"])
    best_bid = max((Decimal(b["price"]) for b in book["bids"]), default=Decimal(0))
    assert Decimal(hedge["price"]) > best_bid  # an ask that does not cross: it was accepted as post-only
    assert truth.state()["engine"]["post_only"]
