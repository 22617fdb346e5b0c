"""Hedge sell price: the five branches in order, their boundaries, tick rounding, clamping, `crosses`."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest

from polymm.desired.hedge import HedgeParams, covering_level, hedge_price
from polymm.domain.types import Book, Position

# stop-loss at cost × 0.90, take-profit at cost × 1.10, sell into bids down to cost − 0.05, margin 5 bps.
PARAMS = HedgeParams(max_bid_gap=D("0.05"), stop_loss_pct=D("0.10"), take_profit_pct=D("0.10"),
                     min_profit_margin_bps=D("5"))


def book(bids: list[tuple[str, str]], asks: list[tuple[str, str]] = (), tick: str = "0.01") -> Book:
    return Book.from_levels("T", [(D(p), D(s)) for p, s in bids], [(D(p), D(s)) for p, s in asks], D(tick))


HEDGE_CASES = [
    # (id, cost, size, bids, asks, tick, expected price, reason, crosses)
    # 1. stop-loss: best bid ≤ cost × (1 − 0.10)
    ("stop-loss-exactly-at-cost-times-0.9-sells-at-the-covering-level",
     "0.50", "8", [("0.45", "5"), ("0.44", "5"), ("0.40", "100")], [], "0.01", "0.44", "stop_loss", True),
    ("stop-loss-without-a-covering-level-sells-at-the-worst-bid",
     "0.50", "10", [("0.45", "1"), ("0.44", "1")], [], "0.01", "0.44", "stop_loss", True),
    ("stop-loss-ignores-max-bid-gap",
     "0.50", "10", [("0.20", "100")], [], "0.01", "0.20", "stop_loss", True),
    ("one-tick-above-the-stop-is-not-a-stop-loss",
     "0.50", "8", [("0.46", "5"), ("0.40", "100")], [], "0.01", "0.46", "best_bid", True),
    # 2. take-profit: best bid ≥ cost × (1 + 0.10)
    ("take-profit-exactly-at-cost-times-1.1-sells-at-the-best-bid",
     "0.50", "10", [("0.55", "1"), ("0.54", "100")], [], "0.01", "0.55", "take_profit", True),
    ("one-tick-below-take-profit-sells-at-the-covering-level",
     "0.50", "10", [("0.54", "1"), ("0.53", "100")], [], "0.01", "0.53", "covering_bid", True),
    # 3. covering bid: the level that covers the whole position, if ≥ cost − max_bid_gap
    ("covering-level-exactly-at-cost-minus-max-gap",
     "0.80", "10", [("0.79", "2"), ("0.75", "8")], [], "0.01", "0.75", "covering_bid", True),
    ("covering-level-at-the-best-bid",
     "0.80", "10", [("0.79", "10"), ("0.75", "8")], [], "0.01", "0.79", "covering_bid", True),
    # 4. best bid: the covering level is too low (or none), the best bid is within reach
    ("covering-level-one-tick-below-the-floor-sells-at-the-best-bid",
     "0.80", "10", [("0.79", "2"), ("0.74", "8")], [], "0.01", "0.79", "best_bid", True),
    ("no-covering-level-and-best-bid-exactly-at-the-floor",
     "0.80", "10", [("0.75", "2")], [], "0.01", "0.75", "best_bid", True),
    # 5. margin over cost: no bid within reach; rest an ask at max(cost, mid) × 1.0005 rounded UP
    ("best-bid-one-tick-below-the-floor-rests-above-the-midpoint",
     "0.80", "10", [("0.74", "2")], [("0.90", "5")], "0.01", "0.83", "margin_over_cost", False),  # 0.82 → 0.82041
    ("cost-above-the-midpoint-rests-above-cost",
     "0.80", "10", [("0.74", "2")], [("0.78", "5")], "0.01", "0.81", "margin_over_cost", False),  # 0.8004 → 0.81
    ("no-bids-at-all-rests-above-cost",
     "0.50", "10", [], [("0.60", "5")], "0.01", "0.51", "margin_over_cost", False),  # 0.50025 → 0.51
    ("empty-book-rests-above-cost",
     "0.50", "10", [], [], "0.01", "0.51", "margin_over_cost", False),
    ("a-finer-tick-rounds-up-to-its-own-step",
     "0.50", "10", [], [], "0.001", "0.501", "margin_over_cost", False),
    ("on-a-0.0025-tick",
     "0.50", "10", [], [], "0.0025", "0.5025", "margin_over_cost", False),
    # clamping into [tick, 1 − tick]
    ("margin-above-one-minus-tick-is-clamped",
     "0.995", "10", [], [], "0.01", "0.99", "margin_over_cost", False),  # 0.9954975 → 1.00 → 0.99
]


@pytest.mark.parametrize(
    ("cost", "size", "bids", "asks", "tick", "price", "reason", "crosses"),
    [pytest.param(*case[1:], id=case[0]) for case in HEDGE_CASES],
)
def test_hedge_price_takes_the_first_branch_that_applies(
    cost, size, bids, asks, tick, price, reason, crosses
) -> None:
    hedge = hedge_price(Position("T", D(size), D(cost)), book(bids, asks, tick), PARAMS)

    assert (hedge.price, hedge.reason, hedge.crosses) == (D(price), reason, crosses)


def test_a_bid_level_below_the_tick_left_by_a_tick_change_is_clamped_up_to_the_tick() -> None:
    # Stop-loss would sell at 0.005, which a 0.01-tick market does not accept.
    hedge = hedge_price(Position("T", D(10), D("0.50")), book([("0.005", "100")]), PARAMS)

    assert (hedge.price, hedge.reason) == (D("0.01"), "stop_loss")


def test_margin_price_already_on_tick_is_not_raised_a_further_tick() -> None:
    hedge = hedge_price(Position("T", D(10), D("0.80")), book([]), replace(PARAMS, min_profit_margin_bps=D(0)))

    assert (hedge.price, hedge.reason) == (D("0.80"), "margin_over_cost")


def test_a_larger_margin_moves_the_resting_ask_up() -> None:
    hedge = hedge_price(Position("T", D(10), D("0.50")), book([]), replace(PARAMS, min_profit_margin_bps=D(300)))

    assert hedge.price == D("0.52")  # 0.50 × 1.03 = 0.515 → 0.52


def test_a_wider_max_bid_gap_lets_the_hedge_sell_into_lower_bids() -> None:
    the_book = book([("0.79", "2"), ("0.74", "8")])
    position = Position("T", D(10), D("0.80"))

    assert hedge_price(position, the_book, PARAMS).reason == "best_bid"
    wider = hedge_price(position, the_book, replace(PARAMS, max_bid_gap=D("0.06")))
    assert (wider.price, wider.reason) == (D("0.74"), "covering_bid")


@pytest.mark.parametrize(
    ("bids", "size", "level"),
    [
        pytest.param([("0.50", "5"), ("0.49", "5")], "5", "0.50", id="the-best-bid-alone-covers"),
        pytest.param([("0.50", "5"), ("0.49", "5")], "10", "0.49", id="exactly-covered-at-the-second"),
        pytest.param([("0.50", "5"), ("0.49", "5")], "10.01", None, id="not-covered"),
        pytest.param([], "1", None, id="no-bids"),
    ],
)
def test_covering_level_is_the_lowest_bid_whose_cumulative_size_covers_the_position(bids, size, level) -> None:
    assert covering_level(book(bids), D(size)) == (None if level is None else D(level))


# ---- maker mode: rest an ask at or above cost while the position is young, then cross as the seed does
MAKER = replace(PARAMS, mode="maker", maker_wait_s=600.0)


@pytest.mark.parametrize("bids, asks, fee, age, price, reason, crosses", [
    # a young position whose bids bring less than cost net of the fee rests at cost (post-only)
    ([("0.49", "100")], [("0.51", "100")], "0.04", 0.0, "0.50", "maker_ask", False),
    # ... at the best bid + tick when that is above cost (never crossing, never below cost)
    ([("0.50", "100")], [("0.53", "100")], "0.04", 0.0, "0.51", "maker_ask", False),
    # ... one second before the wait ends it still rests
    ([("0.49", "100")], [("0.51", "100")], "0.04", 599.0, "0.50", "maker_ask", False),
    # at the end of the wait the seed's rules cross into the bids
    ([("0.49", "100")], [("0.51", "100")], "0.04", 600.0, "0.49", "covering_bid", True),
    # a sale into the bids that brings at least cost net of the fee is taken at once
    ([("0.52", "100")], [("0.53", "100")], "0.0", 0.0, "0.52", "covering_bid", True),
    # the stop-loss crosses at once in maker mode too
    ([("0.45", "100")], [("0.47", "100")], "0.04", 0.0, "0.45", "stop_loss", True),
])
def test_maker_hedge(bids, asks, fee, age, price, reason, crosses):
    hp = hedge_price(Position("T", D("10"), D("0.50")), book(bids, asks), MAKER, D(fee), age)
    assert (hp.price, hp.reason, hp.crosses) == (D(price), reason, crosses)
    assert hp.post_only == (reason == "maker_ask")
    if not crosses:
        assert hp.price >= D("0.50") and hp.price > book(bids, asks).best_bid


def test_cross_mode_ignores_the_age():
    """The seed's behaviour (mode cross) sells into the bids however young the position."""
    hp = hedge_price(Position("T", D("10"), D("0.50")), book([("0.49", "100")], [("0.51", "100")]), PARAMS, D("0.04"), 0.0)
    assert (hp.price, hp.reason, hp.crosses) == (D("0.49"), "covering_bid", True)


