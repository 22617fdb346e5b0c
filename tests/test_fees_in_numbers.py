"""The taker fee in the controller's numbers: hedge pricing compares what a sale into the bids brings net of
the fee, and a market's expected $/day is net of the expected fee of the hedges (polymm.domain.fees)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from test_desired_funnel import PARAMS as SELECTION, market, select, standard
from test_desired_hedge import PARAMS, book

from polymm.desired.hedge import hedge_price, net_of_fee
from polymm.domain.fees import taker_fee
from polymm.domain.types import Position


def test_the_fee_is_shares_times_rate_times_p_times_one_minus_p_rounded_to_five_decimals():
    assert taker_fee(D(100), D("0.5"), D("0.07")) == D("1.75")  # the docs' worked example
    assert taker_fee(D(1), D("0.9999"), D("0.04")) == 0
    assert net_of_fee(D("0.5"), D("0.04")) == D("0.49")


def test_a_bid_within_the_gap_before_fees_but_not_after_is_not_sold_into():
    position = Position("T", D(10), D("0.80"))
    bids = book([("0.75", "100")], [("0.85", "100")])  # exactly cost − max_bid_gap (0.05)
    assert hedge_price(position, bids, PARAMS).reason == "covering_bid"
    rests = hedge_price(position, bids, PARAMS, fee_rate=D("0.04"))  # 0.75 − 0.04 × 0.75 × 0.25 < 0.75
    assert (rests.reason, rests.crosses) == ("margin_over_cost", False)


def test_take_profit_counts_what_the_sale_brings_after_the_fee():
    position = Position("T", D(10), D("0.50"))
    bids = book([("0.55", "100")], [("0.60", "100")])  # gross exactly cost × 1.10
    assert hedge_price(position, bids, PARAMS).reason == "take_profit"
    assert hedge_price(position, bids, PARAMS, fee_rate=D("0.04")).reason != "take_profit"


def test_expected_dollars_per_day_are_shown_net_of_the_expected_hedge_fee():
    free = market("0xfree", volume_24hr=D(5000))
    charged = replace(free, condition_id="0xfee", fee_rate=D("0.04"))
    [gross] = select([free], standard(free)).ranked
    [net] = select([charged], standard(charged)).ranked
    p = float(sum(q.price for q in net.quotes) / len(net.quotes))
    expected_fee = net.share * 5000 * 0.04 * (1 - p)
    assert gross.share == net.share and expected_fee > 0
    assert net.expected_hedge_fee_per_day == expected_fee and gross.expected_hedge_fee_per_day == 0
    assert net.expected_net_per_day == gross.expected_per_day - expected_fee
    assert net.expected_per_day == gross.expected_per_day  # the rewards themselves; the ranking stays on them
