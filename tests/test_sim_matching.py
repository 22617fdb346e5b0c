"""Matching and order validation of the simulated venue, driven through the real SDK.

Covers complement matching (mint and merge), balance and reservation checks, post-only, FOK/FAK,
grid and minimum-size refusals, failed settlement, and the venue's trading modes. Balances and
positions are read from the venue's truth (`admin.state()`).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import (
    CreateOrderOptions,
    MarketOrderArgsV2,
    OrderArgsV2,
    OrderPayload,
    OrderType,
    PartialCreateOrderOptions,
    PostOrdersV2Args,
    TradeParams,
)
from py_clob_client_v2.exceptions import PolyApiException

from polymm.sim.model import SimMarket
from polymm.sim.runner import SimOptions

START_COLLATERAL = 1000
NOT_ENOUGH_BALANCE = "not enough balance / allowance"


# ----------------------------------------------------------------------------- helpers
def options_for(market: SimMarket) -> PartialCreateOrderOptions:
    return PartialCreateOrderOptions(tick_size=market.tick_str, neg_risk=market.neg_risk)


def sign(client: ClobClient, market: SimMarket, token_id: str, side: str, price: Decimal, size: float):
    return client.create_order(OrderArgsV2(token_id=token_id, price=float(price), size=size, side=side), options_for(market))


def submit(client: ClobClient, market: SimMarket, token_id: str, side: str, price: Decimal, size: float,
           order_type: str = OrderType.GTC, post_only: bool = False) -> dict:
    return client.post_order(sign(client, market, token_id, side, price, size), order_type, post_only)


def refusal(client: ClobClient, market: SimMarket, token_id: str, side: str, price: Decimal, size: float,
            order_type: str = OrderType.GTC, post_only: bool = False) -> PolyApiException:
    """Post an order that the venue must refuse and return the refusal."""
    with pytest.raises(PolyApiException) as refused:
        submit(client, market, token_id, side, price, size, order_type, post_only)
    return refused.value


def error_text(exc: PolyApiException) -> str:
    return str(exc.error_msg.get("error") if isinstance(exc.error_msg, dict) else exc.error_msg)


def book_sides(client: ClobClient, token_id: str) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal], Decimal]:
    """(bids, asks, tick) of a token's book, as price -> size."""
    book = client.get_order_book(token_id)

    def side(levels: list[dict]) -> dict[Decimal, Decimal]:
        return {Decimal(level["price"]): Decimal(level["size"]) for level in levels}

    return side(book["bids"]), side(book["asks"]), Decimal(book["tick_size"])


def spread_gap(client: ClobClient, token_id: str) -> tuple[Decimal, Decimal, Decimal]:
    """(best bid, best ask, tick) of a book with at least one free price strictly between them."""
    bids, asks, tick = book_sides(client, token_id)
    bid, ask = max(bids), min(asks)
    assert bid + tick < ask, "the test needs a spread of at least two ticks"
    return bid, ask, tick


def truth(admin, client: ClobClient) -> dict:
    return admin.state()["accounts"][client.get_address()]


def cash(admin, client: ClobClient) -> Decimal:
    return Decimal(str(truth(admin, client)["collateral"]))


def positions(admin, client: ClobClient) -> dict[str, Decimal]:
    return {token: Decimal(str(size)) for token, size in truth(admin, client)["positions"].items()}


def trades_of(admin, client: ClobClient) -> list[dict]:
    key = client.creds.api_key
    return [t for t in admin.state()["trades"] if t["owner"] == key or any(m["owner"] == key for m in t["maker_orders"])]


def trade_status(client: ClobClient, trade_id: str) -> str:
    (trade,) = client.get_trades(TradeParams(id=trade_id))
    return trade["status"]