def test_maker_mode_stop_loss_needs_max_bid_gap_too_on_a_cheap_token():
    """Cost 0.08, best bid 0.07: 12.5 % below cost but one tick. Cross mode (the seed's) stops out at once; maker
    mode rests an ask, and stops out only once the bid is also max_bid_gap (0.05) below cost."""
    pos = Position("T", D("10"), D("0.08"))
    near = book([("0.07", "100"), ("0.06", "100")], [("0.10", "100")])
    assert hedge_price(pos, near, PARAMS, D("0.04"), 0.0).reason == "stop_loss"
    assert hedge_price(pos, near, MAKER, D("0.04"), 0.0).reason == "maker_ask"
    far = book([("0.03", "100")], [("0.10", "100")])
    assert hedge_price(pos, far, MAKER, D("0.04"), 0.0).reason == "stop_loss"


# ---- maker mode after the wait with maker_step_s > 0: the ask concedes a cent a step, never crossing
STEP = replace(MAKER, maker_step_s=300.0)


@pytest.mark.parametrize("age, price", [
    (599.0, "0.50"),  # still waiting at cost
    (600.0, "0.49"),  # the wait is over: one cent down (not the covering bid at 0.45, as with maker_step_s 0)
    (899.0, "0.49"),
    (900.0, "0.48"),
    (1200.0, "0.47"),  # after 3 steps, ...
    (9000.0, "0.47"),  # ... never at or below the best bid (0.46 here), however long it waits
])
def test_maker_step_down_lowers_the_ask_a_cent_a_step_and_never_crosses(age, price):
    b = book([("0.46", "5"), ("0.45", "5"), ("0.44", "100")], [("0.51", "100")])  # above the stop (0.45)
    pos = Position("T", D("10"), D("0.50"))
    hp = hedge_price(pos, b, STEP, D("0.04"), age)
    assert (hp.price, hp.crosses, hp.post_only) == (D(price), False, True)
    assert hp.reason == ("maker_ask" if age < 600 else "maker_step_down")
    # without maker_step_s the same position crosses into the book at the end of the wait (the rule before)
    if age >= 600:
        assert hedge_price(pos, b, MAKER, D("0.04"), age).crosses


