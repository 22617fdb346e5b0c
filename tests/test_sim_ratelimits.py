"""The venue's rate limits as documented (polymm.sim.ratelimits): per-IP throttling per endpoint family
(docs.polymarket.com/api-reference/rate-limits: requests over the limit are delayed, not refused) and the
per-signer order/cancel buckets whose state order and cancel replies report in `Poly-RateLimit-*` headers
(docs.polymarket.com/api-reference/trading-rate-limits), read here by the official polymarket-client."""

from __future__ import annotations

import os
import time

import httpx
import pytest
from eth_account import Account

from polymm.sim.runner import SimOptions

from test_official_clients import examples


@pytest.mark.parametrize("sim_options", [SimOptions(seed=7, speed=0, markets=10, balance_delay_s=0.0,
                                                    ip_window_scale=0.1)], ids=["1s-windows"])
def test_requests_over_a_familys_limit_are_delayed_not_refused(venue, admin):
    """GET /ok allows 100 requests a window (here 1 s instead of 10 s): 150 in a row all succeed; the 101st is
    held until the first leaves the window."""
    with httpx.Client(base_url=venue.url) as http:
        started = time.monotonic()
        statuses = [http.get("/ok").status_code for _ in range(150)]
        elapsed = time.monotonic() - started
        fast = http.get("/time").status_code  # another family is not held up
    assert statuses == [200] * 150
    limits = admin.state()["rate_limits"]
    assert limits["enabled"] and limits["throttled"] >= 1 and limits["ip_refused"] == 0
    assert elapsed >= 0.9, elapsed  # the 101st waited for the first to leave the window
    assert fast == 200


@pytest.mark.parametrize("sim_options", [SimOptions(seed=7, speed=0, markets=10, rate_limits=False)], ids=["off"])
def test_with_rate_limits_off_nothing_is_throttled_or_reported(venue, admin, client, reward_market):
    with httpx.Client(base_url=venue.url) as http:
        assert all(http.get("/ok").status_code == 200 for _ in range(150))
    assert admin.state()["rate_limits"] == {"enabled": False, "throttled": 0, "ip_refused": 0}


def test_order_and_cancel_replies_report_the_signers_buckets(venue, admin, reward_market):
    """polymarket-client's rate-limit listener sees the order bucket drop by one per order, the cancel bucket by
    1 + the orders a cancel-all cancelled, and the tier."""
    from polymarket import SecureClient

    key = "0x" + os.urandom(32).hex()
    updates = []
    sec = SecureClient.create(private_key=key, wallet=Account.from_key(key).address,
                              environment=examples.official_environment(venue.url), on_rate_limit_update=updates.append)
    try:
        price = f"{(reward_market.book.best_bid() - reward_market.tick_pips) / 10_000:.2f}"
        for _ in range(3):
            sec.place_limit_order(token_id=reward_market.token_ids[0], price=price, size="10", side="BUY")
        placed = [u for u in updates]
        sec.cancel_all()
    finally:
        sec.close()
    assert len(placed) == 3 and {u.tier for u in updates} == {"standard"}
    remaining = [u.remaining for u in placed]
    assert remaining[0] == pytest.approx(59, abs=0.2) and remaining[1] < remaining[0] and remaining[2] < remaining[1]
    assert all(u.reset >= time.time() - 1 for u in placed)
    cancelled = updates[-1]
    assert cancelled.remaining == pytest.approx(120 - 4, abs=0.2)  # 1 + the 3 orders cancelled
    assert admin.state()["accounts"][Account.from_key(key).address]["open_orders"] == []
