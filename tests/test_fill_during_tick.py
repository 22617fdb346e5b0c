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
    return SimOptions(seed=7, speed=0, markets=30, scenario="calm", balance_delay_s=0.0,
                      universe="generated")  # its fills were written for the generated universe's seed 7


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


def test_most_ticks_read_only_the_recent_trades_and_a_whole_read_brings_the_older_fills_status(service, truth,
                                                                                             monkeypatch):
    """The trades read of a tick starts at the newest match seen less 10 s, not at the oldest unsettled fill
    (which can be minutes back: MINED ~26 s, CONFIRMED ~180 s after the match), so a tick's cost does not grow
    with the fills still settling; every `FULL_TRADES_EVERY_S` a whole read carries the older fills' status
    moves. Judged by the rows each read returned and by what the ledger holds against the venue."""
    from polymm.controller import core
    from polymm.ledger import Ledger
    from polymm.venue.outcomes import Ok

    trading = service.controller.trading
    read_trades = trading.trades
    reads: list[tuple[int | None, int]] = []

    def recorded(after=None):
        reply = read_trades(after)
        reads.append((after, len(reply.value) if isinstance(reply, Ok) else -1))
        return reply

    def quote():
        service.tick()
        return [o for o in h.live_orders(truth.state(), service.address)
                if o["side"] == "BUY" and Decimal("0.2") <= Decimal(o["price"]) <= Decimal("0.8")]

    def status_in_ledger(trade_id: str, order_id: str) -> str:
        with Ledger(service.controller.ledger.path) as ledger:
            return ledger.fill(trade_id, order_id).status

    def ticking(seconds: int) -> None:  # the clock moves in 5 s steps, a tick after each (heartbeats)
        for _ in range(seconds // 5):
            truth.advance(5)
            service.tick()

    old = wait_until(quote, 60, "a buy quote of ours at the venue")[0]
    h.take_through(truth, old, Decimal(1))
    service.tick()  # the old fill is seen and hedged
    with Ledger(service.controller.ledger.path) as ledger:
        old_fill = next(f for f in ledger.fills() if f.order_id == old["id"])
    monkeypatch.setattr(core, "FULL_TRADES_EVERY_S", 3600.0)  # from here on, recent-window reads only
    ticking(30)
    new = wait_until(quote, 60, "a buy quote of ours at the venue")[0]
    h.take_through(truth, new, Decimal(1))
    service.tick()
    assert _ours(truth, service.address, new["asset_id"], "SELL"), "the new fill was not hedged"
    trading.trades = recorded
    try:
        ticking(155)  # the old fill is CONFIRMED at the venue now (180 s after its match)
        recent = list(reads)
        venue_status = next(t["status"] for t in truth.state()["trades"] if t["id"] == old_fill.trade_id)
        assert venue_status == "CONFIRMED"
        assert status_in_ledger(old_fill.trade_id, old["id"]) == "MINED"  # the recent reads left it out
        monkeypatch.setattr(core, "FULL_TRADES_EVERY_S", 0.0)  # the next read is whole
        service.tick()
    finally:
        trading.trades = read_trades
    whole = reads[len(recent):]
    assert status_in_ledger(old_fill.trade_id, old["id"]) == "CONFIRMED"
    assert recent and all(after > old_fill.match_time for after, _ in recent), recent
    assert whole and whole[0][0] <= old_fill.match_time
    assert max(n for _, n in recent) < whole[0][1], (recent, whole)
