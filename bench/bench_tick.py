"""Benchmark: one controller tick's compute — parse, ledger snapshot, the pure decide — venue time excluded.

Builds the venue's JSON in memory for N selected markets (default: 10 and 100): reward markets,
both tokens' order books with 10 levels a side (listed worst first, as the venue does), about two
open orders of ours per market (most at their desired price, some stale so plan has replacements
to make), and a few trades with our maker fills. Our orders and a position live in a real SQLite
ledger (a temporary file) holding H closed orders and H settled fills of history besides (default
H: 0, 10 000 and 100 000). Then it times what a tick computes, many times:

  parse     open orders → LiveOrder, trades → our Fills, books → Book (`book_from_wire`)
  snapshot  `Ledger.tick_snapshot`: what the tick reads from the ledger (active orders, the orders the
            observation names, their fills, unsettled fills, positions, the cursor)
  decide    `reconciler.tick.decide`, the one pure function `polymm plan` and `reconcile` call:
            sync, select + desire, plan, gate

The ledger changes are not applied (each repetition sees the same state). Prints the median and p95
per tick and per market, the median of each stage, and per market count how the figure with history
compares with the one without. Targets: < 5 ms per tick for 10 markets, < 50 ms for 100; the 100k
history figure within 20 % of the empty-history one.

GC: by default the heap is settled after warm-up as the service does after start-up
(polymm.controller.gcpolicy: one collection, then gc.freeze()); `--gc default`
keeps Python's defaults. Collections per generation and their pauses are printed (gc.callbacks), and
p95 / median (target < 2 at 100 markets).

    .venv/bin/python bench/bench_tick.py [--markets 10 100] [--history 0 10000 100000] [--repeat 300]
                                         [--gc service|default] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from polymm.config import PolymmConfig  # noqa: E402
from polymm.controller.gcpolicy import GcMonitor, settle_heap  # noqa: E402
from polymm.desired.funnel import SelectionParams, select_markets  # noqa: E402
from polymm.desired.hedge import HedgeParams  # noqa: E402
from polymm.desired.state import desire  # noqa: E402
from polymm.domain.terms import OrderTerms  # noqa: E402
from polymm.domain.types import RewardMarket, Token  # noqa: E402
from polymm.observed.parse import live_order_from_wire, our_fills  # noqa: E402
from polymm.observed.state import ObservedState  # noqa: E402
from polymm.reconciler.gate import RiskLimits  # noqa: E402
from polymm.reconciler.plan import PlanPolicy  # noqa: E402
from polymm.reconciler.memory import TickMemory  # noqa: E402
from polymm.reconciler.tick import ProjectedOrder, TickParams, act, decide, desired_state, sync  # noqa: E402
from polymm.ledger import Ledger  # noqa: E402
from polymm.venue.parse import book_from_wire  # noqa: E402

NOW = datetime(2026, 9, 1, tzinfo=timezone.utc)
NOW_TS = NOW.timestamp()
TARGET_MS = {10: 5.0, 100: 50.0}
API_KEY = "bench-api-key"
ADDRESS = "0x00000000000000000000000000000000000000b1"
TICK = Decimal("0.01")
LEVELS = 10


CURSOR = "trades_after"
OrderView = ProjectedOrder  # an order as the scenario builds it, before it is written to the ledger


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


ORDER_COLUMNS = ("order_id", "slot_key", "condition_id", "token_id", "side", "role", "price", "size", "size_matched",
                 "order_type", "post_only", "payload", "state", "venue_status", "created_at", "updated_at",
                 "submitted_at", "last_error")
FILL_COLUMNS = ("trade_id", "order_id", "condition_id", "token_id", "side", "size", "price", "status", "liquidity",
                "match_time", "applied", "reversed", "first_seen_at", "updated_at")


def write_rows(path: Path, orders: list[tuple], fills: list[tuple], positions: list[tuple]) -> None:
    """Bulk rows straight into the ledger file (one transaction; the Ledger API would fsync each row)."""
    conn = sqlite3.connect(str(path))
    with conn:
        conn.executemany(f"INSERT INTO orders ({', '.join(ORDER_COLUMNS)}) VALUES ({', '.join('?' * len(ORDER_COLUMNS))})",
                         orders)
        conn.executemany(f"INSERT INTO fills ({', '.join(FILL_COLUMNS)}) VALUES ({', '.join('?' * len(FILL_COLUMNS))})",
                         fills)
        conn.executemany("INSERT INTO positions (token_id, condition_id, size, cost, realized_pnl) VALUES (?, ?, ?, ?, ?)",
                         positions)
    conn.close()


def order_row(o: OrderView) -> tuple:
    return (o.order_id, o.slot_key, o.condition_id, o.token_id, o.side, o.role, str(o.price), str(o.size),
            str(o.size_matched), "GTC", 1, "{}", o.state, "live", o.created_at, o.created_at, o.submitted_at, None)


class Scenario:
    """The inputs of one tick for `count` selected markets and `history` closed orders and fills, built once
    outside the timed section; the ledger is a real SQLite file in a temporary directory."""

    def __init__(self, count: int, seed: int, history: int = 0) -> None:
        cfg = PolymmConfig.model_validate({
            "strategy": {"max_markets": count, "max_exposure_per_market_usdc": 100, "max_total_exposure_usdc": 100 * count},
            "filters": {k: {"min": None, "max": None} for k in
                        ("spread_range", "volume_24hr_range", "rewards_min_size_range", "rate_per_day_range")},
        })
        self.params = TickParams(
            SelectionParams.from_config(cfg),
            HedgeParams(cfg.hedge_sell.max_bid_gap, cfg.hedge_sell.stop_loss_pct, cfg.hedge_sell.take_profit_pct,
                        cfg.strategy.min_profit_margin_bps),
            True, PlanPolicy(cfg.loop.price_deviation_threshold_bps, cfg.controller.cancel_foreign_orders),
            RiskLimits(cfg.strategy.max_exposure_per_market_usdc, cfg.strategy.max_total_exposure_usdc),
            cfg.controller.open_orders_grace_seconds)
        self.history = history
        self.markets, self.book_rows = universe(count, seed)
        self.markets_by_token = {t: m for m in self.markets for t in m.token_ids}
        self.volatility = {t: 0.001 for t in self.markets_by_token}
        books = {b.token_id: b for b in map(book_from_wire, self.book_rows)}

        # Our resting orders: the desired quotes, most at their price, every fifth one stale (to be replaced).
        selection = select_markets(self.markets, books, self.params.selection, NOW, self.volatility)
        self.selected = len(selection.selected)
        wanted = desire(selection, {}, self.markets_by_token, books, self.params.hedge, True)
        rng = random.Random(seed + 1)
        self.orders: list[OrderView] = []
        for i, w in enumerate(wanted.orders):
            price = w.price - TICK if i % 5 == 0 else w.price
            terms = OrderTerms(f"0x{i:064x}", w.slot_key, w.condition_id, w.token_id, w.side, w.role, price, w.size)
            self.orders.append(OrderView(terms, Decimal(0), "open", NOW_TS - 600, NOW_TS - 600))
        self.open_rows = [open_order_row(o) for o in self.orders]
        # A few trades: partial maker fills on some of our orders; one position to hedge.
        self.trade_rows = [trade_row(i, o, Decimal(2)) for i, o in enumerate(rng.sample(self.orders, min(5, len(self.orders))))]

        self.dir = tempfile.TemporaryDirectory(prefix="polymm-bench-tick-")
        path = Path(self.dir.name) / "ledger.sqlite"
        Ledger(path).close()  # the schema
        first = self.orders[0]
        orders = [order_row(o) for o in self.orders]
        fills = [("t-position", first.order_id, first.condition_id, first.token_id, "BUY", "12", "0.45", "CONFIRMED",
                  "maker", int(NOW_TS) - 900, 1, 0, NOW_TS - 900, NOW_TS - 900)]
        positions = [(first.token_id, first.condition_id, "12", "5.40", "0")]
        # History: closed orders (filled or cancelled) and their settled fills, spread over the universe's tokens.
        tokens = list(self.markets_by_token)
        for k in range(history):
            token = tokens[k % len(tokens)]
            cid = self.markets_by_token[token].condition_id
            oid, at = f"0xclosed{k:058x}", NOW_TS - 86_400 * 30 + k
            side = "BUY" if k % 2 == 0 else "SELL"
            orders.append((oid, f"{cid}|{token}|{side}|{'quote' if side == 'BUY' else 'hedge'}", cid, token, side,
                           "quote" if side == "BUY" else "hedge", "0.50", "10", "10" if k % 3 else "0", "GTC", 1, "{}",
                           "filled" if k % 3 else "cancelled", "matched", at, at, at, None))
            fills.append((f"trade-h{k}", oid, cid, token, side, "10", "0.50", "CONFIRMED", "maker", int(at), 1, 0, at, at))
        write_rows(path, orders, fills, positions)
        self.ledger = Ledger(path)
        self.ledger.set_cursor(CURSOR, str(int(NOW_TS) - 60))

    def observe(self) -> ObservedState:
        open_orders = tuple(live_order_from_wire(r) for r in self.open_rows)
        fills = tuple(f for t in self.trade_rows for f in our_fills(t, API_KEY, ADDRESS))
        books = {b.token_id: b for b in map(book_from_wire, self.book_rows)}
        return ObservedState(at=NOW_TS, open_orders=open_orders, fills=fills, books=books,
                             reward_markets=tuple(self.markets), collateral=Decimal(100_000), volatility=self.volatility)

    def snapshot(self, observed: ObservedState):
        return self.ledger.tick_snapshot([o.order_id for o in observed.open_orders], observed.fills, CURSOR)

    def tick(self):
        observed = self.observe()
        return decide(self.snapshot(observed), observed, TickMemory(), self.params, NOW_TS)[0]

    def stages(self, out: dict[str, list[float]]) -> None:
        """The same tick, stage by stage (what `decide` composes)."""
        t0 = time.perf_counter()
        observed = self.observe()
        t1 = time.perf_counter()
        snapshot = self.snapshot(observed)
        t2 = time.perf_counter()
        synced = sync(snapshot, observed, self.params, NOW_TS)
        t3 = time.perf_counter()
        _, desired = desired_state(synced, observed, self.params, NOW_TS)
        t4 = time.perf_counter()
        act(synced, desired, observed, self.params)
        t5 = time.perf_counter()
        for name, a, b in (("parse", t0, t1), ("snapshot", t1, t2), ("sync", t2, t3), ("desire", t3, t4),
                           ("plan+gate", t4, t5)):
            out[name].append((b - a) * 1000)

    def close(self) -> None:
        self.ledger.close()
        self.dir.cleanup()


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markets", type=int, nargs="+", default=[10, 100])
    ap.add_argument("--history", type=int, nargs="+", default=[0, 10_000, 100_000],
                    help="closed orders (and as many settled fills) in the ledger besides the live ones")
    ap.add_argument("--repeat", type=int, default=300, help="timed ticks per size (after 20 warm-up ticks)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--gc", choices=("service", "default"), default="service",
                    help="service: settle the heap after warm-up as the service does after start-up; default: Python's")
    ap.add_argument("--profile", action="store_true", help="also print a cProfile of the largest size (top 25 by own time)")
    args = ap.parse_args()

    for count in args.markets:
        # every history size at once, their ticks interleaved: a busy machine slows them all alike
        scenarios = [Scenario(count, args.seed, history) for history in args.history]
        try:
            for _ in range(20):
                for sc in scenarios:
                    sc.tick()
            wall: dict[int, list[float]] = {sc.history: [] for sc in scenarios}
            cpu: dict[int, list[float]] = {sc.history: [] for sc in scenarios}
            if args.gc == "service":
                settle_heap()
            with GcMonitor() as collections:
                for _ in range(args.repeat):
                    for sc in scenarios:
                        w, c = time.perf_counter(), time.process_time()
                        sc.tick()
                        cpu[sc.history].append((time.process_time() - c) * 1000)
                        wall[sc.history].append((time.perf_counter() - w) * 1000)
            stages = {sc.history: {k: [] for k in ("parse", "snapshot", "sync", "desire", "plan+gate")} for sc in scenarios}
            for _ in range(max(20, args.repeat // 3)):
                for sc in scenarios:
                    sc.stages(stages[sc.history])
            decisions = {sc.history: sc.tick() for sc in scenarios}
        finally:
            for sc in scenarios:
                sc.close()
        base = statistics.median(cpu[scenarios[0].history])
        for sc in scenarios:
            d, totals = decisions[sc.history], wall[sc.history]
            median, high, cpu_median = statistics.median(totals), p95(totals), statistics.median(cpu[sc.history])
            target = TARGET_MS.get(count)
            print(f"{count} markets, history {sc.history} closed orders + {sc.history} fills ({sc.selected} selected; "
                  f"{len(sc.book_rows)} books × {LEVELS} levels a side, {len(sc.open_rows)} open orders, "
                  f"{len(sc.trade_rows)} trades), {args.repeat} ticks")
            print(f"  tick   median {median:7.2f} ms  p95 {high:7.2f} ms  (cpu median {cpu_median:7.2f} ms)   "
                  f"per market: median {median * 1000 / count:6.0f} µs  p95 {high * 1000 / count:6.0f} µs")
            print(f"  p95 / median {high / median:.2f} (target < 2)")
            print("  stages (median ms): " + "  ".join(f"{k} {statistics.median(v):.2f}" for k, v in stages[sc.history].items()))
            print(f"  outcome: {len(d.desired.orders)} desired, {len(d.gated.cancels)} cancels, {len(d.gated.places)} places, "
                  f"{len(d.plan.kept)} kept, {len(d.gated.dropped)} dropped, {len(d.changes.fills)} fill changes, "
                  f"{len(d.changes.orders)} order updates")
            if target is not None:
                print(f"  target < {target:.0f} ms per tick: {'met' if median < target and high < target else 'NOT met'}")
            if sc is not scenarios[0]:
                ratio = cpu_median / base - 1
                print(f"  cpu vs history {scenarios[0].history}: {ratio * 100:+.1f} % "
                      f"({'within' if abs(ratio) <= 0.2 else 'NOT within'} 20 %)")

        print(f"  gc ({args.gc}) over the {args.repeat * len(scenarios)} timed ticks: {collections.summary()}")

    if args.profile:
        sc = Scenario(max(args.markets), args.seed, max(args.history))
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(50):
            sc.tick()
        profiler.disable()
        sc.close()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
