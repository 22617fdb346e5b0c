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


class StandingClock:
    """The rate limits' clock, standing still unless a test moves it: what the venue counts does not depend on how
    fast a loaded machine sends the requests."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


IP_CLOCK = StandingClock()
BUCKET_CLOCK = StandingClock()


@pytest.mark.parametrize("sim_options", [SimOptions(seed=7, speed=0, markets=10, balance_delay_s=0.0,
                                                    ip_window_scale=0.1, rate_limit_clock=IP_CLOCK)],
                         ids=["1s-windows"])
def test_requests_over_a_familys_limit_are_delayed_not_refused(venue, admin):
    """GET /ok allows 100 requests a window (here 1 s instead of 10 s): 110 in a row all succeed; the 101st on is
    held until the first leaves the window (the limits' clock stands still, so all 110 fall in one window however
    slowly they are sent, and each of the last 10 is held a whole window)."""
    with httpx.Client(base_url=venue.url, timeout=60) as http:
        started = time.monotonic()
        statuses = [http.get("/ok").status_code for _ in range(110)]
        elapsed = time.monotonic() - started
        fast = http.get("/time").status_code  # another family is not held up
    assert statuses == [200] * 110
    limits = admin.state()["rate_limits"]
    assert limits["enabled"] and limits["throttled"] == 10 and limits["ip_refused"] == 0
    assert elapsed >= 10 * 0.9, elapsed  # each of the last 10 waited a window (a lower bound only)
    assert fast == 200


@pytest.mark.parametrize("sim_options", [SimOptions(seed=7, speed=0, markets=10, rate_limits=False)], ids=["off"])
def test_with_rate_limits_off_nothing_is_throttled_or_reported(venue, admin, client, reward_market):
    with httpx.Client(base_url=venue.url) as http:
        assert all(http.get("/ok").status_code == 200 for _ in range(150))
    assert admin.state()["rate_limits"] == {"enabled": False, "throttled": 0, "ip_refused": 0}


@pytest.mark.parametrize("sim_options", [SimOptions(seed=7, speed=0, markets=30, scenario="calm", balance_delay_s=0.0,
                                                    universe="generated", rate_limit_clock=BUCKET_CLOCK)], ids=["standing-clock"])
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
    assert remaining == [59, 58, 57]  # the buckets' clock stands still: no refill between the orders
    assert all(u.reset >= time.time() - 1 for u in placed)
    cancelled = updates[-1]
    assert cancelled.remaining == 120 - 4  # 1 + the 3 orders cancelled
    assert admin.state()["accounts"][Account.from_key(key).address]["open_orders"] == []
