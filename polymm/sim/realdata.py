"""The real reward universe: a snapshot of Polymarket's rewarded markets, loaded and drawn (seeded) into simulated
markets, each with the book its row measured.

Source: `reward-universe-2026-07-03.jsonl` (../shared/data/README.md): the 8,370 rewarded markets live at
2026-07-03 12:35 UTC, collected by the public snapshot job noskillcoding/polymarket-rewards-snapshot
(`fetch_snapshot.py`: CLOB GET /sampling-markets, Gamma GET /markets, CLOB POST /books of each YES token;
`compute.py`: the in-band capital, the competition bucket). A gzip'd copy ships in `polymm/sim/data/`;
the environment variable POLYMM_SIM_UNIVERSE_FILE (or `venue.sim.universe_file`) names another file with the same
fields (plain or .gz).

Taken from each drawn row: the pool (`rate_per_day`), the minimum size, the touch spread and midpoint, the capital
resting in the reward band (none, too), the 24 h volume, the category (its fee rate: polymm.sim.fees) and the time
to end. Where the snapshot is silent, the captures in ../shared/fixtures/polymarket/ decide (SOURCES.md there):
- `rewards_max_spread`: 1.5, 3.5 or 4.5 cents, weighted as among the captured reward programs (1.5 in
  clob_market_2024_negrisk.json and the clob_markets_page.json row; 3.5 in clob_market.json,
  clob_market_closed_binary_accepting_true.json and gamma_event_negrisk.json's two markets; 4.5 in
  clob_rewards_market_detail.json, clob_market_closed_binary_accepting_false.json, gamma_market_crypto_updown_5m.json);
  never narrower than half the row's spread when the row has capital in the band (its touch was in the band);
- the tick: 0.001 where the row's spread or midpoint is off the cent grid (a 0.01-tick book cannot show it), else
  0.01 (83 of the 100 markets of clob_markets_page.json are on 0.01); levels one tick apart, as in
  ws_market_book.json (0.001: 0.500, 0.501, 0.503 …) and ws_market_book_captured_2026.json (0.01: 0.01 … 0.07);
- neg-risk: a third of the markets (3 of the 9 captured reward markets: clob_market_2024_negrisk.json,
  gamma_event_negrisk.json's two);
- the NO token's book: the mirror of the YES book (the venue's one book per market, polymm.sim.model).
- the depth beyond the touch, which the snapshot did not keep: the best level a median 13.7 % of the top 10
  levels (P. Dubach, "Anatomy of a prediction market", arXiv 2604.24366: p10 3.3 %, p90 42.8 %), the rest
  layered across the other nine.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from polymm.sim.model import PIPS, SimMarket

SNAPSHOT_NAME = "reward-universe-2026-07-03.jsonl"
SHIPPED_SNAPSHOT = Path(__file__).with_name("data") / (SNAPSHOT_NAME + ".gz")
UNIVERSE_FILE_ENV = "POLYMM_SIM_UNIVERSE_FILE"

LEVELS = 10  # levels a side: the "top 10 levels" the depth profile is measured over
MAX_ORDERS_PER_LEVEL = 6  # makers sharing one level (each with the minimum size where the level qualifies)
MAKER_POOL = 96  # background maker addresses; a market is held by some of them
# best level's share of the top 10 (Dubach): median 0.137; lognormal σ 1.0 puts p10/p90 at 0.038/0.49
BEST_LEVEL_SHARE_MEDIAN, BEST_LEVEL_SHARE_SIGMA = 0.137, 1.0
# makers holding a market: lognormal, set so that the effective number (1 / HHI of their resting size, which the
# uneven levels make smaller than the count) lands on the venue's, measured by Dubach as a volume-weighted HHI
# median 0.031 ≈ 32 makers, p90 0.119 ≈ 8 (tests/test_sim_calibration.py measures it)
MAKERS_MEDIAN, MAKERS_SIGMA = 56, 1.0
# captured reward programs' max spreads (cents) and how many captured markets have each (module docstring)
CAPTURED_MAX_SPREADS = ((1.5, 2), (3.5, 4), (4.5, 3))
NEG_RISK_SHARE = 3 / 9
# the snapshot's category -> polymm.sim.fees category (its fee rate); weather and other take the default rate
FEE_CATEGORY = {"Politics": "politics", "Sports": "sports", "Economy": "economics", "Crypto": "crypto",
                "Pop-culture": "culture", "Weather": "weather", "Other": "other"}
# the snapshot's time-to-end buckets (compute.py days_bucket) -> days drawn uniformly within; "no end": two years
DAYS_TO_END = {"<1d": (0.05, 1.0), "1–7d": (1.0, 7.0), "7–30d": (7.0, 30.0), ">30d": (30.0, 365.0), "no end": (730.0, 730.0)}


@dataclass(frozen=True)
class UniverseRow:
    """One market of the snapshot, as measured (../shared/data/README.md names each field)."""

    category: str
    rate_per_day: float
    min_size: float
    spread_cents: float | None
    midpoint: float | None
    in_band_capital_usd: float
    volume_24h_usd: float
    competition: str
    days_to_end: str

    @property
    def reward_yield(self) -> float | None:
        """Reward per dollar of in-band capital a day, where something scores (README: yield)."""
        if self.competition == "no farmers" or self.in_band_capital_usd <= 0:
            return None
        return self.rate_per_day / self.in_band_capital_usd


@dataclass(frozen=True)
class BookPlan:
    """What a market's background makers keep resting, relative to the touch, and the taker flow it sees."""

    width_pips: int  # best ask − best bid
    sides: tuple[bool, ...]  # the sides that have a book: (True, False) both; one of them where the row had one side
    bid_shares: tuple[int, ...]  # shares at each bid level from the touch outwards, one tick apart
    ask_shares: tuple[int, ...]
    makers: tuple[int, ...]  # indexes into the maker pool of the makers holding this market, slot by slot
    volume_24h_usd: float  # the taker flow's daily notional (the row's Gamma volume24hr)


