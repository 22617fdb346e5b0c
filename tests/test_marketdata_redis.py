"""The data service against a real Redis server and the simulator's REST and WebSocket channels.

Every test writes under its own key prefix (`polymm-test-<uuid>`) and deletes its keys afterwards.
The venue's clock is manual, so its books change only when a test acts; the venue's truth is read
back over its own REST paths (GET /book, POST /books) and compared with what Redis holds.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from decimal import Decimal
from typing import Callable, Iterator
from urllib.parse import urlparse

import httpx
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from py_clob_client_v2.clob_types import OrderArgsV2, PartialCreateOrderOptions

from polymm.config import load_config, load_secrets
from polymm.controller.session import open_session
from polymm.marketdata.service import DataService
from polymm.marketdata.source import StoreMarketData
from polymm.marketdata.store import RedisStore, market_to_dict
from polymm.marketdata.volatility import coefficient_of_variation
from polymm.observed.state import known
from polymm.sim.model import PIPS
from polymm.venue.gateway import VenueEndpoints, VenueGateway

REDIS_URL = os.environ.get("POLYMM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
WAIT_S = 8.0
Levels = list[tuple[Decimal, Decimal]]


# ----------------------------------------------------------------------------- fixtures and helpers
@pytest.fixture
def redis_store() -> Iterator[RedisStore]:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis answers at {REDIS_URL} ({exc}); scripts/test starts one")
    store = RedisStore(client, f"polymm-test-{uuid.uuid4().hex}")
    yield store
    keys = list(client.scan_iter(match=f"{store.p}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def gateway(venue) -> Iterator[VenueGateway]:
    u = venue.urls
    gw = VenueGateway(VenueEndpoints(u["clob_url"], u["gamma_url"], u["data_url"], u["ws_url"]))
    yield gw
    gw.close()


@pytest.fixture
def http(venue) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=venue.url, timeout=10) as client:
        yield client


@pytest.fixture
def service(venue, gateway, redis_store) -> Iterator[DataService]:
    svc = DataService(gateway, redis_store, scan_interval_s=300, book_interval_s=3, ws_url=venue.urls["ws_url"])
    yield svc
    svc.stop()  # ends the market-channel thread, if a test started it


def levels(raw: list) -> Levels:
    """Wire levels ({"price","size"} objects or [price, size] pairs) as Decimals."""
    return [(Decimal(str(lv["price"])), Decimal(str(lv["size"]))) if isinstance(lv, dict)
            else (Decimal(lv[0]), Decimal(lv[1])) for lv in raw]


def venue_book(http: httpx.Client, token: str) -> tuple[Levels, Levels, dict]:
    """GET /book: bids and asks best first (the venue lists them worst first), and the raw reply."""
    raw = http.get("/book", params={"token_id": token}).json()
    return sorted(levels(raw["bids"]), reverse=True), sorted(levels(raw["asks"])), raw


def stored(store: RedisStore, token: str) -> dict | None:
    raw = store.r.get(f"{store.p}:book:{token}")
    return None if raw is None else json.loads(raw)


def stored_levels(store: RedisStore, token: str) -> tuple[Levels, Levels] | None:
    d = stored(store, token)
    return None if d is None else (levels(d["bids"]), levels(d["asks"]))


def eventually(condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)


def ttl(store: RedisStore, *parts: str) -> int:
    return store.r.ttl(":".join((store.p,) + parts))


def venue_midpoints(http: httpx.Client, tokens: list[str]) -> dict[str, float]:
    """Midpoints of the venue's books now (POST /books), for tokens with both sides."""
    out = {}
    for i in range(0, len(tokens), 500):
        for raw in http.post("/books", json=[{"token_id": t} for t in tokens[i:i + 500]]).json():
            bids, asks = levels(raw["bids"]), levels(raw["asks"])
            if bids and asks:
                out[raw["asset_id"]] = float((max(p for p, _ in bids) + min(p for p, _ in asks)) / 2)
    return out


def post_bid(client, market, token: str, pips: int, size: float) -> str:
    options = PartialCreateOrderOptions(tick_size=market.tick_str, neg_risk=market.neg_risk)
    reply = client.create_and_post_order(OrderArgsV2(token_id=token, price=pips / PIPS, size=size, side="BUY"), options)
    assert reply.get("success"), reply
    return reply["orderID"]


def a_free_bid_price(venue, market, below: int) -> int:
    """A YES bid price (pips) `below` ticks under the best bid where the book holds no level yet."""
    def pick() -> int:
        tick = market.tick_pips
        taken = {p for p, _ in market.book.token_levels(0)[0]}
        price = market.book.best_bid() - below * tick
        while price in taken:
            price -= tick
        return price

    return venue.call(pick)


