"""A fill that the venue reports while a tick's trades read is already answered is hedged by that same tick.

The real Service in this process, against `polymm sim serve` over loopback, with its user channel on. The
controller's trades read is wrapped so that, right after the venue has answered it, a simulated taker fills
one of our quotes and the channel's `trade` event arrives: the reply the tick holds lacks the fill. The tick
must see that the fill arrived after its read was sent, observe again, and place the hedge, instead of
deciding on the stale reply and leaving the hedge to the next tick (issue 11, the fill-to-hedge tail).
Judged from the venue's own state: a sell of ours on the filled token right after that one tick."""

from __future__ import annotations

import os
import threading
from decimal import Decimal

import pytest

from controller_support import h, wait_until
from polymm.sim.runner import SimOptions


@pytest.fixture
def sim_options() -> SimOptions:
    return SimOptions(seed=7, speed=0, markets=30, scenario="calm", balance_delay_s=0.0)


@pytest.fixture
def service(venue, tmp_path, monkeypatch):
    from polymm.config import load_config, load_secrets
    from polymm.controller.loop import Service
    from polymm.controller.session import open_session

    key = h.wallet_key("fill-during-tick")
    for name in [n for n in os.environ if n.startswith(("POLYMM_", "POLYMARKET_"))]:
        monkeypatch.delenv(name)
    for name, value in h.controller_env(venue.url, key, tmp_path, 3).items():
        if name.startswith(("POLYMM_", "POLYMARKET_")):
            monkeypatch.setenv(name, value)
    with open_session(load_config(), load_secrets()) as session:
        svc = Service(session, threading.Event())
        svc.startup()
        svc.address = h.address_of(key)
        try:
            yield svc
        finally:
            svc.shutdown()


def _ours(truth, address: str, token_id: str, side: str) -> list[dict]:
    state = truth.state()
    resting = [o for o in h.live_orders(state, address) if o["asset_id"] == token_id and o["side"] == side]
    traded = [f for f in h.venue_fills(state, address) if f.token_id == token_id and f.side == side]
    return resting + traded


def test_a_fill_reported_after_the_trades_read_is_hedged_by_the_same_tick(service, truth):
    def quotes():
        service.tick()
        return [o for o in h.live_orders(truth.state(), service.address)
                if o["side"] == "BUY" and Decimal("0.2") <= Decimal(o["price"]) <= Decimal("0.8")]

    target = wait_until(quotes, 60, "a buy quote of ours at the venue")[0]
    token = target["asset_id"]
    assert not _ours(truth, service.address, token, "SELL")

    trading = service.controller.trading
    read_trades = trading.trades
    armed = threading.Event()
    armed.set()

    def trades_then_a_fill(after=None):
        reply = read_trades(after)  # answered before the fill: it cannot hold it
        if armed.is_set():
            armed.clear()
            h.take_through(truth, target, Decimal(1))
            wait_until(lambda: service.urgent.is_set(), 10, "the fill's trade event on the user channel")
        return reply

    trading.trades = trades_then_a_fill
    try:
        service.urgent.clear()
        result = service.tick()
    finally:
        trading.trades = read_trades
    assert not armed.is_set(), "the wrapped trades read never ran"
    hedges = _ours(truth, service.address, token, "SELL")
    assert hedges, f"no sell of ours on the filled token after the tick that saw the fill: {result.report}"
    assert result.report.places_sent >= 1
