"""The judgement: RELIABILITY.md's promises checked against the venue's truth (`/_sim/state`), never the ledger's word.

At every sampled moment (`check_continuous`): one live order per slot, exposure under the cap. K ticks after
the last restart (`check_settled`): no orphans, every sellable position hedged, fills counted once, the
ledger's positions equal to the venue's, no self trades. Counts accumulate in an `Audit`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from polymm.domain.positions import PositionRecord, apply_to_position
from polymm.ledger import Ledger
from polymm.observed.parse import our_fills

from .venue import Admin

ZERO = Decimal(0)
CENT = Decimal("0.01")


@dataclass
class Audit:
    duplicates: int = 0
    duplicate_slots: list[str] = field(default_factory=list)
    breaches: list[str] = field(default_factory=list)  # market, exposure (open buys + position cost), when
    orphans: int = 0
    orphan_ids: list[str] = field(default_factory=list)
    exposure_breaches: int = 0
    max_exposure_ratio: float = 0.0
    unhedged: int = 0
    unhedged_tokens: list[str] = field(default_factory=list)
    fills_double_counted: int = 0
    fills_missing: int = 0
    position_mismatches: list[str] = field(default_factory=list)
    self_trades: int = 0
    live_orders: int = 0
    positions: dict[str, Decimal] = field(default_factory=dict)
    unsellable: int = 0  # positions in markets that are closed or not accepting orders (not hedgeable, not judged)
    locked: int = 0  # positions with shares bought too recently to sell (the venue refuses the sell for now)


def account(state: dict, address: str) -> dict:
    for addr, acct in state["accounts"].items():
        if addr.lower() == address.lower():
            return acct
    return {"open_orders": [], "positions": {}, "api_keys": [], "collateral": 0}


def venue_fills(state: dict, address: str) -> list:
    """Our fills in the venue's trade list (the same parsing as the controller's, applied to the truth)."""
    acct = account(state, address)
    keys = acct.get("api_keys") or [""]
    out = []
    for trade in sorted(state["trades"], key=lambda t: int(t["match_time"])):
        seen: set[tuple[str, str]] = set()
        for key in keys:
            for f in our_fills(trade, key, address):
                if (f.trade_id, f.order_id) not in seen:
                    seen.add((f.trade_id, f.order_id))
                    out.append(f)
    return out


def venue_positions(state: dict, address: str) -> dict[str, PositionRecord]:
    """Per token: size held at the venue, and its cost from our venue fills (average-cost rule)."""
    folded: dict[str, PositionRecord] = {}
    for f in venue_fills(state, address):
        if f.status == "FAILED":
            continue
        pos = folded.get(f.token_id) or PositionRecord(f.token_id, f.condition_id, ZERO, ZERO, ZERO)
        folded[f.token_id] = apply_to_position(pos, f.side, f.size, f.price)
    held = {t: Decimal(str(s)) for t, s in account(state, address)["positions"].items()}
    out = {}
    for token, size in held.items():
        pos = folded.get(token)
        avg = pos.avg_cost if pos is not None and pos.size > 0 else ZERO
        out[token] = PositionRecord(token, pos.condition_id if pos else "", size, size * avg, ZERO)
    return out


def self_trades(state: dict, address: str) -> list[str]:
    """Trades in which we were the taker and a maker at once (we sold to ourselves)."""
    out = []
    for trade in state["trades"]:
        makers = {m["maker_address"].lower() for m in trade.get("maker_orders") or []}
        if trade["maker_address"].lower() == address.lower() and address.lower() in makers:
            out.append(trade["id"])
    return out


def live_orders(state: dict, address: str) -> list[dict]:
    return [o for o in account(state, address)["open_orders"] if o.get("status", "LIVE") == "LIVE"]


def remaining(o: dict) -> Decimal:
    return Decimal(o["original_size"]) - Decimal(o["size_matched"])


def exposure_by_market(state: dict, address: str) -> dict[str, Decimal]:
    """Venue truth: open buy notional + position cost, per market."""
    out: dict[str, Decimal] = {}
    for o in live_orders(state, address):
        if o["side"] == "BUY":
            out[o["market"]] = out.get(o["market"], ZERO) + Decimal(o["price"]) * remaining(o)
    for pos in venue_positions(state, address).values():
        if pos.size > 0 and pos.condition_id:
            out[pos.condition_id] = out.get(pos.condition_id, ZERO) + pos.cost
    return out


def check_continuous(state: dict, address: str, cap: Decimal, audit: Audit) -> None:
    """What must hold at every moment: one live order per slot, exposure under the cap."""
    slots = Counter((o["asset_id"], o["side"]) for o in live_orders(state, address))
    for slot, n in slots.items():
        if n > 1:
            audit.duplicates += 1
            audit.duplicate_slots.append(f"{slot[0][:12]}…/{slot[1]}×{n} at t={state['now']}")
    for market, value in exposure_by_market(state, address).items():
        audit.max_exposure_ratio = max(audit.max_exposure_ratio, float(value / cap))
        if value > cap + Decimal("0.000001"):
            audit.exposure_breaches += 1
            if len(audit.breaches) < 20:
                buys = [f"{o['asset_id'][:8]}… {remaining(o)}@{o['price']} {o['id'][:10]}…"
                        for o in live_orders(state, address) if o["side"] == "BUY" and o["market"] == market]
                held = [f"{t[:8]}… {p.size} cost {p.cost:.2f}" for t, p in venue_positions(state, address).items()
                        if p.condition_id == market and p.size > 0]
                audit.breaches.append(f"exposure {value:.2f} > cap {cap} in {market[:12]}… at t={state['now']}: "
                                      f"buys [{', '.join(buys)}], held [{', '.join(held)}]")



def check_settled(state: dict, address: str, ledger_path: Path, admin: Admin, audit: Audit) -> None:
    """What must hold K ticks after the last restart: no orphans, every position hedged, fills counted once."""
    mine = live_orders(state, address)
    audit.live_orders = len(mine)
    with Ledger(ledger_path) as ledger:
        records = {o.order_id: o for o in ledger.orders()}
        fills = ledger.fills()
        positions = ledger.positions()
    for o in mine:
        rec = records.get(o["id"])
        if rec is None or not rec.active:
            audit.orphans += 1
            audit.orphan_ids.append(f"{o['id'][:12]}… ({'not in ledger' if rec is None else rec.state})")
    offered: dict[str, Decimal] = {}
    for o in mine:
        if o["side"] == "SELL":
            offered[o["asset_id"]] = offered.get(o["asset_id"], ZERO) + remaining(o)
    truth = venue_positions(state, address)
    acct_locked = account(state, address).get("locked") or {}
    closed = {cid for cid, m in (state.get("lifecycle") or {}).items() if m.get("closed") or not m.get("accepting_orders", True)}
    for token, pos in truth.items():
        audit.positions[token] = pos.size
        if pos.size <= 0 or not pos.condition_id:
            continue
        if pos.condition_id in closed:  # the venue takes no sell there; a resolved market's shares are redeemed
            audit.unsellable += 1
            continue
        min_size = Decimal(str(admin.market(pos.condition_id)["minimum_order_size"]))
        # shares bought in the last `--balance-delay` simulated seconds cannot be sold yet: the venue refuses
        # that sell, so they are not judged (the final phase moves the clock past the lock and judges again)
        locked = Decimal(str(acct_locked.get(token, 0)))
        if locked > 0:
            audit.locked += 1
        hedgeable = ((pos.size - locked) / CENT).to_integral_value(rounding="ROUND_FLOOR") * CENT
        if hedgeable >= min_size and offered.get(token, ZERO) < hedgeable:
            audit.unhedged += 1
            audit.unhedged_tokens.append(f"{token[:12]}… {pos.size} held, {offered.get(token, ZERO)} offered")
    audit.self_trades = len(self_trades(state, address))
    keys = Counter((f.trade_id, f.order_id) for f in fills)
    audit.fills_double_counted += sum(n - 1 for n in keys.values() if n > 1)
    truth_keys = {(f.trade_id, f.order_id) for f in venue_fills(state, address)}
    audit.fills_missing = len(truth_keys - set(keys))
    for token in set(truth) | set(positions):
        venue_size = truth[token].size if token in truth else ZERO
        ledger_size = positions[token].size if token in positions else ZERO
        if venue_size != ledger_size:
            audit.position_mismatches.append(f"{token[:12]}… ledger {ledger_size} ≠ venue {venue_size}")