# ----------------------------------------------------------------------------- complement matching
def test_buy_yes_and_buy_no_summing_above_one_cross_by_minting_a_full_set(make_client, admin, reward_market) -> None:
    yes, no = reward_market.token_ids
    alice, bob = make_client(), make_client()
    bid, _, tick = spread_gap(alice, yes)
    p = bid + tick  # alice becomes the best YES bid
    q = 1 - p + tick  # p + q > 1: bob's BUY NO is a YES ask at 1 − q = p − tick, through alice's bid
    size = Decimal(10)
    assert submit(alice, reward_market, yes, "BUY", p, 10)["status"] == "live"

    reply = submit(bob, reward_market, no, "BUY", q, 10)

    assert reply["success"] and reply["status"] == "matched"
    assert positions(admin, alice) == {yes: size}
    assert positions(admin, bob) == {no: size}
    assert cash(admin, alice) == START_COLLATERAL - size * p  # the maker pays its own price
    assert cash(admin, bob) == START_COLLATERAL - size * (1 - p)  # the taker pays the complement of it (≤ q)
    assert (START_COLLATERAL - cash(admin, alice)) + (START_COLLATERAL - cash(admin, bob)) == size  # one full set minted
    (trade,) = bob.get_trades()
    assert trade["trader_side"] == "TAKER" and trade["asset_id"] == no
    assert [(m["owner"], m["asset_id"]) for m in trade["maker_orders"]] == [(alice.creds.api_key, yes)]


def test_sell_yes_and_sell_no_summing_below_one_cross_by_merging_a_full_set(make_client, admin, reward_market) -> None:
    yes, no = reward_market.token_ids
    alice, bob = make_client(), make_client()
    admin.fund(alice.get_address(), tokens={yes: 10})
    admin.fund(bob.get_address(), tokens={no: 10})
    _, ask, tick = spread_gap(alice, yes)
    p = ask - tick  # alice becomes the best YES ask
    q = 1 - p - tick  # p + q < 1: bob's SELL NO is a YES bid at 1 − q = p + tick, through alice's ask
    size = Decimal(10)
    assert submit(alice, reward_market, yes, "SELL", p, 10)["status"] == "live"

    reply = submit(bob, reward_market, no, "SELL", q, 10)

    assert reply["success"] and reply["status"] == "matched"
    assert positions(admin, alice) == {}
    assert positions(admin, bob) == {}
    assert cash(admin, alice) == START_COLLATERAL + size * p
    assert cash(admin, bob) == START_COLLATERAL + size * (1 - p)  # ≥ q: the taker gets the maker's complement
    assert (cash(admin, alice) - START_COLLATERAL) + (cash(admin, bob) - START_COLLATERAL) == size  # one full set merged


def test_resting_buy_no_is_a_yes_ask_and_fills_against_a_yes_buyer(client, admin, reward_market) -> None:
    yes, no = reward_market.token_ids
    _, ask, tick = spread_gap(client, yes)
    q = 1 - (ask - tick)  # a YES ask one tick inside the best ask
    order_id = submit(client, reward_market, no, "BUY", q, 10)["orderID"]
    _, yes_asks, _ = book_sides(client, yes)
    no_bids, _, _ = book_sides(client, no)
    assert yes_asks[1 - q] == 10 and no_bids[q] == 10

    admin.take(yes, "BUY", float(1 - q), 10)

    (trade,) = client.get_trades()
    assert trade["trader_side"] == "MAKER" and trade["asset_id"] == yes
    (ours,) = trade["maker_orders"]
    assert (ours["order_id"], ours["asset_id"], ours["outcome"]) == (order_id, no, "No")
    assert (Decimal(ours["price"]), Decimal(ours["matched_amount"])) == (q, 10)
    assert positions(admin, client) == {no: Decimal(10)}
    assert cash(admin, client) == START_COLLATERAL - 10 * q