def snapshot_path() -> Path:
    """The snapshot file in use: POLYMM_SIM_UNIVERSE_FILE when set, else the shipped copy."""
    return Path(os.environ.get(UNIVERSE_FILE_ENV) or SHIPPED_SNAPSHOT)


def load_rows(path: Path | str | None = None) -> tuple[UniverseRow, ...]:
    return _load(str(path or snapshot_path()))


@lru_cache(maxsize=4)
def _load(path: str) -> tuple[UniverseRow, ...]:
    opener = gzip.open if path.endswith(".gz") else open
    rows = []
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            r = json.loads(line)
            rows.append(UniverseRow(
                category=str(r.get("category") or "Other"),
                rate_per_day=float(r.get("rate_per_day") or 0.0),
                min_size=float(r.get("min_size") or 0.0),
                spread_cents=None if r.get("spread_cents") is None else float(r["spread_cents"]),
                midpoint=None if r.get("midpoint") is None else float(r["midpoint"]),
                in_band_capital_usd=float(r.get("in_band_capital_usd") or 0.0),
                volume_24h_usd=float(r.get("volume_24h_usd") or 0.0),
                competition=str(r.get("competition") or ""),
                days_to_end=str(r.get("days_to_end") or ">30d"),
            ))
    if not rows:
        raise ValueError(f"{path}: no markets")
    return tuple(rows)


def tick_of(row: UniverseRow) -> int:
    """The row's tick in pips: 0.001 where its spread or midpoint is off the cent grid, else 0.01."""
    def off_grid(value: float | None, step: float) -> bool:
        return value is not None and abs(value / step - round(value / step)) > 1e-6
    return 10 if off_grid(row.spread_cents, 1.0) or off_grid(row.midpoint, 0.005) else 100


def max_spread_of(row: UniverseRow, rng: random.Random) -> float:
    """`rewards_max_spread` (cents) for a row: a captured value, wide enough to hold the touch of a row with capital."""
    values, weights = zip(*CAPTURED_MAX_SPREADS)
    drawn = rng.choices(values, weights=weights)[0]
    half = (row.spread_cents or 0.0) / 2
    if row.in_band_capital_usd > 0 and drawn < half:
        wider = [v for v in values if v >= half]
        drawn = wider[0] if wider else math.ceil(half * 2) / 2
    return drawn


