"""Polymarket's published liquidity-reward formula: order scores, Q_one/Q_two, Q_min, shares."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Literal, NamedTuple

# Invariants of this module:
# - It is the ONE implementation of the reward formula: the simulator pays with it every
#   simulated minute and the controller ranks markets with it, so the two always agree.
# - Scoring runs on binary floats. Scores are continuous quantities that are summed, split
#   proportionally and ranked; no order is placed or cancelled by comparing two scores for
#   equality, and floats are several times faster than Decimal in the per-minute loop over
#   every maker of every market. Decimal stays at the edges (ticks.py, orders sent to the
#   venue); convert there with float().
# - The only threshold comparisons on floats (distance vs. max spread, midpoint vs. the
#   0.10/0.90 band) allow _CENTS_EPSILON / _PRICE_EPSILON of rounding noise. Real prices
#   sit on a 0.0001 grid and midpoints on a 0.00005 grid, so a tolerance far below that
#   grid only absorbs float noise such as abs(0.47 - 0.50) * 100 == 3.0000000000000027.
# - Outcome 0 is the market's first token m; outcome 1 is its complement m′, whose
#   midpoint is 1 − midpoint(m).

C_TWO_SIDED: float = 3.0
"""Scaling factor c: inside the band, one-sided liquidity scores Q / c."""

# Midpoints in [LOW, HIGH] (inclusive) let one-sided liquidity score; outside, only two-sided.
ONE_SIDED_BAND_LOW: float = 0.10
ONE_SIDED_BAND_HIGH: float = 0.90

BUY: Literal["BUY"] = "BUY"
SELL: Literal["SELL"] = "SELL"

_CENTS_EPSILON = 1e-7  # far below the 0.005-cent grid of distances, far above float noise
_PRICE_EPSILON = 1e-9  # far below the 0.00005 grid of midpoints
_MIDPOINT_DECIMALS = 5  # a midpoint of two 0.0001-grid prices lies on the 0.00005 grid


class RestingOrder(NamedTuple):
    """One resting order as the reward formula sees it (a NamedTuple: cheap to build and read).

    `outcome_index` is 0 for the market's first token m and 1 for its complement m′;
    `price` is a float in collateral units (0.49, not 49; convert a Decimal with float());
    `size` is in shares.
    """

    side: Literal["BUY", "SELL"]
    outcome_index: Literal[0, 1]
    price: float
    size: float


Level = tuple[float | Decimal, float | Decimal]
"""An order-book level: (price, size)."""


def spread_score(max_spread_cents: float, distance_cents: float, multiplier: float = 1.0) -> float:
    """S(v, s) = ((v − s) / v)² · b, the per-share score of an order s cents from the midpoint.

    An order at or beyond the max spread (s ≥ v) scores 0. `distance_cents` is non-negative.
    """
    if distance_cents >= max_spread_cents - _CENTS_EPSILON:
        return 0.0
    closeness = (max_spread_cents - distance_cents) / max_spread_cents
    return closeness * closeness * multiplier


def order_score(
    max_spread_cents: float,
    distance_cents: float,
    size: float,
    min_size: float,
    multiplier: float = 1.0,
) -> float:
    """S(v, s) · size, one order's term in Q_one or Q_two; 0 if the order is below min size."""
    if size < min_size:
        return 0.0
    return spread_score(max_spread_cents, distance_cents, multiplier) * size


def adjusted_midpoint(
    bids: Iterable[Level], asks: Iterable[Level], min_size: float | Decimal
) -> float | None:
    """polymm's stand-in for the venue's unpublished size-cutoff-adjusted midpoint of token m.

    The midpoint of the best bid and best ask among levels of at least `min_size` shares;
    if either side has no such level, the raw midpoint of the best bid and best ask; None if
    either side is empty. Levels may come in any order. This is the one place the rule
    lives, so a better approximation replaces only this function.
    """
    cutoff = float(min_size)
    best_bid = best_bid_sized = None
    for price, size in bids:
        p = float(price)
        if best_bid is None or p > best_bid:
            best_bid = p
        if float(size) >= cutoff and (best_bid_sized is None or p > best_bid_sized):
            best_bid_sized = p
    best_ask = best_ask_sized = None
    for price, size in asks:
        p = float(price)
        if best_ask is None or p < best_ask:
            best_ask = p
        if float(size) >= cutoff and (best_ask_sized is None or p < best_ask_sized):
            best_ask_sized = p
    if best_bid is None or best_ask is None:
        return None
    if best_bid_sized is not None and best_ask_sized is not None:
        best_bid, best_ask = best_bid_sized, best_ask_sized
    # Rounding onto the midpoint grid makes (0.09 + 0.11) / 2 the same float as 0.1.
    return round((best_bid + best_ask) / 2, _MIDPOINT_DECIMALS)


