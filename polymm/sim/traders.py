"""Seeded simulated traders: a fair-value process per market, competing makers that keep a deep book with a
one-cent spread, uninformed and informed takers, and arbitrageurs that pick off stale quotes.

Calibration (each figure, its target and its source: docs/SIMULATION.md):
- competing makers rest enough size inside the reward band that the reward pool pays them about
  `REWARD_PER_DOLLAR_DAY` per dollar of capital at work — the publicly reported return of reward
  farming (5–15 % a month since 2025) — so a newcomer's share is as thin as on the real venue, and
  the touch is 1 cent wide and holds most of that size, as in the 2026 book capture
  (../shared/fixtures/polymarket/ws_market_book_captured_2026.json: 0.07 / 0.08, 182k / 228k shares);
- uninformed takers trade small sizes at the touch; a few large takers sweep several levels, and a
  share of them is informed (the fair value moves their way right after), which is what makes
  fills at the band edge run against the maker;
- news jumps move the fair value at once; quotes left behind are taken by the arbitrageurs.

The makers keep their orders between refreshes and only change the levels that moved, so a
simulated day of a few hundred markets runs in seconds.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Callable

from polymm.sim.engine import Engine
from polymm.sim.model import MICRO, PIPS, TAKER_ADDRESS, SimMarket, SimOrder, internal_owner

REWARD_PER_DOLLAR_DAY = 0.0033  # 10 %/month: the middle of the reported 5–15 %/month (docs/SIMULATION.md)
TOUCH_SHARE = 0.6  # of the competing in-band capital, the part resting at the touch (the capture: most of it)
# the touch is one cent wide in most markets (the capture; one tick on a 0.01-tick market), wider in some
SPREAD_CENTS = (1, 1, 1, 1, 1, 1, 1, 2, 2, 3)
BEYOND_BAND_LEVELS = 3  # levels kept below the band, so a sweep meets depth (the capture shows a deep ladder)


@dataclass(frozen=True)
class Scenario:
    name: str
    volatility_per_hour: float  # std-dev of the fair value's logit per sqrt(hour)
    drift_per_hour: float  # logit drift magnitude (its sign is drawn per market)
    jumps_per_hour: float  # news jumps per market
    jump_sd: float  # logit std-dev of a jump
    takers_per_hour: float  # uninformed touch-size takers per market
    sweeps_per_hour: float  # large takers per market that sweep several levels
    informed_share: float  # of the sweeps, the share that knows where the price goes next
    arb_probability: float  # per step, when a quote is stale by a tick or more


SCENARIOS = {
    "calm": Scenario("calm", 0.04, 0.0, 0.0, 0.0, 40.0, 0.5, 0.5, 0.3),
    "trending": Scenario("trending", 0.06, 0.25, 0.0, 0.0, 50.0, 0.8, 0.5, 0.4),
    "jumpy": Scenario("jumpy", 0.08, 0.0, 0.25, 0.4, 50.0, 1.0, 0.6, 0.6),
}

BACKGROUND_MAKERS = tuple(f"0x{'b' * 36}{i:04d}" for i in range(1, 5))


def _outwards(ladder: dict[tuple[bool, int], int]) -> dict[tuple[bool, int], int]:
    """Each ladder level's place counted from the touch on its side (0: the touch)."""
    out: dict[tuple[bool, int], int] = {}
    for is_bid in (True, False):
        for k, px in enumerate(sorted((px for b, px in ladder if b == is_bid), reverse=is_bid)):
            out[(is_bid, px)] = k
    return out


def _makers_of(ladder: dict[tuple[bool, int], int]) -> dict[tuple[bool, int], str]:
    """The background maker that holds each ladder level: the k-th bid and the k-th ask from the touch belong to
    the same maker, so each maker is two-sided. A maker farming rewards quotes both sides — the formula scores
    one-sided liquidity at a third inside [0.10, 0.90] and not at all outside it (../shared/design/REWARDS.md;
    docs.polymarket.com/trading/market-making.md: "quoting both sides of a market") — and a maker that is not
    two-sided would give a newcomer a share of the extreme-price pool that no estimate from the public book
    can see."""
    return {key: BACKGROUND_MAKERS[k % len(BACKGROUND_MAKERS)] for key, k in _outwards(ladder).items()}


