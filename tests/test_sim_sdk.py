"""The simulated venue driven end-to-end through the real `py-clob-client-v2` over loopback HTTP.

Every call below is an ordinary SDK call; the venue's admin surface (`admin.state()`,
`admin.requests()`) is the source of truth the assertions are checked against.
"""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import (
    BookParams,
    OpenOrderParams,
    OrderArgsV2,
    OrderMarketCancelParams,
    OrderPayload,
    OrderType,
    PartialCreateOrderOptions,
    PostOrdersV2Args,
    TradeParams,
)
from py_clob_client_v2.exceptions import PolyApiException

from polymm.sim.model import SimMarket
from polymm.sim.runner import SimOptions

PAGE = 100  # rows per page of /data/orders and /data/trades
HEARTBEAT_TIMEOUT_S = 10


# ----------------------------------------------------------------------------- helpers
def options_for(market: SimMarket) -> PartialCreateOrderOptions:
    return PartialCreateOrderOptions(tick_size=market.tick_str, neg_risk=market.neg_risk)


def lowest_price(market: SimMarket) -> Decimal:
    """The lowest price on the market's grid: a bid there rests far from any taker."""
    return Decimal(market.tick_str)


def sign(client: ClobClient, market: SimMarket, token_id: str, side: str, price: Decimal, size: float):
    return client.create_order(OrderArgsV2(token_id=token_id, price=float(price), size=size, side=side), options_for(market))


def place(client: ClobClient, market: SimMarket, token_id: str, side: str, price: Decimal, size: float) -> str:
    """Post one GTC order and return its id; fails the test if the venue does not rest it."""
    reply = client.post_order(sign(client, market, token_id, side, price, size))
    assert reply["success"] and reply["status"] == "live", reply
    return reply["orderID"]


def post_in_batches(client: ClobClient, orders: list) -> list[dict]:
    replies: list[dict] = []
    for start in range(0, len(orders), 15):
        chunk = orders[start:start + 15]
        replies += client.post_orders([PostOrdersV2Args(order=o, orderType=OrderType.GTC) for o in chunk])
    return replies


def touch(client: ClobClient, token_id: str) -> tuple[Decimal, Decimal, Decimal]:
    """(best bid, best ask, tick) of a token's book as the SDK reads it."""
    book = client.get_order_book(token_id)
    return (
        max(Decimal(level["price"]) for level in book["bids"]),
        min(Decimal(level["price"]) for level in book["asks"]),
        Decimal(book["tick_size"]),
    )


def inside_bid(client: ClobClient, token_id: str) -> Decimal:
    """One tick above the best bid and still below the best ask: a taker selling there meets only us."""
    bid, ask, tick = touch(client, token_id)
    assert bid + tick < ask, "the test needs a spread of at least two ticks"
    return bid + tick


def account(admin, client: ClobClient) -> dict:
    return admin.state()["accounts"][client.get_address()]


def venue_open_ids(admin, client: ClobClient) -> set[str]:
    return {o["id"] for o in account(admin, client)["open_orders"]}


def request_count(admin, route: str) -> int:
    return admin.requests()["counts"].get(route, 0)


def trade_of(client: ClobClient, trade_id: str) -> dict:
    (trade,) = client.get_trades(TradeParams(id=trade_id))
    return trade


@pytest.fixture
def second_market(venue, reward_market) -> SimMarket:
    """Another market on the 0.01 grid, for tests that need orders in two markets."""

    def pick() -> SimMarket:
        return next(
            m for m in venue.server.engine.markets.values()
            if m.condition_id != reward_market.condition_id and m.tick_pips == 100
        )

    return venue.call(pick)


# ----------------------------------------------------------------------------- API keys
def test_create_then_derive_api_key_returns_the_same_credentials(venue) -> None:
    client = ClobClient(venue.url, chain_id=137, key="0x" + "11" * 32)

    created = client.create_api_key()
    derived = client.derive_api_key()
    created_or_derived = client.create_or_derive_api_key()

    assert created.api_key and created.api_secret and created.api_passphrase
    assert derived == created
    assert created_or_derived == created


def test_derive_api_key_before_create_is_refused(venue) -> None:
    client = ClobClient(venue.url, chain_id=137, key="0x" + "22" * 32)

    with pytest.raises(PolyApiException) as refused:
        client.derive_api_key()

    assert refused.value.status_code == 400


