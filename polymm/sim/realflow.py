"""The participants of markets drawn from the real reward universe: many two-sided makers holding each market's
measured book around a moving fair value, takers trading its measured 24 h volume, and the scenario's news.

Calibration (each figure, its target and its source: docs/SIMULATION.md, "The real universe"):
- the book is the row's (polymm.sim.realdata.plan_book): its touch width, its capital in the reward band (none in
  the markets nobody qualifies in), the depth layered over ten levels a side one tick apart, each level shared by
  up to six makers of the market's own set (a median 32: P. Dubach, "Anatomy of a prediction market", arXiv
  2604.24366), the k-th bid and the k-th ask from the touch held by the same makers (two-sided, as a reward maker
  quotes: ../shared/design/REWARDS.md);
- taker flow from the row's Gamma volume24hr: 2·√volume trades a day (a $3-a-day market trades three or four
  times a day, a $10k-a-day market every seven minutes), their notional summing to the volume. A tenth of them are
  sweeps ten times the size that may walk several levels, and three in ten sweeps are informed (the fair value
  moves their way after): 3 % of trades, so the typical trade carries no markout against makers, as measured
  (Dubach: effective half-spread and adverse selection medians ≈ 0, the tails market-specific events);
- the scenario (polymm.sim.traders.SCENARIOS: calm, trending, jumpy) sets the fair value's diffusion, drift, jumps
  and how fast stale quotes are picked off — not the volume.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from datetime import datetime

from polymm.sim.engine import Engine
from polymm.sim.model import MICRO, PIPS, TAKER_ADDRESS, SimMarket, SimOrder, internal_owner
from polymm.sim.realdata import LEVELS, MAKER_POOL, MAX_ORDERS_PER_LEVEL, BookPlan, real_universe
from polymm.sim.traders import Scenario, arbitrage, logit, next_logit, sigmoid

REAL_MAKERS = tuple(f"0x{'c' * 36}{i:04d}" for i in range(1, MAKER_POOL + 1))
LOGIT_BOUND = 6.2  # the fair value stays within 0.002–0.998: the snapshot has touches at 0.001-tick extremes
SWEEP_SHARE = 0.1  # of taker trades
SWEEP_SIZE = 10.0  # a sweep's notional, in typical trades
INFORMED_SHARE = 0.3  # of sweeps
SWEEP_DEPTH_LEVELS = 5  # how far past the touch a sweep's limit reaches


def trades_per_day(volume_24h_usd: float) -> float:
    """Taker trades a day in a market of this 24 h volume: 2·√volume (none without volume)."""
    return 2 * math.sqrt(volume_24h_usd) if volume_24h_usd > 0 else 0.0


def touch_of(fair_pips: float, width: int, tick: int) -> tuple[int, int]:
    """(best bid, best ask) in YES pips around a fair value: `width` wide on the market's tick, within one tick of 0
    and 1."""
    bid = round((fair_pips - width / 2) / tick) * tick
    bid = max(tick, min(PIPS - tick - width, bid))
    return bid, bid + width


@dataclass
class _Flow:
    plan: BookPlan
    logit: float
    drift: float
    trade_notional: float  # a typical (non-sweep) trade's notional, USDC
    next_refresh: float
    orders: dict[tuple[bool, int, int], SimOrder] = field(default_factory=dict)  # (yes bid?, pips, slot) -> order


class RealUniverse:
    """A MarketSource (polymm.sim.participants): `count` markets drawn from the real reward universe plus the captured
    ones, and their makers, takers and news under `scenario`; the same seed (and snapshot file) gives the same
    markets and flow."""

    def __init__(self, count: int, seed: int, scenario: Scenario, now: datetime, levels: int | None = None,
                 snapshot: str | None = None) -> None:
        """`now`: the simulated start (end dates are drawn from it); `levels`: the book's levels a side (default
        LEVELS); `snapshot`: the file to draw from (default: polymm.sim.realdata.snapshot_path)."""
        self.seed = seed
        self.scenario = scenario
        self.levels = levels
        self._markets, self.plans = real_universe(count, seed, now, levels=levels or LEVELS, snapshot=snapshot)
        self.rng = random.Random(f"real-traders:{seed}:{scenario.name}")
        self.flows: dict[str, _Flow] = {}
        self._accounts = {}

    def markets(self) -> list[SimMarket]:
        return self._markets

    def open(self, engine: Engine) -> None:
        self.engine = engine
        for address in REAL_MAKERS + (TAKER_ADDRESS,):
            acct = engine.account(address, unlimited=True)
            engine.owner_address[internal_owner(address)] = acct.address
            self._accounts[address] = acct
        for market in engine.markets.values():
            plan = self.plans[market.condition_id]
            per_day = trades_per_day(plan.volume_24h_usd)
            notional = plan.volume_24h_usd / per_day / (1 - SWEEP_SHARE + SWEEP_SHARE * SWEEP_SIZE) if per_day else 0.0
            flow = self.flows[market.condition_id] = _Flow(
                plan=plan, logit=logit(market.fair_value),
                drift=self.rng.choice((-1, 1)) * self.scenario.drift_per_hour,
                trade_notional=notional, next_refresh=engine.now)
            self._refresh(market, flow)
        engine.flush_book_events()

    def past_midpoints(self, minutes: int) -> dict[str, list[int]]:
        """A made-up past for GET /prices-history (polymm.sim.history): per market, bid + ask in YES pips for each of
        the `minutes` minutes before now, oldest first — the scenario's diffusion and drift run backwards from the
        fair value on the market's touch (no point for a one-sided book). Its own seeded generator."""
        rng = random.Random(f"real-past:{self.seed}:{self.scenario.name}")
        dt = 1 / 60
        diffusion = self.scenario.volatility_per_hour * math.sqrt(dt)
        out: dict[str, list[int]] = {}
        for cid, flow in self.flows.items():
            market = self.engine.markets[cid]
            logit, path = flow.logit, []
            for _ in range(minutes):
                logit -= flow.drift * dt + diffusion * rng.gauss(0, 1)
                logit = max(-LOGIT_BOUND, min(LOGIT_BOUND, logit))
                bid, ask = touch_of(sigmoid(logit) * PIPS, flow.plan.width_pips, market.tick_pips)
                path.append(bid + ask if len(flow.plan.sides) == 2 else -1)
            out[cid] = path[::-1]
        return out

    def step(self, now: float) -> None:
        dt_hours = self.engine.settings.step_s / 3600
        sc, rng = self.scenario, self.rng
        p_jump = sc.jumps_per_hour * dt_hours
        diffusion = sc.volatility_per_hour * math.sqrt(dt_hours)
        for market in self.engine.markets.values():
            if not market.accepting_orders:
                continue
            flow = self.flows[market.condition_id]
            flow.logit = next_logit(flow.logit, flow.drift * dt_hours, diffusion, p_jump, sc.jump_sd, LOGIT_BOUND, rng)
            market.fair_value = sigmoid(flow.logit)
            self._arbitrage(market)
            if flow.trade_notional and rng.random() < trades_per_day(flow.plan.volume_24h_usd) * dt_hours / 24:
                if rng.random() < SWEEP_SHARE:
                    self._sweep(market, flow)
                else:
                    self._taker(market, flow)
            if now >= flow.next_refresh:
                self._refresh(market, flow)

    # ------------------------------------------------------------------ makers
    def _target(self, market: SimMarket, flow: _Flow) -> dict[tuple[bool, int, int], tuple[int, str]]:
        """(yes bid?, yes pips, slot) -> (shares, maker) of the market's book around the current fair value: each
        level's size split among up to MAX_ORDERS_PER_LEVEL makers, each holding at least the minimum size where the
        level does; slot s of the k-th level belongs to the same maker on both sides."""
        plan, tick = flow.plan, market.tick_pips
        bid, ask = touch_of(market.fair_value * PIPS, plan.width_pips, tick)
        minimum = max(market.rewards_min_size, 1)
        band = market.rewards_max_spread * 100  # pips from the midpoint
        out: dict[tuple[bool, int, int], tuple[int, str]] = {}
        for is_bid in plan.sides:
            ladder = plan.bid_shares if is_bid else plan.ask_shares
            for k, shares in enumerate(ladder[:self.levels or len(ladder)]):
                px = bid - k * tick if is_bid else ask + k * tick
                if not tick <= px <= PIPS - tick:
                    break
                # a level that qualifies is shared only so far as each order keeps the minimum size (the venue scores
                # orders, not levels); one that cannot qualify is shared by as many makers as a level holds
                qualifies = shares >= minimum and abs(px - (bid + ask) / 2) <= band
                parts = min(MAX_ORDERS_PER_LEVEL, int(shares // minimum) if qualifies else shares)
                parts = max(1, parts)
                for i in range(parts):
                    maker = REAL_MAKERS[plan.makers[(k * MAX_ORDERS_PER_LEVEL + i) % len(plan.makers)]]
                    out[(is_bid, px, i)] = (max(market.min_order_size, round(shares / parts)), maker)
        return out

    def _refresh(self, market: SimMarket, flow: _Flow) -> None:
        """Move the book to the current fair value: cancel what is no longer wanted, top up thinned orders, re-quote
        a slot whose maker changed as the touch moved (cancel first, so makers never trade with each other)."""
        target = self._target(market, flow)
        for key, order in list(flow.orders.items()):
            if order.status != "LIVE" or key not in target:
                if order.status == "LIVE":
                    self.engine.cancel_order(order)
                del flow.orders[key]
        for key, (shares, maker) in target.items():
            order = flow.orders.get(key)
            address = self._accounts[maker].address
            if order is not None and order.remaining >= shares * MICRO // 2 and order.maker_address == address:
                continue
            if order is not None:
                self.engine.cancel_order(order)
            is_bid, px, _ = key
            order = self._order(market, is_bid, px, round(shares * self.rng.uniform(0.8, 1.25)), "GTC", maker)
            self.engine.execute(order)
            flow.orders[key] = order
        flow.next_refresh = self.engine.now + self.rng.uniform(5, 30)

    # ------------------------------------------------------------------ takers
    def _taker(self, market: SimMarket, flow: _Flow) -> None:
        """An uninformed trade at the touch: direction a coin flip tilted by the trend, notional about the typical
        trade's (lognormal, σ 1, mean-preserving)."""
        buy_yes = self.rng.random() < 0.5 + 0.15 * math.tanh(flow.drift * 4)
        best = market.book.best_ask() if buy_yes else market.book.best_bid()
        if best is None:
            return
        notional = flow.trade_notional * self.rng.lognormvariate(-0.5, 1.0)
        price = best / PIPS if buy_yes else 1 - best / PIPS
        shares = max(1, round(notional / max(price, 0.01)))
        self.engine.execute(self._order(market, buy_yes, best, shares, "FAK", TAKER_ADDRESS))

    def _sweep(self, market: SimMarket, flow: _Flow) -> None:
        """A large trade, SWEEP_SIZE typical trades, its limit SWEEP_DEPTH_LEVELS ticks past the touch. An informed
        one moves the fair value its way by 0.5–1× the ticks it walked plus one (the news it traded on becomes
        public); an uninformed one leaves it, and the book refills."""
        informed = self.rng.random() < INFORMED_SHARE
        buy_yes = self.rng.random() < 0.5
        best = market.book.best_ask() if buy_yes else market.book.best_bid()
        if best is None:
            return
        tick = market.tick_pips
        notional = SWEEP_SIZE * flow.trade_notional * self.rng.lognormvariate(-0.18, 0.6)
        price = best / PIPS if buy_yes else 1 - best / PIPS
        shares = max(1, round(notional / max(price, 0.01)))
        limit = best + SWEEP_DEPTH_LEVELS * tick if buy_yes else best - SWEEP_DEPTH_LEVELS * tick
        limit = max(tick, min(PIPS - tick, limit))
        self.engine.execute(self._order(market, buy_yes, limit, shares, "FAK", TAKER_ADDRESS))
        if informed:
            walked = abs(market.last_trade_pips - best) + tick
            move = walked / PIPS * self.rng.uniform(0.5, 1.0)
            p = min(0.998, max(0.002, market.fair_value + (move if buy_yes else -move)))
            flow.logit = logit(p)
            market.fair_value = p

    def _arbitrage(self, market: SimMarket) -> None:
        """Take quotes the fair value has moved through by a tick or more (stale quotes are picked off)."""
        arbitrage(market, self.rng, self.scenario.arb_probability,
                  lambda buy_yes, limit: self.engine.execute(self._order(market, buy_yes, limit, 1_000_000, "FAK",
                                                                         TAKER_ADDRESS)))

    def _order(self, market: SimMarket, yes_bid: bool, yes_px: int, shares: int, order_type: str,
               address: str) -> SimOrder:
        """An internal order on a random token of the market (complement orders exercise mint and merge)."""
        on_no = self.rng.random() < 0.3
        side = "BUY" if yes_bid != on_no else "SELL"
        acct = self._accounts[address]
        return SimOrder(
            id="0x" + self.rng.getrandbits(256).to_bytes(32, "big").hex(),
            owner=internal_owner(acct.address), maker_address=acct.address, market=market,
            token_id=market.token_ids[1 if on_no else 0], side=side, price_pips=PIPS - yes_px if on_no else yes_px,
            original_size=int(shares * MICRO), order_type=order_type, expiration=0,
            created_at=self.engine.now, internal=True,
        )
