"""Liquidity-reward payouts: every simulated minute, score every maker of every reward market with the
published formula (polymm.domain.rewards, the same code the controller ranks with) and accrue each
maker's share of that minute's slice of the daily pool."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone

from polymm.domain import rewards
from polymm.sim.engine import Engine
from polymm.sim.model import MICRO, PIPS, SimMarket

SAMPLE_EVERY_S = 60.0
MINUTES_PER_DAY = 1440


def utc_date(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).date().isoformat()


def market_q_by_maker(market: SimMarket) -> dict[str, float]:
    """Q_min of every maker (by address) resting in the market, 0 for those whose orders do not score."""
    bids, asks = market.book.token_levels(0)
    midpoint = rewards.adjusted_midpoint(
        [(p / PIPS, s / MICRO) for p, s in bids], [(p / PIPS, s / MICRO) for p, s in asks], market.rewards_min_size
    )
    if midpoint is None:
        return {}
    by_maker: dict[str, list[rewards.RestingOrder]] = defaultdict(list)
    for side_levels in (market.book.bids, market.book.asks):
        for level in side_levels.values():
            for order in level:
                by_maker[order.maker_address].append(
                    rewards.RestingOrder(order.side, order.outcome_index, order.price_pips / PIPS, order.remaining / MICRO)
                )
    return {
        maker: rewards.maker_q_min(orders, midpoint, market.rewards_max_spread, market.rewards_min_size)
        for maker, orders in by_maker.items()
    }


class RewardSampler:
    """Accrues reward earnings on the engine's clock; the engine's RewardsLedger holds the results."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.next_sample = engine.now + SAMPLE_EVERY_S
        engine.on_step(self.step)

    def step(self, now: float) -> None:
        while now >= self.next_sample:
            self.sample(self.next_sample)
            self.next_sample += SAMPLE_EVERY_S

    def sample(self, at: float) -> None:
        ledger = self.engine.rewards
        day = utc_date(at)
        for market in self.engine.markets.values():
            if market.rate_per_day <= 0:
                continue
            q_by_maker = market_q_by_maker(market)
            pool = market.rate_per_day / MINUTES_PER_DAY
            paid = rewards.split_pool(q_by_maker, pool)
            total_q = sum(q_by_maker.values())
            ledger.last_share[market.condition_id] = {
                maker: (q / total_q if total_q else 0.0) for maker, q in q_by_maker.items()
            }
            for maker, amount in paid.items():
                if amount:
                    ledger.earnings[(day, maker, market.condition_id)] += amount

    def order_scoring(self, order_id: str) -> bool:
        """True when the order, as it rests now, earns a non-zero score."""
        order = self.engine.orders.get(order_id)
        if order is None or order.status != "LIVE" or order.market.rate_per_day <= 0:
            return False
        market = order.market
        bids, asks = market.book.token_levels(0)
        midpoint = rewards.adjusted_midpoint(
            [(p / PIPS, s / MICRO) for p, s in bids], [(p / PIPS, s / MICRO) for p, s in asks], market.rewards_min_size
        )
        if midpoint is None:
            return False
        mid = midpoint if order.outcome_index == 0 else 1 - midpoint
        distance = abs(order.price_pips / PIPS - mid) * 100
        return rewards.order_score(market.rewards_max_spread, distance, order.remaining / MICRO, market.rewards_min_size) > 0
