"""One controller tick: observe → sync the ledger → desire → plan → gate → (execute) → record.

`polymm plan` and `polymm reconcile` both call `Controller.decide`; only `reconcile` calls
`execute`. Observation is I/O through the gateways; everything between observe and execute is the
pure core (desired/, reconciler/). The ledger is written only here and in the executor, and always
before the venue is asked to act.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Callable

from polymm.config import PolymmConfig
from polymm.controller.executor import ExecutionReport, Executor
from polymm.desired.funnel import Selection, SelectionParams, prefilter, select_markets
from polymm.desired.hedge import HedgeParams
from polymm.desired.state import DesiredState, desire
from polymm.domain.exposure import BuyExposure, InventoryExposure
from polymm.domain.types import Fill, LiveOrder, Position
from polymm.marketdata.source import VenueMarketData
from polymm.observed.parse import live_order_from_wire, our_fills
from polymm.observed.state import ObservedState, Unknown, known
from polymm.reconciler.gate import GatedPlan, RiskLimits, gate
from polymm.reconciler.plan import Plan, PlanPolicy, plan
from polymm.reconciler.sync import OrderUpdate, matched_by_order, observation_updates
from polymm.statemachines.ledger import Ledger, OrderRecord
from polymm.statemachines.orders import IllegalTransition, next_state
from polymm.venue.gateway import VenueGateway
from polymm.venue.outcomes import Ok
from polymm.venue.parse import MalformedReply
from polymm.venue.trading import TradingGateway

log = logging.getLogger("polymm.controller")
TRADE_CURSOR = "trades_after"
CURSOR_OVERLAP_S = 60
INITIAL_LOOKBACK_S = 300


@dataclass
class Decision:
    """Everything one tick decided, for execution and for `polymm plan` / `polymm status` to show."""

    observed: ObservedState
    updates: list[OrderUpdate]
    selection: Selection
    desired: DesiredState
    plan: Plan
    gated: GatedPlan
    orders_after_sync: list
    foreign: list[LiveOrder] = field(default_factory=list)


@dataclass(frozen=True)
class ProjectedOrder:
    """A ledger order as it will be once this tick's observation updates apply (for dry runs)."""

    order_id: str
    slot_key: str
    condition_id: str
    token_id: str
    side: str
    role: str
    price: Decimal
    size: Decimal
    size_matched: Decimal
    state: str
    created_at: float
    submitted_at: float | None