def test_maker_step_down_stops_at_cost_minus_max_bid_gap_and_the_stop_loss_still_crosses():
    pos = Position("T", D("10"), D("0.80"))
    low = book([("0.70", "100")], [("0.79", "100")])  # at or below the stop (0.80 × 0.9 = 0.72)
    assert hedge_price(pos, low, STEP, D("0.04"), 99_999.0).reason == "stop_loss"
    quiet = book([("0.73", "100")], [("0.79", "100")])  # above the stop (0.72): the ask rests at 0.80 − 0.05
    hp = hedge_price(pos, quiet, STEP, D("0.04"), 99_999.0)
    assert (hp.price, hp.reason, hp.crosses) == (D("0.75"), "maker_step_down", False)


def test_maker_step_down_never_sells_at_a_loss_into_the_bids():
    """Steps down, the ask is below what the bids bring net of the fee, but it still rests: a resting ask sells as
    a maker (no fee, a rebate) when the price comes to it; only bids that bring the cost are taken at once."""
    pos = Position("T", D("10"), D("0.50"))
    b = book([("0.49", "100")], [("0.51", "100")])
    hp = hedge_price(pos, b, STEP, D("0.04"), 1200.0)  # 3 steps: 0.47, below the best bid: rests at 0.50
    assert (hp.price, hp.reason, hp.crosses) == (D("0.50"), "maker_step_down", False)
    rich = book([("0.51", "100")], [("0.53", "100")])
    assert hedge_price(pos, rich, STEP, D("0.0"), 1200.0).reason == "covering_bid"


