"""Resolving our orders' states from observation (pure): what each active ledger order became at the venue.

Invariants:
- nothing is guessed: an order moves only on what the venue showed (in the open-orders list, or
  fills in trades), or on the explicit absence of it once the grace window has passed;
- with the open-orders section Unknown, no order is resolved by absence;
- an order placed less than `grace_s` ago that is missing from the list is NOT taken as gone
  (the venue's read side lags its write side);
- `intent` orders (written before a crash, maybe sent) are treated like `unknown` ones;
- with our fills Unknown in an order's market (the trades read failed, or a trade row of that
  market did not parse), an order missing from the open orders is neither filled nor cancelled:
  the list drops fully matched orders too, so its absence proves nothing until the trades read
  succeeds. It stays as it is, its whole remaining size counting against the cap, and its market
  is held (`vanished_while_fills_unknown`): no new buy there meanwhile. Likewise an order whose row says
  fully matched while our fills cannot show it stays as it is until they can.

`size_matched` comes from the venue's open-order row, or from the sum of our fills for that order,
whichever is larger (the open-orders list drops an order once it is fully matched).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable, Mapping

from polymm.domain.types import Fill, LiveOrder
from polymm.domain.unknown import Unknown, known
from polymm.reconciler.snapshot import StoredOrder

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    order_id: str
    triggers: tuple[str, ...]  # applied in order; may be empty when only size_matched changes
    size_matched: Decimal
    reason: str


def matched_by_order(fills: Iterable[Fill]) -> dict[str, Decimal]:
    """Our matched size per order id from fills that are not FAILED."""
    out: dict[str, Decimal] = {}
    for f in fills:
        if f.status != "FAILED":
            out[f.order_id] = out.get(f.order_id, ZERO) + f.size
    return out


def observation_updates(
    records: Iterable[StoredOrder],
    open_orders: Mapping[str, LiveOrder] | Unknown,
    matched: Mapping[str, Decimal],
    now: float,
    grace_s: float,
    fills_unknown: bool | frozenset[str] = False,
) -> list[OrderUpdate]:
    """State changes for active orders; `open_orders` Unknown: the list was not read this tick.
    `fills_unknown`: True when this tick's trades read failed, or the markets whose trade rows did not parse."""
    updates: list[OrderUpdate] = []
    listed = known(open_orders)
    for rec in records:
        live = open_orders.get(rec.order_id) if listed else None
        filled = max(rec.size_matched, matched.get(rec.order_id, ZERO), live.size_matched if live else ZERO)
        if live is None and listed and filled < rec.size and _fills_unknown_for(rec, fills_unknown):
            continue  # gone from the list, but filled or cancelled cannot be told apart yet
        if filled >= rec.size > matched.get(rec.order_id, ZERO) and _fills_unknown_for(rec, fills_unknown):
            # the venue's row (a stale listing shows an order's current match) says fully matched, but no fill of
            # ours shows it yet: closing the order now would leave the shares in neither the order nor the
            # position, and the market could be bought past its cap; it waits for the trades read
            continue
        state = rec.state
        triggers: list[str] = []
        reason = ""
        if filled >= rec.size:
            triggers = _path_to_filled(state)
            reason = "fully matched"
        elif live is not None:
            if state in ("intent", "submitting", "unknown"):
                triggers = (["submit"] if state == "intent" else []) + ["accept"]
                reason = "seen open at the venue"
                state = "open"
            if filled > 0 and state in ("open", "partially_filled") and (state != "partially_filled" or filled > rec.size_matched):
                triggers.append("partial_fill")
                reason = reason or "partly matched"
        elif listed:
            since = rec.submitted_at if rec.submitted_at is not None else rec.created_at
            if now - since < grace_s:
                if filled > rec.size_matched and state in ("open", "partially_filled"):
                    triggers, reason = ["partial_fill"], "partly matched (within the grace window)"
            elif state in ("intent", "submitting", "unknown"):
                if filled > 0:
                    triggers = (["submit"] if state == "intent" else []) + ["partial_fill", "confirm_cancel"]
                    reason = "partly matched, then gone from the venue"
                else:
                    triggers = ["reject"] if state == "intent" else (["vanish"] if state == "unknown" else ["lose_reply", "vanish"])
                    reason = "never seen at the venue after the grace window"
            elif state in ("open", "partially_filled", "cancel_requested"):
                triggers = (["partial_fill"] if filled > rec.size_matched and state != "cancel_requested" else []) + ["confirm_cancel"]
                reason = "gone from the venue's open orders (cancelled)"
        if triggers or filled > rec.size_matched:
            updates.append(OrderUpdate(rec.order_id, tuple(triggers), filled, reason or "matched size grew"))
    return updates


def _fills_unknown_for(rec: StoredOrder, fills_unknown: bool | frozenset[str]) -> bool:
    if isinstance(fills_unknown, bool):
        return fills_unknown
    return rec.condition_id in fills_unknown


def vanished_while_fills_unknown(records: Iterable[StoredOrder], open_orders: Mapping[str, LiveOrder] | Unknown,
                                 fills_unknown: bool | frozenset[str]) -> frozenset[str]:
    """Markets holding an active order of ours that is missing from the open orders while its fills are
    Unknown: the market is held (no new buy) until the trades read tells what became of it."""
    if not known(open_orders) or not fills_unknown:
        return frozenset()
    return frozenset(r.condition_id for r in records
                     if r.order_id not in open_orders and _fills_unknown_for(r, fills_unknown))


def _path_to_filled(state: str) -> list[str]:
    if state == "intent":
        return ["submit", "fill"]
    return ["fill"]
