"""The liquidity-reward formula: the documented worked example, cut-offs, band rule, pool splits."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polymm.domain.rewards import (
    BUY,
    C_TWO_SIDED,
    SELL,
    RestingOrder,
    adjusted_midpoint,
    expected_share,
    maker_q_min,
    order_score,
    q_min,
    q_scores,
    split_pool,
    spread_score,
)

M, M_COMPLEMENT = 0, 1

# The worked example of docs.polymarket.com "Liquidity Rewards" (adjusted midpoint 0.50, v = 3).
# Step 2 lists the Q_one orders literally; they already fit the formula.
WORKED_EXAMPLE_Q_ONE_ORDERS = [
    RestingOrder(BUY, M, 0.49, 100),  # s = 1 cent: (2/3)² · 100 = 44.44
    RestingOrder(BUY, M, 0.48, 200),  # s = 2 cents: (1/3)² · 200 = 22.22
    RestingOrder(SELL, M_COMPLEMENT, 0.51, 100),  # s = 1 cent from m′'s midpoint 0.50: 44.44
]
# Step 3's arithmetic is ((3 − 1.5)/3)² · 100 + ((3 − 2)/3)² · 100 + ((3 − 0.5)/3)² · 200, but
# two of its orders are written on the wrong token: "100 bid on m @ 0.485" and "200 ask on m′
# @ 0.505" belong to Q_one by the docs' own equation 3 (Q_two = asks on m + bids on m′). With
# m and m′ swapped on those two (harmless here: both midpoints are 0.50, so every distance is
# unchanged), the orders land in Q_two and reproduce the published terms exactly.
WORKED_EXAMPLE_Q_TWO_ORDERS = [
    RestingOrder(BUY, M_COMPLEMENT, 0.485, 100),  # s = 1.5 cents: (1/2)² · 100 = 25.00
    RestingOrder(BUY, M_COMPLEMENT, 0.48, 100),  # s = 2 cents: (1/3)² · 100 = 11.11
    RestingOrder(SELL, M, 0.505, 200),  # s = 0.5 cents: (5/6)² · 200 = 138.89
]


def test_documented_worked_example_gives_q_one_111_11_q_two_175_and_q_min_111_11() -> None:
    """docs.polymarket.com, Liquidity Rewards, Worked Example: midpoint 0.50, max spread 3c.

    Q_one = (2/3)²·100 + (1/3)²·200 + (2/3)²·100 = 111.11 (bids 100 @ 0.49, 200 @ 0.48 on m;
    ask 100 @ 0.51 on m′). Q_two = (1/2)²·100 + (1/3)²·100 + (5/6)²·200 = 175.00 (bids 100 @
    0.485 and 100 @ 0.48 on m′; ask 200 @ 0.505 on m; see WORKED_EXAMPLE_Q_TWO_ORDERS for why
    two of the docs' labels are swapped). Inside [0.10, 0.90]: Q_min = max(111.11, 175/3) = 111.11.
    """
    orders = WORKED_EXAMPLE_Q_ONE_ORDERS + WORKED_EXAMPLE_Q_TWO_ORDERS

    q_one, q_two = q_scores(orders, midpoint_m=0.50, max_spread_cents=3, min_size=10)

    assert round(q_one, 2) == 111.11
    assert round(q_two, 2) == 175.00
    assert round(q_min(q_one, q_two, midpoint_m=0.50), 2) == 111.11
    assert round(maker_q_min(orders, 0.50, 3, 10), 2) == 111.11


def test_worked_example_orders_each_score_the_documented_term() -> None:
    terms = [
        order_score(3, abs(o.price - 0.50) * 100, o.size, min_size=10)
        for o in WORKED_EXAMPLE_Q_ONE_ORDERS + WORKED_EXAMPLE_Q_TWO_ORDERS
    ]
    assert [round(t, 2) for t in terms] == [44.44, 22.22, 44.44, 25.00, 11.11, 138.89]


@pytest.mark.parametrize(
    ("distance_cents", "expected"),
    [
        (0, 1.0),
        (0.5, 25 / 36),
        (1, 4 / 9),
        (1.5, 1 / 4),
        (2, 1 / 9),
        (3, 0.0),
        (3.5, 0.0),
        (30, 0.0),
    ],
)
def test_spread_score_is_quadratic_in_closeness_and_zero_at_or_beyond_max_spread(
    distance_cents: float, expected: float
) -> None:
    assert spread_score(3, distance_cents) == pytest.approx(expected)


def test_an_order_exactly_at_max_spread_scores_zero_despite_float_noise() -> None:
    # abs(0.47 - 0.50) * 100 is 3.0000000000000027 and abs(0.53 - 0.50) * 100 is 3.0000000000000027;
    # either way an order at the band edge must not count as qualifying.
    assert spread_score(3, abs(0.47 - 0.50) * 100) == 0.0
    at_the_edges = [RestingOrder(BUY, M, 0.47, 100), RestingOrder(SELL, M, 0.53, 100)]
    assert q_scores(at_the_edges, 0.50, 3, 10) == (0.0, 0.0)
    assert q_scores([RestingOrder(BUY, M, 0.735, 100)], 0.765, 3, 10) == (0.0, 0.0)


def test_spread_score_applies_the_multiplier() -> None:
    assert spread_score(3, 1, multiplier=2) == pytest.approx(8 / 9)


def test_order_below_min_size_scores_zero_and_at_min_size_scores() -> None:
    assert order_score(3, 1, size=49.99, min_size=50) == 0.0
    assert order_score(3, 1, size=50, min_size=50) == pytest.approx(50 * 4 / 9)


def test_min_size_applies_per_order_not_to_a_makers_total() -> None:
    two_small_bids = [RestingOrder(BUY, M, 0.49, 30), RestingOrder(BUY, M, 0.49, 30)]
    assert q_scores(two_small_bids, 0.50, 3, min_size=50) == (0.0, 0.0)


def test_orders_on_the_complement_are_measured_from_one_minus_the_midpoint() -> None:
    # midpoint(m) = 0.30, so midpoint(m′) = 0.70: a bid on m′ at 0.69 is 1 cent away.
    q_one, q_two = q_scores([RestingOrder(BUY, M_COMPLEMENT, 0.69, 90)], 0.30, 3, 10)
    assert q_one == 0.0
    assert q_two == pytest.approx(90 * 4 / 9)


def test_bids_on_m_and_asks_on_m_complement_fill_q_one_the_opposite_orders_fill_q_two() -> None:
    def scores(order: RestingOrder) -> tuple[float, float]:
        q_one, q_two = q_scores([order], 0.50, 3, 10)
        return (q_one > 0, q_two > 0)

    assert scores(RestingOrder(BUY, M, 0.49, 100)) == (True, False)
    assert scores(RestingOrder(SELL, M_COMPLEMENT, 0.51, 100)) == (True, False)
    assert scores(RestingOrder(SELL, M, 0.51, 100)) == (False, True)
    assert scores(RestingOrder(BUY, M_COMPLEMENT, 0.49, 100)) == (False, True)


@pytest.mark.parametrize(
    "bad",
    [RestingOrder("buy", M, 0.49, 100), RestingOrder(BUY, 2, 0.49, 100)],  # type: ignore[arg-type]
)
def test_q_scores_rejects_an_unknown_side_or_outcome(bad: RestingOrder) -> None:
    with pytest.raises(ValueError):
        q_scores([bad], 0.50, 3, 10)


@pytest.mark.parametrize("midpoint", [0.10, 0.1000000001, 0.25, 0.50, 0.75, 0.8999999999, 0.90])
def test_one_sided_liquidity_scores_a_third_inside_the_band_including_its_edges(
    midpoint: float,
) -> None:
    assert q_min(90.0, 0.0, midpoint) == pytest.approx(30.0)
    assert q_min(0.0, 90.0, midpoint) == pytest.approx(30.0)
    assert C_TWO_SIDED == 3.0


@pytest.mark.parametrize("midpoint", [0.0, 0.05, 0.09, 0.0999, 0.9001, 0.91, 0.95, 1.0])
def test_one_sided_liquidity_scores_nothing_outside_the_band(midpoint: float) -> None:
    assert q_min(90.0, 0.0, midpoint) == 0.0
    assert q_min(0.0, 90.0, midpoint) == 0.0


@pytest.mark.parametrize("midpoint", [0.05, 0.50, 0.95])
def test_two_sided_liquidity_scores_its_smaller_side_everywhere(midpoint: float) -> None:
    assert q_min(60.0, 90.0, midpoint) == 60.0


def test_lopsided_liquidity_inside_the_band_scores_the_larger_of_min_and_a_third_of_max() -> None:
    assert q_min(10.0, 90.0, 0.50) == pytest.approx(30.0)
    assert q_min(40.0, 90.0, 0.50) == 40.0


def test_a_one_sided_maker_at_the_band_edge_midpoint_computed_from_a_book_scores_a_third() -> None:
    # (0.09 + 0.11) / 2 is 0.09999999999999999 in floats; the band edge is inclusive all the same.
    midpoint = adjusted_midpoint([(0.09, 100)], [(0.11, 100)], min_size=10)
    assert midpoint == 0.10
    bid = [RestingOrder(BUY, M, 0.09, 90)]  # 1 cent below the midpoint
    assert maker_q_min(bid, midpoint, 3, 10) == pytest.approx(90 * 4 / 9 / 3)
    assert maker_q_min(bid, 0.09, 3, 10) == 0.0


def test_adjusted_midpoint_ignores_levels_below_min_size() -> None:
    bids = [(0.45, 500), (0.49, 5), (0.47, 100)]
    asks = [(0.51, 5), (0.55, 200), (0.53, 100)]
    assert adjusted_midpoint(bids, asks, min_size=50) == pytest.approx(0.50)
    assert adjusted_midpoint(bids, asks, min_size=1) == pytest.approx(0.50)
    assert adjusted_midpoint(bids, asks, min_size=150) == pytest.approx(0.50)
    assert adjusted_midpoint([(0.40, 500), (0.49, 5)], asks, min_size=50) == pytest.approx(0.465)


def test_adjusted_midpoint_falls_back_to_the_raw_midpoint_when_a_side_has_no_sized_level() -> None:
    midpoint = adjusted_midpoint([(0.48, 5)], [(0.52, 500), (0.60, 5)], min_size=50)
    assert midpoint == pytest.approx(0.50)


def test_adjusted_midpoint_accepts_decimal_levels() -> None:
    bids = [(Decimal("0.48"), Decimal("100"))]
    asks = [(Decimal("0.53"), Decimal("100"))]
    assert adjusted_midpoint(bids, asks, Decimal("50")) == pytest.approx(0.505)


def test_adjusted_midpoint_is_unknown_when_a_side_of_the_book_is_empty() -> None:
    assert adjusted_midpoint([], [(0.52, 100)], 10) is None
    assert adjusted_midpoint([(0.48, 100)], [], 10) is None


def test_a_maker_with_twice_the_q_min_of_another_gets_two_thirds_of_the_pool() -> None:
    shares = split_pool({"maker_a": 222.22, "maker_b": 111.11}, pool=90.0)
    assert shares["maker_a"] == pytest.approx(60.0)
    assert shares["maker_b"] == pytest.approx(30.0)


def test_a_pool_nobody_scored_in_pays_nothing() -> None:
    nobody = {"maker_a": 0.0, "maker_b": 0.0}
    assert split_pool(nobody, pool=100.0) == {"maker_a": 0.0, "maker_b": 0.0}
    assert split_pool({}, pool=100.0) == {}


def test_expected_share_is_ours_over_the_total_and_zero_when_nobody_scores() -> None:
    assert expected_share(111.11, 222.22) == pytest.approx(1 / 3)
    assert expected_share(0.0, 50.0) == 0.0
    assert expected_share(0.0, 0.0) == 0.0


q_values = st.floats(min_value=0, max_value=1e6, allow_nan=False)


@given(
    st.dictionaries(st.text(min_size=1, max_size=5), q_values, min_size=1, max_size=8),
    st.floats(1, 1e5),
)
def test_split_pool_pays_out_the_whole_pool_in_proportion_to_q(
    q_by_maker: dict[str, float], pool: float
) -> None:
    shares = split_pool(q_by_maker, pool)
    assert shares.keys() == q_by_maker.keys()
    total_q = sum(q_by_maker.values())
    if total_q > 0:
        assert sum(shares.values()) == pytest.approx(pool)
        for maker, q in q_by_maker.items():
            assert shares[maker] == pytest.approx(pool * (q / total_q))
    else:
        assert set(shares.values()) == {0.0}


@given(q_values, q_values, st.floats(1, 1e5))
def test_the_controllers_expected_share_matches_the_simulators_payout(
    ours: float, others: float, pool: float
) -> None:
    paid = split_pool({"us": ours, "them": others}, pool)["us"]
    assert expected_share(ours, others) * pool == pytest.approx(paid)


prices_on_pips = st.integers(min_value=1, max_value=9999).map(lambda pips: pips / 10_000)


@given(
    st.lists(
        st.builds(
            RestingOrder,
            st.sampled_from([BUY, SELL]),
            st.sampled_from([M, M_COMPLEMENT]),
            prices_on_pips,
            st.floats(0, 1e4),
        ),
        max_size=20,
    ),
    st.integers(min_value=500, max_value=9500).map(lambda pips: pips / 10_000),
)
def test_an_order_on_one_token_scores_like_the_opposite_order_on_the_complement(
    orders: list[RestingOrder], midpoint: float
) -> None:
    # Buying m at p and selling m′ at 1 − p are the same position, so they must score alike.
    mirrored = [
        RestingOrder(BUY if o.side == SELL else SELL, 1 - o.outcome_index, 1 - o.price, o.size)
        for o in orders
    ]
    q_one, q_two = q_scores(orders, midpoint, 3.5, 20)
    q_one_mirrored, q_two_mirrored = q_scores(mirrored, midpoint, 3.5, 20)
    assert q_one_mirrored == pytest.approx(q_one)
    assert q_two_mirrored == pytest.approx(q_two)


@given(st.floats(0.5, 10), st.floats(0, 20), st.floats(0, 20))
def test_spread_score_never_grows_with_distance_and_stays_within_zero_and_one(
    v: float, s1: float, s2: float
) -> None:
    near, far = sorted((s1, s2))
    assert 0.0 <= spread_score(v, far) <= spread_score(v, near) <= 1.0


def test_competition_q_min_is_the_most_any_split_among_makers_scores():
    """Anonymous levels: the venue scores each maker alone (one-sided earns Q/3 in [0.10, 0.90]); the bound is
    min(Q1, Q2) + |Q1 − Q2| / 3, reached by one matched maker plus one one-sided maker, and no split scores more."""
    from polymm.domain import rewards
    import itertools

    orders = [rewards.RestingOrder("BUY", 0, 0.49, 100.0), rewards.RestingOrder("BUY", 0, 0.48, 300.0),
              rewards.RestingOrder("SELL", 0, 0.51, 100.0), rewards.RestingOrder("SELL", 0, 0.53, 50.0)]
    q1, q2 = rewards.q_scores(orders, 0.50, 3.0, 10.0)
    bound = rewards.competition_q_min(orders, 0.50, 3.0, 10.0)
    assert bound == pytest.approx(min(q1, q2) + abs(q1 - q2) / 3)
    best = 0.0
    for owners in itertools.product(range(len(orders)), repeat=len(orders)):  # every split among up to 4 makers
        total = sum(rewards.maker_q_min([o for o, w in zip(orders, owners) if w == k], 0.50, 3.0, 10.0)
                    for k in set(owners))
        assert total <= bound + 1e-9
        best = max(best, total)
    assert best == pytest.approx(bound)
    # outside [0.10, 0.90] one-sided liquidity scores nothing: the one-maker Q_min is the most
    low = [rewards.RestingOrder("BUY", 0, 0.04, 100.0), rewards.RestingOrder("SELL", 0, 0.06, 300.0)]
    assert rewards.competition_q_min(low, 0.05, 3.0, 10.0) == pytest.approx(rewards.maker_q_min(low, 0.05, 3.0, 10.0))
