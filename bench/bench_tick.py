"""Benchmark: the compute of one controller tick — parse, sync, desire, plan, gate — venue time excluded.

Builds the venue's JSON in memory for N selected markets (default: 10 and 100): reward markets,
both tokens' order books with 10 levels a side (listed worst first, as the venue does), about two
open orders of ours per market (most at their desired price, some stale so plan has replacements
to make), and a few trades with our maker fills. Then it times the pure pipeline many times:

  parse    open orders → LiveOrder, trades → our Fills, books → Book (`book_from_wire`)
  sync     observation_updates over our active orders
  desire   select_markets (every filter, quote, safety rule, reward estimate, ranking) + desire
  plan     plan(desired, open orders, our orders)
  gate     gate(plan, ...) with exposure caps, holdings and collateral

Our orders are an in-memory list of order views (no SQLite). Prints the median and p95 per tick
and per market, and the median of each stage. Targets: < 5 ms per tick for 10 markets, < 50 ms
for 100.

    .venv/bin/python bench/bench_tick.py [--markets 10 100] [--repeat 300] [--profile]
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
from polymm.controller.core import ProjectedOrder  # noqa: E402
from polymm.desired.funnel import SelectionParams, select_markets  # noqa: E402
from polymm.desired.hedge import HedgeParams  # noqa: E402
from polymm.desired.state import desire  # noqa: E402
from polymm.domain.exposure import InventoryExposure  # noqa: E402
from polymm.domain.types import Position, RewardMarket, Token  # noqa: E402
from polymm.observed.parse import live_order_from_wire, our_fills  # noqa: E402
from polymm.reconciler.gate import RiskLimits, gate  # noqa: E402
from polymm.reconciler.plan import PlanPolicy, plan  # noqa: E402
from polymm.reconciler.sync import matched_by_order, observation_updates  # noqa: E402
from polymm.venue.parse import book_from_wire  # noqa: E402

NOW = datetime(2026, 9, 1, tzinfo=timezone.utc)
NOW_TS = NOW.timestamp()
TARGET_MS = {10: 5.0, 100: 50.0}
API_KEY = "bench-api-key"
ADDRESS = "0x00000000000000000000000000000000000000b1"
TICK = Decimal("0.01")
LEVELS = 10


# one of our active ledger orders as sync, plan and gate read it (an OrderRecord without SQLite)
OrderView = ProjectedOrder


def fmt(price: Decimal) -> str:
    return format(price.normalize(), "f")


def book_rows(rng: random.Random, cid: str, yes: str, no: str) -> list[dict]:
    """Both tokens' GET /book replies: deep, regular 10-level books, mirrored at 1 − p like the venue's."""
    mid = rng.randint(30, 70)
    bids = [(Decimal(mid - 1 - k) / 100, Decimal(rng.randint(200, 800))) for k in range(LEVELS)]
    asks = [(Decimal(mid + 1 + k) / 100, Decimal(rng.randint(200, 800))) for k in range(LEVELS)]

    def row(token: str, b, a) -> dict:
        return {
            "market": cid, "asset_id": token, "timestamp": str(int(NOW_TS * 1000)), "hash": "",
            "bids": [{"price": fmt(p), "size": str(s)} for p, s in sorted(b)],  # worst (lowest) first
            "asks": [{"price": fmt(p), "size": str(s)} for p, s in sorted(a, reverse=True)],  # worst (highest) first
            "min_order_size": "5", "tick_size": "0.01", "neg_risk": False, "last_trade_price": fmt(Decimal(mid) / 100),
        }

    one = Decimal(1)
    return [row(yes, bids, asks), row(no, [(one - p, s) for p, s in asks], [(one - p, s) for p, s in bids])]


def universe(count: int, seed: int):
    rng = random.Random(seed)
    markets, books = [], []
    for i in range(count):
        cid, yes, no = f"0x{i:064x}", f"{i:06d}1", f"{i:06d}2"
        markets.append(RewardMarket(
            condition_id=cid, question=f"Will event #{i} happen?", tokens=(Token(yes, "Yes"), Token(no, "No")),
            rewards_max_spread=Decimal(rng.choice(("3", "3.5", "4", "4.5", "5"))),
            rewards_min_size=Decimal(rng.choice((5, 10, 20))), rate_per_day=Decimal(rng.randint(10, 500)),
            tick_size=TICK, min_order_size=Decimal(5), neg_risk=False, end_date=NOW + timedelta(days=90),
            volume_24hr=Decimal(rng.randint(1000, 90000)),
        ))
        books.extend(book_rows(rng, cid, yes, no))
    return markets, books


def open_order_row(o: OrderView) -> dict:
    """A GET /data/orders row in the venue's shape (polymm.sim.wire.open_order_json)."""
    return {"id": o.order_id, "status": "LIVE", "owner": API_KEY, "maker_address": ADDRESS, "market": o.condition_id,
            "asset_id": o.token_id, "side": o.side, "original_size": fmt(o.size), "size_matched": fmt(o.size_matched),
            "price": fmt(o.price), "outcome": "Yes", "expiration": "0", "order_type": "GTC", "associate_trades": [],
            "created_at": int(o.created_at)}