def _ladder_weights(rng: random.Random, levels: int) -> list[float]:
    """Share of a side's top levels at each level: the best one from the measured profile, the rest layered."""
    best = BEST_LEVEL_SHARE_MEDIAN * math.exp(rng.gauss(0, BEST_LEVEL_SHARE_SIGMA))
    best = min(0.8, max(0.02, best))
    rest = [rng.uniform(0.5, 1.5) for _ in range(levels - 1)]
    total = sum(rest)
    return [best] + [(1 - best) * w / total for w in rest]


def plan_book(row: UniverseRow, market: SimMarket, rng: random.Random, levels: int = LEVELS) -> BookPlan:
    """The book a row measured: its touch width, and sizes such that the levels within the band holding at least
    the minimum size (the snapshot's rule, compute.py `book_stats`) hold the row's capital, half a side."""
    tick, fair = market.tick_pips, market.fair_value
    if row.spread_cents is None:
        width, sides = 2 * tick, (rng.random() < 0.5,)  # one side empty: no spread, no midpoint
    else:
        width, sides = max(tick, round(row.spread_cents * 100 / tick) * tick), (True, False)
    width = min(width, PIPS - 2 * tick)
    band = market.rewards_max_spread * 100  # pips from the midpoint
    bid = max(tick, min(PIPS - tick - width, round((fair * PIPS - width / 2) / tick) * tick))
    mid = bid + width / 2
    minimum = row.min_size
    # the capital half a side; a capital smaller than a minimum-size touch on both sides rests on the cheaper side
    # alone (one-sided liquidity: it scores a third inside [0.10, 0.90], nothing outside — the snapshot's "no
    # farmers" with capital)
    touch_cost = {True: minimum * bid / PIPS, False: minimum * (PIPS - bid - width) / PIPS}
    capital_of = {True: row.in_band_capital_usd / 2, False: row.in_band_capital_usd / 2}
    if 0 < row.in_band_capital_usd / 2 < max(touch_cost.values()):
        cheaper = touch_cost[True] <= touch_cost[False]
        capital_of = {cheaper: row.in_band_capital_usd, not cheaper: 0.0}
    shares: dict[bool, list[int]] = {}
    for is_bid in (True, False):
        prices = [bid - k * tick if is_bid else bid + width + k * tick for k in range(levels)]
        prices = [p for p in prices if tick <= p <= PIPS - tick]
        weights = _ladder_weights(rng, levels)[:len(prices)]
        cost = [(p if is_bid else PIPS - p) / PIPS for p in prices]  # collateral a share (an ask: a NO bid's)
        in_band = [abs(p - mid) <= band + 1e-9 for p in prices]
        capital = capital_of[is_bid]
        if capital > 0 and any(in_band):
            sizes = _fit_capital(weights, cost, in_band, capital, minimum)
        else:  # nothing qualifies: in-band levels below the minimum, a modest ladder beyond
            scale = 10 * max(minimum, 10) * math.exp(rng.gauss(0, 1))
            sizes = [scale * w for w in weights]
            sizes = [min(s, rng.uniform(0.2, 0.9) * minimum) if inb and minimum >= 2 else s
                     for s, inb in zip(sizes, in_band)]
        shares[is_bid] = [max(1, round(s)) for s in sizes]
    count = max(2, min(MAKER_POOL, round(MAKERS_MEDIAN * math.exp(rng.gauss(0, MAKERS_SIGMA)))))
    return BookPlan(width_pips=width, sides=sides, bid_shares=tuple(shares[True]), ask_shares=tuple(shares[False]),
                    makers=tuple(rng.sample(range(MAKER_POOL), count)), volume_24h_usd=row.volume_24h_usd)


def _fit_capital(weights: list[float], cost: list[float], in_band: list[bool], capital: float,
                 minimum: float) -> list[float]:
    """Sizes in proportion to `weights` whose in-band levels of at least `minimum` shares hold `capital` dollars;
    when even one minimum-size level is more than that, the touch alone holds the minimum."""
    counted = list(in_band)
    for _ in range(LEVELS + 1):
        held = sum(w * c for w, c, k in zip(weights, cost, counted) if k)
        if held <= 0:
            break
        scale = capital / held
        still = [k and w * scale >= minimum for w, k in zip(weights, counted)]
        if still == counted:
            return [w * scale for w in weights]
        counted = still
    touch = max(minimum, capital / max(cost[0], 1e-4))
    return [touch] + [min(w * touch / weights[0], 0.9 * minimum) if k else w * touch / weights[0]
                      for w, k in zip(weights[1:], in_band[1:])]


