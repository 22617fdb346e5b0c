"""The generated market universe, the first MarketSource: seeded reward markets plus the real markets of the shared
captures, traded by the simulated participants of polymm.sim.traders."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone

from polymm.sim.engine import Engine
from polymm.sim.model import PIPS, SimMarket
from polymm.sim.traders import Scenario, SimulatedTraders

# Markets whose ids and settings come from the captures in ../shared/fixtures/polymarket
# (clob_market.json / gamma_market_with_rewards.json, clob_rewards_market_detail.json,
# gamma_market_negrisk_live.json), so tests can address them by their real ids. The neg-risk one's
# captured reward program (0.001/day, no spread or size) is given a usable one here.
CAPTURED_MARKETS = (
    dict(
        condition_id="0xa467b14d51f01b957109d9cbb1d6c124fab2a089d52ed8f471d23c2812e743b7",
        question_id="0x1d925c6933062c2e38031293612d8680ffa097c5d3ba2f87a8ecc565bd47183e",
        question="Xi Jinping out before 2027?",
        slug="xi-jinping-out-before-2027",
        token_ids=(
            "32338220190071351435772801779725302244575775216413325951443816017994629993401",
            "25659310674993675562345759665114759892400026242514633218387667107987341231962",
        ),
        tick_pips=10, min_order_size=5, neg_risk=False, end="2026-12-31",
        rewards_max_spread=3.5, rewards_min_size=200, rate_per_day=10, fair_value=0.045, volume_24hr=41250.0,
    ),
    dict(
        condition_id="0x0001cb8c0b39aeb614ab9a43867595317f06ede9c011661513065c638fbbefda",
        question_id="0x0001cb8c0b39aeb614ab9a43867595317f06ede9c011661513065c638fbbefd0",
        question="Will the Republican Party win the NY-11 House seat?",
        slug="will-the-republican-party-win-the-ny-11-house-seat",
        token_ids=(
            "50868012450412588231700991321379235183301872220529434142919756787462014093776",
            "37843096702983984154813593339817451110105539743235209768242171001456417281055",
        ),
        tick_pips=10, min_order_size=5, neg_risk=False, end="2027-11-03",
        rewards_max_spread=4.5, rewards_min_size=20, rate_per_day=2, fair_value=0.935, volume_24hr=5200.0,
    ),
    dict(  # gamma_market_negrisk_live.json: a neg-risk market (orders sign for the neg-risk exchange)
        condition_id="0x0f49db97f71c68b1e42a6d16e3de93d85dbf7d4148e3f018eb79e88554be9f75",
        question_id="0x2c3d7e0eee6f058be3006baabf0d54a07da254ba47fe6e3e095e7990c7814700",
        question="Will Gavin Newsom win the 2028 Democratic presidential nomination?",
        slug="will-gavin-newsom-win-the-2028-democratic-presidential-nomination-568",
        token_ids=(
            "54533043819946592547517511176940999955633860128497669742211153063842200957669",
            "87854174148074652060467921081181402357467303721471806610111179101805869578687",
        ),
        tick_pips=10, min_order_size=5, neg_risk=True, end="2028-11-07",
        rewards_max_spread=3.5, rewards_min_size=50, rate_per_day=25, fair_value=0.2325, volume_24hr=9066.55,
    ),
)

_SUBJECTS = (
    "the Fed", "the ECB", "Bitcoin", "Ethereum", "Solana", "the S&P 500", "Gold", "Oil", "Apple", "Nvidia",
    "OpenAI", "SpaceX", "Tesla", "the Lakers", "Real Madrid", "Arsenal", "the Yankees", "Taylor Swift",
    "the UK", "Germany", "France", "Japan", "India", "Brazil", "Canada", "Mexico", "Argentina", "Trump",
    "the Senate", "the House", "NASA", "Netflix", "Amazon", "Google", "Microsoft", "Meta",
)
_EVENTS = (
    "cut rates", "hit a new all-time high", "announce a merger", "win the championship", "close above its target",
    "reach the final", "launch the product", "pass the bill", "hold an election", "beat expectations",
    "top the chart", "sign the deal", "announce a ceasefire", "raise rates", "complete the mission",
)


def _token_id(rng: random.Random) -> str:
    return str(rng.getrandbits(252))


def _hex32(rng: random.Random) -> str:
    return "0x" + rng.getrandbits(256).to_bytes(32, "big").hex()


def generate_markets(count: int, seed: int, now: datetime | None = None) -> list[SimMarket]:
    """`count` generated markets (about 90 % with rewards) plus the captured ones, the same for the same seed."""
    rng = random.Random(f"universe:{seed}")
    now = now or datetime(2026, 11, 24, tzinfo=timezone.utc)
    markets: list[SimMarket] = []
    for spec in CAPTURED_MARKETS:
        spec = dict(spec)
        end = datetime.fromisoformat(spec.pop("end")).replace(tzinfo=timezone.utc)
        markets.append(SimMarket(outcomes=("Yes", "No"), end_date=end, **spec))
    for i in range(count):
        subject, event = rng.choice(_SUBJECTS), rng.choice(_EVENTS)
        end = now + timedelta(days=rng.choice((1, 2, 3, 5, 8, 12, 20, 30, 45, 60, 90, 120, 180, 365)) + rng.random())
        question = f"Will {subject} {event} by {end:%B %-d, %Y}?"
        tick_pips = rng.choices((100, 10), weights=(8, 2))[0]
        rewarded = rng.random() < 0.9
        fair_value = min(0.97, max(0.03, rng.betavariate(1.4, 1.4)))
        markets.append(SimMarket(
            condition_id=_hex32(rng),
            question_id=_hex32(rng),
            question=question,
            slug=f"sim-{i}-" + "-".join(question.lower().strip("?").split()[:6]).replace("&", "and"),
            token_ids=(_token_id(rng), _token_id(rng)),
            outcomes=("Yes", "No"),
            tick_pips=tick_pips,
            min_order_size=5,
            neg_risk=rng.random() < 0.2,
            end_date=end,
            volume_24hr=round(math.exp(rng.gauss(8.5, 1.8)), 2),
            rewards_max_spread=rng.choice((1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0)) if rewarded else 0.0,
            rewards_min_size=rng.choice((5, 10, 20, 20, 50, 100, 200)) if rewarded else 0.0,
            rate_per_day=round(min(1000.0, math.exp(rng.gauss(2.5, 1.2))), 2) if rewarded else 0.0,
            fair_value=round(fair_value, 4),
            description=f"Simulated market {i}. Resolves Yes if {subject} {event} by the end date.",
            tags=("simulated",),
        ))
    for market in markets:
        market.last_trade_pips = max(market.tick_pips, min(PIPS - market.tick_pips, round(market.fair_value * PIPS)))
    return markets


class GeneratedUniverse:
    """A MarketSource (polymm.sim.participants): `count` generated markets plus the captured ones, and the simulated
    traders of `scenario` on them; the same seed gives the same markets and flow."""

    def __init__(self, count: int, seed: int, scenario: Scenario, now: datetime | None = None,
                 levels: int | None = None) -> None:
        """`now`: the simulated start (end dates are drawn from it); `levels`: book depth a side (None: the reward
        band's whole cents plus a few beyond, polymm.sim.traders)."""
        self.seed = seed
        self.scenario = scenario
        self.levels = levels
        self._markets = generate_markets(count, seed, now=now)
        self.traders: SimulatedTraders | None = None

    def markets(self) -> list[SimMarket]:
        return self._markets

    def open(self, engine: Engine) -> None:
        self.traders = SimulatedTraders(engine, self.scenario, self.seed, levels=self.levels)

    def step(self, now: float) -> None:
        self._opened().step(now)

    def past_midpoints(self, minutes: int) -> dict[str, list[int]]:
        return self._opened().past_midpoints(minutes, self.seed)

    def _opened(self) -> SimulatedTraders:
        if self.traders is None:
            raise RuntimeError("the universe is not open: call open(engine) first")
        return self.traders
