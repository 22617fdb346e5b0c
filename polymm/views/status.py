"""`polymm status`: what the ledger says, read from a second connection (safe while the loop runs)."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text

from polymm.config import PolymmConfig
from polymm.controller import account
from polymm.domain.exposure import BuyExposure, InventoryExposure, exposure_by_market, total_exposure
from polymm.ledger import Ledger
from polymm.text import catalog
from polymm.text import format as fmt

ZERO = Decimal(0)
UNSETTLED = ("intent", "submitting", "unknown", "cancel_requested")


def gather_status(cfg: PolymmConfig, path: Path, now: float | None = None) -> dict:
    now = time.time() if now is None else now
    ledger = Ledger(path)
    try:
        last = ledger.last_tick()
        orders = ledger.orders()
        active = [o for o in orders if o.active]
        positions = {t: p for t, p in ledger.positions().items()}
        fills = ledger.fills()
        merges = ledger.merges()
        merging_off = ledger.get_cursor("merge_pairs_off")  # polymm.controller.merger.CURSOR
        cursors = (ledger.get_cursor(catalog.CURSOR), ledger.get_cursor(account.CURSOR))
    finally:
        ledger.close()

    summary = (last or {}).get("summary") or {}
    health, why = health_now(cfg, path, last, now, active)

    names = catalog.parse(cursors[0])
    wallet = _account(cursors[1])
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

    def tick(cid: str) -> Decimal | None:
        return names[cid].tick_size if cid in names else None

    def question(cid: str) -> str | None:
        return names[cid].question if cid in names else None

    def outcome(cid: str, token_id: str) -> str | None:
        return names[cid].outcomes.get(token_id) if cid in names else None

    def position_row(p) -> dict:
        offered = hedged.get(p.token_id, ZERO)
        name = names.get(p.condition_id)
        minimum = name.min_order_size if name is not None else None
        dust = p.size > 0 and offered == 0 and minimum is not None and p.size < minimum
        per_share = name.redemption.get(p.token_id) if name is not None and name.redemption else None
        why = None
        if p.size > 0 and per_share is not None:
            why = (f"market resolved: redeemable at {fmt.money(per_share)} a share; it cannot be sold, so it is not "
                   "hedged")
        elif p.size > 0 and name is not None and not name.trading:
            why = "market closed or not accepting orders: the venue takes no sell there"
        elif dust:
            why = f"dust: below the {fmt.shares(minimum)}-share minimum order, no sell possible"
        return {"token_id": p.token_id, "condition_id": p.condition_id, "question": question(p.condition_id),
                "outcome": outcome(p.condition_id, p.token_id), "size": fmt.shares(p.size),
                "avg_cost": fmt.avg_price(p.avg_cost, tick(p.condition_id)),
                "hedge_offered": fmt.shares(offered),
                "hedge_coverage": float(offered / p.size) if p.size > 0 else None,
                "not_hedged_because": why,
                # a resolved market's position at what it redeems for (1 or 0 a share); null while unresolved
                "redemption_value": fmt.money_json(p.size * per_share) if per_share is not None and p.size > 0 else None,
                "realized_pnl": fmt.money_json(p.realized_pnl)}

    return {
        "ledger": str(path),
        "health": health,
        "why": why,
        "last_tick_age_s": round(now - last["finished_at"], 3) if last else None,
        "last_tick": summary.get("tick"),
        "orders_by_state": dict(Counter(o.state for o in orders)),
        "active_orders": [
            {"order_id": o.order_id, "role": o.role, "side": o.side, "price": fmt.price(o.price, tick(o.condition_id)),
             "size": fmt.shares(o.size), "matched": fmt.shares(o.size_matched), "state": o.state,
             "condition_id": o.condition_id, "token_id": o.token_id, "question": question(o.condition_id),
             "outcome": outcome(o.condition_id, o.token_id)}
            for o in active
        ],
        "positions": [position_row(p) for p in positions.values() if p.size != 0 or p.realized_pnl != 0],
        "exposure": {cid: fmt.money_json(v) for cid, v in sorted(exposure.items())},
        "exposure_total": fmt.money_json(total_exposure(exposure)),
        "exposure_cap_per_market": fmt.money_json(cfg.strategy.max_exposure_per_market_usdc),
        "exposure_cap_total": fmt.money_json(cfg.strategy.max_total_exposure_usdc),
        "fills_today": len(fills_today),
        "fills_today_volume_usdc": fmt.money_json(sum((f.size * f.price for f in fills_today if f.status != "FAILED"), ZERO)),
        "realized_pnl": fmt.money_json(sum((p.realized_pnl for p in positions.values()), ZERO)),
        # taker fees our fills paid (the ledger: each fill's fee at its trade's fee_rate_bps; failed trades excluded)
        "fees_paid_today": fmt.money_json(sum((f.fee for f in fills_today if f.status != "FAILED"), ZERO)),
        "fees_paid_total": fmt.money_json(sum((f.fee for f in fills if f.status != "FAILED"), ZERO)),
        "rebates_paid_yesterday": wallet.get("rebates_paid_yesterday"),
        "expected_rewards_per_day": fmt.money_json(summary.get("expected_rewards_per_day")),
        "rewards_paid_today": wallet.get("rewards_paid_today"),
        # yesterday's rewards as the venue reports them, and what it paid for them (nothing under $1)
        "rewards_earned_yesterday": wallet.get("rewards_earned_yesterday"),
        "rewards_paid_yesterday": wallet.get("rewards_paid_yesterday"),
        "balance_usdc": wallet.get("balance"),
        "allowance_usdc": wallet.get("allowance"),
        "account_as_of": wallet.get("at"),
        "account_problem": wallet.get("problem"),
        "heartbeat_healthy": summary.get("heartbeat_healthy"),
        # YES+NO pairs merged into collateral through the relayer (polymm.controller.merger)
        "merges": {"off": merging_off or None, "confirmed": sum(1 for m in merges if m["state"] == "CONFIRMED"),
                   "pending": sum(1 for m in merges if m["state"] in ("SIGNED", "SUBMITTED")),
                   "failed": sum(1 for m in merges if m["state"] == "FAILED"),
                   "pairs_merged": fmt.shares(sum((m["amount"] for m in merges if m["state"] == "CONFIRMED"), ZERO)),
                   "pnl": fmt.money_json(sum((m["pnl"] for m in merges if m["state"] == "CONFIRMED"), ZERO)),
                   "recent": [{"merge_id": m["merge_id"], "condition_id": m["condition_id"],
                               "amount": fmt.shares(m["amount"]), "state": m["state"],
                               "relayer_state": m["relayer_state"], "transaction_id": m["transaction_id"],
                               "error": m["error"]} for m in merges[-5:]]},
        "user_channel": summary.get("user_channel"),
        "market_data": summary.get("market_data"),
        "notes": summary.get("notes", []),
        "market_of_token": market_of,
        "markets": {cid: {"question": n.question, "outcomes": dict(n.outcomes), "tick_size": str(n.tick_size)}
                    for cid, n in sorted(names.items()) if cid in exposure or any(v == cid for v in market_of.values())},
    }


def _account(text: str | None) -> dict:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _label(status: dict, cid: str, token_id: str | None = None) -> str:
    market = status.get("markets", {}).get(cid)
    if market is None:
        return fmt.market_label(None, None, cid)
    return fmt.market_label(market["question"], market["outcomes"].get(token_id) if token_id else None, cid)


def _pairs_held(status: dict) -> int:
    """Markets where both outcomes are held: only then does it matter that merging is off (a notice on every
    status would be noise the operator learns to skip)."""
    held: dict[str, int] = {}
    for p in status["positions"]:
        if Decimal(p["size"].replace(",", "")) > 0:
            held[p["condition_id"]] = held.get(p["condition_id"], 0) + 1
    return sum(1 for n in held.values() if n >= 2)


def _rewards_line(status: dict) -> str:
    text = f"rewards: est. {fmt.money(status['expected_rewards_per_day'])}/day"
    if status.get("rewards_paid_today") is not None:
        text += f", paid today {fmt.money(status['rewards_paid_today'])} (venue)"
    elif status.get("account_problem"):
        text += f", paid today unknown ({status['account_problem']})"
    if status.get("rewards_earned_yesterday") is not None:
        text += (f"; yesterday earned {fmt.money(status['rewards_earned_yesterday'])}, "
                 f"paid {fmt.money(status['rewards_paid_yesterday'])} (nothing under $1)")
    return text


def _fees_line(status: dict) -> str:
    text = (f"fees: taker {fmt.money(status['fees_paid_today'])} today, {fmt.money(status['fees_paid_total'])} "
            "in all (ledger)")
    if status.get("rebates_paid_yesterday") is not None:
        text += f"; rebates {fmt.money(status['rebates_paid_yesterday'])} yesterday (venue)"
    return text


def _wallet_line(status: dict) -> str:
    if status.get("balance_usdc") is None:
        why = status.get("account_problem") or "not read yet"
        return f"wallet: balance unknown ({why})"
    allowance = status.get("allowance_usdc")
    shown = "unknown" if allowance is None else allowance if allowance == "unlimited" else fmt.money(allowance)
    return f"wallet: balance {fmt.money(status['balance_usdc'])}, allowance {shown}"


def health_now(cfg: PolymmConfig, path: Path, last: dict | None, now: float, active=()) -> tuple[str, str]:
    """Health as of now, not as of the last journaled tick: a journal older than a few ticks is itself
    `degraded` (with its age), a loop that is gone is `halted`, a stop says what it left at the venue."""
    from polymm.controller.lock import live_owner

    summary = (last or {}).get("summary") or {}
    if last is None:
        return "unknown", "no tick has run yet"
    if summary.get("final"):
        unsettled = Counter(o.state for o in active if o.state in UNSETTLED)
        pending = ", ".join(f"{n} {state}" for state, n in sorted(unsettled.items()))
        if "live_at_venue_after_stop" not in summary:  # a stop that did not read the venue back
            return "stopped", (f"the service stopped with orders not settled: {pending}" if unsettled
                               else "the service stopped cleanly")
        live = summary.get("live_at_venue_after_stop")
        unhedged = summary.get("unhedged") or {}
        if live is None:
            left = "our open orders could not be read after the cancels"
        elif live:
            left = f"{len(live)} order(s) of ours still live after the cancels (the venue's heartbeat timeout removes them)"
        else:
            left = "no order of ours left at the venue"
        held = f"; {len(unhedged)} position(s) left unhedged" if unhedged else ""
        if unsettled:  # the ledger's view: cancels it has not seen confirmed
            held += f"; orders not settled in the ledger: {pending}"
        return "stopped", f"the service stopped: {left}{held}"
    health, why = summary.get("health", "unknown"), summary.get("why", "")
    age = now - last["finished_at"]
    interval = cfg.loop.order_check_interval_seconds
    if age > max(5.0, 5 * interval):
        if live_owner(path) is None:
            return "halted", f"no polymm loop is running on this ledger (last tick {age:.0f} s ago, not a clean stop)"
        if age > max(10.0, 20 * interval):
            return "halted", f"no tick for {age:.0f} s (the loop is alive but not ticking)"
        return "degraded", f"last tick {age:.1f} s ago (ticks every {interval:g} s); as of then: {health}" + (
            f" — {why}" if why else "")
    return health, why


def render_status(status: dict) -> Group:
    colour = {"ok": "green", "degraded": "yellow", "halted": "red", "stopped": "blue"}.get(status["health"], "white")
    head = Text.assemble(("health: ", "bold"), (status["health"], f"bold {colour}"),
                         f"  {fmt.visible(status['why'])}" if status["why"] else "",
                         f"\nlast tick #{status['last_tick']} {status['last_tick_age_s']:.1f} s ago"
                         if status["last_tick_age_s"] is not None else "",
                         f"   fills today {status['fills_today']} ({fmt.money(status['fills_today_volume_usdc'])})",
                         f"   realised PnL {fmt.money(status['realized_pnl'])}",
                         f"\nmerges: {status['merges']['confirmed']} confirmed ({status['merges']['pairs_merged']} pairs, "
                         f"P&L {fmt.money(status['merges']['pnl'])}), {status['merges']['pending']} pending, "
                         f"{status['merges']['failed']} failed" if status.get("merges") and (status["merges"]["confirmed"]
                         or status["merges"]["pending"] or status["merges"]["failed"]) else "",
                         f"\nmerging YES+NO pairs is off: {status['merges']['off']}"
                         if (status.get("merges") or {}).get("off") and _pairs_held(status) else "",
                         f"\n{_rewards_line(status)}",
                         f"\n{_fees_line(status)}",
                         f"\n{_wallet_line(status)}",
                         f"\nmarket data: {_freshness(status.get('market_data'))}")
    states = Table(title="Orders by state")
    states.add_column("state")
    states.add_column("count", justify="right")
    for state, n in sorted(status["orders_by_state"].items()):
        states.add_row(state, str(n))
    orders = Table(title=f"Active orders ({len(status['active_orders'])})")
    for col, just in (("market", "left"), ("outcome", "left"), ("role", "left"), ("side", "left"), ("price", "right"),
                      ("size", "right"), ("matched", "right"), ("state", "left")):
        orders.add_column(col, justify=just, overflow="fold")
    for o in status["active_orders"]:
        orders.add_row(_label(status, o["condition_id"]), o["outcome"] or "?", o["role"], o["side"], o["price"],
                       o["size"], o["matched"], o["state"])
    exposure = Table(title=f"Exposure (cap {fmt.money(status['exposure_cap_per_market'])}/market; "
                           f"{fmt.money(status['exposure_total'])} of {fmt.money(status['exposure_cap_total'])} total)")
    exposure.add_column("market", overflow="fold")
    exposure.add_column("USDC", justify="right")
    for cid, v in status["exposure"].items():
        exposure.add_row(_label(status, cid), fmt.money(v))
    positions = Table(title="Positions and hedge coverage")
    for col, just in (("market", "left"), ("outcome", "left"), ("size", "right"), ("avg cost", "right"),
                      ("hedge offered", "right"), ("coverage", "left"), ("realised", "right")):
        positions.add_column(col, justify=just, overflow="fold")
    for p in status["positions"]:
        cov = p["not_hedged_because"] or fmt.percent(p["hedge_coverage"])
        if p.get("redemption_value") is not None:
            cov = f"redeems for {fmt.money(p['redemption_value'])} — {cov}"
        positions.add_row(_label(status, p["condition_id"]), p["outcome"] or "?", p["size"], p["avg_cost"],
                          p["hedge_offered"], cov, fmt.money(p["realized_pnl"]))
    return Group(head, states, orders, exposure, positions)


def _freshness(md: dict | None) -> str:
    if not md:
        return "unknown"
    if md.get("backend") == "redis":
        age = md.get("data_service_age_s")
        return "Redis; data service " + ("NOT writing" if age is None else f"last wrote {age} s before the last tick")
    return f"in-process; books {md.get('books_age_s')} s, market list {md.get('markets_age_s')} s old at the last tick"
