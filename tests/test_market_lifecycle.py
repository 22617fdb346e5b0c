"""The market lifecycle (polymm/sim/lifecycle.py): a tick-size change with its `tick_size_change` event,
`accepting_orders=false`, close and resolution to 0/1 with redemption value — the simulator doing it
through the real SDK and its public surface, and the controller coping as a real process, judged from
`GET /_sim/state`.
"""

from __future__ import annotations

import asyncio
import json
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
