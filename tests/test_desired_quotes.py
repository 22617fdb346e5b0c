"""Quote placement: the reward band, the buy price at its edge (or the second bid), and the quote size."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from polymm.desired.quotes import quote_price, quote_size, reward_band
from polymm.domain.types import Book


def book(bids: list[tuple[str, str]], asks: list[tuple[str, str]], tick: str = "0.01") -> Book:
    """A book from (price, size) strings, listed in any order."""
    return Book.from_levels(
        "T", [(D(p), D(s)) for p, s in bids], [(D(p), D(s)) for p, s in asks], D(tick)
    )


# --- the reward band ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bids", "asks", "max_spread", "mid", "lower", "upper"),
    [
        pytest.param([("0.48", "10")], [("0.52", "10")], "3", "0.50", "0.48", "0.52", id="v3-is-2c-each-side"),
        pytest.param([("0.47", "10")], [("0.50", "10")], "3.5", "0.485", "0.46", "0.51", id="half-cent-midpoint"),
        pytest.param([("0.10", "10")], [("0.14", "10")], "1.5", "0.12", "0.115", "0.125", id="v1.5-is-half-a-cent"),
        pytest.param([("0.500", "10")], [("0.503", "10")], "4.5", "0.5015", "0.4665", "0.5365", id="tick-0.001"),
        pytest.param([("0.48", "1"), ("0.30", "900")], [("0.52", "1")], "1", "0.50", "0.50", "0.50",
                     id="v1-band-collapses-onto-the-raw-midpoint-whatever-the-sizes"),
    ],
)
def test_reward_band_is_the_midpoint_minus_and_plus_max_spread_less_one_cent(
    bids, asks, max_spread, mid, lower, upper
) -> None:
    band = reward_band(book(bids, asks), D(max_spread))

    assert band is not None
    assert (band.midpoint, band.lower, band.upper) == (D(mid), D(lower), D(upper))


@pytest.mark.parametrize(
    ("bids", "asks"),
    [([("0.48", "10")], []), ([], [("0.52", "10")]), ([], [])],
    ids=["no-ask", "no-bid", "empty"],
)
def test_reward_band_is_unknown_without_both_a_bid_and_an_ask(bids, asks) -> None:
    assert reward_band(book(bids, asks), D(3)) is None


# --- the buy price ------------------------------------------------------------------------

QUOTE_PRICE_CASES = [
    # (id, bids, asks, tick, max_spread, placement, expected price or None, at_band_edge)
    ("second-bid-exactly-at-the-band-edge-is-used", [("0.50", "10"), ("0.49", "10")], [("0.52", "10")],
     "0.01", "3", "band_edge", "0.49", False),
    ("second-bid-above-the-band-edge-is-used", [("0.50", "10"), ("0.49", "10")], [("0.51", "10")],
     "0.01", "4", "band_edge", "0.49", False),
    ("second-bid-one-tick-below-the-edge-gives-the-edge", [("0.50", "10"), ("0.48", "10")], [("0.52", "10")],
     "0.01", "3", "band_edge", "0.49", True),
    ("edge-between-ticks-rounds-down-for-a-buy", [("0.50", "10"), ("0.45", "10")], [("0.53", "10")],
     "0.01", "3", "band_edge", "0.49", True),  # mid 0.515, edge 0.495 → 0.49, never 0.50
    ("edge-on-a-0.001-tick-needs-no-rounding", [("0.500", "10"), ("0.450", "10")], [("0.530", "10")],
     "0.001", "3", "band_edge", "0.495", True),
    ("edge-on-a-0.0025-tick-rounds-down", [("0.5000", "10"), ("0.4500", "10")], [("0.5100", "10")],
     "0.0025", "2.6", "band_edge", "0.4875", True),  # mid 0.505, edge 0.489 → 0.4875
    ("edge-on-a-0.005-tick-rounds-down", [("0.500", "10"), ("0.450", "10")], [("0.530", "10")],
     "0.005", "3.2", "band_edge", "0.49", True),  # mid 0.515, edge 0.493 → 0.490
    ("only-a-best-bid-gives-no-quote", [("0.50", "10")], [("0.52", "10")],
     "0.01", "3", "band_edge", None, False),
    ("no-ask-gives-no-quote", [("0.50", "10"), ("0.49", "10")], [],
     "0.01", "3", "band_edge", None, False),
    ("no-bids-gives-no-quote", [], [("0.52", "10")],
     "0.01", "3", "band_edge", None, False),
    ("a-coarse-tick-that-pushes-the-price-out-of-scoring-gives-no-quote", [("0.2", "10"), ("0.1", "10")],
     [("0.3", "10")], "0.1", "4.5", "band_edge", None, False),  # edge 0.215 → 0.2, 5c from mid 0.25 ≥ 4.5c
    ("a-coarse-tick-price-exactly-max-spread-from-the-midpoint-gives-no-quote", [("0.3", "10"), ("0.2", "10")],
     [("0.4", "10")], "0.1", "5", "band_edge", None, False),  # edge 0.31 → 0.3, exactly 5c from mid 0.35
    ("a-coarse-tick-price-just-inside-max-spread-is-quoted", [("0.3", "10"), ("0.2", "10")],
     [("0.4", "10")], "0.1", "5.1", "band_edge", "0.3", True),
    ("an-off-tick-second-bid-after-a-tick-change-gives-no-quote", [("0.505", "10"), ("0.495", "10")],
     [("0.52", "10")], "0.01", "3", "band_edge", None, False),
    ("a-crossed-book-never-yields-a-buy-at-or-above-the-best-ask", [("0.55", "10"), ("0.52", "10")],
     [("0.50", "10")], "0.01", "4", "band_edge", "0.49", False),
    ("one-tick-inside-moves-the-edge-one-tick-toward-the-midpoint", [("0.52", "10"), ("0.45", "10")],
     [("0.54", "10")], "0.01", "4.5", "one_tick_inside", "0.50", True),  # edge 0.495 → 0.49 → 0.50
    ("one-tick-inside-moves-the-second-bid-one-tick-up", [("0.50", "10"), ("0.48", "10")],
     [("0.51", "10")], "0.01", "4", "one_tick_inside", "0.49", False),
    ("one-tick-inside-never-goes-above-the-best-bid", [("0.50", "10"), ("0.40", "10")],
     [("0.52", "10")], "0.01", "1.5", "one_tick_inside", "0.50", True),  # edge 0.505 → 0.50 → 0.51 capped
    ("band-edge-above-the-best-bid-improves-the-book", [("0.40", "10"), ("0.39", "10")],
     [("0.60", "10")], "0.01", "3", "band_edge", "0.48", True),
    ("one-tick-inside-never-quotes-further-out-than-the-band-edge", [("0.40", "10"), ("0.39", "10")],
     [("0.60", "10")], "0.01", "3", "one_tick_inside", "0.48", True),  # edge 0.48 is above the best bid: kept
    ("a-sub-cent-max-spread-never-quotes-above-the-midpoint-out-of-scoring", [("0.02", "10"), ("0.01", "10")],
     [("0.05", "10")], "0.01", "0.1", "band_edge", None, False),  # inverted band: 0.04 is 0.5c above mid 0.035
    ("one-tick-inside-on-a-locked-book-stays-below-the-best-ask", [("0.50", "10"), ("0.49", "10")],
     [("0.50", "10")], "0.01", "3", "one_tick_inside", "0.49", False),
    ("band-floor-quotes-the-lower-edge-below-a-second-bid-inside-the-band", [("0.53", "10"), ("0.52", "10")],
     [("0.54", "10")], "0.01", "4.5", "band_floor", "0.50", False),  # mid 0.535, edge 0.5 (band_edge: 0.52)
    ("band-floor-rounds-the-edge-down", [("0.52", "10"), ("0.51", "10")], [("0.53", "10")],
     "0.01", "3", "band_floor", "0.50", False),  # mid 0.525, edge 0.505 → 0.50, bid 0.51 inside
    ("band-floor-with-the-second-bid-below-the-edge-is-the-edge", [("0.50", "10"), ("0.40", "10")],
     [("0.52", "10")], "0.01", "3", "band_floor", "0.49", True),
    ("band-floor-above-the-best-bid-stays-below-the-best-ask", [("0.40", "10"), ("0.39", "10")],
     [("0.60", "10")], "0.01", "3", "band_floor", "0.48", True),
]


@pytest.mark.parametrize(
    ("bids", "asks", "tick", "max_spread", "placement", "expected", "at_edge"),
    [pytest.param(*case[1:], id=case[0]) for case in QUOTE_PRICE_CASES],
)
def test_quote_price_follows_the_band_edge_and_second_bid_rules(
    bids, asks, tick, max_spread, placement, expected, at_edge
) -> None:
    the_book = book(bids, asks, tick)

    quote = quote_price(the_book, D(max_spread), placement)

    if expected is None:
        assert quote is None
        return
    assert quote is not None
    assert quote.price == D(expected)
    assert quote.at_band_edge is at_edge
    assert quote.price < the_book.best_ask
    assert D(tick) <= quote.price <= 1 - D(tick)
    assert quote.band == reward_band(the_book, D(max_spread))


def test_quote_price_reports_the_band_it_was_placed_in() -> None:
    quote = quote_price(book([("0.50", "10"), ("0.45", "10")], [("0.53", "10")]), D(3))

    assert quote is not None
    assert (quote.band.midpoint, quote.band.lower, quote.band.upper) == (D("0.515"), D("0.495"), D("0.535"))


def test_a_buy_at_the_band_edge_stays_strictly_inside_the_scoring_distance() -> None:
    # v = 3: the edge is 2c from the midpoint, so a quote there scores ((3 − 2)/3)² > 0.
    the_book = book([("0.50", "10"), ("0.45", "10")], [("0.52", "10")])

    quote = quote_price(the_book, D(3))

    assert quote is not None
    assert (the_book.midpoint - quote.price) * 100 == D(2)


# --- the size -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rewards_min_size", "multiplier", "market_min", "expected"),
    [
        pytest.param("20", "1", "5", "20", id="min-size-times-one"),
        pytest.param("20", "1.5", "5", "30", id="multiplier-scales"),
        pytest.param("20", "0.5", "5", "10", id="multiplier-below-one-still-above-market-min"),
        pytest.param("5", "0.5", "5", "5", id="raised-to-the-market-minimum"),
        pytest.param("5", "1", "5", "5", id="exactly-the-market-minimum"),
        pytest.param("10", "1.2345", "5", "12.35", id="rounded-up-to-a-cent-of-a-share"),
        pytest.param("10", "1.2301", "5", "12.31", id="any-excess-over-a-cent-rounds-up"),
        pytest.param("10", "1.234", "5", "12.34", id="already-on-the-step-is-unchanged"),
        pytest.param("3", "1", "5.001", "5.01", id="market-minimum-also-rounded-up"),
    ],
)
def test_quote_size_is_min_size_times_multiplier_at_least_market_min_rounded_up_to_0_01(
    rewards_min_size, multiplier, market_min, expected
) -> None:
    size = quote_size(D(rewards_min_size), D(multiplier), D(market_min))

    assert size == D(expected)
    assert size >= D(rewards_min_size) * D(multiplier)
    assert size >= D(market_min)
    assert size % D("0.01") == 0
