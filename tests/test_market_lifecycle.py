"""The market lifecycle (polymm/sim/lifecycle.py): a tick-size change with its `tick_size_change` event,
`accepting_orders=false`, close and resolution to 0/1 with redemption value — the simulator doing it
through the real SDK and its public surface, and the controller coping as a real process, judged from
`GET /_sim/state`.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from decimal import Decimal

import pytest
import websockets
from py_clob_client_v2.clob_types import OrderArgsV2, PartialCreateOrderOptions
from py_clob_client_v2.exceptions import PolyApiException

from controller_support import h
from polymm.sim.model import PIPS


def _order(client, market, price: float, tick: str, size: float = 10, token: int = 0):
    options = PartialCreateOrderOptions(tick_size=tick, neg_risk=market.neg_risk)
    return client.create_order(OrderArgsV2(token_id=market.token_ids[token], price=price, size=size, side="BUY"), options)


async def _tick_events(ws_url: str, token_id: str, change) -> list[dict]:
    async with websockets.connect(ws_url) as ws:
        await ws.send(json.dumps({"assets_ids": [token_id], "type": "market"}))
        await asyncio.wait_for(ws.recv(), 5)  # the book snapshot
        await asyncio.get_running_loop().run_in_executor(None, change)
        seen: list[dict] = []
        while not seen:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
            seen = [m for m in (msg if isinstance(msg, list) else [msg]) if m.get("event_type") == "tick_size_change"]
        return seen


def test_the_venue_changes_tick_halts_and_resolves_a_market(venue, admin, client, reward_market):
    m = reward_market
    cid, yes, no = m.condition_id, m.token_ids[0], m.token_ids[1]
    bid = m.book.best_bid()
    ws_url = venue.url.replace("http", "ws", 1) + "/ws/market"

    # the tick narrows to 0.001, announced in the capture's shape; an order at 0.001 steps is now accepted
    events = asyncio.run(_tick_events(ws_url, yes, lambda: admin.http.post(
        "/_sim/market", json={"condition_id": cid, "tick_size": 0.001}).raise_for_status()))
    assert events[0] | {"timestamp": "x"} == {"event_type": "tick_size_change", "asset_id": yes, "market": cid,
                                             "old_tick_size": "0.01", "new_tick_size": "0.001", "timestamp": "x"}
    assert client.get_tick_size(yes) in ("0.01", "0.001")  # the SDK caches ticks; the venue's own reply:
    assert admin.http.get("/tick-size", params={"token_id": yes}).json() == {"minimum_tick_size": 0.001}
    fine = (bid - 50) / PIPS  # a price only the 0.001 tick allows (x.xx5)
    fine_id = client.post_order(_order(client, m, fine, "0.001"))["orderID"]

    # back to 0.01: a new order at the 0.001 step is refused with the venue's wording; the resting one stays
    admin.http.post("/_sim/market", json={"condition_id": cid, "tick_size": "0.01"}).raise_for_status()
    assert admin.http.get("/tick-size", params={"token_id": yes}).json() == {"minimum_tick_size": 0.01}
    with pytest.raises(PolyApiException) as off_tick:
        client.post_order(_order(client, m, fine - 0.002, "0.001"))
    assert "breaks minimum tick size rule: 0.01" in str(off_tick.value.error_msg)
    assert fine_id in {o["id"] for o in admin.state()["accounts"][client.get_address()]["open_orders"]}

    # accepting_orders=false: new orders refused, cancels still work, the flag shows everywhere
    admin.http.post("/_sim/market", json={"condition_id": cid, "accepting_orders": False}).raise_for_status()
    with pytest.raises(PolyApiException) as halted:
        client.post_order(_order(client, m, (bid - 300) / PIPS, "0.01"))
    assert "not yet ready to process new orders" in str(halted.value.error_msg)
    assert client.get_market(cid)["accepting_orders"] is False
    gamma = admin.http.get("/gamma/markets", params={"condition_ids": cid}).json()[0]
    assert gamma["acceptingOrders"] is False and gamma["closed"] is False

    # resolution to NO: resting orders cancelled CANCELED_MARKET_RESOLVED, tokens report winner and price,
    # positions carry 1 or 0 a share, the market leaves the reward list and has no book
    admin.fund(client.get_address(), tokens={yes: 7, no: 3})
    r = admin.http.post("/_sim/market", json={"condition_id": cid, "winner": "No"}).json()
    assert r["closed"] and r["winner"] == 1 and r["orders_cancelled"] >= 1  # the simulated makers' too
    assert client.get_order(fine_id) is None  # no longer active; the venue's record of it:
    assert venue.call(lambda: venue.server.engine.orders[fine_id].status) == "CANCELED_MARKET_RESOLVED"
    market = client.get_market(cid)
    assert market["closed"] is True and market["accepting_orders"] is False
    assert [(t["winner"], t["price"]) for t in market["tokens"]] == [(False, 0), (True, 1)]
    assert cid not in {row["condition_id"] for row in client.get_current_rewards()}
    assert admin.http.get("/book", params={"token_id": yes}).status_code == 404
    assert admin.http.get("/gamma/markets", params={"condition_ids": cid}).json() == []  # Gamma's closed=false default
    assert admin.http.get("/gamma/markets", params={"condition_ids": cid, "closed": "true"}).json()[0]["closed"]
    state = admin.state()
    account = state["accounts"][client.get_address()]
    assert account["redemption"] == {yes: {"shares": 7.0, "value_per_share": 0.0, "value": 0.0},
                                     no: {"shares": 3.0, "value_per_share": 1.0, "value": 3.0}}
    assert state["lifecycle"][cid] == {"tick_size": 0.01, "accepting_orders": False, "closed": True, "winner": 1}
    rows = {p["asset"]: p for p in admin.http.get("/dataapi/positions", params={"user": client.get_address()}).json()}
    assert (rows[no]["redeemable"], rows[no]["curPrice"], rows[no]["currentValue"]) == (True, 1, 3.0)
    assert (rows[yes]["redeemable"], rows[yes]["curPrice"], rows[yes]["currentValue"]) == (True, 0, 0.0)

    # bad input: one clear error naming what is allowed
    bad = admin.http.post("/_sim/market", json={"condition_id": cid, "tick_size": 0.02})
    assert bad.status_code == 400 and "0.001" in bad.json()["error"]


def test_a_scheduled_resolution_closes_the_market_when_the_clock_reaches_it(venue, admin, client, reward_market):
    m = reward_market
    resting = client.post_order(_order(client, m, (m.book.best_bid() - 200) / PIPS, "0.01"))["orderID"]
    at = admin.state()["now"] + 30
    admin.http.post("/_sim/market", json={"condition_id": m.condition_id, "winner": 0, "at": at}).raise_for_status()
    admin.advance(20)
    assert client.get_order(resting)["status"] == "LIVE"
    admin.advance(10)
    assert client.get_order(resting) is None
    assert venue.call(lambda: venue.server.engine.orders[resting].status) == "CANCELED_MARKET_RESOLVED"
    assert admin.state()["lifecycle"][m.condition_id]["winner"] == 0


def _ours_in(state: dict, address: str, cid: str) -> list[dict]:
    return [o for o in h.live_orders(state, address) if o["market"] == cid]


def _on_tick(price: str, tick: Decimal) -> bool:
    return Decimal(price) % tick == 0


def test_the_controller_reprices_on_a_new_tick_stops_in_halted_markets_and_reports_resolved_positions(
        venue, truth, controllers, make_client):
    """A real `polymm reconcile --loop` against the venue: a tick narrowed then widened under its quotes, a market
    that stops accepting orders, a market that resolves under a position. Judged from /_sim/state: one live
    order per slot throughout, no order left at a price the venue's tick no longer divides, nothing left live
    (nor sent again and again) where the venue takes no order, and `polymm status --json` showing the resolved
    position at its redemption value, not as unhedged. (About 13 s: five lifecycle changes, each needs a few
    of the loop's wall-clock ticks to be seen and acted on; the lifecycle read is every 4 ticks here.)"""
    ctl = controllers("lifecycle", {"POLYMM_CONTROLLER__POSITIONS_CHECK_TICKS": "4"})
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    state = truth.state()
    quotes = [q for q in h.live_orders(state, ctl.address)
              if q["side"] == "BUY" and Decimal("0.2") <= Decimal(q["price"]) <= Decimal("0.8")]
    markets = list(dict.fromkeys(q["market"] for q in quotes))
    assert len(markets) >= 2, "the controller must quote two markets away from the extremes"
    # the tick change in the market with the widest reward band (room for a bid between the cents to score)
    ticked = max(markets, key=lambda cid: venue.call(lambda: venue.server.engine.markets[cid].rewards_max_spread))
    halted = next(cid for cid in markets if cid != ticked)

    # the venue narrows the tick (0.01 → 0.001, as past 0.96 / under 0.04) and another maker bids between the
    # cents: our quote (the second-best bid) moves between the cents too, signed on the new tick (signed on a
    # stale 0.01 it would be rounded back, and re-priced on every tick)
    coarse = Decimal("0.01")
    quote = next(q for q in quotes if q["market"] == ticked)
    market = venue.call(lambda: venue.server.engine.markets[ticked])
    with ctl.ledger() as ledger:
        before = len([o for o in ledger.orders() if o.condition_id == ticked])
    truth.http.post("/_sim/market", json={"condition_id": ticked, "tick_size": 0.001}).raise_for_status()
    other = make_client()
    token = market.token_index(quote["asset_id"])
    theirs = [other.post_order(_order(other, market, float(Decimal(quote["price"]) + d), "0.001", 5, token))["orderID"]
              for d in (Decimal("0.005"), Decimal("0.003"))]
    for _ in range(20):
        ctl.wait_ticks(1, timeout=30)
        if any(not _on_tick(o["price"], coarse) for o in _ours_in(truth.state(), ctl.address, ticked)):
            break
    assert any(not _on_tick(o["price"], coarse) for o in _ours_in(truth.state(), ctl.address, ticked)), ctl.log_tail()
    ctl.wait_ticks(4, timeout=30)
    with ctl.ledger() as ledger:
        placed = [o for o in ledger.orders() if o.condition_id == ticked][before:]
    assert len(placed) <= 2, [(o.price, o.state) for o in placed]  # one re-price a token at most, no churn

    # the tick widens back with the other maker's bids still between the cents: our order there goes (it is
    # replaced once the book gives a price the venue takes again), never doubled, never refused
    truth.http.post("/_sim/market", json={"condition_id": ticked, "tick_size": "0.01"}).raise_for_status()
    for _ in range(20):
        ctl.wait_ticks(1, timeout=30)
        state = truth.state()
        h.check_continuous(state, ctl.address, Decimal(1000), audit := h.Audit())
        assert audit.duplicates == 0, audit.duplicate_slots
        if all(_on_tick(o["price"], coarse) for o in _ours_in(state, ctl.address, ticked)):
            break
    assert all(_on_tick(o["price"], coarse) for o in _ours_in(state, ctl.address, ticked)), ctl.log_tail()
    other.cancel_orders(theirs)
    for _ in range(20):
        ctl.wait_ticks(1, timeout=30)
        state = truth.state()
        if any(o["asset_id"] == quote["asset_id"] for o in _ours_in(state, ctl.address, ticked)):
            break
    ours = _ours_in(state, ctl.address, ticked)
    assert any(o["asset_id"] == quote["asset_id"] for o in ours) and all(_on_tick(o["price"], coarse) for o in ours)
    h.check_settled(state, ctl.address, ctl.ledger_path, truth, audit := h.Audit())
    assert audit.orphans == 0, audit.orphan_ids

    # `halted` stops accepting orders: our orders there are cancelled and nothing is sent there again and again
    truth.http.post("/_sim/market", json={"condition_id": halted, "accepting_orders": False}).raise_for_status()
    for _ in range(30):
        ctl.wait_ticks(1, timeout=30)
        if not _ours_in(truth.state(), ctl.address, halted):
            break
    assert not _ours_in(truth.state(), ctl.address, halted), ctl.log_tail()
    with ctl.ledger() as ledger:
        refused = [o for o in ledger.orders() if o.condition_id in (halted, ticked) and o.state == "rejected"]
    assert len(refused) <= 2, [o.error for o in refused]
    # and takes orders again: the controller, holding nothing there, still reads its state and quotes it again
    truth.http.post("/_sim/market", json={"condition_id": halted, "accepting_orders": True}).raise_for_status()
    for _ in range(30):
        ctl.wait_ticks(1, timeout=30)
        if _ours_in(truth.state(), ctl.address, halted):
            break
    assert _ours_in(truth.state(), ctl.address, halted), ctl.log_tail()

    # a fill in a third market, and the market resolves against it before the controller can hedge (it is
    # paused meanwhile): the venue cancels our orders there; the controller places no hedge it could not
    # sell, reports the position at its redemption value (0 a share) and stays healthy
    state = truth.state()
    quote = next(q for q in h.live_orders(state, ctl.address) if q["side"] == "BUY" and q["market"] not in (ticked, halted)
                 and Decimal("0.2") <= Decimal(q["price"]) <= Decimal("0.8"))
    resolved = quote["market"]
    ctl.signal(signal.SIGSTOP)
    try:
        h.take_through(truth, quote, Decimal("0.5"))
        tokens = [t["token_id"] for t in truth.market(resolved)["tokens"]]
        truth.http.post("/_sim/market", json={"condition_id": resolved,
                                              "winner": 1 - tokens.index(quote["asset_id"])}).raise_for_status()
    finally:
        ctl.signal(signal.SIGCONT)
    assert not _ours_in(truth.state(), ctl.address, resolved)
    after = ctl.tick_id()
    ctl.wait_ticks(6, timeout=60, after=after)
    state = truth.state()
    assert not _ours_in(state, ctl.address, resolved), ctl.log_tail()
    held = h.account(state, ctl.address)["redemption"][quote["asset_id"]]
    assert held["shares"] > 0 and held["value"] == 0.0
    status = ctl.status()
    row = next(p for p in status["positions"] if p["token_id"] == quote["asset_id"])
    assert row["redemption_value"] == "0.00" and "resolved" in row["not_hedged_because"], row
    assert status["health"] == "ok", status["why"]
    assert ctl.alive


# ---------------------------------------------------------------------------------------------- pure rules
def _market(**kw):
    from polymm.domain.types import RewardMarket, Token
    base = dict(condition_id="0xc1", question="q?", tokens=(Token("y1", "Yes"), Token("n1", "No")),
                rewards_max_spread=Decimal(3), rewards_min_size=Decimal(20), rate_per_day=Decimal(10),
                tick_size=Decimal("0.01"), min_order_size=Decimal(5), neg_risk=False, end_date=None, volume_24hr=None)
    return RewardMarket(**{**base, **kw})


@pytest.mark.parametrize("name, payouts, accepting", [
    ("gamma_market_closed_binary_accepting_false.json", (Decimal(0), Decimal(1)), False),
    ("gamma_market_closed_binary_accepting_true.json", (Decimal(1), Decimal(0)), True),
    ("gamma_market_closed_zero_zero_legacy.json", None, True),  # closed, prices 0/0: resolution unknown
])
def test_the_captured_closed_gamma_markets_parse_to_their_resolution(name, payouts, accepting):
    from conftest import FIXTURES
    from polymm.venue.parse import market_from_gamma

    m = market_from_gamma(json.loads((FIXTURES / name).read_text()))
    assert m.closed and not m.trading and m.payouts == payouts and m.accepting_orders is accepting
    if payouts is not None:
        assert m.redemption_value(m.token_ids[0]) == payouts[0]


def test_a_position_in_a_market_that_takes_no_order_gets_no_hedge_and_is_not_counted_unhedged():
    from polymm.desired.funnel import Selection
    from polymm.desired.hedge import HedgeParams
    from polymm.desired.state import desire
    from polymm.domain.types import Book, Position

    book = Book.from_levels("y1", [(Decimal("0.40"), Decimal(100))], [(Decimal("0.42"), Decimal(100))], Decimal("0.01"))
    params = HedgeParams(Decimal("0.05"), Decimal("0.1"), Decimal("0.1"), Decimal(0))
    pos = {"y1": Position("y1", Decimal(10), Decimal("0.41"))}
    empty = Selection((), (), (), {})
    for market, note in ((_market(), None), (_market(accepting_orders=False), "not accepting orders"),
                         (_market(closed=True, accepting_orders=False, payouts=(Decimal(1), Decimal(0))),
                          "resolved, redeemable at 1")):
        got = desire(empty, pos, {"y1": market, "n1": market}, {"y1": book}, params, True)
        hedges = [o for o in got.orders if o.role == "hedge"]
        assert (not hedges) == (note is not None), (market, got.notes)
        assert note is None or any(note in n for n in got.notes), got.notes


def test_orders_are_priced_on_the_tick_the_books_show():
    from polymm.domain.types import Book
    from polymm.reconciler.tick import with_book_ticks

    books = {t: Book.from_levels(t, [], [], Decimal("0.001")) for t in ("y1", "n1")}
    assert with_book_ticks([_market()], books)[0].tick_size == Decimal("0.001")
    assert with_book_ticks([_market()], {})[0].tick_size == Decimal("0.01")  # no book: the market's own tick


def test_the_data_service_takes_a_new_tick_from_the_market_channel_before_its_next_refresh(venue, admin, reward_market):
    """`polymm data-service` on the real market channel: a `tick_size_change` event sets the stored book's tick
    at once (the REST refresh is 300 s away here)."""
    import threading

    from polymm.marketdata.service import DataService
    from polymm.marketdata.store import MemoryStore
    from polymm.venue.gateway import VenueEndpoints, VenueGateway

    u = venue.urls
    gateway = VenueGateway(VenueEndpoints(u["clob_url"], u["gamma_url"], u["data_url"], u["ws_url"]))
    store = MemoryStore()
    data = DataService(gateway, store, 300, 300, u["ws_url"])
    stop = threading.Event()
    runner = threading.Thread(target=data.run, args=(stop,), daemon=True)
    runner.start()
    token = reward_market.token_ids[0]
    try:
        deadline = time.monotonic() + 10
        subscribed = lambda: any(token in assets for assets in venue.server.market_subs.values())  # noqa: E731
        while time.monotonic() < deadline and not (token in data.books and venue.call(subscribed)):
            time.sleep(0.05)
        assert data.books[token].tick_size == Decimal("0.01")
        admin.http.post("/_sim/market", json={"condition_id": reward_market.condition_id, "tick_size": 0.001}).raise_for_status()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and store.get_books([token], time.time(), 60)[token].tick_size != Decimal("0.001"):
            time.sleep(0.05)
        assert store.get_books([token], time.time(), 60)[token].tick_size == Decimal("0.001")
        assert data.stats["refreshes"] == 1  # the REST refresh at start only: the channel did it
    finally:
        stop.set()
        runner.join(5)
        gateway.close()
