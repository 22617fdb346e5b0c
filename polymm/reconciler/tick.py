"""One tick's decision, pure: (ledger snapshot, observation, memory, params, now) -> (Decision, next memory).

`Decision` holds everything the tick decided: the ledger changes the observation implies (new
fills, fill status moves, order transitions, the trade cursor), the state they leave (our active
orders and positions, projected), the selection, the desired state, the plan and the gated plan.
`polymm reconcile` applies `decision.changes` in one ledger transaction and executes
`decision.gated`; `polymm plan` prints the same decision and applies nothing — there is no second
code path that could disagree with the tick it previews. The memory (`reconciler.memory.TickMemory`: position
ages, stop-loss timers, the toxicity state, cancelled buys still settling, the positions checks) is moved on
here, once per tick; the operator's switches and the heartbeat's health (`params.operator`) are gated here
too, so the decision's dropped places are every drop the loop makes.

The snapshot is what one tick reads from the ledger, bounded by what is live, never the closed
history: the active orders, the closed orders the observation names (a late fill, a stray), the
fills of those orders and every unsettled fill, position rows, the cursor — and, when an observed
fill turns FAILED, that token's effective fills (to refold its position).

Invariants:
- the projection is what the ledger stores: `LedgerChanges` carries the fills to record (with whether each
  moves its position), the status moves (with whether each reverses one), the order moves and the positions
  they leave; the ledger writes those rows and recomputes nothing. The fill rules are `reconciler/fills.py`
  (counted once, a fill first seen FAILED never touches a position, a FAILED reversal refolds the token's
  remaining effective fills); a stale status (a regression) is ignored; order moves go through the order table;
- a position is never forgotten: a held token whose market is unknown this tick (not in the reward
  list, and its details unreadable) holds its market (keep what is live, place nothing);
- market details for held tokens come from `observed.other_markets` whatever the reward list says.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import Iterable, Mapping, Sequence

from polymm.desired.funnel import Selection, SelectionParams, select_markets
from polymm.desired.hedge import HedgeParams
from polymm.desired.toxicity import ToxicityParams, paused
from polymm.desired.state import DesiredState, desire, slot_key
from polymm.domain.exposure import BuyExposure, InventoryExposure
from polymm.domain.positions import PositionRecord
from polymm.domain.terms import HasOrderTerms, OrderTerms
from polymm.domain.types import Book, Fill, LiveOrder, Position, RewardMarket
from polymm.domain.unknown import known
from polymm.observed.state import ObservedState
from polymm.reconciler.fills import applies_on_first_sight, fold_in, refold, status_move
from polymm.reconciler.gate import GatedPlan, OperatorState, RiskLimits, gate, switched
from polymm.reconciler.memory import TickMemory, checked, settling_after, toxicity_after
from polymm.reconciler.plan import Plan, PlanPolicy, plan
from polymm.reconciler.snapshot import LedgerSnapshot, StoredFill, StoredOrder
from polymm.reconciler.sync import OrderUpdate, observation_updates, vanished_while_fills_unknown
from polymm.statemachines.orders import MAYBE_RESTING_STATES, TERMINAL_STATES, IllegalTransition, next_state
from polymm.statemachines.trades import FINAL_STATUSES

ZERO = Decimal(0)
DUST = Decimal(1)  # shares: the Data API lists no position under 1 share by default (sizeThreshold)


@dataclass(frozen=True)
class TickParams:
    selection: SelectionParams
    hedge: HedgeParams
    follow: bool
    policy: PlanPolicy
    limits: RiskLimits
    grace_s: float
    initial_lookback_s: int = 300
    cursor_overlap_s: int = 60
    toxicity: ToxicityParams = ToxicityParams(0.0, Decimal(0))  # stepping back from toxic markets (off: never)
    operator: OperatorState = OperatorState()  # the running loop's switches and heartbeat health


@dataclass(frozen=True, slots=True)
class FillChange:
    """A fill to record (`new`: `applied` says whether it moved its position) or a stored fill's status to move
    forward (`fill.status` is the new one; `reversed` says the fill is now out of its position)."""

    fill: Fill
    new: bool
    applied: bool = True
    reversed: bool = False


@dataclass(frozen=True)
class LedgerChanges:
    """What the observation changes in the ledger, in the order to apply it (one transaction): the rows as the
    projection has them, for the ledger to write as they are."""

    fills: tuple[FillChange, ...] = ()
    orders: tuple[OrderUpdate, ...] = ()  # late fills on closed orders first, then the active orders' moves
    cursor: int | None = None  # the trade cursor to store; None leaves it
    positions: tuple[PositionRecord, ...] = ()  # each position the fills moved, as it is after them

    @property
    def empty(self) -> bool:
        return not self.fills and not self.orders and self.cursor is None and not self.positions


@dataclass(frozen=True, slots=True)
class ProjectedOrder(HasOrderTerms):
    """An active ledger order as it is once this tick's changes apply: its terms, and where it stands."""

    terms: OrderTerms
    size_matched: Decimal
    state: str
    created_at: float
    submitted_at: float | None

    @property
    def remaining(self) -> Decimal:
        return max(self.size - self.size_matched, ZERO)