def test_api_keys_of_different_nonces_are_different_keys_of_one_wallet(make_client, admin) -> None:
    first = make_client(key="0x" + "33" * 32)
    second = make_client(key="0x" + "33" * 32, nonce=1)

    assert first.creds.api_key != second.creds.api_key
    assert set(account(admin, first)["api_keys"]) == {first.creds.api_key, second.creds.api_key}


# ----------------------------------------------------------------------------- books
def test_order_book_levels_sort_into_a_spread_and_carry_the_market_parameters(client, reward_market) -> None:
    book = client.get_order_book(reward_market.token_ids[0])

    bids = sorted((Decimal(level["price"]) for level in book["bids"]), reverse=True)
    asks = sorted(Decimal(level["price"]) for level in book["asks"])
    assert bids and asks and bids[0] < asks[0]
    assert all(Decimal(level["size"]) > 0 for level in book["bids"] + book["asks"])
    assert book["asset_id"] == reward_market.token_ids[0]
    assert book["market"] == reward_market.condition_id
    assert Decimal(book["tick_size"]) == Decimal(reward_market.tick_str)
    assert all(price % Decimal(book["tick_size"]) == 0 for price in bids + asks)
    assert Decimal(book["min_order_size"]) == reward_market.min_order_size
    assert book["neg_risk"] is reward_market.neg_risk


def test_order_book_hash_equals_the_sdk_hash_of_the_book(client, reward_market) -> None:
    for token_id in reward_market.token_ids:
        book = client.get_order_book(token_id)
        assert client.get_order_book_hash(book) == book["hash"]


def test_no_token_book_mirrors_the_yes_book(client, reward_market) -> None:
    yes, no = (client.get_order_book(t) for t in reward_market.token_ids)

    def levels(side: list[dict]) -> set[tuple[Decimal, Decimal]]:
        return {(Decimal(level["price"]), Decimal(level["size"])) for level in side}

    assert levels(no["bids"]) == {(1 - price, size) for price, size in levels(yes["asks"])}
    assert levels(no["asks"]) == {(1 - price, size) for price, size in levels(yes["bids"])}


def test_order_books_return_one_book_per_requested_token(client, venue) -> None:
    tokens = venue.call(lambda: [t for m in list(venue.server.engine.markets.values())[:3] for t in m.token_ids])

    books = client.get_order_books([BookParams(token_id=t) for t in tokens])

    assert [b["asset_id"] for b in books] == tokens
    assert all(client.get_order_book_hash(b) == b["hash"] for b in books)


# ----------------------------------------------------------------------------- placing orders
def test_resting_order_is_live_in_open_orders_get_order_and_venue_truth(client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]
    price = inside_bid(client, yes)

    reply = client.post_order(sign(client, reward_market, yes, "BUY", price, 12))

    assert reply["success"] and reply["status"] == "live"
    order_id = reply["orderID"]
    (listed,) = client.get_open_orders()
    assert listed["id"] == order_id
    assert (listed["side"], Decimal(listed["price"]), Decimal(listed["original_size"])) == ("BUY", price, 12)
    assert listed["owner"] == client.creds.api_key
    assert listed["maker_address"] == client.get_address()
    fetched = client.get_order(order_id)
    assert fetched["id"] == order_id and fetched["status"] == "LIVE" and Decimal(fetched["size_matched"]) == 0
    assert venue_open_ids(admin, client) == {order_id}
    book = client.get_order_book(yes)
    assert (price, Decimal(12)) in {(Decimal(lv["price"]), Decimal(lv["size"])) for lv in book["bids"]}
    assert account(admin, client)["collateral"] == 1000  # a resting order moves no collateral


def test_open_orders_filter_by_market_and_asset(client, reward_market) -> None:
    yes, no = reward_market.token_ids
    bid = lowest_price(reward_market)
    yes_id = place(client, reward_market, yes, "BUY", bid, 5)
    no_id = place(client, reward_market, no, "BUY", bid, 5)

    by_market = client.get_open_orders(OpenOrderParams(market=reward_market.condition_id))
    by_asset = client.get_open_orders(OpenOrderParams(asset_id=no))
    by_id = client.get_open_orders(OpenOrderParams(id=yes_id))

    assert {o["id"] for o in by_market} == {yes_id, no_id}
    assert [o["id"] for o in by_asset] == [no_id]
    assert [o["id"] for o in by_id] == [yes_id]