def test_crossing_order_reply_carries_trade_ids_and_transaction_hashes(client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]
    _, asks, _ = book_sides(client, yes)
    best_ask = min(asks)

    reply = submit(client, reward_market, yes, "BUY", best_ask, 5)

    assert reply["status"] == "matched"
    (trade_id,) = reply["tradeIDs"]
    (tx_hash,) = reply["transactionsHashes"]  # present, so the SDK does not poll /data/trades for 30 s
    (trade,) = client.get_trades(TradeParams(id=trade_id))
    assert trade["transaction_hash"] == tx_hash
    assert trade["trader_side"] == "TAKER"
    assert (Decimal(reply["takingAmount"]), Decimal(reply["makingAmount"])) == (5, 5 * best_ask)
    assert positions(admin, client) == {yes: Decimal(5)}


# ----------------------------------------------------------------------------- balances
def test_buy_beyond_the_collateral_is_refused(client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]

    refused = refusal(client, reward_market, yes, "BUY", Decimal("0.10"), START_COLLATERAL * 10 + 10)

    assert refused.status_code == 400
    assert NOT_ENOUGH_BALANCE in error_text(refused)
    assert truth(admin, client)["open_orders"] == []


def test_sell_without_the_tokens_is_refused(client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]

    refused = refusal(client, reward_market, yes, "SELL", Decimal("0.99"), 5)

    assert refused.status_code == 400
    assert NOT_ENOUGH_BALANCE in error_text(refused)
    assert truth(admin, client)["open_orders"] == []


def test_collateral_reserved_by_open_buys_counts_against_a_new_buy(client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]
    price = Decimal("0.10")
    first = submit(client, reward_market, yes, "BUY", price, 6000)  # reserves 600 of 1000
    second = sign(client, reward_market, yes, "BUY", price, 6000)

    with pytest.raises(PolyApiException) as refused:
        client.post_order(second)
    client.cancel_order(OrderPayload(orderID=first["orderID"]))
    retried = client.post_order(second)

    assert first["status"] == "live"
    assert NOT_ENOUGH_BALANCE in error_text(refused.value)
    assert retried["status"] == "live"  # the cancel released the reservation
    assert {o["id"] for o in truth(admin, client)["open_orders"]} == {retried["orderID"]}


def test_tokens_reserved_by_open_sells_count_against_a_new_sell(client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]
    admin.fund(client.get_address(), tokens={yes: 10})
    assert submit(client, reward_market, yes, "SELL", Decimal("0.99"), 10)["status"] == "live"

    refused = refusal(client, reward_market, yes, "SELL", Decimal("0.98"), 5)

    assert NOT_ENOUGH_BALANCE in error_text(refused)
    assert len(truth(admin, client)["open_orders"]) == 1


def test_funding_a_fractional_token_size_credits_exactly_that_size(client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]

    admin.fund(client.get_address(), tokens={yes: 8.2})

    assert positions(admin, client) == {yes: Decimal("8.2")}
    assert submit(client, reward_market, yes, "SELL", Decimal("0.99"), 8.2)["status"] == "live"


# ----------------------------------------------------------------------------- post-only
def test_post_only_order_that_would_cross_is_refused(client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]
    _, asks, _ = book_sides(client, yes)

    refused = refusal(client, reward_market, yes, "BUY", min(asks), 5, post_only=True)

    assert refused.status_code == 400
    assert "post-only" in error_text(refused)
    assert book_sides(client, yes)[1] == asks  # nothing was taken
    assert positions(admin, client) == {} and truth(admin, client)["open_orders"] == []


def test_post_only_order_that_does_not_cross_rests(client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]
    bid, _, tick = spread_gap(client, yes)

    reply = submit(client, reward_market, yes, "BUY", bid + tick, 5, post_only=True)

    assert reply["success"] and reply["status"] == "live"
    assert [o["id"] for o in truth(admin, client)["open_orders"]] == [reply["orderID"]]


# ----------------------------------------------------------------------------- FOK and FAK
@pytest.fixture
def rich_client(client, admin) -> ClobClient:
    """A client with collateral enough to take a whole level of the background book."""
    admin.fund(client.get_address(), collateral=100_000)
    return client