@dataclass(frozen=True)
class Synced:
    """The ledger as it is once the observation is applied (projected, nothing written)."""

    changes: LedgerChanges
    orders: tuple[ProjectedOrder, ...]
    positions: Mapping[str, PositionRecord]  # every position row, flat ones included
    known_ids: frozenset[str]  # order ids of ours among those the snapshot holds
    unsettled_tokens: frozenset[str] = frozenset()  # tokens with a fill whose status may still change
    # shares of each order our fills show matched (not FAILED): the exposure of a buy is what they do not show —
    # the venue's open-order row can report a match whose trade a failing trades read has not shown yet, and
    # counting the order by the row's figure would leave those shares in neither the order nor the position
    matched_by_fills: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass
class Decision:
    """Everything one tick decided, for execution and for `polymm plan` / `polymm status` to show."""

    observed: ObservedState
    changes: LedgerChanges
    selection: Selection
    desired: DesiredState
    plan: Plan
    gated: GatedPlan
    orders_after_sync: tuple[ProjectedOrder, ...]
    positions: Mapping[str, Position]
    foreign: list[LiveOrder] = field(default_factory=list)
    # token -> (ledger shares, venue shares) where they differ, when the venue's positions were read this tick
    position_check: Mapping[str, tuple[Decimal, Decimal]] | None = None
    unhedged: frozenset[str] = frozenset()  # positions to hedge without an active hedge order at the tick's start

    @property
    def updates(self) -> tuple[OrderUpdate, ...]:
        return self.changes.orders


# ---------------------------------------------------------------------------------------------- sync


@dataclass
class _FillState:
    view: StoredFill | Fill
    status: str
    applied: bool
    reversed: bool


