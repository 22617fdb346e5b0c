"""Liquidity-reward payouts of the simulated venue, checked against the published formula.

Two of our accounts quote in the same reward market: A two-sided, B one-sided and a tick further
out. The venue samples every simulated minute; the expected Q_min of each account is computed
here from polymm.domain.rewards, the book at the sampling moment (its adjusted midpoint) and the
orders as the venue reports them. Background makers earn too, so the check is the *ratio* of our
two shares, and the consistency of the share with the money paid.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest
from py_clob_client_v2.clob_types import (
    OpenOrderParams,
    OrderArgsV2,
    OrderScoringParams,
    OrdersScoringParams,
    PartialCreateOrderOptions,
)

from polymm.domain import rewards
from polymm.sim.model import PIPS, SimMarket
from polymm.sim.runner import SimOptions

MINUTES_PER_DAY = 1440


@pytest.fixture
def sim_options() -> SimOptions:
    """Samples at the end of each minute (not the venue's random instant), so a test knows when one is taken. The
    generated universe: its seed 7 has the quiet market below among 30."""
    return SimOptions(seed=7, speed=0, markets=30, scenario="calm", balance_delay_s=0.0, reward_sample_random=False,
                      universe="generated")


@pytest.fixture
def quiet_reward_market(venue) -> SimMarket:
    """A 0.01-tick reward market, midpoint in [0.2, 0.8], spread ≤ 2 ticks and a band of ≥ 4 cents."""

    def pick() -> SimMarket:
        for m in venue.server.engine.markets.values():
            bid, ask = m.book.best_bid(), m.book.best_ask()
            if (m.rate_per_day > 0 and m.tick_pips == 100 and bid and ask and 2000 < bid < 8000
                    and ask - bid <= 2 * m.tick_pips and m.rewards_max_spread >= 4 and m.rewards_min_size <= 50):
                return m
        raise AssertionError("no quiet reward market in the simulated universe")

    return venue.call(pick)


def post_buy(client, market: SimMarket, token_index: int, pips: int, size: float) -> str:
    options = PartialCreateOrderOptions(tick_size=market.tick_str, neg_risk=market.neg_risk)
    order = OrderArgsV2(token_id=market.token_ids[token_index], price=pips / PIPS, size=size, side="BUY")
    reply = client.create_and_post_order(order, options)
    assert reply["status"] == "live", reply
    return reply["orderID"]


def expected_q_min(client, market: SimMarket, midpoint: float) -> float:
    """Q_min of the client's live orders in `market`, from the formula and the venue's view of the orders."""
    orders = [
        rewards.RestingOrder(o["side"], market.token_ids.index(o["asset_id"]), float(o["price"]),
                             float(o["original_size"]) - float(o["size_matched"]))
        for o in client.get_open_orders(OpenOrderParams(market=market.condition_id))
    ]
    return rewards.maker_q_min(orders, midpoint, market.rewards_max_spread, market.rewards_min_size)


def book_midpoint(client, market: SimMarket) -> float:
    book = client.get_order_book(market.token_ids[0])
    midpoint = rewards.adjusted_midpoint(
        [(float(b["price"]), float(b["size"])) for b in book["bids"]],
        [(float(a["price"]), float(a["size"])) for a in book["asks"]],
        market.rewards_min_size,
    )
    assert midpoint is not None
    return midpoint


def earnings_in(client, market: SimMarket, date: str) -> float:
    return sum(row["earnings"] for row in client.get_earnings_for_user_for_day(date) if row["condition_id"] == market.condition_id)


def rewards_earned(admin, client) -> float:
    """The venue's own total of the client's rewards, over all days (/_sim/state)."""
    accounts = {address.lower(): account for address, account in admin.state()["accounts"].items()}
    return accounts[client.get_address().lower()]["rewards_earned"]


def venue_date(admin) -> str:
    return datetime.fromtimestamp(admin.state()["now"], tz=timezone.utc).date().isoformat()


def test_two_accounts_share_the_pool_in_the_ratio_of_their_q_min(admin, make_client, quiet_reward_market):
    market = quiet_reward_market
    bid, ask, tick = market.book.best_bid(), market.book.best_ask(), market.tick_pips
    size = 2 * max(market.rewards_min_size, market.min_order_size)
    two_sided, one_sided = make_client(), make_client()
    post_buy(two_sided, market, 0, bid, size)  # a bid on YES ...
    post_buy(two_sided, market, 1, PIPS - ask, size)  # ... and a bid on NO, i.e. an ask on YES: two-sided
    post_buy(one_sided, market, 0, bid - tick, 2 * size)  # one-sided and further out: scores a third

    admin.advance(59)  # the venue samples once per simulated minute; no sample has been taken yet
    assert [rewards_earned(admin, c) for c in (two_sided, one_sided)] == [0, 0]
    admin.advance(1)  # the first sample, taken at this last step: the book read next is the sampled one
    date = venue_date(admin)

    midpoint = book_midpoint(two_sided, market)
    q_two_sided, q_one_sided = expected_q_min(two_sided, market, midpoint), expected_q_min(one_sided, market, midpoint)
    assert q_two_sided > 0 and q_one_sided > 0
    share_two_sided = two_sided.get_reward_percentages()[market.condition_id] / 100
    share_one_sided = one_sided.get_reward_percentages()[market.condition_id] / 100
    assert share_two_sided / share_one_sided == pytest.approx(q_two_sided / q_one_sided, rel=1e-5)
    assert share_two_sided + share_one_sided < 1, "background makers earn their part too"

    pool_per_minute = market.rate_per_day / MINUTES_PER_DAY
    earned_two_sided, earned_one_sided = earnings_in(two_sided, market, date), earnings_in(one_sided, market, date)
    assert earned_two_sided == pytest.approx(pool_per_minute * share_two_sided, abs=1e-6)  # rounded to 6 places
    assert earned_one_sided == pytest.approx(pool_per_minute * share_one_sided, abs=1e-6)
    assert rewards_earned(admin, two_sided) == pytest.approx(earned_two_sided, abs=1e-6)


def test_two_sided_quotes_earn_more_than_the_same_size_one_sided(admin, make_client, quiet_reward_market):
    market = quiet_reward_market
    bid, ask = market.book.best_bid(), market.book.best_ask()
    size = 2 * max(market.rewards_min_size, market.min_order_size)
    two_sided, one_sided = make_client(), make_client()
    post_buy(two_sided, market, 0, bid, size)
    post_buy(two_sided, market, 1, PIPS - ask, size)
    post_buy(one_sided, market, 0, bid, 2 * size)  # the same capital on one side only
    admin.advance(60)
    date = venue_date(admin)
    assert earnings_in(two_sided, market, date) > earnings_in(one_sided, market, date) > 0


def test_order_scoring_is_true_inside_the_band_and_false_outside(make_client, quiet_reward_market):
    market = quiet_reward_market
    bid, tick = market.book.best_bid(), market.tick_pips
    beyond_band = bid - (math.ceil(market.rewards_max_spread) + 1) * tick  # ≥ v cents from any midpoint near the bid
    size = 2 * max(market.rewards_min_size, market.min_order_size)
    client = make_client()
    inside_id = post_buy(client, market, 0, bid, size)
    outside_id = post_buy(client, market, 0, beyond_band, size)

    assert client.is_order_scoring(OrderScoringParams(orderId=inside_id)) == {"scoring": True}
    assert client.is_order_scoring(OrderScoringParams(orderId=outside_id)) == {"scoring": False}
    assert client.are_orders_scoring(OrdersScoringParams(orderIds=[inside_id, outside_id])) == {inside_id: True, outside_id: False}


def test_order_scoring_is_false_for_an_unknown_order(client):
    assert client.is_order_scoring(OrderScoringParams(orderId="0x" + "00" * 32)) == {"scoring": False}