class Controller:
    def __init__(self, cfg: PolymmConfig, public: VenueGateway, trading: TradingGateway, ledger: Ledger,
                 clock: Callable[[], float] = time.time, market_data=None) -> None:
        self.cfg = cfg
        self.public = public
        self.trading = trading
        self.ledger = ledger
        self.clock = clock
        self.params = SelectionParams.from_config(cfg)
        self.hedge_params = HedgeParams(cfg.hedge_sell.max_bid_gap, cfg.hedge_sell.stop_loss_pct,
                                        cfg.hedge_sell.take_profit_pct, cfg.strategy.min_profit_margin_bps)
        self.limits = RiskLimits(cfg.strategy.max_exposure_per_market_usdc, cfg.strategy.max_total_exposure_usdc)
        self.policy = PlanPolicy(cfg.loop.price_deviation_threshold_bps, cfg.controller.cancel_foreign_orders)
        self.market_data = market_data or VenueMarketData(public, cfg.loop.update_interval_seconds,
                                                          cfg.orderbook_service.volatility_check.window_samples)
        self.executor = Executor(ledger, trading, cfg, clock)
        self.quoting_enabled = True  # False: the desired state holds hedges only (no buy quotes)

    # ------------------------------------------------------------------ observe
    def observe(self, rescan: bool | None = None) -> ObservedState:
        now = self.clock()
        read = self.market_data.reward_markets(now, rescan)
        reward_markets = read.markets
        problems: list[str] = list(read.problems)

        open_orders: tuple[LiveOrder, ...] | Unknown
        outcome = self.trading.open_orders()
        if isinstance(outcome, Ok):
            try:
                open_orders = tuple(live_order_from_wire(r) for r in outcome.value)
            except MalformedReply as exc:
                open_orders = Unknown(f"malformed open order: {exc}")
        else:
            open_orders = Unknown(outcome.reason)

        fills: tuple[Fill, ...] | Unknown
        after = self._trade_cursor(now)
        outcome = self.trading.trades(after)
        if isinstance(outcome, Ok):
            try:
                fills = tuple(f for t in outcome.value for f in our_fills(t, self.trading.api_key, self.trading.address))
            except MalformedReply as exc:
                fills = Unknown(f"malformed trade: {exc}")
        else:
            fills = Unknown(outcome.reason)

        tokens = self._tokens_of_interest(reward_markets)
        books, book_problems = self.market_data.books(tokens, now)
        problems.extend(book_problems)
        volatility = self.market_data.volatility(tokens, now)
        collateral_outcome = self.trading.collateral()
        collateral = collateral_outcome.value if isinstance(collateral_outcome, Ok) else Unknown(collateral_outcome.reason)
        return ObservedState(at=now, open_orders=open_orders, fills=fills, books=books, reward_markets=reward_markets,
                             collateral=collateral, volatility=volatility, problems=tuple(problems))

    def _trade_cursor(self, now: float) -> int:
        stored = self.ledger.get_cursor(TRADE_CURSOR)
        return int(stored) if stored is not None else int(now) - INITIAL_LOOKBACK_S

    def _tokens_of_interest(self, reward_markets) -> list[str]:
        tokens: list[str] = []
        if known(reward_markets):
            survivors, _, _ = prefilter(list(reward_markets), self.params)
            tokens.extend(t for m in survivors for t in m.token_ids)
        tokens.extend(p.token_id for p in self.ledger.positions().values() if p.size > 0)
        tokens.extend(o.token_id for o in self.ledger.active_orders())
        return list(dict.fromkeys(tokens))

    # ------------------------------------------------------------------ record observation
    def record_observation(self, observed: ObservedState) -> list[OrderUpdate]:
        """Apply new fills and status changes, then resolve order states; advance the trade cursor."""
        if known(observed.fills):
            touched: set[str] = set()
            for fill in observed.fills:
                if self.ledger.apply_fill(fill):
                    log.info("fill %s %s %s @ %s (%s, %s)", fill.side, fill.size, fill.token_id[:10], fill.price,
                             fill.liquidity, fill.status)
                    touched.add(fill.order_id)
                else:
                    try:
                        if self.ledger.update_fill_status(fill.trade_id, fill.order_id, fill.status):
                            touched.add(fill.order_id)
                    except IllegalTransition as exc:  # a stale read showing an older status: keep ours
                        log.debug("ignored stale trade status: %s", exc)
            self._late_fills(touched)
            self._advance_cursor(observed)
        updates = self._updates(observed)
        for up in updates:
            self._apply_update(up)
        return updates

    def _late_fills(self, order_ids: set[str]) -> None:
        """Fills on orders we already closed (a fill after our cancel) still count."""
        closed = [r for r in (self.ledger.order(oid) for oid in order_ids) if r is not None and not r.active]
        if not closed:
            return
        matched = matched_by_order(self.ledger.fills())
        for rec in closed:
            total = matched.get(rec.order_id, Decimal(0))
            if total <= rec.size_matched:
                continue
            if total >= rec.size and rec.state == "cancelled":
                self.ledger.transition(rec.order_id, "fill", reason="late fill after cancel", size_matched=total)
            else:
                self.ledger.update_order(rec.order_id, size_matched=total)

    def _advance_cursor(self, observed: ObservedState) -> None:
        """Keep re-reading from the oldest unsettled fill (its status still changes); else from the newest
        trade seen, less an overlap for trades the venue lists late. Never moves backwards past unsettled."""
        current = self._trade_cursor(observed.at)
        unsettled = [f.match_time for f in self.ledger.fills() if f.status not in ("CONFIRMED", "FAILED")]
        if unsettled:
            cursor = min(unsettled)
        else:
            seen = [f.match_time for f in observed.fills]  # type: ignore[union-attr]
            cursor = max(current, max(seen) - CURSOR_OVERLAP_S) if seen else current
        self.ledger.set_cursor(TRADE_CURSOR, str(cursor))

    def _updates(self, observed: ObservedState) -> list[OrderUpdate]:
        open_map = {o.order_id: o for o in observed.open_orders} if known(observed.open_orders) else None
        fills = self.ledger.fills()
        return observation_updates(self.ledger.active_orders(), open_map, matched_by_order(fills), observed.at,
                                   self.cfg.controller.open_orders_grace_seconds)

    def _apply_update(self, up: OrderUpdate) -> None:
        rec = self.ledger.order(up.order_id)
        if rec is None:
            return
        if not up.triggers:
            self.ledger.update_order(up.order_id, size_matched=up.size_matched)
            return
        for trigger in up.triggers:
            rec = self.ledger.transition(up.order_id, trigger, reason=up.reason, size_matched=up.size_matched)

    # ------------------------------------------------------------------ decide
    def decide(self, observed: ObservedState, dry_run: bool = False) -> Decision:
        """From observation to a gated plan. With dry_run, ledger changes are projected, not written."""
        if dry_run:
            updates = self._updates_dry(observed)
            orders = _project(self.ledger.active_orders(), updates)
            positions = self._positions_dry(observed)
        else:
            updates = self.record_observation(observed)
            orders = self.ledger.active_orders()
            positions = {t: Position(t, p.size, p.avg_cost) for t, p in self.ledger.positions().items() if p.size > 0}

        markets = list(observed.reward_markets) if known(observed.reward_markets) else []
        now_dt = _utc(observed.at)
        own = _own_book_sizes(orders, {t: m.token_ids for m in markets for t in m.token_ids})
        selection = select_markets(markets, observed.books, self.params, now_dt, observed.volatility, own)
        markets_by_token = {t: m for m in markets for t in m.token_ids}
        for rec in orders:  # markets we still hold orders or positions in, even if no longer rewarded
            markets_by_token.setdefault(rec.token_id, None)
        markets_by_token = {t: m for t, m in markets_by_token.items() if m is not None}
        # our own resting orders are not liquidity: a hedge priced off them sells to ourselves, and a hedge
        # ask that sets the midpoint it is priced from chases itself
        net_books = {t: b.without(own.get(t, {})) for t, b in observed.books.items()}
        desired = desire(selection, positions, markets_by_token, net_books, self.hedge_params,
                         self.cfg.hedge_sell.dynamic_follow_enabled, quoting_enabled=self.quoting_enabled,
                         held_markets=held_markets(orders, observed))
        desired = _without_self_crossing_quotes(desired)

        open_map = {o.order_id: o for o in observed.open_orders} if known(observed.open_orders) else None
        ours = {o.order_id for o in self.ledger.orders()}
        active_ids = {o.order_id for o in orders}
        foreign = [o for o in (open_map or {}).values() if o.order_id not in ours]
        strays = [o for o in (open_map or {}).values() if o.order_id in ours and o.order_id not in active_ids]
        the_plan = _hedges_after_own_bids(plan(desired, open_map, orders, self.policy, strays), orders)
        inventory = [InventoryExposure(markets_by_token[t].condition_id if t in markets_by_token else t, p.size, p.avg_cost)
                     for t, p in positions.items()]
        holdings = {t: p.size for t, p in positions.items()}
        collateral = observed.collateral if known(observed.collateral) else None
        gated = gate(the_plan, orders, [BuyExposure(o.condition_id, o.price, o.remaining) for o in foreign + strays if o.side == "BUY"],
                     inventory, holdings, collateral, self.limits)
        return Decision(observed, updates, selection, desired, the_plan, gated, orders, foreign)

    def _updates_dry(self, observed: ObservedState) -> list[OrderUpdate]:
        open_map = {o.order_id: o for o in observed.open_orders} if known(observed.open_orders) else None
        fills = list(self.ledger.fills())
        if known(observed.fills):
            seen = {(f.trade_id, f.order_id) for f in fills}
            fills.extend(f for f in observed.fills if (f.trade_id, f.order_id) not in seen)
        return observation_updates(self.ledger.active_orders(), open_map, matched_by_order(fills), observed.at,
                                   self.cfg.controller.open_orders_grace_seconds)

    def _positions_dry(self, observed: ObservedState) -> dict[str, Position]:
        positions = {t: [p.size, p.cost] for t, p in self.ledger.positions().items()}
        if known(observed.fills):
            for f in observed.fills:
                if f.status == "FAILED" or self.ledger.fill(f.trade_id, f.order_id) is not None:
                    continue
                size, cost = positions.get(f.token_id, [Decimal(0), Decimal(0)])
                if f.side == "BUY":
                    size, cost = size + f.size, cost + f.size * f.price
                elif size > 0:
                    cost, size = cost - cost * f.size / size, size - f.size
                positions[f.token_id] = [size, cost]
        return {t: Position(t, s, c / s) for t, (s, c) in positions.items() if s > 0}

    # ------------------------------------------------------------------ execute
    def execute(self, decision: Decision) -> ExecutionReport:
        return self.executor.run(decision.gated)