def sync(snapshot: LedgerSnapshot, observed: ObservedState, params: TickParams, now: float) -> Synced:
    """The ledger changes the observation implies, and the orders and positions they leave."""
    fills: dict[tuple[str, str], _FillState] = {
        k: _FillState(f, f.status, f.applied, f.reversed) for k, f in snapshot.fills.items()}
    positions: dict[str, PositionRecord] = dict(snapshot.positions)
    new_by_token: dict[str, list[Fill]] = {}
    reversed_keys: set[tuple[str, str]] = set()
    changes: list[FillChange] = []
    touched: list[str] = []
    moved: dict[str, None] = {}  # tokens whose position the fills moved, in the order first moved

    if known(observed.fills):
        for f in observed.fills:
            key = (f.trade_id, f.order_id)
            cur = fills.get(key)
            if cur is None:
                applied = applies_on_first_sight(f.status)
                fills[key] = _FillState(f, f.status, applied, False)
                changes.append(FillChange(f, True, applied))
                touched.append(f.order_id)
                if applied:
                    positions[f.token_id] = fold_in(positions.get(f.token_id), f)
                    new_by_token.setdefault(f.token_id, []).append(f)
                    moved[f.token_id] = None
                continue
            try:
                move = status_move(cur.status, cur.applied, cur.reversed, f.status, trade_id=f.trade_id)
            except IllegalTransition:  # a stale read showing an older status: keep ours
                continue
            if move is None:
                continue
            cur.status, cur.reversed = move.status, cur.reversed or move.reverses
            changes.append(FillChange(replace(f, status=move.status), False, cur.applied, cur.reversed))
            touched.append(f.order_id)
            if move.reverses:
                reversed_keys.add(key)
                positions[cur.view.token_id] = _refold(snapshot, cur.view, new_by_token, reversed_keys)
                moved[cur.view.token_id] = None

    matched: dict[str, Decimal] = {}
    for (_, order_id), st in fills.items():
        if st.status != "FAILED":
            matched[order_id] = matched.get(order_id, ZERO) + st.view.size

    order_updates: list[OrderUpdate] = []
    active_ids = {o.order_id for o in snapshot.active_orders}
    for oid in dict.fromkeys(touched):  # fills on orders we already closed (a fill after our cancel) still count
        rec = snapshot.named_orders.get(oid)
        if rec is None or oid in active_ids:
            continue
        total = matched.get(oid, ZERO)
        if total <= rec.size_matched:
            continue
        if total >= rec.size and rec.state == "cancelled":
            order_updates.append(OrderUpdate(oid, ("fill",), total, "late fill after cancel"))
        else:
            order_updates.append(OrderUpdate(oid, (), total, "late fill on a closed order"))

    open_map = {o.order_id: o for o in observed.open_orders} if known(observed.open_orders) else observed.open_orders
    updates = observation_updates(snapshot.active_orders, open_map, matched, now, params.grace_s, observed.fills_unknown)
    order_updates.extend(updates)

    cursor = None
    if known(observed.fills) and not observed.fills_unknown_markets:  # re-read a row we could not parse until we can
        current = snapshot.cursor if snapshot.cursor is not None else int(now) - params.initial_lookback_s
        unsettled = [st.view.match_time for st in fills.values() if st.status not in FINAL_STATUSES]
        if unsettled:  # keep re-reading from the oldest unsettled fill: its status still changes
            cursor = min(unsettled)
        else:  # else from the newest trade seen, less an overlap for trades the venue lists late
            seen = [f.match_time for f in observed.fills]
            cursor = max(current, max(seen) - params.cursor_overlap_s) if seen else current

    by_id = {u.order_id: u for u in updates}
    projected: list[ProjectedOrder] = []
    for r in snapshot.active_orders:
        state, size_matched = r.state, r.size_matched
        up = by_id.get(r.order_id)
        if up is not None:
            for trigger in up.triggers:
                state = next_state(state, trigger, order_id=r.order_id)
            size_matched = max(size_matched, up.size_matched)
        if state in TERMINAL_STATES:
            continue
        projected.append(ProjectedOrder(r.terms, size_matched, state, r.created_at, r.submitted_at))
    known_ids = frozenset(active_ids | set(snapshot.named_orders))
    unsettled = frozenset(st.view.token_id for st in fills.values() if st.status not in FINAL_STATUSES)
    changed_positions = tuple(positions[t] for t in moved)
    return Synced(LedgerChanges(tuple(changes), tuple(order_updates), cursor, changed_positions), tuple(projected),
                  positions, known_ids, unsettled, matched)


def _refold(snapshot: LedgerSnapshot, failed: StoredFill | Fill, new_by_token: Mapping[str, list[Fill]],
            reversed_keys: set[tuple[str, str]]) -> PositionRecord:
    """The token's position rebuilt from its remaining effective fills in first-seen order: the stored ones, then
    this tick's new ones, less those reversed this tick."""
    token = failed.token_id
    if token not in snapshot.token_fills:
        raise ValueError(f"snapshot lacks the effective fills of token {token} needed to reverse a FAILED fill")
    effective = [f for f in list(snapshot.token_fills[token]) + list(new_by_token.get(token, []))
                 if (f.trade_id, f.order_id) not in reversed_keys]
    return refold(token, failed.condition_id, effective)


# ---------------------------------------------------------------------------------------------- decide