def test_batch_of_15_orders_posts_with_one_success_per_order(client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]
    orders = [sign(client, reward_market, yes, "BUY", lowest_price(reward_market), 5 + i) for i in range(15)]

    replies = client.post_orders([PostOrdersV2Args(order=o, orderType=OrderType.GTC) for o in orders])

    assert len(replies) == 15
    assert all(r["success"] and r["status"] == "live" for r in replies)
    assert venue_open_ids(admin, client) == {r["orderID"] for r in replies}
    assert len({r["orderID"] for r in replies}) == 15


def test_batch_of_16_orders_is_refused_whole_and_creates_no_order(client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]
    orders = [sign(client, reward_market, yes, "BUY", lowest_price(reward_market), 5 + i) for i in range(16)]
    posts_before = request_count(admin, "POST /orders")

    with pytest.raises(PolyApiException) as refused:
        client.post_orders([PostOrdersV2Args(order=o, orderType=OrderType.GTC) for o in orders])

    assert refused.value.status_code == 400
    assert request_count(admin, "POST /orders") == posts_before + 1  # the SDK sent it; the venue refused it
    assert venue_open_ids(admin, client) == set()
    assert client.get_open_orders() == []


# ----------------------------------------------------------------------------- cancels
def test_cancel_order_removes_only_that_order(client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]
    doomed = place(client, reward_market, yes, "BUY", lowest_price(reward_market), 5)
    kept = place(client, reward_market, yes, "BUY", lowest_price(reward_market), 6)

    result = client.cancel_order(OrderPayload(orderID=doomed))

    assert result["canceled"] == [doomed]
    assert result["not_canceled"] == {}
    assert venue_open_ids(admin, client) == {kept}
    assert client.get_order(doomed) is None  # only active orders are returned


def test_cancel_orders_removes_the_listed_orders_and_reports_unknown_ids(client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]
    ids = [place(client, reward_market, yes, "BUY", lowest_price(reward_market), 5 + i) for i in range(3)]
    unknown = "0x" + "ab" * 32

    result = client.cancel_orders([ids[0], ids[1], unknown])

    assert sorted(result["canceled"]) == sorted(ids[:2])
    assert list(result["not_canceled"]) == [unknown]
    assert venue_open_ids(admin, client) == {ids[2]}


def test_cancelling_an_already_cancelled_order_is_reported_not_canceled(client, reward_market) -> None:
    order_id = place(client, reward_market, reward_market.token_ids[0], "BUY", lowest_price(reward_market), 5)
    client.cancel_order(OrderPayload(orderID=order_id))

    again = client.cancel_orders([order_id])

    assert again["canceled"] == []
    assert order_id in again["not_canceled"]


def test_cancel_market_orders_by_market_spares_other_markets(client, admin, reward_market, second_market) -> None:
    yes, no = reward_market.token_ids
    in_market = {
        place(client, reward_market, yes, "BUY", lowest_price(reward_market), 5),
        place(client, reward_market, no, "BUY", lowest_price(reward_market), 5),
    }
    elsewhere = place(client, second_market, second_market.token_ids[0], "BUY", lowest_price(second_market), 5)

    result = client.cancel_market_orders(OrderMarketCancelParams(market=reward_market.condition_id))

    assert set(result["canceled"]) == in_market
    assert venue_open_ids(admin, client) == {elsewhere}


def test_cancel_market_orders_by_asset_spares_the_other_outcome(client, admin, reward_market) -> None:
    yes, no = reward_market.token_ids
    on_yes = place(client, reward_market, yes, "BUY", lowest_price(reward_market), 5)
    on_no = place(client, reward_market, no, "BUY", lowest_price(reward_market), 5)

    result = client.cancel_market_orders(OrderMarketCancelParams(asset_id=yes))

    assert result["canceled"] == [on_yes]
    assert venue_open_ids(admin, client) == {on_no}