def test_fok_that_cannot_fully_fill_is_refused_and_changes_nothing(rich_client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]
    _, asks, _ = book_sides(rich_client, yes)
    best_ask = min(asks)
    cash_before = cash(admin, rich_client)

    refused = refusal(rich_client, reward_market, yes, "BUY", best_ask, float(asks[best_ask] + 1), OrderType.FOK)

    assert refused.status_code == 400
    assert book_sides(rich_client, yes)[1] == asks
    assert cash(admin, rich_client) == cash_before
    assert positions(admin, rich_client) == {}
    assert truth(admin, rich_client)["open_orders"] == [] and trades_of(admin, rich_client) == []


def test_fok_that_can_fully_fill_fills_completely(rich_client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]
    _, asks, _ = book_sides(rich_client, yes)
    best_ask = min(asks)

    reply = submit(rich_client, reward_market, yes, "BUY", best_ask, float(asks[best_ask]), OrderType.FOK)

    assert reply["status"] == "matched"
    assert positions(admin, rich_client) == {yes: asks[best_ask]}
    assert best_ask not in book_sides(rich_client, yes)[1]


def test_fak_fills_what_it_can_and_cancels_the_rest(rich_client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]
    _, asks, _ = book_sides(rich_client, yes)
    best_ask = min(asks)
    available = asks[best_ask]

    reply = submit(rich_client, reward_market, yes, "BUY", best_ask, float(available + 10), OrderType.FAK)

    assert reply["status"] == "matched"
    assert Decimal(reply["takingAmount"]) == available
    assert positions(admin, rich_client) == {yes: available}
    assert truth(admin, rich_client)["open_orders"] == []  # the unfilled 10 do not rest
    assert rich_client.get_open_orders() == []
    bids, _, _ = book_sides(rich_client, yes)
    assert best_ask not in bids


def test_market_buy_built_by_the_sdk_fills_as_fok(client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]
    _, asks, _ = book_sides(client, yes)
    best_ask = min(asks)
    spend = Decimal(7)
    order = client.create_market_order(
        MarketOrderArgsV2(token_id=yes, amount=float(spend), side="BUY", price=float(best_ask), order_type=OrderType.FOK),
        options_for(reward_market),
    )

    reply = client.post_order(order, OrderType.FOK)

    assert reply["status"] == "matched"
    assert START_COLLATERAL - cash(admin, client) <= spend
    assert positions(admin, client)[yes] > 0


# ----------------------------------------------------------------------------- grid and size
def test_price_off_the_tick_grid_is_refused(client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]
    bid, _, tick = spread_gap(client, yes)
    off_grid = bid - tick - tick / 2
    # The SDK rounds prices to the market's grid, so only a client that believes in a finer tick can send this.
    order = client.builder.build_order(
        OrderArgsV2(token_id=yes, price=float(off_grid), size=10, side="BUY"),
        CreateOrderOptions(tick_size=str(tick / 10), neg_risk=reward_market.neg_risk),
    )

    with pytest.raises(PolyApiException) as refused:
        client.post_order(order)

    assert refused.value.status_code == 400
    assert "tick size" in error_text(refused.value)
    assert truth(admin, client)["open_orders"] == []


def test_size_below_the_market_minimum_is_refused(client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]

    refused = refusal(client, reward_market, yes, "BUY", Decimal("0.10"), reward_market.min_order_size - 1)

    assert refused.status_code == 400
    assert "minimum" in error_text(refused)
    assert truth(admin, client)["open_orders"] == []


# ----------------------------------------------------------------------------- GTD expiry
GTD_THRESHOLD_S = 60  # the venue expires GTD orders one minute before their stated expiration


def post_gtd(client: ClobClient, market: SimMarket, lifetime_s: int) -> tuple[str, int]:
    """A resting GTD bid meant to live `lifetime_s` seconds (expiration = now + 60 + N, as the docs prescribe)."""
    expiration = int(client.get_server_time()) + GTD_THRESHOLD_S + lifetime_s
    order = client.create_order(
        OrderArgsV2(token_id=market.token_ids[0], price=0.10, size=5, side="BUY", expiration=expiration), options_for(market)
    )
    reply = client.post_order(order, OrderType.GTD)
    assert reply["status"] == "live", reply
    return reply["orderID"], expiration