def decide(snapshot: LedgerSnapshot, observed: ObservedState, memory: TickMemory, params: TickParams,
           now: float) -> tuple[Decision, TickMemory]:
    """From the ledger snapshot, the observation and the memory to the gated plan, with the ledger changes it
    implies and the memory the next tick starts from. A position the memory has no age for counts as just
    opened (the controller fills in the ledger's ages first: controller/core.py)."""
    synced = sync(snapshot, observed, params, now)
    toxicity = toxicity_after(memory.toxicity, observed, params.toxicity)
    settling = settling_after(memory.settling, observed)
    held_before = [t for t, p in snapshot.positions.items() if p.size > 0]
    selection, desired = desired_state(
        synced, observed, params, now, position_ages={t: now - memory.position_since.get(t, now) for t in held_before},
        paused_markets=paused(toxicity, now, params.toxicity),
        stop_ages={t: now - since for t, since in memory.stop_since.items()})
    check = position_mismatches(synced, observed.venue_positions) if known(observed.venue_positions) else None
    the_plan, gated, foreign = act(synced, desired, observed, params, tuple(b for b, _ in settling.values()))
    positions = held_positions(synced)
    unhedged = unhedged_tokens(synced, desired)
    mismatches, suspects = memory.position_mismatches, memory.position_suspects
    if check is not None:
        mismatches, suspects = checked(mismatches, suspects, check)
    after = TickMemory(
        toxicity=toxicity,
        # a position first seen this tick was opened by a fill first seen now
        position_since={t: memory.position_since.get(t, now) for t in positions},
        stop_since={t: memory.stop_since.get(t, now) for t in desired.stops if t in positions},
        settling=settling, position_mismatches=mismatches, position_suspects=suspects,
        unhedged_for={t: memory.unhedged_for.get(t, 0) + 1 for t in unhedged})
    return Decision(observed, synced.changes, selection, desired, the_plan, gated, synced.orders,
                    positions, foreign, check, unhedged), after


def position_mismatches(synced: Synced, venue: Mapping[str, Decimal]) -> dict[str, tuple[Decimal, Decimal]]:
    """Tokens where the ledger's position and the venue's differ by DUST or more: (ledger, venue). Tokens with an
    unsettled fill are left out (the venue's position follows settlement); the venue lists no row under
    1 share, so a smaller difference is not evidence."""
    out: dict[str, tuple[Decimal, Decimal]] = {}
    ledger = {t: p.size for t, p in synced.positions.items()}
    for token in sorted(set(ledger) | set(venue)):
        if token in synced.unsettled_tokens:
            continue
        ours, theirs = ledger.get(token, ZERO), venue.get(token, ZERO)
        if abs(ours - theirs) >= DUST:
            out[token] = (ours, theirs)
    return out


def unhedged_tokens(synced: Synced, desired: DesiredState) -> frozenset[str]:
    """Positions the desired state hedges, or whose hedge it holds (inputs unknown), with no active hedge order."""
    hedged = {o.token_id for o in synced.orders if o.role == "hedge" and o.side == "SELL"}
    wanted = {o.token_id for o in desired.orders if o.role == "hedge"}
    for token in held_positions(synced):
        cid = synced.positions[token].condition_id
        if cid in desired.held_markets or slot_key(cid, token, "SELL", "hedge") in desired.held_slots:
            wanted.add(token)
    return frozenset(wanted - hedged)


def held_positions(synced: Synced) -> dict[str, Position]:
    return {t: Position(t, p.size, p.avg_cost) for t, p in synced.positions.items() if p.size > 0}