def test_cancel_all_removes_every_order_of_the_key_and_spares_other_users(make_client, admin, reward_market, second_market) -> None:
    ours, theirs = make_client(), make_client()
    our_ids = {
        place(ours, reward_market, reward_market.token_ids[0], "BUY", lowest_price(reward_market), 5),
        place(ours, second_market, second_market.token_ids[1], "BUY", lowest_price(second_market), 5),
    }
    their_id = place(theirs, reward_market, reward_market.token_ids[0], "BUY", lowest_price(reward_market), 5)

    result = ours.cancel_all()

    assert set(result["canceled"]) == our_ids
    assert venue_open_ids(admin, ours) == set()
    assert venue_open_ids(admin, theirs) == {their_id}


def test_another_users_order_cannot_be_cancelled(make_client, admin, reward_market) -> None:
    ours, theirs = make_client(), make_client()
    their_id = place(theirs, reward_market, reward_market.token_ids[0], "BUY", lowest_price(reward_market), 5)

    result = ours.cancel_order(OrderPayload(orderID=their_id))

    assert result["canceled"] == []
    assert their_id in result["not_canceled"]
    assert venue_open_ids(admin, theirs) == {their_id}


# ----------------------------------------------------------------------------- pagination
# Rate limits off: 105 orders exceed the per-signer burst of 60, and pacing is not what this test is about.
@pytest.mark.parametrize("sim_options", [SimOptions(seed=7, speed=0, markets=30, rate_limits=False)], ids=["no-rate-limit"])
def test_more_than_one_page_of_open_orders_is_returned_whole(client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]
    orders = [sign(client, reward_market, yes, "BUY", lowest_price(reward_market), 5) for _ in range(PAGE + 5)]
    replies = post_in_batches(client, orders)
    assert all(r["success"] for r in replies)
    pages_before = request_count(admin, "GET /data/orders")

    first_page = client.get_open_orders(only_first_page=True)
    everything = client.get_open_orders()

    assert len(first_page) == PAGE
    assert len(everything) == PAGE + 5
    assert {o["id"] for o in everything} == {r["orderID"] for r in replies} == venue_open_ids(admin, client)
    assert request_count(admin, "GET /data/orders") == pages_before + 1 + 2


def test_more_than_one_page_of_trades_is_returned_whole(client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]
    price = inside_bid(client, yes)
    fills = PAGE + 1
    place(client, reward_market, yes, "BUY", price, 5 * fills)
    for _ in range(fills):  # each simulated taker makes one trade against our single resting bid
        assert admin.take(yes, "SELL", float(price), 5)["filled"] == 5
    pages_before = request_count(admin, "GET /data/trades")

    first_page = client.get_trades(only_first_page=True)
    everything = client.get_trades()

    assert len(first_page) == PAGE
    assert len(everything) == fills
    assert len({t["id"] for t in everything}) == fills
    assert request_count(admin, "GET /data/trades") == pages_before + 1 + 2
    assert account(admin, client)["positions"] == {yes: 5 * fills}


# ----------------------------------------------------------------------------- fills
def test_fill_by_a_taker_shows_as_a_maker_trade_owned_by_our_key(client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]
    price = inside_bid(client, yes)
    order_id = place(client, reward_market, yes, "BUY", price, 10)

    taken = admin.take(yes, "SELL", float(price), 10)

    (trade,) = client.get_trades()
    assert trade["id"] in taken["trade_ids"]
    assert trade["trader_side"] == "MAKER"
    assert trade["status"] == "MATCHED"
    assert trade["side"] == "SELL"  # top-level fields belong to the taker
    (ours,) = [m for m in trade["maker_orders"] if m["owner"] == client.creds.api_key]
    assert ours["order_id"] == order_id
    assert (Decimal(ours["matched_amount"]), Decimal(ours["price"]), ours["asset_id"]) == (10, price, yes)
    assert client.get_order(order_id) is None  # filled: no longer active
    assert venue_open_ids(admin, client) == set()
    truth = account(admin, client)
    assert truth["positions"] == {yes: 10}
    assert truth["collateral"] == pytest.approx(1000 - 10 * float(price), abs=1e-9)