def held_markets(orders, observed: ObservedState) -> frozenset[str]:
    """Markets we have live orders in whose inputs are Unknown this tick: no cancel, no place there.
    A market is held when the reward list is unknown, or when either of our tokens' books is missing
    (stale or unreadable) — never cancelled because data went missing."""
    if not known(observed.reward_markets):
        return frozenset(o.condition_id for o in orders)
    return frozenset(o.condition_id for o in orders if o.token_id not in observed.books)


def _without_self_crossing_quotes(desired: DesiredState) -> DesiredState:
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


def _hedges_after_own_bids(the_plan: Plan, orders) -> Plan:
    """A hedge place that would meet a buy of ours resting at the venue goes out only once that buy's cancel
    is confirmed in the same tick (`after_cancel`); if that buy is not being cancelled, the hedge waits. A buy
    whose outcome is still unknown does not hold a hedge back (it may never have landed, and a position
    must be hedged within K ticks)."""
    cancelling = {c.order_id for c in the_plan.cancels}
    places, held = [], list(the_plan.held)
    for p in the_plan.places:
        bids = [o for o in orders if p.order.side == "SELL" and o.side == "BUY" and o.token_id == p.order.token_id
                and o.price >= p.order.price and o.state in ("open", "partially_filled", "cancel_requested")]
        if not bids:
            places.append(p)
        elif len(bids) == 1 and p.after_cancel is None and bids[0].order_id in cancelling:
            places.append(replace(p, after_cancel=bids[0].order_id))
        else:
            held.append(f"{p.slot_key}: waits for our buy at {bids[0].price} on that token to go (it would trade with it)")
    return replace(the_plan, places=tuple(places), held=tuple(held))