def desired_state(synced: Synced, observed: ObservedState, params: TickParams, now: float, *,
                  position_ages: Mapping[str, float] | None = None, paused_markets: Mapping[str, str] | None = None,
                  stop_ages: Mapping[str, float] | None = None) -> tuple[Selection, DesiredState]:
    """The selection and the desired orders: quotes for the selected markets, a hedge per position. `position_ages`,
    `paused_markets`, `stop_ages`: what the memory says this tick (see `decide`); quoting as the operator has it."""
    orders = synced.orders
    positions = held_positions(synced)
    reward_markets = with_book_ticks(list(observed.reward_markets) if known(observed.reward_markets) else [], observed.books)
    others = with_book_ticks(list(observed.other_markets) if known(observed.other_markets) else [], observed.books)
    markets_by_token: dict[str, RewardMarket] = {t: m for m in others for t in m.token_ids}
    markets_by_token.update({t: m for m in reward_markets for t in m.token_ids})
    own = own_book_sizes(orders, {t: m.token_ids for t, m in markets_by_token.items()})
    selection = select_markets(reward_markets, observed.books, params.selection, _utc(now), observed.volatility, own,
                               observed.reward_shares)

    # a position or an order in a market we cannot describe this tick is held there, never forgotten
    unknown_markets = {synced.positions[t].condition_id for t in positions if t not in markets_by_token}
    unknown_markets |= {o.condition_id for o in orders if o.token_id not in markets_by_token}
    notes = tuple(f"market {cid[:12]}… of a position or order of ours is unknown this tick: held"
                  for cid in sorted(unknown_markets))
    # our own resting orders are not liquidity: a hedge priced off them sells to ourselves, and a hedge
    # ask that sets the midpoint it is priced from chases itself
    net_books = {t: b.without(own.get(t, {})) for t, b in observed.books.items()}
    # a market known to take no orders (closed, not accepting) is never held for its missing book (a closed
    # market has none): our orders there are cancelled and its positions are not hedged
    stopped = frozenset(m.condition_id for m in markets_by_token.values() if not m.trading)
    desired = desire(selection, positions, markets_by_token, net_books, params.hedge, params.follow,
                     quoting_enabled=params.operator.quoting,
                     held_markets=(held_markets(orders, observed) | frozenset(unknown_markets)) - stopped,
                     position_ages=position_ages, paused_markets=paused_markets, stop_ages=stop_ages)
    if not params.operator.quoting and params.operator.quoting_off:
        notes += (f"not quoting: {params.operator.quoting_off}",)
    return selection, without_self_crossing_quotes(replace(desired, notes=desired.notes + notes))


def with_book_ticks(markets: list[RewardMarket], books: Mapping[str, Book]) -> list[RewardMarket]:
    """Markets with the tick their books show this tick: the book is read every tick, the market's details only
    every rescan, and the venue changes a tick as the price nears 0 or 1 (`tick_size_change`); orders are
    priced and signed on the tick the venue takes now."""
    out = []
    for m in markets:
        ticks = {books[t].tick_size for t in m.token_ids if t in books}
        if len(ticks) == 1 and m.tick_size not in ticks:
            m = replace(m, tick_size=ticks.pop())
        out.append(m)
    return out


def act(synced: Synced, desired: DesiredState, observed: ObservedState, params: TickParams,
        settling_buys: Sequence[BuyExposure] = ()) -> tuple[Plan, GatedPlan, list[LiveOrder]]:
    """The plan from the synced ledger to the desired state, gated by the risk limits and then the operator's
    switches; and the foreign orders. Where the ledger's position disagrees with the venue's
    (`observed.venue_overrides`, from the positions checks), the exposure cap counts the venue's shares, and
    sells never exceed the smaller of the two. `settling_buys`: our cancelled buys a fill may have raced,
    still counted against the caps (reconciler.memory)."""
    orders = synced.orders
    positions = held_positions(synced)
    overrides = dict(observed.venue_overrides)
    open_map = {o.order_id: o for o in observed.open_orders} if known(observed.open_orders) else observed.open_orders
    listed = open_map.values() if known(open_map) else ()
    active_ids = {o.order_id for o in orders}
    foreign = [o for o in listed if o.order_id not in synced.known_ids]
    strays = [o for o in listed if o.order_id in synced.known_ids and o.order_id not in active_ids]
    the_plan = hedges_after_own_bids(plan(desired, open_map, orders, params.policy, strays), orders)
    inventory = [InventoryExposure(synced.positions[t].condition_id, p.size, p.avg_cost)
                 for t, p in positions.items() if t not in overrides]
    holdings = {t: p.size for t, p in positions.items()}
    for token, venue_size in overrides.items():
        row = synced.positions.get(token)
        cid = row.condition_id if row is not None else _market_of_token(token, observed)
        # at the ledger's average cost; a token the ledger does not hold counts at 1, the most a share costs
        cost = row.avg_cost if row is not None and row.size > 0 else Decimal(1)
        inventory.append(InventoryExposure(cid, venue_size, cost))
        if token in holdings:
            holdings[token] = min(holdings[token], venue_size)
    collateral = observed.collateral
    foreign_buys = [BuyExposure(o.condition_id, o.price, o.remaining) for o in foreign + strays if o.side == "BUY"]
    foreign_buys += settling_buys
    gated = gate(the_plan, orders, foreign_buys, inventory, holdings, collateral, params.limits,
                 synced.matched_by_fills)
    return the_plan, switched(gated, params.operator), foreign


