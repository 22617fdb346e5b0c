"""gate(plan, ...) -> GatedPlan: drop or shrink places that would break a risk limit (pure).

Limits, in order, for each place (hedges first, as planned):
- sells: never more than the shares we hold minus what our other live sells already offer;
- buys: the market's exposure after the place ≤ `max_exposure_per_market_usdc` (or the market's own
  `markets.overrides.<id>.max_exposure_usdc`), and the total ≤
  `max_total_exposure_usdc` — exposure counts every active buy of ours (including intent,
  submitting and unknown ones), foreign buys on the account, and unhedged inventory at cost
  (`polymm.domain.exposure`). A buy that replaces another buy gets NO credit for it: the old order
  counts until observation shows it gone, because a fill can race its cancel (the cancel confirms,
  yet part of the old remainder became inventory) — crediting it lets the market end above its cap.
  Near the cap a replacement therefore waits a tick. A buy that does not fit is shrunk to what
  fits, or dropped when that would leave less than its `min_keep_size`;
- buys need free collateral (balance − open buys); an Unknown balance drops buys (fail closed);
- the rate budget: at most `max_places` places and `max_cancels` cancels per tick (the venue's
  burst sizes); the rest wait for the next tick (`deferred` cancels), and so does a replacement
  whose predecessor's cancel was deferred.
Then the operator's switches and the heartbeat (`OperatorState`, the running loop's): with hedging off
(`polymm cancel --all`, until resume) hedge places are dropped; with the heartbeat not healthy every
place is (the venue would cancel it within seconds). Quoting off (pause, cancel --all, stop
--keep-hedges, or live orders under our key the ledger lacks) desires no quotes at all
(`polymm.desired.state`), so there is none to drop. `exposure_after` is the risk gate's, before
these drops (what the places would add once the switches allow them).
Every dropped, shrunk or deferred action carries its reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from decimal import ROUND_FLOOR, Decimal
from typing import Iterable, Mapping

from polymm.domain.unknown import Unknown, known
from polymm.domain.exposure import BuyExposure, InventoryExposure, exposure_by_market, total_exposure
from polymm.reconciler.plan import Cancel, OrderView, Place, Plan

ZERO = Decimal(0)
SIZE_STEP = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class RiskLimits:
    max_exposure_per_market: Decimal
    max_total_exposure: Decimal
    max_places: int = 60
    max_cancels: int = 120
    # a market's own cap (markets.overrides.<condition id>.max_exposure_usdc) instead of the per-market one
    market_caps: Mapping[str, Decimal] = field(default_factory=dict, hash=False)

    def market_cap(self, condition_id: str) -> Decimal:
        return self.market_caps.get(condition_id.lower(), self.max_exposure_per_market)


@dataclass(frozen=True)
class OperatorState:
    """The running loop's switches and its heartbeat's health: inputs of the tick like any other, so `polymm plan`
    (which reads the loop's, controller/core.py) shows every drop the loop makes."""

    quoting: bool = True
    hedging: bool = True
    heartbeat_healthy: bool = True
    quoting_off: str = ""  # why quoting is off (shown in the desired state's notes)
    heartbeat_problem: str = ""  # why the heartbeat is not healthy

    def to_json(self) -> str:
        return json.dumps({"quoting": self.quoting, "hedging": self.hedging, "heartbeat_healthy": self.heartbeat_healthy,
                           "quoting_off": self.quoting_off, "heartbeat_problem": self.heartbeat_problem}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "OperatorState":
        raw = json.loads(text)
        return cls(bool(raw["quoting"]), bool(raw["hedging"]), bool(raw["heartbeat_healthy"]), str(raw["quoting_off"]),
                   str(raw["heartbeat_problem"]))


@dataclass(frozen=True)
class GatedPlan:
    cancels: tuple[Cancel, ...]
    places: tuple[Place, ...]
    dropped: tuple[tuple[Place, str], ...]
    shrunk: tuple[tuple[Place, Decimal, str], ...]  # (place as sent, original size, reason)
    exposure_before: Mapping[str, Decimal]
    exposure_after: Mapping[str, Decimal]
    deferred: tuple[tuple[Cancel, str], ...] = ()  # cancels past the rate budget, with the reason


def gate(
    plan: Plan,
    orders: Iterable[OrderView],
    foreign_buys: Iterable[BuyExposure],
    inventory: Iterable[InventoryExposure],
    holdings: Mapping[str, Decimal],
    collateral: Decimal | Unknown,
    limits: RiskLimits,
    matched_by_fills: Mapping[str, Decimal] | None = None,
) -> GatedPlan:
    """`orders`: our active ledger orders; `holdings`: shares held per token; `collateral` may be Unknown.
    `matched_by_fills`: shares of each order our fills show matched. A buy counts what they do not show: the
    venue's open-order row can report a match whose trade the trades read has not shown yet, and counting the
    row's remaining would leave those shares in neither the order nor the inventory."""
    orders = list(orders)
    by_fills = matched_by_fills if matched_by_fills is not None else {o.order_id: o.size_matched for o in orders}
    buys = [BuyExposure(o.condition_id, o.price, max(o.size - min(o.size_matched, by_fills.get(o.order_id, ZERO)), ZERO))
            for o in orders if o.side == "BUY"] + list(foreign_buys)
    exposure = exposure_by_market(buys, inventory)
    before = dict(exposure)
    total = total_exposure(exposure)
    by_id = {o.order_id: o for o in orders}
    offered: dict[str, Decimal] = {}
    for o in orders:
        if o.side == "SELL":
            offered[o.token_id] = offered.get(o.token_id, ZERO) + max(o.size - o.size_matched, ZERO)
    free = None if not known(collateral) else collateral - sum((b.price * b.size for b in buys), ZERO)

    cancels = plan.cancels[: limits.max_cancels]
    deferred = tuple((c, f"rate budget: {limits.max_cancels} cancels per tick") for c in plan.cancels[limits.max_cancels:])
    deferred_ids = {c.order_id for c, _ in deferred}

    kept: list[Place] = []
    dropped: list[tuple[Place, str]] = []
    shrunk: list[tuple[Place, Decimal, str]] = []
    for place in plan.places:
        want = place.order
        old = by_id.get(place.after_cancel) if place.after_cancel else None
        if place.after_cancel in deferred_ids:
            dropped.append((place, f"waits for the cancel of {place.after_cancel}, deferred by the rate budget"))
            continue
        if len(kept) >= limits.max_places:
            dropped.append((place, f"rate budget: {limits.max_places} places per tick"))
            continue
        if want.side == "SELL":
            credit = max(old.size - old.size_matched, ZERO) if old is not None and old.side == "SELL" else ZERO
            available = holdings.get(want.token_id, ZERO) - offered.get(want.token_id, ZERO) + credit
            if available < want.size:
                if available >= want.min_keep_size and available > 0:
                    new = replace(want, size=_floor(available))
                    place = replace(place, order=new)
                    shrunk.append((place, want.size, f"holding {available} shares"))
                else:
                    dropped.append((place, f"sell {want.size} > {available} shares held and not offered"))
                    continue
            # a smaller replacement frees nothing this tick: if the cancel fails, the old sell stays
            offered[want.token_id] = offered.get(want.token_id, ZERO) + max(place.order.size - credit, ZERO)
            kept.append(place)
            continue

        credit = ZERO  # never credit a replaced buy: a fill may race its cancel (see the module docstring)
        market_now = exposure.get(want.condition_id, ZERO) - credit
        cap = limits.market_cap(want.condition_id)
        room = min(cap - market_now, limits.max_total_exposure - (total - credit))
        if free is None:
            dropped.append((place, f"collateral balance unknown ({collateral.reason}): no buys (fail closed)"))
            continue
        room = min(room, free + credit)
        size = want.size
        reason = ""
        if want.price * size > room:
            size = _floor(room / want.price) if room > 0 else ZERO
            reason = (f"exposure cap: market {market_now:.2f}/{cap}, total "
                      f"{total - credit:.2f}/{limits.max_total_exposure}, free collateral {free + credit:.2f}")
        if size < want.min_keep_size or size <= 0:
            dropped.append((place, reason or f"size {size} below {want.min_keep_size}"))
            continue
        if size != want.size:
            place = replace(place, order=replace(want, size=size))
            shrunk.append((place, want.size, reason))
        added = want.price * size
        exposure[want.condition_id] = exposure.get(want.condition_id, ZERO) + added
        total += added
        free = free - added
        kept.append(place)

    return GatedPlan(tuple(cancels), tuple(kept), tuple(dropped), tuple(shrunk), before, dict(exposure), deferred)


def switched(gated: GatedPlan, operator: OperatorState) -> GatedPlan:
    """The gated plan less the places the operator's switches and the heartbeat stop (see the module docstring)."""
    places, dropped = gated.places, list(gated.dropped)
    if not operator.hedging:
        dropped += [(p, "hedging off by the operator (cancel --all)") for p in places if p.order.role == "hedge"]
        places = tuple(p for p in places if p.order.role != "hedge")
    if not operator.heartbeat_healthy:
        dropped += [(p, "heartbeat not healthy: placing stopped") for p in places]
        places = ()
    if places is gated.places:
        return gated
    return replace(gated, places=places, dropped=tuple(dropped))


def _floor(size: Decimal) -> Decimal:
    return (size / SIZE_STEP).to_integral_value(rounding=ROUND_FLOOR) * SIZE_STEP