def _project(records: list[OrderRecord], updates: list[OrderUpdate]) -> list[ProjectedOrder]:
    by_id = {u.order_id: u for u in updates}
    out = []
    for r in records:
        state, matched = r.state, r.size_matched
        up = by_id.get(r.order_id)
        if up is not None:
            for trigger in up.triggers:
                state = next_state(state, trigger)
            matched = max(matched, up.size_matched)
        if state in ("filled", "cancelled", "rejected", "gone"):
            continue
        out.append(ProjectedOrder(r.order_id, r.slot_key, r.condition_id, r.token_id, r.side, r.role, r.price, r.size,
                                  matched, state, r.created_at, r.submitted_at))
    return out


def _own_book_sizes(orders, pairs: dict[str, tuple[str, str]]) -> dict[str, dict[tuple[str, Decimal], Decimal]]:
    """Our resting sizes per token by (side, price), on the token's own book and mirrored on its
    complement's (a BUY NO at q is an ask at 1 − q on YES), to take ourselves out of the competition."""
    own: dict[str, dict[tuple[str, Decimal], Decimal]] = {}

    def add(token: str, side: str, price: Decimal, size: Decimal) -> None:
        book = own.setdefault(token, {})
        book[(side, price)] = book.get((side, price), Decimal(0)) + size

    for o in orders:
        if o.state not in ("open", "partially_filled", "cancel_requested"):
            continue
        left = max(o.size - o.size_matched, Decimal(0))
        add(o.token_id, o.side, o.price, left)
        pair = pairs.get(o.token_id)
        if pair:
            other = pair[1] if pair[0] == o.token_id else pair[0]
            add(other, "SELL" if o.side == "BUY" else "BUY", 1 - o.price, left)
    return own


def _utc(ts: float):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, tz=timezone.utc)