# ----------------------------------------------------------------------------- keys, TTLs and values
def test_scan_and_refresh_write_every_key_kind_with_its_ttl(venue, admin, service, redis_store, http) -> None:
    clock = [time.time()]
    service.clock = lambda: clock[0]

    service.scan()
    service.refresh_books()
    first = venue_midpoints(http, service.tokens)
    admin.advance(30)  # the simulated traders move prices between the two samples
    clock[0] += 30
    service.refresh_books()
    second = venue_midpoints(http, service.tokens)

    markets = service.store.get_markets(clock[0])[0]
    assert markets and service.tokens == [t for m in markets for t in m.token_ids]
    assert 295 < ttl(redis_store, "markets") <= 300
    for m in markets:
        assert 7 * 86400 - 5 < ttl(redis_store, "market", m.condition_id) <= 7 * 86400
    for token in service.tokens:
        assert 295 < ttl(redis_store, "book", token) <= 300
    sampled = sorted(set(first) & set(second))
    assert sampled, "no two-sided book to measure"
    for token in sampled:
        assert 895 < ttl(redis_store, "vol", token) <= 900
    assert 55 < ttl(redis_store, "service") <= 60

    # values: the liveness key holds the last write's time; volatility is the CV of the two midpoints sampled
    assert float(redis_store.r.get(f"{redis_store.p}:service")) == clock[0]
    for token in sampled:
        value = float(redis_store.r.get(f"{redis_store.p}:vol:{token}"))
        assert value == pytest.approx(coefficient_of_variation([first[token], second[token]]), rel=1e-9, abs=1e-15)
    assert any(first[t] != second[t] for t in sampled), "prices never moved: the volatility check proved nothing"
    assert len(redis_store.r.keys(f"{redis_store.p}:vol:*")) == len(sampled)


def test_stored_books_equal_the_venues_books_level_by_level(service, redis_store, http) -> None:
    service.scan()
    written = service.refresh_books()

    assert written == len(service.tokens) > 0
    for token in service.tokens:
        bids, asks, raw = venue_book(http, token)
        d = stored(redis_store, token)
        assert d is not None, token
        assert (levels(d["bids"]), levels(d["asks"])) == (bids, asks), token
        assert d["token_id"] == token
        assert Decimal(d["tick_size"]) == Decimal(raw["tick_size"])
        assert Decimal(d["min_order_size"]) == Decimal(raw["min_order_size"])
        assert d["timestamp_ms"] == int(raw["timestamp"])
        assert d["written_at"] == pytest.approx(time.time(), abs=10)


def test_the_market_list_and_details_are_the_venues_reward_markets(service, redis_store, gateway, http) -> None:
    service.scan()

    rewarded = {row["condition_id"] for row in gateway.reward_rows()}
    body = json.loads(redis_store.r.get(f"{redis_store.p}:markets"))
    assert {m["condition_id"] for m in body["markets"]} == rewarded
    assert body["written_at"] == pytest.approx(time.time(), abs=10)
    venue_markets, _ = gateway.reward_markets()
    for m in venue_markets:
        assert json.loads(redis_store.r.get(f"{redis_store.p}:market:{m.condition_id}")) == market_to_dict(m)
    # and the controller's reader decodes them back to the same values
    read = StoreMarketData(redis_store, 10, 10)
    redis_store.mark_alive(time.time())
    assert sorted(read.reward_markets(time.time()).markets, key=lambda m: m.condition_id) == \
        sorted(venue_markets, key=lambda m: m.condition_id)


# ----------------------------------------------------------------------------- what the controller trusts
def test_the_store_reader_treats_a_silent_service_and_old_books_as_unknown(service, redis_store) -> None:
    clock = [time.time()]
    service.clock = lambda: clock[0]
    reader = StoreMarketData(redis_store, max_book_age_s=10, max_service_age_s=10)

    assert not known(reader.reward_markets(clock[0]).markets)  # nothing written yet: no liveness key
    assert reader.books(["any"], clock[0]) == ({}, ["data service not running (no liveness key)"])

    service.scan()
    service.refresh_books()
    tokens = service.tokens[:4]
    assert known(reader.reward_markets(clock[0] + 10).markets)
    assert set(reader.books(tokens, clock[0] + 10)[0]) == set(tokens)

    books, problems = reader.books(tokens, clock[0] + 10.5)  # the service is silent past its age limit
    assert books == {} and problems and "silent" in problems[0]
    assert not known(reader.reward_markets(clock[0] + 10.5).markets)

    redis_store.mark_alive(clock[0] + 10.5)  # alive again, but these books were written 10.5 s ago
    assert reader.books(tokens, clock[0] + 10.5) == ({}, [])


