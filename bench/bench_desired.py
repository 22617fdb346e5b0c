"""Benchmark: the whole selection funnel and ranking (`select_markets`) over many synthetic reward markets.

Builds N reward markets (default 5,000), each with two 10-level books that mirror each other the way
the venue's complementary tokens do (a bid on one token is an ask at 1 − p on the other), then
times `select_markets` — every filter, the quote prices, the safety checks, the reward-share
estimate, the ranking and the top-N pick — and prints min / median wall time over several
repetitions and the cost per market. Target: < 200 ms for 5,000 markets.

    .venv/bin/python bench/bench_desired.py [--markets 5000] [--levels 10] [--repeat 7] [--scenario both] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from polymm.config import PolymmConfig  # noqa: E402
from polymm.desired.funnel import SelectionParams, select_markets  # noqa: E402
from polymm.domain.types import Book, Level, RewardMarket, Token  # noqa: E402

NOW = datetime(2026, 9, 1, tzinfo=timezone.utc)
TARGET_MS = 200.0
ONE = Decimal(1)


def synthetic_universe(count: int, levels: int, seed: int) -> tuple[list[RewardMarket], dict[str, Book], dict[str, float]]:
    """`count` reward markets, both tokens' books and their volatility, seeded; realistic spreads, sizes, parameters."""
    rng = random.Random(seed)
    markets: list[RewardMarket] = []
    books: dict[str, Book] = {}
    volatility: dict[str, float] = {}
    for i in range(count):
        tick = Decimal("0.01") if rng.random() < 0.8 else Decimal("0.001")
        ticks_per_unit = int(ONE / tick)
        step = 1 if tick == Decimal("0.01") else 10  # levels about a cent apart on either tick
        mid_ticks = rng.randint(levels * step + 2, ticks_per_unit - levels * step - 2)
        half_spread = rng.choice((1, 1, 1, 2, 3)) * step
        # Now and then a level is skipped (a gap) and some books are thin, so the safety rules have work to do.
        gap = step * rng.choice((1, 1, 1, 1, 2, 8))
        bid_ticks = [mid_ticks - half_spread - k * step - (gap if rng.random() < 0.1 else 0) for k in range(levels)]
        ask_ticks = [mid_ticks + half_spread + k * step + (gap if rng.random() < 0.1 else 0) for k in range(levels)]
        depth = rng.choice((20, 200, 800, 800))
        bids = [Level(t * tick, Decimal(rng.randint(1, depth))) for t in dict.fromkeys(bid_ticks) if t >= 1]
        asks = [Level(t * tick, Decimal(rng.randint(1, depth))) for t in dict.fromkeys(ask_ticks) if t < ticks_per_unit]
        yes, no = f"{i:06d}1", f"{i:06d}2"
        books[yes] = Book.from_levels(yes, bids, asks, tick)
        # The complement's book: its bids are our asks at 1 − p and its asks our bids at 1 − p.
        books[no] = Book.from_levels(no, [Level(ONE - lv.price, lv.size) for lv in asks],
                                     [Level(ONE - lv.price, lv.size) for lv in bids], tick)
        volatility[yes] = volatility[no] = rng.uniform(0.0, 0.04)
        markets.append(RewardMarket(
            condition_id=f"0x{i:064x}",
            question=("Will Trump sign bill #%d?" if rng.random() < 0.03 else "Will event #%d happen?") % i,
            tokens=(Token(yes, "Yes"), Token(no, "No")),
            rewards_max_spread=Decimal(rng.choice(("1.5", "2", "2.5", "3", "3.5", "4", "4.5", "5", "6"))),
            rewards_min_size=Decimal(rng.choice((5, 10, 20, 20, 50, 100, 200))),
            rate_per_day=Decimal(str(round(min(1000.0, rng.lognormvariate(2.5, 1.2)), 2))),
            tick_size=tick,
            min_order_size=Decimal(5),
            neg_risk=rng.random() < 0.2,
            end_date=NOW + timedelta(days=rng.uniform(1, 400)),
            volume_24hr=Decimal(str(round(rng.uniform(0, 100_000), 2))),
        ))
    return markets, books, volatility


def scenario_params(name: str) -> SelectionParams:
    """`default`: the shipped config.yaml defaults. `open`: no filter bounds, so every market reaches
    quoting, the safety checks and the reward estimate (the worst case for the same universe)."""
    if name == "default":
        return SelectionParams.from_config(PolymmConfig())
    no_bounds = {"min": None, "max": None}
    return SelectionParams.from_config(PolymmConfig.model_validate({"filters": {
        "spread_range": no_bounds, "volume_24hr_range": no_bounds, "rewards_min_size_range": no_bounds,
        "rate_per_day_range": no_bounds, "min_days_until_end": 0, "question_blacklist": []}}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markets", type=int, default=5000)
    ap.add_argument("--levels", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scenario", choices=("default", "open", "both"), default="both",
                    help="default: config.yaml filters; open: no filter bounds (every market evaluated)")
    ap.add_argument("--profile", action="store_true", help="also print a cProfile of one run (top 20 by own time)")
    args = ap.parse_args()

    markets, books, volatility = synthetic_universe(args.markets, args.levels, args.seed)
    print(f"select_markets over {args.markets:,} reward markets, {args.levels}-level books on both tokens, "
          f"{args.repeat} runs each (target < {TARGET_MS:.0f} ms)")
    for name in ("default", "open") if args.scenario == "both" else (args.scenario,):
        params = scenario_params(name)
        selection = select_markets(markets, books, params, NOW, volatility)  # warm-up, and the funnel shown
        times_ms = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            select_markets(markets, books, params, NOW, volatility)
            times_ms.append((time.perf_counter() - start) * 1000)
        best, median = min(times_ms), statistics.median(times_ms)
        print(f"scenario {name}:")
        print("  funnel: " + " → ".join(f"{rule} {n}" for rule, n in selection.steps))
        print(f"  min    {best:8.1f} ms   {best * 1000 / args.markets:6.1f} µs/market")
        print(f"  median {median:8.1f} ms   {median * 1000 / args.markets:6.1f} µs/market")
        print(f"  target < {TARGET_MS:.0f} ms: {'met' if median < TARGET_MS else 'NOT met'}")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            select_markets(markets, books, params, NOW, volatility)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
