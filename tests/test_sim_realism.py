"""The simulated venue is as hard as Polymarket where money moves, each behaviour shown through the real SDK
and judged from the venue's truth (`/_sim/state`).

Taker fees by category (docs.polymarket.com/trading/fees), maker rebates paid daily with a $1 minimum
(/market-makers/maker-rebates), self-trade prevention (py-clob-client-v2 examples/orders/match_orders.py),
settlement delays as captured (~26 s MINED, ~180 s CONFIRMED), the balance lag after a buy
(py-clob-client issues #287, #290, #342), rewards sampled at a random instant and paid at midnight UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from py_clob_client_v2.clob_types import OrderArgsV2, OrderType, PartialCreateOrderOptions, TradeParams
from py_clob_client_v2.exceptions import PolyApiException

from polymm.sim import fees
from polymm.sim.model import MICRO, PIPS, SimMarket
from polymm.sim.runner import SimOptions


MIDNIGHT = 1_790_035_200  # a UTC midnight


@pytest.fixture
def sim_options() -> SimOptions:
    """The realistic defaults, balance lag included; the clock starts 15 minutes before a UTC midnight so a
    test can reach the daily payout in a few hundred simulated seconds."""
    return SimOptions(seed=7, speed=0, markets=30, scenario="calm", start_time=MIDNIGHT - 900)


def account(admin, client) -> dict:
    return {a.lower(): v for a, v in admin.state()["accounts"].items()}[client.get_address().lower()]


def post(client, market: SimMarket, token_index: int, side: str, pips: int, size: float, order_type=OrderType.GTC) -> dict:
    options = PartialCreateOrderOptions(tick_size=market.tick_str, neg_risk=market.neg_risk)
    order = client.create_order(OrderArgsV2(token_id=market.token_ids[token_index], price=pips / PIPS, size=size, side=side), options)
    return client.post_order(order, order_type)


@pytest.fixture
def fee_market(venue) -> SimMarket:
    """A 0.01-tick market with a taker fee, a two-sided book with room inside the spread, away from the ends."""

    def pick() -> SimMarket:
        for m in venue.server.engine.markets.values():
            bid, ask = m.book.best_bid(), m.book.best_ask()
            if (m.fee_rate and m.tick_pips == 100 and bid and ask and 2500 < bid < 7500 and m.min_order_size <= 10
                    and ask - bid >= 2 * m.tick_pips):
                return m
        raise AssertionError("no market with a taker fee in the simulated universe")

    return venue.call(pick)


def cross(maker, taker, market: SimMarket, size: float = 10.0) -> tuple[int, dict]:
    """`maker` rests a YES bid one tick inside the spread if there is room (else at the best bid's price,
    behind it), `taker` sells YES into it at that price; returns the price and the taker's reply."""
    bid, ask = market.book.best_bid(), market.book.best_ask()
    price = bid + market.tick_pips if ask - bid > market.tick_pips else bid
    assert post(maker, market, 0, "BUY", price, size)["status"] == "live"
    return price, post(taker, market, 0, "SELL", price, size, OrderType.FAK)


def test_the_taker_pays_shares_x_rate_x_p_x_1_minus_p_and_the_maker_pays_nothing(venue, admin, make_client, fee_market):
    maker, taker = make_client(), make_client()
    token = fee_market.token_ids[0]
    admin.fund(taker.get_address(), tokens={token: 10})
    maker_before, taker_before = account(admin, maker)["collateral"], account(admin, taker)["collateral"]

    price, reply = cross(maker, taker, fee_market)
    assert reply["status"] == "matched"

    p = price / PIPS
    fee = round(10 * fee_market.fee_rate * p * (1 - p), 5)
    assert fee > 0
    taker_after, maker_after = account(admin, taker), account(admin, maker)
    assert taker_after["collateral"] == pytest.approx(taker_before + 10 * p - fee, abs=1e-6)
    assert maker_after["collateral"] == pytest.approx(maker_before - 10 * p, abs=1e-6)
    assert taker_after["fees_paid"] == pytest.approx(fee, abs=1e-6) and maker_after["fees_paid"] == 0
    assert taker_after["fees_by_market"] == {fee_market.condition_id: pytest.approx(fee, abs=1e-6)}
    [trade] = taker.get_trades(TradeParams(market=fee_market.condition_id))
    assert trade["fee_rate_bps"] == str(round(fee_market.fee_rate * 10_000))
    assert trade["maker_orders"][0]["side"] == "BUY" and trade["maker_orders"][0]["fee_rate_bps"] == "0"


def test_fee_rates_follow_the_market_category_and_are_published(venue, client, fee_market):
    rate, share = fees.CATEGORY_RATES[fee_market.category]
    assert (fee_market.fee_rate, fee_market.rebate_share) == (rate, share)
    assert client.get_clob_market_info(fee_market.condition_id)["fd"]["r"] == rate
    import httpx
    assert httpx.get(f"{venue.url}/fee-rate", params={"token_id": fee_market.token_ids[0]}).json() == {"base_fee": round(rate * 10_000)}
    gamma = httpx.get(f"{venue.url}/gamma/markets", params={"condition_ids": fee_market.condition_id}).json()[0]
    assert gamma["feeSchedule"] == {"exponent": 1, "rate": rate, "takerOnly": True, "rebateRate": share}


