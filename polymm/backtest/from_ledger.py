"""A report's input from a live or paper ledger (`polymm report`): polymm's own record, not the venue's.

What a ledger holds and what it cannot know:
- fills (price, size, side, maker or taker): trading cash flows per market, fills and volume;
- the tick journal: exposure per market over time and the expected $/day of each quoted market;
- positions still held are marked at the token's last fill price (the ledger has no order books);
- taker fees: as the ledger recorded them on each fill;
- rewards and rebates are the venue's: a ledger does not hold them, so they are 0 here — a
  backtest's report takes them from the simulator, and live runs should compare with the venue's
  rewards page. No markouts (they need the books after each fill).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from polymm.backtest.lockstep import BacktestOptions, RunRecord
from polymm.backtest.truth import FillRecord
from polymm.config import PolymmConfig
from polymm.ledger import Ledger

NOTE = ("from the ledger: rewards and rebates are not recorded there (0 here); held shares are marked at "
        "their last fill price; no markouts")


def record_from_ledger(path: Path, cfg: PolymmConfig) -> RunRecord:
    ledger = Ledger(path)
    try:
        fills = [f for f in ledger.fills() if not f.reversed and f.status != "FAILED"]
        ticks = [t for t in ledger.recent_ticks(200_000) if not t["summary"].get("final")]
    finally:
        ledger.close()
    fills.sort(key=lambda f: (f.match_time, f.trade_id, f.order_id))
    start = min([t["started_at"] for t in ticks] + [float(f.match_time) for f in fills], default=0.0)
    end = max([t["finished_at"] for t in ticks] + [float(f.match_time) for f in fills], default=start)
    record = RunRecord(BacktestOptions(scenario="ledger", hours=max((end - start) / 3600, 1e-9), seed=0, markets=0),
                       cfg.model_dump(mode="json"), start=start, end=end, ticks=len(ticks))
    cash: dict[str, Decimal] = defaultdict(Decimal)
    shares: dict[str, Decimal] = defaultdict(Decimal)
    market_of: dict[str, str] = {}
    last_price: dict[str, Decimal] = {}
    cost: dict[str, Decimal] = defaultdict(Decimal)
    fees: dict[str, Decimal] = defaultdict(Decimal)
    for f in fills:
        fees[f.condition_id] += getattr(f, "fee", Decimal(0))
        sign = 1 if f.side == "BUY" else -1
        cash[f.condition_id] -= sign * f.size * f.price
        if f.side == "BUY":
            cost[f.token_id] += f.size * f.price
        elif shares[f.token_id] > 0:
            cost[f.token_id] -= cost[f.token_id] * min(f.size, shares[f.token_id]) / shares[f.token_id]
        shares[f.token_id] += sign * f.size
        market_of[f.token_id] = f.condition_id
        last_price[f.token_id] = f.price
        record.fills.append(FillRecord(at=float(f.match_time), condition_id=f.condition_id, token_id=f.token_id,
                                       side=f.side, price=float(f.price), size=float(f.size), liquidity=f.liquidity or "",
                                       fee=float(getattr(f, "fee", 0))))
    holdings: dict[str, dict] = {}
    for token, size in shares.items():
        if size > 0:
            row = holdings.setdefault(market_of[token], {"value": 0.0, "cost": 0.0, "shares": {}})
            row["value"] += float(size * last_price[token])
            row["cost"] += float(cost[token])
            row["shares"][token] = float(size)
    previous = None
    for t in ticks:
        s = t["summary"]
        at = t["finished_at"]
        if previous is not None:
            dt = at - previous[0]
            for cid, per_day in previous[1].items():
                record.expected_by_market[cid] += per_day * dt / 86_400
                record.selected_seconds[cid] += dt
        previous = (at, s.get("expected_by_market") or {})
        exposure = {k: float(v) for k, v in (s.get("exposure") or {}).items()}
        record.series.append({"t": at, "equity": 0.0, "rewards": 0.0, "rebates": 0.0, "fees": 0.0,
                              "trading_pnl": _cash_until(record.fills, at), "inventory_value": 0.0,
                              "inventory_cost": 0.0, "open_buy_notional": sum(exposure.values()),
                              "exposure_by_market": exposure, "fills": sum(1 for f in record.fills if f.at <= at)})
    record.final = {"cash_by_market": {k: float(v) for k, v in cash.items()}, "holdings_by_market": holdings,
                    "rewards_by_market": {}, "rebates_by_market": {},
                    "fees_by_market": {k: float(v) for k, v in fees.items() if v}, "note": NOTE}
    return record


def _cash_until(fills: list[FillRecord], at: float) -> float:
    """Realised cash flow of the fills up to `at` (an approximate trading curve: no marks in a ledger)."""
    return round(sum((-1 if f.side == "BUY" else 1) * f.price * f.size for f in fills if f.at <= at), 6)