def _hex32(rng: random.Random) -> str:
    return "0x" + rng.getrandbits(256).to_bytes(32, "big").hex()


def draw_markets(count: int, seed: int, now: datetime, rows: tuple[UniverseRow, ...] | None = None,
                 levels: int = LEVELS) -> tuple[list[SimMarket], dict[str, BookPlan]]:
    """`count` markets drawn (seeded, with replacement) from the snapshot's rows, each with its book plan; the same
    for the same seed and file."""
    rows = rows or load_rows()
    rng = random.Random(f"real-universe:{seed}")
    markets: list[SimMarket] = []
    plans: dict[str, BookPlan] = {}
    no_mid = [r.midpoint for r in rows if r.midpoint is not None] or [0.5]
    for i in range(count):
        row = rng.choice(rows)
        tick = tick_of(row)
        fair = row.midpoint if row.midpoint is not None else rng.choice(no_mid)
        fair = min(1 - tick / PIPS, max(tick / PIPS, fair))
        lo, hi = DAYS_TO_END.get(row.days_to_end, DAYS_TO_END[">30d"])
        end = now + timedelta(days=rng.uniform(lo, hi))
        category = FEE_CATEGORY.get(row.category, "other")
        question = f"{row.category} market {i} (a real rewarded market of {SNAPSHOT_NAME[:-6]})"
        market = SimMarket(
            condition_id=_hex32(rng), question_id=_hex32(rng), question=question,
            slug=f"real-{i}-{row.category.lower()}", token_ids=(str(rng.getrandbits(252)), str(rng.getrandbits(252))),
            outcomes=("Yes", "No"), tick_pips=tick, min_order_size=5, neg_risk=rng.random() < NEG_RISK_SHARE,
            end_date=end, volume_24hr=row.volume_24h_usd,
            rewards_max_spread=max_spread_of(row, rng) if row.rate_per_day > 0 else 0.0,
            rewards_min_size=row.min_size, rate_per_day=row.rate_per_day, fair_value=round(fair, 4),
            description=f"Drawn from a real rewarded market ({row.category}, {row.competition}).",
            tags=(category,), category=category,
        )
        market.last_trade_pips = max(tick, min(PIPS - tick, round(market.fair_value * PIPS)))
        markets.append(market)
        plans[market.condition_id] = plan_book(row, market, rng, levels)
    return markets, plans


def captured_plan(market: SimMarket, rows: tuple[UniverseRow, ...]) -> BookPlan:
    """A book for a captured market (polymm.sim.universe.CAPTURED_MARKETS): a one-cent touch (as in
    ws_market_book_captured_2026.json, 0.07 / 0.08; room for a price-improving order on a 0.001 tick) and the capital
    the snapshot's median yield puts behind its pool, so tests that address it by its id find a live book."""
    yields = sorted(y for y in (r.reward_yield for r in rows) if y)
    median = yields[len(yields) // 2] if yields else 0.0047
    row = UniverseRow(category="Politics", rate_per_day=market.rate_per_day, min_size=market.rewards_min_size,
                      spread_cents=1.0, midpoint=market.fair_value,
                      in_band_capital_usd=market.rate_per_day / median, volume_24h_usd=market.volume_24hr,
                      competition="contested", days_to_end=">30d")
    return plan_book(row, market, random.Random(f"captured:{market.condition_id}"))


def real_universe(count: int, seed: int, now: datetime, levels: int = LEVELS,
                  snapshot: str | None = None) -> tuple[list[SimMarket], dict[str, BookPlan]]:
    """The captured markets (polymm.sim.universe, addressed by their real ids in tests) and `count` markets drawn
    from the snapshot (`snapshot`, else snapshot_path()), with every market's book plan."""
    from polymm.sim.universe import generate_markets

    rows = load_rows(snapshot)
    captured = generate_markets(0, seed, now=now)
    drawn, plans = draw_markets(count, seed, now, rows, levels)
    plans.update({m.condition_id: captured_plan(m, rows) for m in captured})
    return captured + drawn, plans