def test_the_fee_is_rounded_to_five_decimals_and_vanishes_near_the_ends():
    assert fees.fee_micro(10 * MICRO, 5000, 0.04) == 100_000  # 10 × 0.04 × 0.25 = $0.10
    assert fees.fee_micro(1 * MICRO, 9999, 0.04) == 0  # 0.0000039996 rounds to 0
    assert fees.fee_micro(3 * MICRO, 3300, 0.07) % 10 == 0


def test_an_order_never_matches_a_resting_order_of_the_same_account(venue, admin, make_client, fee_market):
    me = make_client()
    token = fee_market.token_ids[0]
    admin.fund(me.get_address(), tokens={token: 10})
    bid, ask = fee_market.book.best_bid(), fee_market.book.best_ask()
    assert ask - bid > fee_market.tick_pips, "needs room inside the spread"
    mine = post(me, fee_market, 0, "BUY", bid + fee_market.tick_pips, 10)["orderID"]
    with pytest.raises(PolyApiException) as refused:  # a FAK sell at our own bid finds nothing else to match
        post(me, fee_market, 0, "SELL", bid + fee_market.tick_pips, 10, OrderType.FAK)
    assert "no orders found to match with FAK order" in str(refused.value.error_msg)
    state = account(admin, me)
    assert [o["id"] for o in state["open_orders"]] == [mine]
    assert Decimal(state["open_orders"][0]["size_matched"]) == 0
    assert admin.state()["trades"] == []


def test_trades_are_mined_after_26_s_and_confirmed_after_180_s(venue, admin, make_client, fee_market):
    maker, taker = make_client(), make_client()
    admin.fund(taker.get_address(), tokens={fee_market.token_ids[0]: 10})
    cross(maker, taker, fee_market)

    def status() -> str:
        [trade] = taker.get_trades(TradeParams(market=fee_market.condition_id))
        return trade["status"]

    admin.advance(25)
    assert status() == "MATCHED"
    admin.advance(1)
    assert status() == "MINED"
    admin.advance(153)
    assert status() == "MINED"
    admin.advance(1)
    assert status() == "CONFIRMED"




def test_tokens_just_bought_cannot_be_sold_until_the_balance_catches_up(venue, admin, make_client, fee_market):
    buyer, seller = make_client(), make_client()
    admin.fund(seller.get_address(), tokens={fee_market.token_ids[0]: 10})
    bid, ask = fee_market.book.best_bid(), fee_market.book.best_ask()
    price = ask - fee_market.tick_pips if ask - bid > fee_market.tick_pips else ask
    assert post(seller, fee_market, 0, "SELL", price, 10)["status"] == "live"
    assert post(buyer, fee_market, 0, "BUY", price, 10, OrderType.FAK)["status"] == "matched"
    assert account(admin, buyer)["positions"] == {fee_market.token_ids[0]: 10}

    far = min(PIPS - fee_market.tick_pips, price + 20 * fee_market.tick_pips)
    with pytest.raises(PolyApiException) as refused:
        post(buyer, fee_market, 0, "SELL", far, 10)
    assert refused.value.status_code == 400
    assert "not enough balance / allowance" in str(refused.value.error_msg)
    assert account(admin, buyer)["locked"] == {fee_market.token_ids[0]: 10}  # what /_sim/state shows meanwhile
    admin.advance(5)
    assert account(admin, buyer)["locked"] == {}
    assert post(buyer, fee_market, 0, "SELL", far, 10)["status"] == "live"


def _midnight_after(now: float) -> float:
    day = datetime.fromtimestamp(now, tz=timezone.utc).date()
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() + 86_400


