"""The simulator's public surface for a resolved market and the Data API's positions query, against the venue's
documented and captured shapes: a resolved market's CLOB row says `enable_order_book: false` (both captured closed
markets), it has no price as it has no book, and `GET /positions` honours `sizeThreshold`, `limit`, `offset`,
`market`, `redeemable` and the default sort (docs.polymarket.com/api-reference/endpoints/data/get-positions) — the
sim used to answer every position whatever was asked, and a price of 0 for a market without a book. And the market
channel's subscription options: `custom_feature_enabled` (the `market_resolved` event) and `initial_dump`."""

from __future__ import annotations

import json
import re

from conftest import FIXTURES


def test_resolved_market_has_no_book_no_price_and_positions_filter_as_documented(admin, venue, reward_market):
    engine = venue.server.engine
    other = next(m for m in engine.markets.values() if m is not reward_market and not m.closed)
    user = "0x" + "ef" * 20
    yes, no = reward_market.token_ids
    tokens = {yes: 30, no: 0.5, other.token_ids[0]: 12}
    assert admin.http.post("/_sim/fund", json={"address": user, "tokens": tokens}).status_code == 200
    admin.http.post("/_sim/market", json={"condition_id": reward_market.condition_id, "winner": "Yes"}).raise_for_status()

    # Gamma (asked with closed=true): prices "1"/"0" and a closedTime, in the captures' formats
    gamma = admin.http.get("/gamma/markets", params={"condition_ids": reward_market.condition_id, "closed": "true"}).json()
    captured = json.loads((FIXTURES / "gamma_market_closed_binary_accepting_false.json").read_text())
    captured = captured[0] if isinstance(captured, list) else captured
    assert json.loads(gamma[0]["outcomePrices"]) == ["1", "0"] and json.loads(captured["outcomePrices"]) == ["0", "1"]
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00"
    assert re.fullmatch(stamp, captured["closedTime"]) and re.fullmatch(stamp, gamma[0]["closedTime"]), gamma[0]
    row = admin.http.get(f"/markets/{reward_market.condition_id}").json()
    assert row["closed"] is True and row["accepting_orders"] is False and row["enable_order_book"] is False
    assert admin.http.get(f"/markets/{other.condition_id}").json()["enable_order_book"] is True
    for path in ("/book", "/price"):
        resp = admin.http.get(path, params={"token_id": yes, "side": "BUY"})
        assert (resp.status_code, resp.json()) == (404, {"error": "No orderbook exists for the requested token id"})
    prices = admin.http.post("/prices", json=[{"token_id": yes, "side": "BUY"},
                                              {"token_id": other.token_ids[0], "side": "BUY"}]).json()
    assert list(prices) == [other.token_ids[0]]

    def positions(**params) -> list[tuple[str, float]]:
        resp = admin.http.get("/dataapi/positions", params={"user": user, **params})
        assert resp.status_code == 200, resp.text
        return [(r["asset"], r["size"]) for r in resp.json()]

    # default: rows of 1 share or more, biggest first (sortBy TOKENS, DESC)
    assert positions() == [(yes, 30.0), (other.token_ids[0], 12.0)]
    assert positions(sizeThreshold=0) == [(yes, 30.0), (other.token_ids[0], 12.0), (no, 0.5)]
    assert positions(redeemable="true", sizeThreshold=0) == [(yes, 30.0), (no, 0.5)]
    assert positions(market=other.condition_id) == [(other.token_ids[0], 12.0)]
    assert positions(limit=1) == [(yes, 30.0)] and positions(limit=1, offset=1) == [(other.token_ids[0], 12.0)]
    assert positions(sortBy="TOKENS", sortDirection="ASC") == [(other.token_ids[0], 12.0), (yes, 30.0)]
    assert positions(mergeable="true") == []
    for params, message in (({"limit": 501}, "limit: '501' — must be an integer 0–500"),
                            ({"sizeThreshold": -1}, "sizeThreshold: '-1' — must be a number ≥ 0"),
                            ({"redeemable": "yes"}, "redeemable: 'yes' — must be true or false"),
                            ({"sortBy": "SIZE"}, "sortBy: 'SIZE' — allowed: TOKENS, CURRENT")):
        resp = admin.http.get("/dataapi/positions", params={"user": user, **params})
        assert resp.status_code == 400 and message in resp.json()["error"], (params, resp.text)


def test_market_resolved_goes_to_custom_feature_subscriptions_only(venue, admin, reward_market):
    """docs.polymarket.com/market-data/websocket/market-channel: `custom_feature_enabled: true` subscriptions get
    `market_resolved`; the sim sent it to nobody."""
    import asyncio

    import websockets

    m = reward_market
    url = venue.url.replace("http", "ws", 1) + "/ws/market"

    async def run() -> tuple[list[dict], list[dict]]:
        async with websockets.connect(url) as custom, websockets.connect(url) as plain:
            await custom.send(json.dumps({"assets_ids": list(m.token_ids), "type": "market", "custom_feature_enabled": True}))
            await plain.send(json.dumps({"assets_ids": [m.token_ids[1]], "type": "market"}))
            for ws in (custom, plain):
                await asyncio.wait_for(ws.recv(), 5)  # the book snapshots
            await asyncio.get_running_loop().run_in_executor(None, lambda: admin.http.post(
                "/_sim/market", json={"condition_id": m.condition_id, "winner": "No"}).raise_for_status())

            async def drain(ws) -> list[dict]:
                seen: list[dict] = []
                try:
                    while True:
                        msg = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                        seen += [e for e in (msg if isinstance(msg, list) else [msg]) if e.get("event_type") == "market_resolved"]
                except asyncio.TimeoutError:
                    return seen
            return await drain(custom), await drain(plain)

    custom_events, plain_events = asyncio.run(run())
    assert plain_events == []
    assert len(custom_events) == 1, custom_events  # once, although it holds both tokens
    assert custom_events[0] | {"timestamp": "x"} == {
        "event_type": "market_resolved", "id": m.condition_id, "market": m.condition_id,
        "assets_ids": list(m.token_ids), "winning_asset_id": m.token_ids[1], "winning_outcome": "No", "timestamp": "x"}
    assert custom_events[0]["timestamp"].isdigit()


def test_initial_dump_false_subscribes_without_the_book_snapshot(venue, reward_market):
    """docs.polymarket.com/api-reference/wss/market: `initial_dump` (default true) says whether a subscription gets
    the order-book snapshot; the sim always sent it."""
    import asyncio

    import websockets

    url = venue.url.replace("http", "ws", 1) + "/ws/market"
    token = reward_market.token_ids[0]

    async def first_frame(extra: dict) -> object:
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"assets_ids": [token], "type": "market", **extra}))
            await ws.send("PING")  # frames are answered in order: PONG first means no snapshot was sent
            return json.loads(reply) if (reply := await asyncio.wait_for(ws.recv(), 5)) != "PONG" else reply

    assert asyncio.run(first_frame({"initial_dump": False})) == "PONG"
    snapshot = asyncio.run(first_frame({}))
    assert isinstance(snapshot, list) and snapshot[0]["event_type"] == "book" and snapshot[0]["asset_id"] == token