def test_gtd_order_rests_and_is_gone_after_its_expiration(client, admin, reward_market) -> None:
    order_id, _ = post_gtd(client, reward_market, lifetime_s=120)
    (listed,) = client.get_open_orders()

    admin.advance(GTD_THRESHOLD_S + 120 + 1)

    assert listed["id"] == order_id and listed["order_type"] == "GTD"
    assert truth(admin, client)["open_orders"] == []
    assert client.get_open_orders() == []


def test_gtd_order_expires_one_minute_before_its_stated_expiration(client, admin, reward_market) -> None:
    lifetime = 120
    order_id, _ = post_gtd(client, reward_market, lifetime_s=lifetime)

    admin.advance(lifetime - 5)
    alive_before = {o["id"] for o in truth(admin, client)["open_orders"]}
    admin.advance(10)

    assert alive_before == {order_id}
    assert truth(admin, client)["open_orders"] == []


# ----------------------------------------------------------------------------- failed settlement
@pytest.mark.parametrize("sim_options", [SimOptions(seed=7, speed=0, markets=30, fail_rate=1.0)], ids=["every-trade-fails"])
def test_failed_settlement_goes_matched_retrying_failed_and_restores_balances(client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]
    bid, _, tick = spread_gap(client, yes)
    price = bid + tick
    submit(client, reward_market, yes, "BUY", price, 10)
    (trade_id,) = admin.take(yes, "SELL", float(price), 10)["trade_ids"]
    assert positions(admin, client) == {yes: Decimal(10)}
    assert cash(admin, client) == START_COLLATERAL - 10 * price

    statuses = [trade_status(client, trade_id)]
    admin.advance(26)  # RETRYING where MINED would be (~26 s), FAILED where CONFIRMED would be (~180 s)
    statuses.append(trade_status(client, trade_id))
    admin.advance(154)
    statuses.append(trade_status(client, trade_id))

    assert statuses == ["MATCHED", "RETRYING", "FAILED"]
    assert positions(admin, client) == {}
    assert cash(admin, client) == START_COLLATERAL


# ----------------------------------------------------------------------------- trading modes
def test_trading_disabled_refuses_posts_with_503(client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]
    orders = [sign(client, reward_market, yes, "BUY", Decimal("0.10"), 5) for _ in range(2)]
    admin.mode("trading-disabled")

    with pytest.raises(PolyApiException) as single:
        client.post_order(orders[0])
    with pytest.raises(PolyApiException) as batch:
        client.post_orders([PostOrdersV2Args(order=o, orderType=OrderType.GTC) for o in orders])

    assert (single.value.status_code, batch.value.status_code) == (503, 503)
    assert truth(admin, client)["open_orders"] == []


def test_cancel_only_refuses_posts_with_503_but_cancels_still_work(client, admin, reward_market) -> None:
    yes = reward_market.token_ids[0]
    resting = [submit(client, reward_market, yes, "BUY", Decimal("0.10"), 5 + i)["orderID"] for i in range(3)]
    admin.mode("cancel-only")

    with pytest.raises(PolyApiException) as post_refused:
        submit(client, reward_market, yes, "BUY", Decimal("0.10"), 5)
    single = client.cancel_order(OrderPayload(orderID=resting[0]))
    rest = client.cancel_all()

    assert post_refused.value.status_code == 503
    assert single["canceled"] == [resting[0]]
    assert sorted(rest["canceled"]) == sorted(resting[1:])
    assert truth(admin, client)["open_orders"] == []
    admin.mode("normal")
    assert submit(client, reward_market, yes, "BUY", Decimal("0.10"), 5)["status"] == "live"
