"""Seeded simulated traders: a fair-value process per market, background makers keeping a multi-level book,
Poisson takers that sweep levels, and arbitrageurs that pick off stale quotes after the fair value moves.

The arbitrageurs are what make the simulator honest: a quote left behind when the price jumps
gets filled at a loss, exactly as on the real venue.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from polymm.sim.engine import Engine
from polymm.sim.model import MICRO, PIPS, SimMarket, SimOrder


@dataclass(frozen=True)
class Scenario:
    name: str
    volatility_per_hour: float  # std-dev of the fair value's logit per sqrt(hour)
    drift_per_hour: float  # logit drift magnitude (its sign is drawn per market)
    jumps_per_hour: float
    jump_sd: float  # logit std-dev of a jump
    takers_per_hour: float  # per market
    arb_probability: float  # per step, when a quote is stale by two ticks or more


SCENARIOS = {
    "calm": Scenario("calm", 0.04, 0.0, 0.0, 0.0, 20.0, 0.2),
    "trending": Scenario("trending", 0.06, 0.25, 0.0, 0.0, 30.0, 0.3),
    "jumpy": Scenario("jumpy", 0.08, 0.0, 0.6, 0.5, 30.0, 0.6),
}

BACKGROUND_MAKERS = tuple(f"0x{'b' * 36}{i:04d}" for i in range(1, 5))
TAKER_ADDRESS = "0x" + "7" * 36 + "0001"


@dataclass
class _MarketFlow:
    logit: float
    drift: float
    depth: float  # typical shares per level
    levels: int
    gap_ticks: int  # distance between ladder levels
    half_spread_ticks: int
    next_refresh: float
    orders: list[SimOrder]


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


class SimulatedTraders:
    """Drives every market's background flow on each engine clock step."""

    def __init__(self, engine: Engine, scenario: Scenario, seed: int, levels: int | None = None) -> None:
        """`levels`: book depth (price levels a side) of every market's background ladder; None draws 4–12
        per market. The draw happens either way, so the rest of the seeded sequence does not change."""
        self.engine = engine
        self.scenario = scenario
        self.rng = random.Random(f"traders:{seed}:{scenario.name}")
        self._order_seq = 0
        for address in BACKGROUND_MAKERS + (TAKER_ADDRESS,):
            engine.account(address, unlimited=True)
            engine.owner_address[_owner(address)] = engine.account(address).address
        self.flows: dict[str, _MarketFlow] = {}
        for market in engine.markets.values():
            self.flows[market.condition_id] = _MarketFlow(
                logit=_logit(market.fair_value),
                drift=self.rng.choice((-1, 1)) * scenario.drift_per_hour,
                depth=math.exp(self.rng.gauss(math.log(max(40.0, market.rewards_min_size * 2.5)), 0.6)),
                levels=_fixed_or(levels, self.rng.randint(4, 12)),  # drawn either way: same seeded sequence
                gap_ticks=self.rng.choice((1, 1, 1, 2, 3)),
                half_spread_ticks=self.rng.choice((1, 1, 2, 3)),
                next_refresh=engine.now,
                orders=[],
            )
            self._refresh(market, self.flows[market.condition_id])
        engine.flush_book_events()
        engine.on_step(self.step)

    def step(self, now: float) -> None:
        dt_hours = self.engine.settings.step_s / 3600
        sc = self.scenario
        rng = self.rng
        for market in self.engine.markets.values():
            flow = self.flows[market.condition_id]
            flow.logit += flow.drift * dt_hours + sc.volatility_per_hour * math.sqrt(dt_hours) * rng.gauss(0, 1)
            if sc.jumps_per_hour and rng.random() < sc.jumps_per_hour * dt_hours:
                flow.logit += rng.gauss(0, sc.jump_sd)
            flow.logit = max(-4.0, min(4.0, flow.logit))
            market.fair_value = _sigmoid(flow.logit)
            self._arbitrage(market)
            if rng.random() < sc.takers_per_hour * dt_hours:
                self._random_taker(market)
            if now >= flow.next_refresh:
                self._refresh(market, flow)

    # ------------------------------------------------------------------ makers
    def _refresh(self, market: SimMarket, flow: _MarketFlow) -> None:
        """Replace the background ladder around the current fair value (cancel first, so makers never self-trade)."""
        for order in flow.orders:
            if order.status == "LIVE":
                self.engine._cancel(order)
        flow.orders = []
        tick = market.tick_pips
        center = round(market.fair_value * PIPS / tick) * tick
        for is_bid in (True, False):
            for k in range(flow.levels):
                offset = (flow.half_spread_ticks + k * flow.gap_ticks) * tick
                yes_px = center - offset if is_bid else center + offset
                if not tick <= yes_px <= PIPS - tick:
                    break
                shares = max(market.min_order_size, round(self.rng.lognormvariate(math.log(flow.depth), 0.7) * (1 + 0.25 * k)))
                order = self._order(market, is_bid, yes_px, shares, "GTC", self.rng.choice(BACKGROUND_MAKERS))
                self.engine.execute(order)
                flow.orders.append(order)
        flow.next_refresh = self.engine.now + self.rng.uniform(5, 30)

    # ------------------------------------------------------------------ takers
    def _random_taker(self, market: SimMarket) -> None:
        book = market.book
        buy_yes = self.rng.random() < 0.5 + 0.15 * math.tanh(self.flows[market.condition_id].drift * 4)
        best = book.best_ask() if buy_yes else book.best_bid()
        if best is None:
            return
        sweep = self.rng.choice((0, 0, 1, 2, 4)) * market.tick_pips
        limit = min(PIPS - market.tick_pips, best + sweep) if buy_yes else max(market.tick_pips, best - sweep)
        shares = max(1, round(self.rng.lognormvariate(math.log(30), 1.0)))
        self.engine.execute(self._order(market, buy_yes, limit, shares, "FAK", TAKER_ADDRESS))

    def _arbitrage(self, market: SimMarket) -> None:
        """Take quotes that the fair value has moved through by two ticks or more."""
        book, tick = market.book, market.tick_pips
        fair = market.fair_value * PIPS
        ask, bid = book.best_ask(), book.best_bid()
        if ask is not None and ask <= fair - 2 * tick and self.rng.random() < self.scenario.arb_probability:
            limit = int((fair - tick) // tick * tick)
            self.engine.execute(self._order(market, True, limit, 5000, "FAK", TAKER_ADDRESS))
        if bid is not None and bid >= fair + 2 * tick and self.rng.random() < self.scenario.arb_probability:
            limit = int(-(-(fair + tick) // tick) * tick)
            self.engine.execute(self._order(market, False, limit, 5000, "FAK", TAKER_ADDRESS))

    def _order(self, market: SimMarket, yes_bid: bool, yes_px: int, shares: int, order_type: str, address: str) -> SimOrder:
        """An internal order expressed on a random token of the market (complement orders exercise mint/merge)."""
        self._order_seq += 1
        on_no = self.rng.random() < 0.3
        token_index = 1 if on_no else 0
        side = "BUY" if yes_bid != on_no else "SELL"
        price = PIPS - yes_px if on_no else yes_px
        acct = self.engine.accounts[address] if address in self.engine.accounts else self.engine.account(address)
        return SimOrder(
            id="0x" + self.rng.getrandbits(256).to_bytes(32, "big").hex(),
            owner=_owner(acct.address), maker_address=acct.address, market=market,
            token_id=market.token_ids[token_index], side=side, price_pips=price,
            original_size=int(shares * MICRO), order_type=order_type, expiration=0,
            created_at=self.engine.now, internal=True,
        )


def _fixed_or(fixed: int | None, drawn: int) -> int:
    return drawn if fixed is None else fixed


def _owner(address: str) -> str:
    """A stable pseudo API key for an internal trader, so trades name an owner as real ones do."""
    h = address.lower()[-12:]
    return f"51a0{h[:4]}-0000-4000-8000-{h}"