def test_the_store_reader_parses_the_market_list_only_when_the_service_wrote_a_new_one(service, redis_store) -> None:
    clock = [time.time()]
    service.clock = lambda: clock[0]
    reader = StoreMarketData(redis_store, max_book_age_s=10, max_service_age_s=10)
    service.scan()
    redis_store.mark_alive(clock[0])
    first = reader.reward_markets(clock[0])
    again = reader.reward_markets(clock[0] + 1)
    assert known(first.markets) and first.fresh
    assert again.markets is first.markets and not again.fresh  # the same parsed list: nothing re-read per tick

    clock[0] += 5
    service.scan()  # a new list (same markets, new written_at)
    redis_store.mark_alive(clock[0])
    newer = reader.reward_markets(clock[0])
    assert newer.fresh and newer.markets is not first.markets and newer.markets == first.markets

    redis_store.r.delete(f"{redis_store.p}:markets", f"{redis_store.p}:markets_at")  # past its TTL
    assert not known(reader.reward_markets(clock[0]).markets)


# ----------------------------------------------------------------------------- the market channel
def test_the_market_channel_keeps_a_subscribed_book_live_between_refreshes(
        venue, service, redis_store, http, client, reward_market) -> None:
    yes, no = reward_market.token_ids
    service.scan()
    service.refresh_books()
    service._ensure_ws()
    eventually(lambda: venue.call(lambda: any(yes in s for s in venue.server.market_subs.values())),
               "the data service subscribes to the market channel")
    before = stored_levels(redis_store, yes)
    price = a_free_bid_price(venue, reward_market, below=3)

    order_id = post_bid(client, reward_market, yes, price, 37)

    expected_yes, expected_no = venue_book(http, yes)[:2], venue_book(http, no)[:2]
    assert (Decimal(price) / PIPS, Decimal(37)) in expected_yes[0]
    eventually(lambda: stored_levels(redis_store, yes) == expected_yes, "the new bid level reaches Redis")
    eventually(lambda: stored_levels(redis_store, no) == expected_no, "the complement's ask reaches Redis")

    client.cancel_orders([order_id])

    eventually(lambda: stored_levels(redis_store, yes) == before, "the cancelled level leaves Redis")
    assert stored_levels(redis_store, yes) == venue_book(http, yes)[:2]
    assert service.stats["refreshes"] == 1, "no REST refresh ran: the channel alone kept the book live"


def test_books_recover_after_the_venue_drops_the_market_channel(
        venue, service, redis_store, http, client, reward_market) -> None:
    yes, _ = reward_market.token_ids
    service.scan()
    service.refresh_books()
    service._ensure_ws()
    subscribed = lambda: venue.call(lambda: any(yes in s for s in venue.server.market_subs.values()))  # noqa: E731
    eventually(subscribed, "the data service subscribes to the market channel")

    dropped = venue.run_async(venue.server.drop_websockets)
    assert dropped >= 1
    missed = post_bid(client, reward_market, yes, a_free_bid_price(venue, reward_market, below=3), 41)

    # the reconnect's book snapshot brings the change made while the channel was down
    eventually(subscribed, "the data service resubscribes")
    eventually(lambda: stored_levels(redis_store, yes) == venue_book(http, yes)[:2], "the missed change reaches Redis")
    # and the channel is live again: a new change arrives without a REST refresh
    post_bid(client, reward_market, yes, a_free_bid_price(venue, reward_market, below=5), 43)
    expected = venue_book(http, yes)[:2]
    eventually(lambda: stored_levels(redis_store, yes) == expected, "a change after the reconnect reaches Redis")
    assert service.stats["refreshes"] == 1
    assert missed