def q_scores(
    orders: Iterable[RestingOrder],
    midpoint_m: float,
    max_spread_cents: float,
    min_size: float,
    multiplier: float = 1.0,
) -> tuple[float, float]:
    """(Q_one, Q_two) of one maker's orders in one market.

    Q_one = Σ S·size over bids on m + Σ S·size over asks on m′;
    Q_two = Σ S·size over asks on m + Σ S·size over bids on m′.
    Distances are measured from `midpoint_m` for orders on m and from 1 − `midpoint_m`
    for orders on m′, in cents.
    """
    midpoint_m = float(midpoint_m)
    midpoint_m_complement = 1.0 - midpoint_m
    q_one = 0.0
    q_two = 0.0
    for side, outcome_index, price, size in orders:
        if side != BUY and side != SELL:
            raise ValueError(f"order side must be {BUY!r} or {SELL!r}, got {side!r}")
        # A bid on m and an ask on m′ are the same bet (m pays out), so they share Q_one.
        if outcome_index == 0:
            distance_cents = abs(price - midpoint_m) * 100.0
            in_q_one = side == BUY
        elif outcome_index == 1:
            distance_cents = abs(price - midpoint_m_complement) * 100.0
            in_q_one = side == SELL
        else:
            raise ValueError(f"outcome_index must be 0 (m) or 1 (m′), got {outcome_index!r}")
        if size < min_size:
            continue  # the minimum size applies per order, not per maker
        term = spread_score(max_spread_cents, distance_cents, multiplier) * size
        if in_q_one:
            q_one += term
        else:
            q_two += term
    return q_one, q_two


def q_min(q_one: float, q_two: float, midpoint_m: float, c: float = C_TWO_SIDED) -> float:
    """Q_min, the two-sided score: one-sided liquidity earns Q/c inside [0.10, 0.90], 0 outside."""
    smaller = min(q_one, q_two)
    if ONE_SIDED_BAND_LOW - _PRICE_EPSILON <= midpoint_m <= ONE_SIDED_BAND_HIGH + _PRICE_EPSILON:
        return max(smaller, max(q_one, q_two) / c)
    return smaller


def maker_q_min(
    orders: Iterable[RestingOrder],
    midpoint_m: float,
    max_spread_cents: float,
    min_size: float,
    multiplier: float = 1.0,
) -> float:
    """Q_min of one maker's orders in one market: q_scores followed by q_min."""
    q_one, q_two = q_scores(orders, midpoint_m, max_spread_cents, min_size, multiplier)
    return q_min(q_one, q_two, midpoint_m)


def competition_q_min(
    orders: Iterable[RestingOrder],
    midpoint_m: float,
    max_spread_cents: float,
    min_size: float,
    c: float = C_TWO_SIDED,
) -> float:
    """The most that anonymous resting liquidity can score in total, however it is split among makers.

    The venue scores every maker on its own, and a maker with liquidity on one side only still earns Q/c inside
    [0.10, 0.90], so many makers together can score more than the same book as one maker (whose Q_min is capped by
    its thinner side). Over every split of the two sides' scores Q1, Q2 among makers, the sum of the makers' Q_min is
    largest when one maker holds the matched part and another the surplus: min(Q1, Q2) + |Q1 − Q2| / c (for c ≥ 2;
    each maker's max(min, max/c) ≤ min + (max − min)/c, and those sum to at most this). Outside [0.10, 0.90] only
    two-sided liquidity scores and the one-maker Q_min, min(Q1, Q2), is the most. Used for the competition in the
    expected-reward estimate: it never understates the competition the venue will score."""
    q_one, q_two = q_scores(orders, midpoint_m, max_spread_cents, min_size)
    smaller = min(q_one, q_two)
    if ONE_SIDED_BAND_LOW - _PRICE_EPSILON <= midpoint_m <= ONE_SIDED_BAND_HIGH + _PRICE_EPSILON:
        return smaller + abs(q_one - q_two) / c
    return smaller


def split_pool(q_by_maker: Mapping[str, float], pool: float) -> dict[str, float]:
    """Each maker's part of `pool`, proportional to its Q; all zero when no one scored.

    Used twice by the published rules: per sample with pool=1.0 (Q_normal), and at the
    end of the day on the summed sample shares with the day's pool (Q_final · pool).
    """
    total = sum(q_by_maker.values())
    if total <= 0.0:
        return {maker: 0.0 for maker in q_by_maker}
    # Divide first: q / total is a fraction in [0, 1], which stays exact enough even when
    # the Qs are tiny, whereas pool * q can underflow into a subnormal.
    return {maker: pool * (q / total) for maker, q in q_by_maker.items()}


def expected_share(our_q: float, others_q: float) -> float:
    """Our fraction of a pool: ours / (ours + others), 0 when neither side scores."""
    total = our_q + others_q
    if total <= 0.0:
        return 0.0
    return our_q / total