def test_trade_status_moves_matched_then_mined_then_confirmed_as_time_passes(client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]
    price = inside_bid(client, yes)
    place(client, reward_market, yes, "BUY", price, 10)
    (trade_id,) = admin.take(yes, "SELL", float(price), 10)["trade_ids"]

    statuses = [trade_of(client, trade_id)["status"]]
    admin.advance(26)  # the captured settlement: MINED ~26 s, CONFIRMED ~180 s after the match
    statuses.append(trade_of(client, trade_id)["status"])
    admin.advance(154)
    statuses.append(trade_of(client, trade_id)["status"])

    assert statuses == ["MATCHED", "MINED", "CONFIRMED"]
    assert account(admin, client)["positions"] == {yes: 10}


def test_partial_fill_leaves_the_order_live_with_size_matched(client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]
    price = inside_bid(client, yes)
    order_id = place(client, reward_market, yes, "BUY", price, 10)

    admin.take(yes, "SELL", float(price), 4)

    order = client.get_order(order_id)
    assert order["status"] == "LIVE"
    assert (Decimal(order["size_matched"]), Decimal(order["original_size"])) == (4, 10)
    assert (price, Decimal(6)) in {(Decimal(lv["price"]), Decimal(lv["size"])) for lv in client.get_order_book(yes)["bids"]}
    (venue_order,) = account(admin, client)["open_orders"]
    assert venue_order["id"] == order_id and Decimal(venue_order["size_matched"]) == 4
    assert account(admin, client)["positions"] == {yes: 4}


def test_positions_show_the_filled_size_after_a_fill(client, admin, venue, reward_market) -> None:
    yes, no = reward_market.token_ids
    price = inside_bid(client, yes)
    place(client, reward_market, yes, "BUY", price, 10)
    admin.take(yes, "SELL", float(price), 7)

    positions = httpx.get(f"{venue.url}/dataapi/positions", params={"user": client.get_address()}).json()

    (position,) = positions
    assert position["asset"] == yes
    assert position["size"] == 7
    assert position["conditionId"] == reward_market.condition_id
    assert position["oppositeAsset"] == no
    assert position["avgPrice"] == pytest.approx(float(price))


# ----------------------------------------------------------------------------- heartbeats
def test_heartbeat_id_rotates_on_every_beat_and_echoing_the_latest_keeps_orders_alive(client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]
    ids = {place(client, reward_market, yes, "BUY", lowest_price(reward_market), 5 + i) for i in range(2)}

    heartbeat_id = client.post_heartbeat("")["heartbeat_id"]
    assert heartbeat_id
    seen = {heartbeat_id}
    for _ in range(4):  # 20 simulated seconds, twice the timeout, with a heartbeat every 5 s
        admin.advance(5)
        heartbeat_id = client.post_heartbeat(heartbeat_id)["heartbeat_id"]
        seen.add(heartbeat_id)

    assert len(seen) == 5  # a new id on each beat
    assert venue_open_ids(admin, client) == ids


def test_a_stale_heartbeat_id_is_refused_with_the_expected_id(client, admin, reward_market) -> None:
    first = client.post_heartbeat("")["heartbeat_id"]
    second = client.post_heartbeat(first)["heartbeat_id"]
    with pytest.raises(PolyApiException) as refused:
        client.post_heartbeat(first)
    assert refused.value.status_code == 400
    assert refused.value.error_msg["heartbeat_id"] == second
    assert client.post_heartbeat(second)["heartbeat_id"] not in (first, second)


def test_missed_heartbeats_cancel_all_orders_and_retire_the_heartbeat_id(client, admin, reward_market, second_market) -> None:
    place(client, reward_market, reward_market.token_ids[0], "BUY", lowest_price(reward_market), 5)
    place(client, second_market, second_market.token_ids[1], "BUY", lowest_price(second_market), 5)
    heartbeat_id = client.post_heartbeat("")["heartbeat_id"]
    admin.advance(5)
    client.post_heartbeat(heartbeat_id)

    admin.advance(HEARTBEAT_TIMEOUT_S + 1)

    assert venue_open_ids(admin, client) == set()
    assert client.get_open_orders() == []
    with pytest.raises(PolyApiException) as refused:
        client.post_heartbeat(heartbeat_id)
    assert refused.value.status_code == 400


def test_orders_survive_time_without_a_heartbeat_session(client, admin, reward_market) -> None:
    order_id = place(client, reward_market, reward_market.token_ids[0], "BUY", lowest_price(reward_market), 5)

    admin.advance(HEARTBEAT_TIMEOUT_S + 5)

    assert venue_open_ids(admin, client) == {order_id}
