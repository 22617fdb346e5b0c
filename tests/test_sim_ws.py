"""The simulated venue's WebSocket channels, driven by the real SDK and read with the `websockets` client.

Each test runs its own event loop (`asyncio.run`); blocking SDK and admin calls go through
`asyncio.to_thread` so the sockets keep being read meanwhile. Every wait has a timeout.
Frames on one connection are handled in order, so a PING answered by PONG proves that every
earlier frame (a subscription) has been processed, and that nothing queued before it is pending.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable

import websockets
from py_clob_client_v2.clob_types import OrderArgsV2, PartialCreateOrderOptions

from polymm.sim.model import PIPS, SimMarket

TIMEOUT_S = 5.0


class EventStream:
    """One WebSocket read in the background: JSON frames (arrays flattened) go to `events`, PONGs are counted."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.events: list[dict] = []
        self.frames: list[Any] = []  # every decoded frame as sent (a dict or a list of dicts)
        self.pongs = 0
        self.closed = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if message == "PONG":
                    self.pongs += 1
                    continue
                data = json.loads(message)
                self.frames.append(data)
                self.events.extend(data if isinstance(data, list) else [data])
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()

    async def send(self, payload: dict | str) -> None:
        await self.ws.send(payload if isinstance(payload, str) else json.dumps(payload))

    async def sync(self) -> None:
        """PING and wait for its PONG: every frame sent before it has been handled by the venue."""
        expected = self.pongs + 1
        await self.send("PING")
        await self._until(lambda: self.pongs >= expected, "PONG")

    async def wait_for(self, predicate: Callable[[dict], bool], what: str) -> dict:
        found: list[dict] = []

        def check() -> bool:
            found[:] = [e for e in self.events if predicate(e)]
            return bool(found)

        await self._until(check, what)
        return found[0]

    async def wait_closed(self) -> None:
        await asyncio.wait_for(self.closed.wait(), TIMEOUT_S)

    async def _until(self, condition: Callable[[], bool], what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT_S
        while not condition():
            if loop.time() > deadline:
                raise AssertionError(f"no {what} within {TIMEOUT_S} s; events: {[e.get('event_type') for e in self.events]}")
            if self.closed.is_set():
                raise AssertionError(f"connection closed while waiting for {what}")
            await asyncio.sleep(0.01)


def ws_url(venue, channel: str) -> str:
    return f"ws://{venue.host}:{venue.port}/ws/{channel}"


def user_subscription(client) -> dict:
    creds = client.creds
    return {"auth": {"apiKey": creds.api_key, "secret": creds.api_secret, "passphrase": creds.api_passphrase},
            "markets": [], "type": "user"}


async def open_market(venue, token_ids: list[str]) -> EventStream:
    stream = EventStream(await websockets.connect(ws_url(venue, "market"), open_timeout=TIMEOUT_S))
    await stream.send({"assets_ids": token_ids, "type": "market"})
    await stream.sync()
    return stream


async def open_user(venue, client) -> EventStream:
    stream = EventStream(await websockets.connect(ws_url(venue, "user"), open_timeout=TIMEOUT_S))
    await stream.send(user_subscription(client))
    await stream.sync()
    return stream


def price_str(pips: int) -> str:
    return f"{pips / PIPS:g}"


def level_size(book: dict, side: str, price: str) -> float:
    levels = book["bids" if side == "BUY" else "asks"]
    return sum(float(level["size"]) for level in levels if float(level["price"]) == float(price))


def post_bid(client, market: SimMarket, token_id: str, pips: int, size: float) -> dict:
    """A GTC BUY through the SDK, signed for the market's exchange (neg-risk or not) without look-ups."""
    options = PartialCreateOrderOptions(tick_size=market.tick_str, neg_risk=market.neg_risk)
    return client.create_and_post_order(OrderArgsV2(token_id=token_id, price=pips / PIPS, size=size, side="BUY"), options)


# ---------------------------------------------------------------------------- market channel
def test_market_subscription_sends_a_book_snapshot_matching_rest(venue, client, reward_market):
    yes, no = reward_market.token_ids

    async def scenario() -> None:
        stream = await open_market(venue, [yes, no])
        books = {e["asset_id"]: e for e in stream.events if e["event_type"] == "book"}
        assert set(books) == {yes, no}
        assert isinstance(stream.frames[0], list), "the snapshot arrives as one JSON array of book events"
        rest = await asyncio.to_thread(client.get_order_book, yes)
        assert (books[yes]["bids"], books[yes]["asks"]) == (rest["bids"], rest["asks"])
        await stream.ws.close()

    asyncio.run(scenario())


def test_resting_order_produces_a_price_change_with_the_levels_new_total_size(venue, client, reward_market):
    yes, no = reward_market.token_ids
    bid_pips = reward_market.book.best_bid()

    async def scenario() -> None:
        stream = await open_market(venue, [yes, no])
        before = level_size(await asyncio.to_thread(client.get_order_book, yes), "BUY", price_str(bid_pips))
        await asyncio.to_thread(post_bid, client, reward_market, yes, bid_pips, 10)
        change = await stream.wait_for(lambda e: e["event_type"] == "price_change" and e["price_changes"][0]["asset_id"] == yes,
                                       "price_change on YES")
        level = next(c for c in change["price_changes"] if c["price"] == price_str(bid_pips))
        assert (level["side"], float(level["size"])) == ("BUY", before + 10)
        assert level["best_bid"] == price_str(bid_pips)
        mirrored = await stream.wait_for(lambda e: e["event_type"] == "price_change" and e["price_changes"][0]["asset_id"] == no,
                                         "price_change on NO")
        no_level = next(c for c in mirrored["price_changes"] if c["price"] == price_str(PIPS - bid_pips))
        assert (no_level["side"], float(no_level["size"])) == ("SELL", before + 10)
        await stream.ws.close()

    asyncio.run(scenario())


def test_cancelling_the_only_order_at_a_level_publishes_size_zero(venue, client, reward_market):
    yes = reward_market.token_ids[0]
    inside = reward_market.book.best_bid() + reward_market.tick_pips  # an empty level: the spread is ≥ 2 ticks
    assert inside < reward_market.book.best_ask()

    async def scenario() -> None:
        stream = await open_market(venue, [yes])
        placed = await asyncio.to_thread(post_bid, client, reward_market, yes, inside, 10)
        await stream.wait_for(lambda e: e["event_type"] == "price_change"
                              and any(c["price"] == price_str(inside) and c["size"] == "10" for c in e["price_changes"]), "new level")
        await asyncio.to_thread(client.cancel_orders, [placed["orderID"]])
        removed = await stream.wait_for(lambda e: e["event_type"] == "price_change"
                                        and any(c["price"] == price_str(inside) and c["size"] == "0" for c in e["price_changes"]),
                                        "level removal")
        assert removed["market"] == reward_market.condition_id
        await stream.ws.close()

    asyncio.run(scenario())


def test_fill_produces_last_trade_price_at_the_traded_price(venue, admin, reward_market):
    yes = reward_market.token_ids[0]
    ask_pips = reward_market.book.best_ask()

    async def scenario() -> None:
        stream = await open_market(venue, [yes])
        result = await asyncio.to_thread(admin.take, yes, "BUY", ask_pips / PIPS, 5)
        assert result["filled"] == 5
        event = await stream.wait_for(lambda e: e["event_type"] == "last_trade_price", "last_trade_price")
        assert (event["asset_id"], event["price"], event["side"], event["size"]) == (yes, price_str(ask_pips), "BUY", "5")
        await stream.ws.close()

    asyncio.run(scenario())


def test_market_channel_sends_nothing_about_unsubscribed_assets(venue, client, reward_market):
    other = next(m for m in venue.call(lambda: list(venue.server.engine.markets.values()))
                 if m.condition_id != reward_market.condition_id and m.tick_pips == 100 and m.book.best_bid())

    async def scenario() -> None:
        stream = await open_market(venue, [reward_market.token_ids[0]])
        before = len(stream.events)
        await asyncio.to_thread(post_bid, client, other, other.token_ids[0], other.book.best_bid(), 10)
        await stream.sync()  # the order's events were flushed before its HTTP reply, so before this PONG
        assert stream.events[before:] == []
        await stream.ws.close()

    asyncio.run(scenario())


def test_market_channel_answers_non_json_with_an_error_and_stays_open(venue):
    async def scenario() -> None:
        stream = await open_market(venue, [])
        await stream.send("not json")
        await stream.sync()
        assert stream.events == [{"error": "invalid message"}]
        await stream.ws.close()

    asyncio.run(scenario())


def test_market_channel_answers_a_json_array_with_an_error_and_stays_open(venue):
    async def scenario() -> None:
        stream = await open_market(venue, [])
        await stream.send(json.dumps([{"assets_ids": [], "type": "market"}]))
        await stream.sync()
        assert stream.events and "error" in stream.events[0]
        await stream.ws.close()

    asyncio.run(scenario())


def test_ping_is_answered_with_pong_on_both_channels(venue, client):
    async def scenario() -> None:
        for stream in (await open_market(venue, []), await open_user(venue, client)):
            pongs = stream.pongs
            await stream.sync()
            assert stream.pongs == pongs + 1
            await stream.ws.close()

    asyncio.run(scenario())


# ---------------------------------------------------------------------------- user channel
def test_order_placement_is_pushed_as_an_order_event_of_type_placement(venue, client, reward_market):
    yes = reward_market.token_ids[0]

    async def scenario() -> None:
        stream = await open_user(venue, client)
        placed = await asyncio.to_thread(post_bid, client, reward_market, yes, reward_market.book.best_bid(), 10)
        event = await stream.wait_for(lambda e: e["event_type"] == "order", "order event")
        assert (event["type"], event["id"], event["status"], event["original_size"], event["owner"]) == (
            "PLACEMENT", placed["orderID"], "LIVE", "10", client.creds.api_key)
        await stream.ws.close()

    asyncio.run(scenario())


def test_fill_is_pushed_as_a_trade_that_moves_matched_mined_confirmed(venue, admin, client, reward_market):
    yes = reward_market.token_ids[0]
    inside = reward_market.book.best_bid() + reward_market.tick_pips

    async def scenario() -> None:
        stream = await open_user(venue, client)
        placed = await asyncio.to_thread(post_bid, client, reward_market, yes, inside, 10)
        await asyncio.to_thread(admin.take, yes, "SELL", inside / PIPS, 10)

        def our_trade(status: str) -> Callable[[dict], bool]:
            return lambda e: e["event_type"] == "trade" and e["status"] == status

        matched = await stream.wait_for(our_trade("MATCHED"), "MATCHED trade")
        assert matched["trader_side"] == "MAKER"
        ours = [m for m in matched["maker_orders"] if m["owner"] == client.creds.api_key]
        assert [(m["order_id"], m["matched_amount"], m["price"]) for m in ours] == [(placed["orderID"], "10", price_str(inside))]
        update = await stream.wait_for(lambda e: e["event_type"] == "order" and e["type"] == "UPDATE", "order UPDATE")
        assert (update["id"], update["size_matched"], update["status"]) == (placed["orderID"], "10", "MATCHED")

        await asyncio.to_thread(admin.advance, 26)  # the venue's settlement: MINED after ~26 s ...
        mined = await stream.wait_for(our_trade("MINED"), "MINED trade")
        await asyncio.to_thread(admin.advance, 154)  # ... CONFIRMED after ~180 s
        confirmed = await stream.wait_for(our_trade("CONFIRMED"), "CONFIRMED trade")
        assert matched["id"] == mined["id"] == confirmed["id"]
        await stream.ws.close()

    asyncio.run(scenario())


def test_user_channel_refuses_bad_credentials_and_closes(venue, client):
    async def scenario() -> None:
        stream = EventStream(await websockets.connect(ws_url(venue, "user"), open_timeout=TIMEOUT_S))
        bad = user_subscription(client)
        bad["auth"]["secret"] = "not-the-secret"
        await stream.send(bad)
        await stream.wait_closed()
        assert [e.get("error") for e in stream.events] == ["Unauthorized/Invalid api key"]

    asyncio.run(scenario())


def test_user_channel_carries_only_the_subscribers_own_orders(venue, make_client, client, reward_market):
    other = make_client()

    async def scenario() -> None:
        stream = await open_user(venue, client)
        await asyncio.to_thread(post_bid, other, reward_market, reward_market.token_ids[0], reward_market.book.best_bid(), 10)
        await stream.sync()
        assert stream.events == []
        await stream.ws.close()

    asyncio.run(scenario())


def test_user_channel_subscribed_to_other_markets_sends_nothing_about_this_one(venue, client, reward_market):
    other = next(cid for cid in venue.call(lambda: list(venue.server.engine.markets)) if cid != reward_market.condition_id)

    async def scenario() -> None:
        stream = EventStream(await websockets.connect(ws_url(venue, "user"), open_timeout=TIMEOUT_S))
        await stream.send(dict(user_subscription(client), markets=[other]))
        await stream.sync()
        await asyncio.to_thread(post_bid, client, reward_market, reward_market.token_ids[0], reward_market.book.best_bid(), 10)
        await stream.sync()
        await stream.ws.close()
        assert stream.events == []

    asyncio.run(scenario())


# ---------------------------------------------------------------------------- dropped connections
def test_dropping_websockets_closes_every_connection(venue, client, reward_market):
    async def scenario() -> None:
        market = await open_market(venue, [reward_market.token_ids[0]])
        user = await open_user(venue, client)
        dropped = await asyncio.to_thread(venue.run_async, venue.server.drop_websockets)
        assert dropped == 2
        await market.wait_closed()
        await user.wait_closed()

    asyncio.run(scenario())


def test_reconnected_user_channel_does_not_replay_missed_events(venue, client, reward_market):
    yes = reward_market.token_ids[0]

    async def scenario() -> None:
        first = await open_user(venue, client)
        await asyncio.to_thread(venue.run_async, venue.server.drop_websockets)
        await first.wait_closed()
        missed = await asyncio.to_thread(post_bid, client, reward_market, yes, reward_market.book.best_bid(), 10)
        again = await open_user(venue, client)  # subscribed and synced: a replay would have come before PONG
        assert again.events == []
        await asyncio.to_thread(client.cancel_orders, [missed["orderID"]])
        event = await again.wait_for(lambda e: e["event_type"] == "order", "CANCELLATION")
        assert (event["type"], event["id"]) == ("CANCELLATION", missed["orderID"])
        await again.ws.close()

    asyncio.run(scenario())
