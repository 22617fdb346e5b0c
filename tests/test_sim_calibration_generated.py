"""The generated universe (`venue.sim.universe: generated`, the simulator's market before the real one) against its
own calibration targets (docs/SIMULATION.md): one-cent touches, deep competing size at the touch, reward pools and
min sizes in the captured ranges, and a reward income per dollar of competing capital within the publicly reported
range — measured from the venue's own payout. The real universe is checked in tests/test_sim_calibration.py."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from polymm.domain import rewards
from polymm.sim.model import MICRO, PIPS
from polymm.sim.payouts import market_q_by_maker
from polymm.sim.runner import SimOptions, build_server
from polymm.sim.traders import REWARD_PER_DOLLAR_DAY

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "polymarket"
# publicly reported returns of reward farming (docs/SIMULATION.md): 5–15 %/month since 2025, 2–8 %/day at the 2024 peak
REPORTED_LOW_PER_DAY = 0.05 / 30
REPORTED_HIGH_PER_DAY = 0.15 / 30  # not above the post-2025 range: the 2024 peak (2–8 %/day) is gone


@pytest.fixture(scope="module")
def engine():
    server = build_server(SimOptions(seed=11, speed=0, markets=60, scenario="calm", start_time=1_790_121_600,
                                      universe="generated"))
    server.engine.advance(1800)  # half an hour of trading: books as they settle, not as generated
    return server.engine


def rewarded(engine):
    return [m for m in engine.markets.values() if m.rate_per_day > 0 and m.book.best_bid() and m.book.best_ask()]


def test_most_touches_are_one_cent_wide(engine):
    widths = [(m.book.best_ask() - m.book.best_bid()) / PIPS for m in rewarded(engine)]
    assert statistics.median(widths) == pytest.approx(0.01)
    assert sum(w <= 0.0101 for w in widths) / len(widths) >= 0.5


def test_competing_size_at_the_touch_dwarfs_a_reward_minimum_quote(engine):
    """The 2026 capture holds 182k / 228k shares at the touch; a quote of rewards_min_size is a sliver of it."""
    capture = json.loads((FIXTURES / "ws_market_book_captured_2026.json").read_text())
    best_bid = max(capture["bids"], key=lambda l: float(l["price"]))
    best_ask = min(capture["asks"], key=lambda l: float(l["price"]))
    assert round(float(best_ask["price"]) - float(best_bid["price"]), 4) == 0.01
    assert float(best_bid["size"]) > 100 * 200 and float(best_ask["size"]) > 100 * 200  # vs the largest min size
    ratios = []
    for m in rewarded(engine):
        touch = min(m.book.level_size(True, m.book.best_bid()), m.book.level_size(False, m.book.best_ask())) / MICRO
        ratios.append(touch / max(m.rewards_min_size, m.min_order_size))
    assert statistics.median(ratios) >= 10


def test_reward_pools_and_min_sizes_span_the_captured_configs(engine):
    detail = json.loads((FIXTURES / "clob_rewards_market_detail.json").read_text())["data"][0]
    pools = sorted(m.rate_per_day for m in engine.markets.values() if m.rate_per_day > 0)
    sizes = {m.rewards_min_size for m in engine.markets.values() if m.rate_per_day > 0}
    assert pools[0] <= detail["rewards_config"][0]["rate_per_day"] * 2 and pools[-1] >= 75  # 2/day .. 75/day captured
    assert {detail["rewards_min_size"], 200} <= sizes


def test_the_pool_pays_competing_capital_within_the_reported_range(engine):
    """Reward per dollar of in-band competing capital, from the venue's own scoring, per market and overall."""
    per_dollar = []
    for m in rewarded(engine):
        bids, asks = m.book.token_levels(0)
        mid = rewards.adjusted_midpoint([(p / PIPS, s / MICRO) for p, s in bids], [(p / PIPS, s / MICRO) for p, s in asks],
                                        m.rewards_min_size)
        if mid is None or not 0.1 <= mid <= 0.9:
            continue
        q = market_q_by_maker(m)
        if not sum(q.values()):
            continue
        capital = 0.0
        for side in (m.book.bids, m.book.asks):
            for px, level in side.items():
                distance = abs(px / PIPS - mid) * 100
                if distance < m.rewards_max_spread:
                    price = px / PIPS if side is m.book.bids else 1 - px / PIPS
                    capital += sum(o.remaining for o in level) / MICRO * price
        per_dollar.append(m.rate_per_day / capital)
    assert len(per_dollar) >= 10
    middle = statistics.median(per_dollar)
    print(f"median reward per dollar of in-band capital: {middle:.4%}/day")
    assert REPORTED_LOW_PER_DAY <= middle <= REPORTED_HIGH_PER_DAY
    assert middle == pytest.approx(REWARD_PER_DOLLAR_DAY, rel=0.6)