def _in_band(ladder: dict[tuple[bool, int], int], band: int) -> set[tuple[bool, int]]:
    """The ladder's levels within `band` levels of the touch on each side: the ones the reward formula scores."""
    return {key for key, k in _outwards(ladder).items() if k < band}


CENT = 100  # pips
LOGIT_BOUND = 4.0  # the fair value's logit stays within ±4 (a price of 0.018–0.982)


def _band_levels(market: SimMarket) -> int:
    """Whole cents inside the market's reward band, each side: the ladder's levels the formula scores."""
    return max(1, int(market.rewards_max_spread or 3))


def _touch(fair_pips: float, width: int, tick: int) -> tuple[int, int]:
    """The (best bid, best ask) in YES pips the makers quote around a fair value: `width` wide on whole cents, the
    fair value inside it, kept within one tick of 0 and 1."""
    bid = int((fair_pips - width / 2 + CENT / 2) // CENT * CENT)
    ask = bid + width
    if bid < tick:
        bid, ask = tick, tick + width
    if ask > PIPS - tick:
        ask, bid = PIPS - tick, PIPS - tick - width
    return bid, ask


@dataclass
class _MarketFlow:
    logit: float
    drift: float
    band_capital: float  # competing collateral resting inside the reward band, both sides together
    spread_cents: int
    next_refresh: float
    orders: dict[tuple[bool, int], SimOrder] = field(default_factory=dict)  # (yes bid?, yes pips) -> order


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def next_logit(x: float, drift: float, diffusion: float, p_jump: float, jump_sd: float, bound: float,
               rng: random.Random) -> float:
    """One step of a fair value's logit, the process every source shares: drift, a Gaussian step of `diffusion`,
    with probability `p_jump` a jump of `jump_sd`, kept within ±`bound` (each source names its own bound)."""
    x += drift + diffusion * rng.gauss(0, 1)
    if p_jump and rng.random() < p_jump:
        x += rng.gauss(0, jump_sd)
    return max(-bound, min(bound, x))


def arbitrage(market: SimMarket, rng: random.Random, probability: float, take: Callable[[bool, int], None]) -> None:
    """The arbitrageur every source shares: with `probability`, take the best ask when the fair value is a tick or
    more above it (`take(True, limit)`) and the best bid when it is a tick or more below (`take(False, limit)`),
    limits on the market's tick toward the fair value — stale quotes are picked off. Both sides are read before
    either is taken, and a draw is made only for a stale side, so a source's random stream follows the book."""
    tick = market.tick_pips
    fair = market.fair_value * PIPS
    ask, bid = market.book.best_ask(), market.book.best_bid()
    if ask is not None and ask <= fair - tick and rng.random() < probability:
        take(True, int((fair - tick) // tick * tick))
    if bid is not None and bid >= fair + tick and rng.random() < probability:
        take(False, int(-(-(fair + tick) // tick) * tick))


def band_capital(market: SimMarket, rng: random.Random) -> float:
    """Competing capital in the band: what makes the pool pay ~REWARD_PER_DOLLAR_DAY (noise ×/÷ 1.6);
    a market without rewards still has a book (its volume's worth)."""
    if market.rate_per_day > 0:
        base = market.rate_per_day / REWARD_PER_DOLLAR_DAY
    else:
        base = max(500.0, market.volume_24hr / 4)
    return base * math.exp(rng.gauss(0, 0.45))


class SimulatedTraders:
    """Drives every market's background flow on each engine clock step (`step`, which the composition registers:
    polymm.sim.universe.GeneratedUniverse)."""

    def __init__(self, engine: Engine, scenario: Scenario, seed: int, levels: int | None = None) -> None:
        """`levels`: book depth (price levels a side) of every market's background ladder; None: the reward
        band's whole cents plus BEYOND_BAND_LEVELS."""
        self.engine = engine
        self.levels = levels
        self.scenario = scenario
        self.rng = random.Random(f"traders:{seed}:{scenario.name}")
        self._order_seq = 0
        self._accounts = {}
        for address in BACKGROUND_MAKERS + (TAKER_ADDRESS,):
            acct = engine.account(address, unlimited=True)
            engine.owner_address[internal_owner(address)] = acct.address
            self._accounts[address] = acct
        self.flows: dict[str, _MarketFlow] = {}
        for market in engine.markets.values():
            flow = self.flows[market.condition_id] = _MarketFlow(
                logit=logit(market.fair_value),
                drift=self.rng.choice((-1, 1)) * scenario.drift_per_hour,
                band_capital=band_capital(market, self.rng),
                spread_cents=self.rng.choice(SPREAD_CENTS),
                next_refresh=engine.now,
            )
            self._refresh(market, flow)
        engine.flush_book_events()

    def past_midpoints(self, minutes: int, seed: int) -> dict[str, list[int]]:
        """A made-up past for GET /prices-history of a venue that has just started: per market, the YES midpoint
        (as bid + ask, in pips) of each of the `minutes` minutes before now, oldest first — the scenario's own
        process (diffusion and this market's drift) run backwards from the fair value, on the market's touch
        width. Jumps are left out (the jump rules watch for those live). Its own seeded generator, so the market
        that follows is the same with or without it."""
        rng = random.Random(f"past:{seed}:{self.scenario.name}")
        dt = 1 / 60
        diffusion = self.scenario.volatility_per_hour * math.sqrt(dt)
        out: dict[str, list[int]] = {}
        for cid, flow in self.flows.items():
            market = self.engine.markets[cid]
            x, path = flow.logit, []  # the fair value's logit, stepped back a minute at a time
            for _ in range(minutes):
                x -= flow.drift * dt + diffusion * rng.gauss(0, 1)
                x = max(-LOGIT_BOUND, min(LOGIT_BOUND, x))  # as the live process (step)
                bid, ask = _touch(sigmoid(x) * PIPS, flow.spread_cents * CENT, market.tick_pips)
                path.append(bid + ask)
            out[cid] = path[::-1]
        return out

    def step(self, now: float) -> None:
        dt_hours = self.engine.settings.step_s / 3600
        sc = self.scenario
        rng = self.rng
        p_taker, p_sweep, p_jump = sc.takers_per_hour * dt_hours, sc.sweeps_per_hour * dt_hours, sc.jumps_per_hour * dt_hours
        diffusion = sc.volatility_per_hour * math.sqrt(dt_hours)
        for market in self.engine.markets.values():
            if not market.accepting_orders:
                continue
            flow = self.flows[market.condition_id]
            flow.logit = next_logit(flow.logit, flow.drift * dt_hours, diffusion, p_jump, sc.jump_sd, LOGIT_BOUND, rng)
            market.fair_value = sigmoid(flow.logit)
            self._arbitrage(market)
            if rng.random() < p_taker:
                self._random_taker(market)
            if rng.random() < p_sweep:
                self._sweep(market, flow)
            if now >= flow.next_refresh:
                self._refresh(market, flow)

    # ------------------------------------------------------------------ makers
    def _ladder(self, market: SimMarket, flow: _MarketFlow) -> dict[tuple[bool, int], int]:
        """Target shares per (yes bid?, yes pips): a one-cent touch around the fair value holding
        TOUCH_SHARE of the band capital, the rest spread over the band's other levels, and a few levels
        beyond the band."""
        tick = market.tick_pips
        bid, ask = _touch(market.fair_value * PIPS, flow.spread_cents * CENT, tick)
        band = _band_levels(market)
        levels = self.levels or band + BEYOND_BAND_LEVELS
        per_side = flow.band_capital / 2
        out: dict[tuple[bool, int], int] = {}
        for is_bid in (True, False):
            for k in range(levels):
                px = bid - k * CENT if is_bid else ask + k * CENT
                if not tick <= px <= PIPS - tick:
                    break
                share = TOUCH_SHARE if k == 0 else (1 - TOUCH_SHARE) / max(1, band - 1) if k < band else 0.15
                price = px / PIPS if is_bid else 1 - px / PIPS  # collateral per share on that side
                shares = per_side * share / max(price, 0.02)
                out[(is_bid, px)] = max(market.min_order_size, round(shares))
        return out

    def _refresh(self, market: SimMarket, flow: _MarketFlow) -> None:
        """Move the ladder to the current fair value: cancel levels no longer wanted, top up thinned ones
        (cancel first, so makers never trade with each other)."""
        target = self._ladder(market, flow)
        makers = _makers_of(target)
        # a level inside the band is held by the maker its distance from the touch names now: as the touch moves, a
        # level that was k-th from it is re-quoted by the maker that holds the other side's k-th level, as a
        # two-sided farmer re-quotes both sides around the midpoint. Left with the maker that placed it, a day's
        # trend dealt the in-band bids and asks to different makers, and at the extremes (only two-sided liquidity
        # scores outside [0.10, 0.90]) nobody scored: a newcomer took the whole pool (trending seed 2, 24 h: $2.88
        # of rewards on a $5 quote)
        scoring = _in_band(target, _band_levels(market))
        for key, order in list(flow.orders.items()):
            if order.status != "LIVE" or key not in target:
                if order.status == "LIVE":
                    self.engine.cancel_order(order)
                del flow.orders[key]
        for key, shares in target.items():
            order = flow.orders.get(key)
            if (order is not None and order.remaining >= shares * MICRO // 2
                    and (key not in scoring or order.maker_address == self._accounts[makers[key]].address)):
                continue
            if order is not None:
                self.engine.cancel_order(order)
            is_bid, px = key
            flow.orders[key] = self._place(market, is_bid, px, round(shares * self.rng.uniform(0.8, 1.25)), "GTC",
                                           makers[key])
        flow.next_refresh = self.engine.now + self.rng.uniform(5, 30)

    def _place(self, market: SimMarket, yes_bid: bool, yes_px: int, shares: int, order_type: str, address: str) -> SimOrder:
        order = self._order(market, yes_bid, yes_px, shares, order_type, address)
        self.engine.execute(order)
        return order

    # ------------------------------------------------------------------ takers
    def _random_taker(self, market: SimMarket) -> None:
        """An uninformed trader: a touch-size market order, direction a coin flip (tilted by the trend)."""
        book = market.book
        buy_yes = self.rng.random() < 0.5 + 0.15 * math.tanh(self.flows[market.condition_id].drift * 4)
        best = book.best_ask() if buy_yes else book.best_bid()
        if best is None:
            return
        shares = max(1, round(self.rng.lognormvariate(math.log(60), 1.0)))
        self.engine.execute(self._order(market, buy_yes, best, shares, "FAK", TAKER_ADDRESS))

    def _sweep(self, market: SimMarket, flow: _MarketFlow) -> None:
        """A large taker that walks the book several cents deep. An informed one moves the fair value its
        way (the news it traded on becomes public); an uninformed one leaves it, and the book refills."""
        informed = self.rng.random() < self.scenario.informed_share
        buy_yes = self.rng.random() < 0.5
        best = market.book.best_ask() if buy_yes else market.book.best_bid()
        if best is None:
            return
        # its size: a multiple of the touch's depth, so it usually eats the touch and often a level or two more
        touch = market.book.level_size(not buy_yes, best) / MICRO
        shares = max(10, round(touch * self.rng.lognormvariate(math.log(1.2), 0.6)))
        limit = best + 5 * 100 if buy_yes else best - 5 * 100
        limit = max(market.tick_pips, min(PIPS - market.tick_pips, limit))
        order = self._order(market, buy_yes, limit, shares, "FAK", TAKER_ADDRESS)
        self.engine.execute(order)
        reached = max(0, abs(market.last_trade_pips - best)) / 100  # cents walked past the touch
        depth_cents = reached + 1
        if informed:
            move = depth_cents * 0.01 * self.rng.uniform(0.5, 1.0)
            p = min(0.98, max(0.02, market.fair_value + (move if buy_yes else -move)))
            flow.logit = logit(p)
            market.fair_value = p

    def _arbitrage(self, market: SimMarket) -> None:
        """Take quotes that the fair value has moved through by a tick or more (informed flow on stale quotes)."""
        arbitrage(market, self.rng, self.scenario.arb_probability,
                  lambda buy_yes, limit: self.engine.execute(self._order(market, buy_yes, limit, 1_000_000, "FAK",
                                                                         TAKER_ADDRESS)))

    def _order(self, market: SimMarket, yes_bid: bool, yes_px: int, shares: int, order_type: str, address: str) -> SimOrder:
        """An internal order expressed on a random token of the market (complement orders exercise mint/merge)."""
        self._order_seq += 1
        on_no = self.rng.random() < 0.3
        token_index = 1 if on_no else 0
        side = "BUY" if yes_bid != on_no else "SELL"
        price = PIPS - yes_px if on_no else yes_px
        acct = self._accounts[address]
        return SimOrder(
            id="0x" + self.rng.getrandbits(256).to_bytes(32, "big").hex(),
            owner=internal_owner(acct.address), maker_address=acct.address, market=market,
            token_id=market.token_ids[token_index], side=side, price_pips=price,
            original_size=int(shares * MICRO), order_type=order_type, expiration=0,
            created_at=self.engine.now, internal=True,
        )