class CuttableLink:
    """A TCP relay in front of the real Redis server that a test can cut (Redis unreachable) and restore."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.sockets: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                near, _ = listener.accept()
            except OSError:
                return
            far = socket.create_connection(self.target)
            self.sockets += [near, far]
            for src, dst in ((near, far), (far, near)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        for s in [self.listener] + self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self.sockets.clear()

    def restore(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()


def test_the_market_channel_keeps_writing_after_redis_was_unreachable(
        venue, gateway, redis_store, http, client, reward_market) -> None:
    """A Redis outage while the channel delivers a change must not end the channel: once Redis answers again,
    the next change is written without waiting for a REST refresh (or for the next market scan to restart it)."""
    yes, _ = reward_market.token_ids
    r = urlparse(REDIS_URL)
    link = CuttableLink(r.hostname or "127.0.0.1", r.port or 6379)
    through_link = redis.Redis(host="127.0.0.1", port=link.port, db=int((r.path or "/0").strip("/") or 0),
                               socket_timeout=2, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0))
    svc = DataService(gateway, RedisStore(through_link, redis_store.p), 300, 3, venue.urls["ws_url"])
    try:
        svc.scan()
        svc.refresh_books()
        svc._ensure_ws()
        eventually(lambda: venue.call(lambda: any(yes in s for s in venue.server.market_subs.values())),
                   "the data service subscribes to the market channel")
        updates = svc.stats["ws_updates"]

        link.cut()
        post_bid(client, reward_market, yes, a_free_bid_price(venue, reward_market, below=3), 29)
        eventually(lambda: svc.stats["ws_updates"] > updates, "the change arrives while Redis is unreachable")
        eventually(lambda: svc.stats["errors"] > 0, "writing it fails")
        link.restore()
        post_bid(client, reward_market, yes, a_free_bid_price(venue, reward_market, below=5), 31)

        expected = venue_book(http, yes)[:2]
        eventually(lambda: stored_levels(redis_store, yes) == expected, "the channel writes to Redis again")
        assert svc.stats["refreshes"] == 1
    finally:
        svc.stop()
        link.cut()
        through_link.close()


# ----------------------------------------------------------------------------- the controller reads Redis
def test_the_controller_reaches_the_same_plan_from_redis_as_in_process(
        venue, admin, service, redis_store, make_client, tmp_path) -> None:
    """Two dry-run controllers on one frozen venue and one account: the in-process backend reads the venue,
    the Redis backend reads only what the data service wrote. Their gated plans must be the same."""
    service.scan()
    service.refresh_books()
    key = "0x" + os.urandom(32).hex()
    make_client(key)  # the venue creates and funds the account; the dry runs only derive its key
    u, r = venue.urls, urlparse(REDIS_URL)
    base = {"POLYMM_VENUE__MODE": "remote", "POLYMM_VENUE__CLOB_URL": u["clob_url"],
            "POLYMM_VENUE__GAMMA_URL": u["gamma_url"], "POLYMM_VENUE__DATA_URL": u["data_url"],
            "POLYMM_VENUE__WS_URL": u["ws_url"], "POLYMM_LEDGER__PATH": str(tmp_path / "absent" / "ledger.sqlite")}
    with_redis = base | {"POLYMM_ORDERBOOK_SERVICE__ENABLED": "true",
                         "POLYMM_ORDERBOOK_SERVICE__REDIS_HOST": r.hostname or "127.0.0.1",
                         "POLYMM_ORDERBOOK_SERVICE__REDIS_PORT": str(r.port or 6379),
                         "POLYMM_ORDERBOOK_SERVICE__REDIS_DB": (r.path or "/0").strip("/") or "0",
                         "POLYMM_ORDERBOOK_SERVICE__REDIS_KEY_PREFIX": redis_store.p}
    secrets = load_secrets({"POLYMARKET_PRIVATE_KEY": key})

    def decide(environ: dict) -> tuple:
        with open_session(load_config(environ=environ), secrets, dry_run=True) as session:
            before = admin.requests()["counts"]
            observed = session.controller.observe(rescan=True)
            after = admin.requests()["counts"]
            d = session.controller.decide(observed, dry_run=True)
        book_reads = sum(after.get(k, 0) - before.get(k, 0) for k in ("GET /book", "POST /books"))
        places = sorted((p.slot_key, p.order.price, p.order.size) for p in d.gated.places)
        cancels = sorted((c.slot_key, c.order_id) for c in d.gated.cancels)
        return type(session.controller.market_data).__name__, book_reads, observed, places, cancels

    backend_a, reads_a, observed_a, places_a, cancels_a = decide(base)
    backend_b, reads_b, observed_b, places_b, cancels_b = decide(with_redis)

    assert (backend_a, backend_b) == ("VenueMarketData", "StoreMarketData")
    assert reads_a > 0 and reads_b == 0, "the Redis-backed controller read no book from the venue"
    assert observed_b.problems == () and set(observed_b.books) == set(observed_a.books)
    assert places_a, "the in-process controller wanted no quote: the comparison would prove nothing"
    assert places_b == places_a
    assert cancels_b == cancels_a