def _market_of_token(token: str, observed: ObservedState) -> str:
    for section in (observed.reward_markets, observed.other_markets):
        if known(section):
            for m in section:
                if token in m.token_ids:
                    return m.condition_id
    return token  # an unknown market: the token stands for it (its own exposure bucket)


# ---------------------------------------------------------------------------------------------- rules


def held_markets(orders: Iterable[StoredOrder], observed: ObservedState) -> frozenset[str]:
    """Markets we have live orders in whose inputs are Unknown this tick: no cancel, no place there.
    A market is held when the reward list is unknown, or when either of our tokens' books is missing
    (stale or unreadable) — never cancelled because data went missing — or when an order of ours there
    vanished from the open orders while our fills are Unknown (reconciler/sync.py)."""
    orders = list(orders)
    if not known(observed.reward_markets):
        return frozenset(o.condition_id for o in orders)
    open_map = {o.order_id: o for o in observed.open_orders} if known(observed.open_orders) else observed.open_orders
    vanished = vanished_while_fills_unknown(orders, open_map, observed.fills_unknown)
    return frozenset(o.condition_id for o in orders if o.token_id not in observed.books) | vanished


def without_self_crossing_quotes(desired: DesiredState) -> DesiredState:
    """A hedge sell priced at or below our own buy quote on the same token would trade with it (a self-trade,
    then a partly filled quote to replace, and so on): while such a hedge is wanted, that quote is not."""
    floor: dict[str, Decimal] = {}
    for o in desired.orders:
        if o.role == "hedge" and o.side == "SELL":
            floor[o.token_id] = min(floor.get(o.token_id, o.price), o.price)
    crossed = [o for o in desired.orders if o.side == "BUY" and o.token_id in floor and o.price >= floor[o.token_id]]
    if not crossed:
        return desired
    notes = tuple(f"quote {o.slot_key} at {o.price} paused: our hedge sells at {floor[o.token_id]}" for o in crossed)
    return replace(desired, orders=tuple(o for o in desired.orders if o not in crossed), notes=desired.notes + notes)


def hedges_after_own_bids(the_plan: Plan, orders: Sequence[StoredOrder]) -> Plan:
    """A hedge place that would meet a buy of ours resting at the venue goes out only once that buy's cancel
    is confirmed in the same tick (`after_cancel`); if that buy is not being cancelled, the hedge waits. A buy
    whose outcome is still unknown does not hold a hedge back (it may never have landed, and a position
    must be hedged within K ticks)."""
    cancelling = {c.order_id for c in the_plan.cancels}
    places, held = [], list(the_plan.held)
    for p in the_plan.places:
        bids = [o for o in orders if p.order.side == "SELL" and o.side == "BUY" and o.token_id == p.order.token_id
                and o.price >= p.order.price and o.state in MAYBE_RESTING_STATES]
        if not bids:
            places.append(p)
        elif len(bids) == 1 and p.after_cancel is None and bids[0].order_id in cancelling:
            places.append(replace(p, after_cancel=bids[0].order_id))
        else:
            held.append(f"{p.slot_key}: waits for our buy at {bids[0].price} on that token to go (it would trade with it)")
    return replace(the_plan, places=tuple(places), held=tuple(held))


def own_book_sizes(orders: Iterable[StoredOrder],
                   pairs: Mapping[str, tuple[str, str]]) -> dict[str, dict[tuple[str, Decimal], Decimal]]:
    """Our resting sizes per token by (side, price), on the token's own book and mirrored on its
    complement's (a BUY NO at q is an ask at 1 − q on YES), to take ourselves out of the competition."""
    own: dict[str, dict[tuple[str, Decimal], Decimal]] = {}

    def add(token: str, side: str, price: Decimal, size: Decimal) -> None:
        book = own.setdefault(token, {})
        book[(side, price)] = book.get((side, price), ZERO) + size

    for o in orders:
        if o.state not in MAYBE_RESTING_STATES:
            continue
        left = max(o.size - o.size_matched, ZERO)
        add(o.token_id, o.side, o.price, left)
        pair = pairs.get(o.token_id)
        if pair:
            other = pair[1] if pair[0] == o.token_id else pair[0]
            add(other, "SELL" if o.side == "BUY" else "BUY", 1 - o.price, left)
    return own


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)