def test_maker_rebates_are_paid_at_midnight_pro_rata_and_nothing_under_one_dollar(venue, admin, make_client, fee_market):
    big, small, taker = make_client(), make_client(), make_client()
    token = fee_market.token_ids[0]
    admin.fund(taker.get_address(), collateral=100_000, tokens={token: 20_000})
    for maker in (big, small):
        admin.fund(maker.get_address(), collateral=100_000)
    inside = fee_market.book.best_bid() + fee_market.tick_pips  # alone at a new best bid: first in line
    assert post(big, fee_market, 0, "BUY", inside, 19_000)["status"] == "live"
    assert post(small, fee_market, 0, "BUY", inside, 100)["status"] == "live"
    assert post(taker, fee_market, 0, "SELL", inside, 19_100, OrderType.FAK)["status"] == "matched"
    assert account(admin, taker)["fees_paid"] > 0
    for maker in (big, small):
        maker.cancel_all()  # what is left of the bids must not fill meanwhile: the collateral then moves by the rebate alone
    before = {c: account(admin, c)["collateral"] for c in (big, small)}

    now = admin.state()["now"]
    admin.advance(_midnight_after(now) - now + 1)

    def weights():  # the pool and each maker's fee-equivalent, from the venue's own trades of the day
        trades = [t for t in venue.server.engine.trades if t.taker_order.market is fee_market and t.status != "FAILED"]
        w: dict[str, int] = {}
        for t in trades:
            for f in t.maker_fills:
                w[f.order.maker_address] = w.get(f.order.maker_address, 0) + f.maker_fee_equivalent
        return sum(t.taker_fee for t in trades) / MICRO * fee_market.rebate_share, w

    pool, w = venue.call(weights)
    total_w = sum(w.values())
    big_rebate, small_rebate = account(admin, big)["rebates"], account(admin, small)["rebates"]
    assert big_rebate["accrued"] == pytest.approx(pool * w[big.get_address()] / total_w, abs=1e-5)
    assert small_rebate["accrued"] == pytest.approx(pool * w[small.get_address()] / total_w, abs=1e-5)
    assert big_rebate["accrued"] >= 1 > small_rebate["accrued"] > 0, (big_rebate, small_rebate)
    assert big_rebate["paid"] == big_rebate["accrued"]
    assert small_rebate["paid"] == 0  # under $1: not paid
    assert account(admin, big)["collateral"] == pytest.approx(before[big] + big_rebate["paid"], abs=1e-6)
    assert account(admin, small)["collateral"] == pytest.approx(before[small], abs=1e-6)


def test_rewards_are_sampled_at_a_random_instant_each_minute_and_paid_once_a_day(venue, admin, make_client):
    engine = venue.server.engine
    market = venue.call(lambda: next(m for m in engine.markets.values() if m.rate_per_day >= 50 and m.tick_pips == 100
                                     and m.book.best_bid() and 2500 < m.book.best_bid() < 7500
                                     # joining the touch scores: its half-width is inside the reward band
                                     and (m.book.best_ask() - m.book.best_bid()) / 2 < m.rewards_max_spread * 100))
    client = make_client()
    admin.fund(client.get_address(), collateral=10_000)
    size = 4 * max(market.rewards_min_size, market.min_order_size)
    post(client, market, 0, "BUY", market.book.best_bid(), size)
    post(client, market, 1, "BUY", PIPS - market.book.best_ask(), size)

    instants = []
    for _ in range(5):
        minute_start = venue.server.sampler.minute_start
        instants.append(venue.server.sampler.next_sample - minute_start)
        admin.advance(60)
    assert len(set(instants)) > 1 and all(1 <= i <= 60 for i in instants)

    rewards = account(admin, client)["rewards"]
    assert rewards["accrued"] > 0 and rewards["paid"] == 0
    client.cancel_all()  # nothing more can fill (a fill's cost would move the collateral); what accrued stays
    before = account(admin, client)["collateral"]
    now = admin.state()["now"]
    admin.advance(_midnight_after(now) - now + 1)
    after = account(admin, client)
    total = after["rewards"]["accrued"]
    rebates = after["rebates"]["paid"]  # a fill in the sampled minutes earns a rebate, paid at the same midnight
    if total >= 1:
        assert after["rewards"]["paid"] == pytest.approx(total, abs=1e-5)
        assert after["collateral"] == pytest.approx(before + after["rewards"]["paid"] + rebates, abs=1e-5)
    else:
        assert after["rewards"]["paid"] == 0
        assert after["collateral"] == pytest.approx(before + rebates, abs=1e-6)
    assert admin.state()["paid_days"]


# ----------------------------------------------------------------------------- endpoints the official clients call
def test_price_buy_is_the_best_bid_and_sell_the_best_ask(client, fee_market):
    from py_clob_client_v2.clob_types import BookParams

    token = fee_market.token_ids[0]
    bid, ask = fee_market.book.best_bid() / PIPS, fee_market.book.best_ask() / PIPS
    assert float(client.get_price(token, "BUY")["price"]) == bid
    assert float(client.get_price(token, "SELL")["price"]) == ask
    prices = client.get_prices([BookParams(token_id=token, side="BUY"), BookParams(token_id=token, side="SELL")])
    assert {k: float(v) for k, v in prices[token].items()} == {"BUY": bid, "SELL": ask}
    assert float(client.get_spreads([BookParams(token_id=token)])[token]) == pytest.approx(ask - bid)


def test_the_account_endpoints_the_sdk_examples_call_answer(client, fee_market):
    from py_clob_client_v2.clob_types import BookParams

    assert client.get_notifications() == []
    assert client.drop_notifications() == "OK"
    assert client.get_closed_only_mode() == {"closed_only": False}
    [last] = client.get_last_trades_prices([BookParams(token_id=fee_market.token_ids[0])])
    assert last["token_id"] == fee_market.token_ids[0]
    assert client.get_market_trades_events(fee_market.condition_id)["condition_id"] == fee_market.condition_id
    rows = client.get_user_earnings_and_markets_config("2026-12-01")
    assert rows and {"condition_id", "earning_percentage", "earnings"} <= set(rows[0])