def trade_row(i: int, ours: OrderView, size: Decimal) -> dict:
    """A GET /data/trades row where one of our resting orders was a maker among others."""
    others = [{"order_id": f"0xother{i}{k}", "owner": f"someone-{k}", "maker_address": f"0x{k:040x}",
               "matched_amount": "10", "price": fmt(ours.price), "fee_rate_bps": "0", "asset_id": ours.token_id,
               "outcome": "Yes"} for k in range(3)]
    mine = {"order_id": ours.order_id, "owner": API_KEY, "maker_address": ADDRESS, "matched_amount": fmt(size),
            "price": fmt(ours.price), "fee_rate_bps": "0", "asset_id": ours.token_id, "outcome": "Yes"}
    return {"id": f"trade-{i}", "taker_order_id": f"0xtaker{i}", "market": ours.condition_id, "asset_id": ours.token_id,
            "side": "SELL", "size": fmt(size + 30), "fee_rate_bps": "0", "price": fmt(ours.price), "status": "MATCHED",
            "match_time": str(int(NOW_TS) - 5), "last_update": str(int(NOW_TS) - 5), "outcome": "Yes", "bucket_index": 0,
            "owner": "a-taker", "maker_address": "0x" + "ab" * 20, "transaction_hash": "0x" + "cd" * 32,
            "maker_orders": others + [mine], "trader_side": "MAKER"}


