"""Liquidity-reward and maker-rebate payouts of the simulated venue: sample, accrue, pay once a day.

Rewards (docs.polymarket.com/market-makers/liquidity-rewards): the book is sampled once per minute at
a random instant within that minute (seeded here); every maker of every reward market is scored with
the published formula (polymm.domain.rewards, the same code the controller ranks with) and accrues its
share of that minute's slice of the daily pool. Accruals are paid once a day at midnight UTC (of the
simulated clock) for the day that ended; an account whose day totals less than $1 is paid nothing.

Maker rebates (docs.polymarket.com/market-makers/maker-rebates): at the same payout, a market's rebate
pool for the day is its rebate share of the taker fees of that day's trades (FAILED trades excluded),
split among its makers pro rata to the fee-equivalent of their maker fills; again nothing under $1.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timezone

from polymm.domain import rewards
from polymm.sim.engine import Engine
from polymm.sim.model import MICRO, PIPS, SimMarket

SAMPLE_EVERY_S = 60.0
MINUTES_PER_DAY = 1440
MIN_PAYOUT_USDC = 1.0


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
    """Accrues reward earnings on the engine's clock and pays them (and maker rebates) once a day.

    `random_instant`: sample at a seeded random second within each minute (the venue's way); off, at the
    end of each minute. `daily_payout`: credit collateral at midnight UTC; off, accrue only."""

    def __init__(self, engine: Engine, random_instant: bool = True, daily_payout: bool = True, seed: int = 0) -> None:
        self.engine = engine
        self.random_instant = random_instant
        self.daily_payout = daily_payout
        self.rng = random.Random(f"rewards:{seed}")
        self.minute_start = engine.now
        self.next_sample = self._instant_in(self.minute_start)
        self.day = utc_date(engine.now)
        engine.on_step(self.step, during_restart=True)  # the book is frozen, not gone: sampling goes on

    def _instant_in(self, minute_start: float) -> float:
        if not self.random_instant:
            return minute_start + SAMPLE_EVERY_S
        # whole seconds (the clock's step), anywhere in (start, start + 60]
        return minute_start + self.rng.randint(1, int(SAMPLE_EVERY_S))

    def step(self, now: float) -> None:
        while now >= self.next_sample:
            self.sample(self.next_sample)
            self.minute_start += SAMPLE_EVERY_S
            self.next_sample = self._instant_in(self.minute_start)
        today = utc_date(now)
        if today != self.day:
            ended, self.day = self.day, today
            if self.daily_payout:
                self.pay(ended)

    def sample(self, at: float) -> None:
        ledger = self.engine.rewards
        day = utc_date(at)
        for market in self.engine.markets.values():
            if market.rate_per_day <= 0 or market.closed:
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

    # ------------------------------------------------------------------ the daily payout
    def pay(self, day: str) -> None:
        """Credit the day's rewards and maker rebates to every account whose total for the day is ≥ $1."""
        engine, ledger = self.engine, self.engine.rewards
        rebates = self._rebates(day)
        ledger.rebates.update(rebates)
        for kind, accrued, paid in (("rewards", {k: v for k, v in ledger.earnings.items() if k[0] == day}, ledger.paid),
                                    ("rebates", rebates, ledger.rebates_paid)):
            totals: dict[str, float] = defaultdict(float)
            for (_, maker, _), amount in accrued.items():
                totals[maker] += amount
            for key, amount in accrued.items():
                acct = engine.accounts.get(key[1])
                if acct is None or acct.unlimited or totals[key[1]] < MIN_PAYOUT_USDC:
                    continue
                micro = int(round(amount * MICRO))
                acct.collateral += micro
                paid[key] = micro / MICRO
        ledger.paid_days.append(day)

    def _rebates(self, day: str) -> dict[tuple[str, str, str], float]:
        fees_by_market: dict[str, int] = defaultdict(int)
        weights: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for trade in self.engine.trades:
            if trade.status == "FAILED" or utc_date(trade.match_time) != day:
                continue
            cid = trade.taker_order.market.condition_id
            fees_by_market[cid] += trade.taker_fee
            for fill in trade.maker_fills:
                weights[cid][fill.order.maker_address] += fill.maker_fee_equivalent
        out: dict[tuple[str, str, str], float] = {}
        for cid, fee_total in fees_by_market.items():
            market = self.engine.markets[cid]
            pool = fee_total * market.rebate_share / MICRO
            total_weight = sum(weights[cid].values())
            if pool <= 0 or total_weight <= 0:
                continue
            for maker, weight in weights[cid].items():
                if weight:
                    out[(day, maker, cid)] = round(pool * weight / total_weight, 6)
        return out

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
