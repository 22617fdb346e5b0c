"""`polymm status`: what the ledger says, read from a second connection (safe while the loop runs)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text

from polymm.config import PolymmConfig
from polymm.domain.exposure import BuyExposure, InventoryExposure, exposure_by_market, total_exposure
from polymm.statemachines.ledger import Ledger

ZERO = Decimal(0)


def gather_status(cfg: PolymmConfig, path: Path, now: float | None = None) -> dict:
    now = time.time() if now is None else now
    ledger = Ledger(path)
    try:
        last = ledger.last_tick()
        orders = ledger.orders()
        active = [o for o in orders if o.active]
        positions = {t: p for t, p in ledger.positions().items()}
        fills = ledger.fills()
    finally:
        ledger.close()

    summary = (last or {}).get("summary") or {}
    if last is None:
        health, why = "unknown", "no tick has run yet"
    elif summary.get("final"):
        health, why = "stopped", "the service stopped cleanly"
    else:
        health, why = summary.get("health", "unknown"), summary.get("why", "")
        age = now - last["finished_at"]
        stale_after = max(10.0, 20 * cfg.loop.order_check_interval_seconds)
        if age > stale_after:
            health, why = "halted", f"no tick for {age:.0f} s (is the service running?)"

    market_of = {o.token_id: o.condition_id for o in orders}
    market_of.update({p.token_id: p.condition_id for p in positions.values()})
    buys = [BuyExposure(o.condition_id, o.price, o.remaining) for o in active if o.side == "BUY"]
    inventory = [InventoryExposure(p.condition_id, p.size, p.avg_cost) for p in positions.values() if p.size > 0]
    exposure = exposure_by_market(buys, inventory)
    hedged: dict[str, Decimal] = {}
    for o in active:
        if o.side == "SELL":
            hedged[o.token_id] = hedged.get(o.token_id, ZERO) + o.remaining
    today = datetime.fromtimestamp(now, tz=timezone.utc).date()
    fills_today = [f for f in fills if datetime.fromtimestamp(f.first_seen_at, tz=timezone.utc).date() == today]
    return {
        "ledger": str(path),
        "health": health,
        "why": why,
        "last_tick_age_s": round(now - last["finished_at"], 3) if last else None,
        "last_tick": summary.get("tick"),
        "orders_by_state": dict(Counter(o.state for o in orders)),
        "active_orders": [
            {"order_id": o.order_id, "role": o.role, "side": o.side, "price": str(o.price), "size": str(o.size),
             "matched": str(o.size_matched), "state": o.state, "condition_id": o.condition_id, "token_id": o.token_id}
            for o in active
        ],
        "positions": [
            {"token_id": p.token_id, "condition_id": p.condition_id, "size": str(p.size), "avg_cost": str(p.avg_cost),
             "hedge_offered": str(hedged.get(p.token_id, ZERO)),
             "hedge_coverage": float(hedged.get(p.token_id, ZERO) / p.size) if p.size > 0 else None,
             "realized_pnl": str(p.realized_pnl)}
            for p in positions.values() if p.size != 0 or p.realized_pnl != 0
        ],
        "exposure": {cid: str(v) for cid, v in sorted(exposure.items())},
        "exposure_total": str(total_exposure(exposure)),
        "exposure_cap_per_market": str(cfg.strategy.max_exposure_per_market_usdc),
        "exposure_cap_total": str(cfg.strategy.max_total_exposure_usdc),
        "fills_today": len(fills_today),
        "fills_today_volume_usdc": str(sum((f.size * f.price for f in fills_today if f.status != "FAILED"), ZERO)),
        "realized_pnl": str(sum((p.realized_pnl for p in positions.values()), ZERO)),
        "expected_rewards_per_day": summary.get("expected_rewards_per_day"),
        "heartbeat_healthy": summary.get("heartbeat_healthy"),
        "user_channel": summary.get("user_channel"),
        "market_data": summary.get("market_data"),
        "notes": summary.get("notes", []),
        "market_of_token": market_of,
    }


def render_status(status: dict) -> Group:
    colour = {"ok": "green", "degraded": "yellow", "halted": "red", "stopped": "blue"}.get(status["health"], "white")
    head = Text.assemble(("health: ", "bold"), (status["health"], f"bold {colour}"),
                         f"  {status['why']}" if status["why"] else "",
                         f"\nlast tick #{status['last_tick']} {status['last_tick_age_s']} s ago" if status["last_tick_age_s"] is not None else "",
                         f"   fills today {status['fills_today']} (${float(status['fills_today_volume_usdc']):.2f})",
                         f"   realised PnL ${float(status['realized_pnl']):.4f}",
                         f"   est. rewards ${status['expected_rewards_per_day'] or 0}/day",
                         f"\nmarket data: {_freshness(status.get('market_data'))}")
    states = Table(title="Orders by state")
    states.add_column("state")
    states.add_column("count", justify="right")
    for state, n in sorted(status["orders_by_state"].items()):
        states.add_row(state, str(n))
    exposure = Table(title=f"Exposure (cap ${status['exposure_cap_per_market']}/market, "
                           f"${status['exposure_total']}/${status['exposure_cap_total']} total)")
    exposure.add_column("market")
    exposure.add_column("USDC", justify="right")
    for cid, v in status["exposure"].items():
        exposure.add_row(cid[:18] + "…", f"{float(v):.2f}")
    positions = Table(title="Positions and hedge coverage")
    for col in ("token", "size", "avg cost", "hedge offered", "coverage", "realised"):
        positions.add_column(col)
    for p in status["positions"]:
        cov = "—" if p["hedge_coverage"] is None else f"{p['hedge_coverage']:.0%}"
        positions.add_row(p["token_id"][:12] + "…", p["size"], f"{float(p['avg_cost']):.4f}", p["hedge_offered"], cov,
                          p["realized_pnl"])
    return Group(head, states, exposure, positions)


def _freshness(md: dict | None) -> str:
    if not md:
        return "unknown"
    if md.get("backend") == "redis":
        age = md.get("data_service_age_s")
        return "Redis; data service " + ("NOT writing" if age is None else f"last wrote {age} s before the last tick")
    return f"in-process; books {md.get('books_age_s')} s, market list {md.get('markets_age_s')} s old at the last tick"