class Scenario:
    """The inputs of one tick for `count` selected markets, built once outside the timed section."""

    def __init__(self, count: int, seed: int) -> None:
        cfg = PolymmConfig.model_validate({
            "strategy": {"max_markets": count, "max_exposure_per_market_usdc": 100, "max_total_exposure_usdc": 100 * count},
            "filters": {k: {"min": None, "max": None} for k in
                        ("spread_range", "volume_24hr_range", "rewards_min_size_range", "rate_per_day_range")},
        })
        self.params = SelectionParams.from_config(cfg)
        self.hedge_params = HedgeParams(cfg.hedge_sell.max_bid_gap, cfg.hedge_sell.stop_loss_pct,
                                        cfg.hedge_sell.take_profit_pct, cfg.strategy.min_profit_margin_bps)
        self.policy = PlanPolicy(cfg.loop.price_deviation_threshold_bps, cfg.controller.cancel_foreign_orders)
        self.limits = RiskLimits(cfg.strategy.max_exposure_per_market_usdc, cfg.strategy.max_total_exposure_usdc)
        self.markets, self.book_rows = universe(count, seed)
        self.markets_by_token = {t: m for m in self.markets for t in m.token_ids}
        self.volatility = {t: 0.001 for t in self.markets_by_token}
        books = {b.token_id: b for b in map(book_from_wire, self.book_rows)}

        # Our resting orders: the desired quotes, most at their price, every fifth one stale (to be replaced).
        selection = select_markets(self.markets, books, self.params, NOW, self.volatility)
        self.selected = len(selection.selected)
        wanted = desire(selection, {}, self.markets_by_token, books, self.hedge_params, True)
        rng = random.Random(seed + 1)
        self.orders: list[OrderView] = []
        for i, w in enumerate(wanted.orders):
            price = w.price - TICK if i % 5 == 0 else w.price
            self.orders.append(OrderView(f"0x{i:064x}", w.slot_key, w.condition_id, w.token_id, w.side, w.role, price,
                                         w.size, Decimal(0), "open", NOW_TS - 600, NOW_TS - 600))
        self.open_rows = [open_order_row(o) for o in self.orders]
        # A few trades: partial maker fills on some of our orders; one position to hedge.
        self.trade_rows = [trade_row(i, o, Decimal(2)) for i, o in enumerate(rng.sample(self.orders, min(5, len(self.orders))))]
        pos_token = self.orders[0].token_id
        self.positions = {pos_token: Position(pos_token, Decimal(12), Decimal("0.45"))}
        self.collateral = Decimal(100_000)

    def tick(self, stages: dict[str, list[float]] | None = None):
        t0 = time.perf_counter()
        open_orders = tuple(live_order_from_wire(r) for r in self.open_rows)
        fills = tuple(f for t in self.trade_rows for f in our_fills(t, API_KEY, ADDRESS))
        books = {b.token_id: b for b in map(book_from_wire, self.book_rows)}
        t1 = time.perf_counter()
        open_map = {o.order_id: o for o in open_orders}
        updates = observation_updates(self.orders, open_map, matched_by_order(fills), NOW_TS, 5.0)
        t2 = time.perf_counter()
        selection = select_markets(self.markets, books, self.params, NOW, self.volatility)
        wanted = desire(selection, self.positions, self.markets_by_token, books, self.hedge_params, True)
        t3 = time.perf_counter()
        the_plan = plan(wanted, open_map, self.orders, self.policy)
        t4 = time.perf_counter()
        inventory = [InventoryExposure(self.markets_by_token[t].condition_id, p.size, p.avg_cost)
                     for t, p in self.positions.items()]
        gated = gate(the_plan, self.orders, [], inventory, {t: p.size for t, p in self.positions.items()},
                     self.collateral, self.limits)
        t5 = time.perf_counter()
        if stages is not None:
            for name, a, b in (("parse", t0, t1), ("sync", t1, t2), ("desire", t2, t3), ("plan", t3, t4), ("gate", t4, t5)):
                stages[name].append((b - a) * 1000)
        return updates, wanted, the_plan, gated


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markets", type=int, nargs="+", default=[10, 100])
    ap.add_argument("--repeat", type=int, default=300, help="timed ticks per size (after 20 warm-up ticks)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", action="store_true", help="also print a cProfile of the largest size (top 25 by own time)")
    args = ap.parse_args()

    for count in args.markets:
        sc = Scenario(count, args.seed)
        for _ in range(20):
            sc.tick()
        stages: dict[str, list[float]] = {k: [] for k in ("parse", "sync", "desire", "plan", "gate")}
        totals = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            sc.tick(stages)
            totals.append((time.perf_counter() - start) * 1000)
        updates, wanted, the_plan, gated = sc.tick()
        median, high = statistics.median(totals), p95(totals)
        target = TARGET_MS.get(count)
        print(f"{count} markets ({sc.selected} selected; {len(sc.book_rows)} books × {LEVELS} levels a side, "
              f"{len(sc.open_rows)} open orders, {len(sc.trade_rows)} trades), {args.repeat} ticks")
        print(f"  tick   median {median:7.2f} ms  p95 {high:7.2f} ms   per market: median {median * 1000 / count:6.0f} µs"
              f"  p95 {high * 1000 / count:6.0f} µs")
        print("  stages (median ms): " + "  ".join(f"{k} {statistics.median(v):.2f}" for k, v in stages.items()))
        print(f"  outcome: {len(wanted.orders)} desired, {len(gated.cancels)} cancels, {len(gated.places)} places, "
              f"{len(the_plan.kept)} kept, {len(gated.dropped)} dropped, {len(updates)} ledger updates")
        if target is not None:
            print(f"  target < {target:.0f} ms per tick: {'met' if median < target and high < target else 'NOT met'}")

    if args.profile:
        sc = Scenario(max(args.markets), args.seed)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(50):
            sc.tick()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