def test_stop_loss_at_the_best_bid_does_not_walk_a_book_a_jump_emptied():
    """After a jump the bids left under the best bid are thin and low: `covering` sells the whole position down to
    the level that covers it (0.40 here), `best_bid` only into the best bid (0.44); the rest rests there."""
    pos = Position("T", D("20"), D("0.50"))
    thin = book([("0.44", "5"), ("0.42", "5"), ("0.40", "100")], [("0.47", "100")])
    assert hedge_price(pos, thin, PARAMS, D("0.04")).price == D("0.40")
    for params in (replace(PARAMS, stop_loss_depth="best_bid"), replace(STEP, stop_loss_depth="best_bid")):
        hp = hedge_price(pos, thin, params, D("0.04"), 0.0)
        assert (hp.price, hp.reason, hp.crosses) == (D("0.44"), "stop_loss", True)


def test_maker_take_at_cost_off_rests_the_ask_where_the_rule_before_sold_into_the_bids():
    """Bids at 0.52 bring 0.52 − 0.04 × 0.52 × 0.48 ≈ 0.51 net of the fee for a position bought at 0.50: the rule
    before sells into them at once (a taker fill, half a spread under the midpoint plus the fee); with
    maker_take_at_cost off the ask rests at the best bid + tick (a maker fill at or above the best ask)."""
    pos = Position("T", D("10"), D("0.50"))
    b = book([("0.52", "100")], [("0.54", "100")])
    assert hedge_price(pos, b, MAKER, D("0.04"), 0.0).reason == "covering_bid"
    rest = replace(MAKER, maker_take_at_cost=False)
    hp = hedge_price(pos, b, rest, D("0.04"), 0.0)
    assert (hp.price, hp.reason, hp.crosses, hp.post_only) == (D("0.53"), "maker_ask", False, True)
    # the take-profit (10 % over cost net of the fee) still sells at once
    up = book([("0.57", "100")], [("0.58", "100")])
    assert hedge_price(pos, up, rest, D("0.04"), 0.0).reason == "take_profit"


def test_a_stop_loss_on_the_midpoint_does_not_fire_on_a_hole_a_sweep_left_in_the_bids():
    """Bought at 0.23; a sweep took the bids down to 0.18 (the stop: min(0.23 × 0.9, 0.23 − 0.05) = 0.18) while the
    asks stand at 0.25: on the best bid the stop fires and sells into the hole; on the midpoint (0.215) it does not,
    and it does once the midpoint itself is down there."""
    pos = Position("T", D("20"), D("0.23"))
    hole = book([("0.18", "100")], [("0.25", "100")])
    maker = replace(STEP, maker_take_at_cost=False)
    assert hedge_price(pos, hole, maker, D("0.04"), 0.0).reason == "stop_loss"
    on_mid = replace(maker, stop_loss_on="midpoint")
    hp = hedge_price(pos, hole, on_mid, D("0.04"), 0.0)
    assert (hp.reason, hp.crosses) == ("maker_ask", False)
    fallen = book([("0.17", "100")], [("0.19", "100")])
    assert hedge_price(pos, fallen, on_mid, D("0.04"), 0.0).reason == "stop_loss"


def test_a_maker_stop_loss_rests_inside_the_best_ask_for_its_time_then_crosses():
    """Bought at 0.23; a sweep took the bids to 0.18 with the asks at 0.25. With `stop_loss_maker_s` the fired stop
    first rests a post-only ask one tick inside the best ask (0.24), never at or below the best bid; on a one-tick
    spread it joins the best ask; once the stop has fired for that long it sells into the best bid as before."""
    pos = Position("T", D("20"), D("0.23"))
    hole = book([("0.18", "100")], [("0.25", "100")])
    maker_stop = replace(STEP, maker_take_at_cost=False, stop_loss_depth="best_bid", stop_loss_maker_s=300.0)
    hp = hedge_price(pos, hole, maker_stop, D("0.04"), 0.0, stop_age_s=0.0)
    assert (hp.price, hp.reason, hp.crosses, hp.post_only) == (D("0.24"), "stop_loss_maker", False, True)
    tight = book([("0.17", "100")], [("0.18", "100")])
    hp = hedge_price(pos, tight, maker_stop, D("0.04"), 0.0, stop_age_s=299.0)
    assert (hp.price, hp.reason, hp.crosses) == (D("0.18"), "stop_loss_maker", False)
    hp = hedge_price(pos, hole, maker_stop, D("0.04"), 0.0, stop_age_s=300.0)
    assert (hp.price, hp.reason, hp.crosses) == (D("0.18"), "stop_loss", True)
    no_asks = book([("0.18", "100")])
    assert hedge_price(pos, no_asks, maker_stop, D("0.04"), 0.0, stop_age_s=0.0).price == D("0.19")
    # off (0, the rule before): the stop crosses at once whatever its age
    assert hedge_price(pos, hole, replace(maker_stop, stop_loss_maker_s=0.0), D("0.04"), 0.0, 0.0).crosses
