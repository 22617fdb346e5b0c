"""plan(desired, observed, orders, policy, now) -> Plan: the minimal cancels and places (pure).

Invariants (checked by the stateful property tests):
- at most one live order per slot: a place is planned only into a slot with no active order, and
  a replacement waits for its predecessor's cancel (`after_cancel`: the executor sends it only
  when that cancel is confirmed in the same tick);
- an order in `intent`, `submitting` or `unknown` occupies its slot: nothing is placed there until
  observation resolves it;
- Unknown sections are held: with the open-orders list Unknown nothing is placed, and no order is
  cancelled because it is missing; cancels of orders we no longer want still go out (fail closed:
  stop placing, keep cancelling where we can);
- a fixed point: when the live orders match the desired ones within tolerance, the plan is empty;
- hedges come before quotes.
Tolerance: a live order is kept when |live price − desired price| ≤ `price_tolerance` (the config's
`price_deviation_threshold_bps`, an absolute price difference) — or at any price for a hedge whose
`keep_any_price` is set — and its remaining size equals the desired size or is at least the
desired order's `min_keep_size`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable, Mapping, Protocol, Sequence

from polymm.desired.state import DesiredOrder, DesiredState
from polymm.domain.terms import HasOrderTerms, OrderTerms
from polymm.domain.ticks import is_valid_price
from polymm.domain.types import LiveOrder
from polymm.domain.unknown import Unknown, known
from polymm.statemachines.orders import PENDING_STATES, RESTING_STATES


class OrderView(HasOrderTerms, Protocol):
    """One of our active orders as the plan reads it: its terms, what of it is matched, its state."""

    size_matched: Decimal
    state: str


@dataclass(frozen=True, slots=True)
class PlanPolicy:
    price_tolerance: Decimal
    cancel_foreign: bool = False


@dataclass(frozen=True, slots=True)
class Cancel(HasOrderTerms):
    """A cancel of one order: its terms, what is left of it, and why. `size` is what is left (the shares the
    cancel takes off the book), not the size the order was placed for (`terms.size`)."""

    terms: OrderTerms
    remaining: Decimal
    reason: str
    foreign: bool = False

    @property
    def size(self) -> Decimal:
        return self.remaining


@dataclass(frozen=True, slots=True)
class Place:
    order: DesiredOrder
    reason: str
    after_cancel: str | None = None  # place only once this order's cancel is confirmed

    @property
    def slot_key(self) -> str:
        return self.order.slot_key


@dataclass(frozen=True)
class Plan:
    cancels: tuple[Cancel, ...]
    places: tuple[Place, ...]
    held: tuple[str, ...]  # what was held this tick, and why
    kept: tuple[str, ...]  # order ids kept as they are

    @property
    def empty(self) -> bool:
        return not self.cancels and not self.places


def _remaining(o: OrderView) -> Decimal:
    return max(o.size - o.size_matched, Decimal(0))


def within_tolerance(order: OrderView, want: DesiredOrder, tolerance: Decimal) -> bool:
    """Also False for an order at a price the market's tick no longer divides (the venue changed its tick):
    it is replaced at a price the venue takes now, whatever the tolerance or `keep_any_price`."""
    if not is_valid_price(order.price, want.tick_size):
        return False
    price_ok = want.keep_any_price or abs(order.price - want.price) <= tolerance
    left = _remaining(order)
    size_ok = left == want.size or (left >= want.min_keep_size and left <= want.size)
    return price_ok and size_ok


def plan(
    desired: DesiredState,
    open_orders: Mapping[str, LiveOrder] | Unknown,
    orders: Iterable[OrderView],
    policy: PlanPolicy,
    strays: Iterable[LiveOrder] = (),
) -> Plan:
    """`orders`: our active ledger orders (after syncing with observation); `open_orders` may be Unknown.
    `strays`: orders we signed that the ledger holds as closed but the venue shows live — always cancelled."""
    want = desired.by_slot()
    by_slot: dict[str, list[OrderView]] = {}
    ours: set[str] = set()
    for o in orders:
        by_slot.setdefault(o.slot_key, []).append(o)
        ours.add(o.order_id)

    cancels: list[Cancel] = []
    places: list[Place] = []
    held: list[str] = []
    kept: list[str] = []
    placing_allowed = known(open_orders)
    if not placing_allowed:
        held.append(f"open orders unknown ({open_orders.reason}): no places, no cancels by absence")

    def cancel(o: OrderView, reason: str) -> Cancel:
        c = Cancel(o.terms, _remaining(o), reason)
        cancels.append(c)
        return c

    for slot in sorted(set(by_slot) | set(want), key=_slot_order):
        live = by_slot.get(slot, [])
        target = want.get(slot)
        if slot in desired.held_slots or _market_of(slot) in desired.held_markets:
            held.append(f"{slot}: inputs unknown, holding {len(live)} order(s)")
            kept.extend(o.order_id for o in live)
            continue
        pending = [o for o in live if o.state in PENDING_STATES]
        cancelling = [o for o in live if o.state == "cancel_requested"]
        resting = [o for o in live if o.state in RESTING_STATES]
        for o in cancelling:  # a cancel whose outcome was lost or refused: ask again until the order is gone
            cancel(o, "cancel requested earlier and not yet confirmed")
        if pending or cancelling:
            held.append(f"{slot}: {len(pending) + len(cancelling)} unresolved order(s), nothing placed")
            for o in resting:  # should not happen; never leave extras beside an unresolved one
                cancel(o, "extra order beside an unresolved one")
            continue
        keep = None
        if target is not None:
            keep = next((o for o in resting if within_tolerance(o, target, policy.price_tolerance)), None)
        for o in resting:
            if o is keep:
                kept.append(o.order_id)
            elif target is None:
                cancel(o, "no longer desired")
            else:
                cancel(o, f"replace {o.side} {_remaining(o)}@{o.price} by {target.size}@{target.price}")
        if target is not None and keep is None and placing_allowed:
            replaced = [o for o in resting]
            if len(replaced) > 1:
                held.append(f"{slot}: {len(replaced)} orders to cancel before placing")
                continue
            places.append(Place(target, target.reason, after_cancel=replaced[0].order_id if replaced else None))

    for live in strays:
        cancels.append(Cancel(_unslotted(live, "stray"), live.remaining,
                              "ours, closed in the ledger but live at the venue"))
    if known(open_orders):
        for oid, live in open_orders.items():
            if oid not in ours and policy.cancel_foreign:
                cancels.append(Cancel(_unslotted(live, "foreign"), live.remaining,
                                      "foreign order (controller.cancel_foreign_orders)", foreign=True))
    places.sort(key=lambda p: (p.order.role != "hedge", p.slot_key))
    return Plan(tuple(cancels), tuple(places), tuple(held), tuple(kept))


def _unslotted(live: LiveOrder, role: str) -> OrderTerms:
    """The terms of a listed order in no slot of ours (a stray or a foreign order), to cancel it."""
    return OrderTerms(live.order_id, "", live.condition_id, live.token_id, live.side, role, live.price,
                      live.original_size)


def _market_of(slot: str) -> str:
    return slot.split("|", 1)[0]


def _slot_order(slot: str) -> tuple:
    return (not slot.endswith("|hedge"), slot)


def hedges_first(places: Sequence[Place], cancels: Sequence[Cancel]) -> tuple[Place, ...]:
    """The hedge sells that may go out before this tick's cancels: those that wait for no cancel (`after_cancel`)
    and could not trade with a buy of ours being cancelled — one on the same token at or above the hedge's price,
    or on the market's other outcome at or above 1 − that price (the venue matches a sell of one outcome with a buy
    of the other). A fill's hedge then does not wait for the cancels of quotes its taker moved."""
    buys = [c for c in cancels if c.side == "BUY"]

    def meets(p: Place, c: Cancel) -> bool:
        if c.condition_id != p.order.condition_id:
            return False
        return c.price >= p.order.price if c.token_id == p.order.token_id else c.price >= 1 - p.order.price

    return tuple(p for p in places if p.order.role == "hedge" and p.order.side == "SELL" and p.after_cancel is None
                 and not any(meets(p, c) for c in buys))