def test_the_competing_makers_are_two_sided_so_the_public_book_bounds_their_score(engine):
    """The estimate of the competition from the public book (`competition_q_min`: the most any split among makers
    can score) against what the venue scores the makers resting there, market by market. Inside [0.10, 0.90] it
    may overstate (a one-sided maker scores a third; the venue's measured share replaces it once we rest); outside,
    only two-sided liquidity scores, and a book whose makers were one-sided would score a fraction of the estimate
    (seen before the makers held both sides of a level: 3.6×, 11× and 643× in three markets of this universe)."""
    inside, outside = [], []
    for m in rewarded(engine):
        bids, asks = m.book.token_levels(0)
        mid = rewards.adjusted_midpoint([(p / PIPS, s / MICRO) for p, s in bids], [(p / PIPS, s / MICRO) for p, s in asks],
                                        m.rewards_min_size)
        scored = sum(market_q_by_maker(m).values())
        if mid is None or scored <= 0:
            continue
        book = [rewards.RestingOrder(o.side, o.outcome_index, o.price_pips / PIPS, o.remaining / MICRO)
                for side in (m.book.bids, m.book.asks) for level in side.values() for o in level]
        ratio = rewards.competition_q_min(book, mid, m.rewards_max_spread, m.rewards_min_size) / scored
        (inside if 0.1 <= mid <= 0.9 else outside).append(ratio)
    print(f"estimate / venue score: inside {statistics.median(inside):.3f} (n={len(inside)}), "
          f"outside {sorted(round(r, 3) for r in outside)}")
    assert len(inside) >= 10 and len(outside) >= 3
    assert min(inside) >= 1 - 1e-9  # never understates the competition
    assert all(1 - 1e-9 <= r <= 1.3 for r in outside)


def test_the_makers_stay_two_sided_through_a_day_of_trend():
    """As a trend carries the touch across the ladder, the in-band levels are re-quoted by the maker their distance
    from the touch names, so near the extremes — where only two-sided liquidity scores — the venue still scores the
    book about as the public-book estimate does. Before (the levels kept the maker that placed them): 7 of 27
    observations outside [0.10, 0.90] scored nothing at all, and a newcomer's 5-share quote took the whole pool."""
    server = build_server(SimOptions(seed=2, speed=0, markets=20, scenario="trending", start_time=1_790_121_600,
                                      universe="generated"))
    engine, outside = server.engine, []
    for _ in range(6):
        engine.advance(7200)
        for m in rewarded(engine):
            bids, asks = m.book.token_levels(0)
            mid = rewards.adjusted_midpoint([(p / PIPS, s / MICRO) for p, s in bids],
                                            [(p / PIPS, s / MICRO) for p, s in asks], m.rewards_min_size)
            if mid is None or 0.1 <= mid <= 0.9:
                continue
            book = [rewards.RestingOrder(o.side, o.outcome_index, o.price_pips / PIPS, o.remaining / MICRO)
                    for side in (m.book.bids, m.book.asks) for level in side.values() for o in level]
            estimate = rewards.competition_q_min(book, mid, m.rewards_max_spread, m.rewards_min_size)
            if estimate > 0:
                outside.append(sum(market_q_by_maker(m).values()) / estimate)
    print(f"venue score / estimate outside [0.10, 0.90]: {sorted(round(r, 3) for r in outside)}")
    assert len(outside) >= 10
    assert min(outside) >= 0.75
