"""Stateful property test of the pure core over a real ledger: sync → desire → plan → gate → execute.

Each tick goes through the stages the one pure tick (`reconciler.tick.decide`) composes: `sync` (its
ledger changes applied with `Ledger.apply_changes`, one transaction) and `act` (plan + gate); only
the desired state is this test's own spec instead of `desired_state`.

A small model venue (a dict of live orders with sizes) stands in for Polymarket; a tiny executor in
this file writes intents to a real Ledger (SQLite in a temporary directory), moves orders through
the state machine and mutates the model venue. Hypothesis drives new desired quotes, fills
(partial and full), open-orders reads that lag our writes (by less than the grace window), lost replies (the venue took the order, we never heard), lost requests (it
never landed), lost cancel replies, cancel/fill races (a fill after our cancel request), blind
ticks (open orders Unknown), unknown balances, and restarts (the ledger closed and reopened).

Invariants, checked after every step:
- at most one live order per slot at the venue (no duplicates);
- every live venue order of ours is active in the ledger (no orphans);
- exposure — every active ledger buy (unknown and in-flight ones included) plus inventory at cost —
  stays within the per-market and total caps;
- nothing is ever placed into a slot that holds an unresolved order (checked as the executor places);
- after a few quiet ticks the plan is empty: the venue matches the desired state (bar places the
  risk gate refuses, each with its reason).
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from dataclasses import dataclass
from decimal import Decimal as D
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from polymm.desired.state import DesiredOrder, DesiredState, slot_key
from polymm.domain.exposure import BuyExposure, InventoryExposure, exposure_by_market, total_exposure
from polymm.domain.terms import FillTerms, OrderTerms
from polymm.domain.types import Fill, LiveOrder
from polymm.config import PolymmConfig
from polymm.desired.funnel import SelectionParams
from polymm.desired.hedge import HedgeParams
from polymm.domain.unknown import Unknown
from polymm.observed.state import ObservedState
from polymm.reconciler.gate import GatedPlan, RiskLimits
from polymm.reconciler.plan import PlanPolicy
from polymm.reconciler.sync import matched_by_order
from polymm.reconciler.tick import Synced, TickParams, act, sync
from polymm.ledger import Ledger, NewOrder

GRACE_S = 5.0
LIMITS = RiskLimits(max_exposure_per_market=D(25), max_total_exposure=D(40), max_places=4, max_cancels=3)
POLICY = PlanPolicy(price_tolerance=D("0.01"))
COLLATERAL = D(1000)
MARKETS = {"0xA": ("a-yes", "a-no"), "0xB": ("b-yes", "b-no")}
MARKET_OF = {t: m for m, pair in MARKETS.items() for t in pair}
QUOTE_SLOTS = tuple(slot_key(MARKET_OF[t], t, "BUY", "quote") for t in MARKET_OF)
HEDGE_PRICE = D("0.99")  # hedges rest far from the touch; only the fill rule trades them
MIN_ORDER = D(5)
CURSOR = "trades_after"
PARAMS = TickParams(SelectionParams.from_config(PolymmConfig()), HedgeParams(D("0.05"), D("0.2"), D("0.2"), D(0)), True,
                    POLICY, LIMITS, GRACE_S)
DT = st.sampled_from((0.5, 1.0, 3.0, 6.0))  # seconds between ticks; the grace window is 5 s


@dataclass
class VenueOrder:
    order_id: str
    slot_key: str
    condition_id: str
    token_id: str
    side: str
    price: D
    size: D
    matched: D = D(0)
    live: bool = True
    placed_at: float = 0.0

    @property
    def remaining(self) -> D:
        return self.size - self.matched


def parts(slot: str) -> tuple[str, str, str, str]:
    cond, token, side, role = slot.split("|")
    return cond, token, side, role


class ReconcilerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="polymm-stateful-"))
        self.now = 1_800_000_000.0
        self.ledger = Ledger(self.dir / "ledger.sqlite", clock=lambda: self.now)
        self.venue: dict[str, VenueOrder] = {}
        self.undelivered: list[Fill] = []  # fills that happened at the venue, seen at the next observe
        self.spec: dict[str, tuple[D, D, D]] = {}  # quote slot -> (price, size, min_keep_size)
        self.ids = itertools.count()
        self.lose_reply_next = False  # the venue takes the next order, its reply is lost
        self.lose_request_next = False  # the next order never reaches the venue, and we never hear
        self.lose_cancel_reply_next = False
        self.race_next_cancel: D | None = None  # fraction of the next cancelled order filled before the cancel lands
        self.race_replaced_buys = True  # a fill may race the cancel of a buy being replaced too
        self.blind_next_tick = False  # the open-orders read fails on the next tick
        self.collateral_unknown = False
        self.read_lag_s = 0.0  # the open-orders list omits orders younger than this (the read side lags)
        self.last_gated: GatedPlan | None = None

    def teardown(self) -> None:
        self.ledger.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ------------------------------------------------------------------ the pipeline
    def observe_and_sync(self, blind: bool) -> tuple[ObservedState, Synced]:
        """Deliver the venue's fills and resolve order states through the tick's own `sync`, applied to the
        ledger in one transaction, as `polymm reconcile` does."""
        delivered, self.undelivered = self.undelivered, []
        open_orders = Unknown("blind tick") if blind else tuple(
            LiveOrder(v.order_id, v.condition_id, v.token_id, v.side, v.price, v.size, v.matched, "us", 0)
            for v in self.venue.values() if v.live and self.now - v.placed_at >= self.read_lag_s)
        collateral = Unknown("balance read failed") if self.collateral_unknown else COLLATERAL
        observed = ObservedState(at=self.now, open_orders=open_orders, fills=tuple(delivered), collateral=collateral)
        open_ids = [o.order_id for o in open_orders] if not blind else []
        snapshot = self.ledger.tick_snapshot(open_ids, delivered, CURSOR)
        synced = sync(snapshot, observed, PARAMS, self.now)
        self.ledger.apply_changes(synced.changes, CURSOR)
        return observed, synced

    def desired(self) -> DesiredState:
        orders = []
        for slot, (price, size, keep) in sorted(self.spec.items()):
            cond, token, side, role = parts(slot)
            orders.append(DesiredOrder(slot, cond, token, side, role, price, size, keep, D("0.01"), False, True, "quote"))
        for token, pos in self.ledger.positions().items():
            size = pos.size.quantize(D("0.01"), rounding="ROUND_FLOOR")
            if size >= MIN_ORDER:
                cond = MARKET_OF[token]
                orders.append(DesiredOrder(slot_key(cond, token, "SELL", "hedge"), cond, token, "SELL", "hedge",
                                           HEDGE_PRICE, size, size, D("0.01"), False, False, "hedge"))
        return DesiredState(tuple(orders), frozenset(), frozenset())

    def decide(self, seen: tuple[ObservedState, Synced]) -> GatedPlan:
        """Plan and gate through the tick's own `act` (the desired state is this test's spec)."""
        observed, synced = seen
        _, gated, _ = act(synced, self.desired(), observed, PARAMS)
        return gated

    def execute(self, gated: GatedPlan) -> None:
        confirmed: set[str] = set()
        replaced = {p.after_cancel for p in gated.places if p.after_cancel and p.order.side == "BUY"}
        for c in gated.cancels:
            rec = self.ledger.order(c.order_id)
            assert rec is not None, "polymm cancels only orders of its own ledger"
            if rec.state in ("open", "partially_filled", "unknown"):
                self.ledger.transition(c.order_id, "request_cancel", reason=c.reason)
            v = self.venue.get(c.order_id)
            racing = c.order_id not in replaced or self.race_replaced_buys
            if self.race_next_cancel is not None and v is not None and v.live and racing:
                # A taker reaches the order between our cancel request and the venue acting on it
                # (also for a buy being replaced: the gate gives replacements no credit for that reason).
                self.fill_at_venue(v, max(D("0.01"), (v.remaining * self.race_next_cancel).quantize(D("0.01"))))
                self.race_next_cancel = None
            cancelled = v is not None and v.live
            if cancelled:
                v.live = False
            if self.lose_cancel_reply_next:
                self.lose_cancel_reply_next = False
                continue
            if cancelled:
                confirmed.add(c.order_id)
                if self.ledger.order(c.order_id).state == "cancel_requested":
                    self.ledger.transition(c.order_id, "confirm_cancel", reason="cancel confirmed")
        for p in gated.places:
            if p.after_cancel and p.after_cancel not in confirmed:
                continue
            want = p.order
            occupied = [o.order_id for o in self.ledger.active_orders() if o.slot_key == want.slot_key]
            assert not occupied, f"place into {want.slot_key}, which still holds {occupied}"
            oid = f"0x{next(self.ids):04x}"
            self.ledger.record_intent(NewOrder(OrderTerms(oid, want.slot_key, want.condition_id, want.token_id,
                                                          want.side, want.role, want.price, want.size),
                                               "GTC", want.post_only, {"id": oid}))
            self.ledger.transition(oid, "submit", reason="sending")
            if self.lose_request_next:
                self.lose_request_next = False
                self.ledger.transition(oid, "lose_reply", reason="timeout before the venue saw it")
                continue
            self.venue[oid] = VenueOrder(oid, want.slot_key, want.condition_id, want.token_id, want.side, want.price,
                                         want.size, placed_at=self.now)
            if self.lose_reply_next:
                self.lose_reply_next = False
                self.ledger.transition(oid, "lose_reply", reason="timeout after the venue took it")
            else:
                self.ledger.transition(oid, "accept", reason="live", venue_status="live")

    def fill_at_venue(self, v: VenueOrder, amount: D) -> None:
        amount = min(amount, v.remaining)
        if amount <= 0:
            return
        v.matched += amount
        if v.remaining <= 0:
            v.live = False
        self.undelivered.append(Fill(FillTerms(f"t{next(self.ids)}", v.order_id, v.condition_id, v.token_id, v.side,
                                               amount, v.price, "maker", int(self.now)), "MATCHED"))

    def one_tick(self, dt: float) -> GatedPlan:
        self.now += dt
        blind, self.blind_next_tick = self.blind_next_tick, False
        gated = self.decide(self.observe_and_sync(blind))
        for _, why in gated.dropped:
            assert why
        for _, why in gated.deferred:
            assert why
        self.execute(gated)
        self.last_gated = gated
        return gated

    # ------------------------------------------------------------------ rules
    @initialize(spec=st.dictionaries(st.sampled_from(QUOTE_SLOTS),
                                     st.tuples(st.integers(10, 90), st.integers(5, 60), st.booleans()), max_size=4))
    def start(self, spec):
        self.set_spec(spec)

    def set_spec(self, spec) -> None:
        self.spec = {slot: (D(cents) / 100, D(size), D(size) if full_keep else MIN_ORDER)
                     for slot, (cents, size, full_keep) in spec.items()}

    # Every event rule is followed by a tick, so that each step exercises the pipeline.
    @rule(spec=st.dictionaries(st.sampled_from(QUOTE_SLOTS),
                               st.tuples(st.integers(10, 90), st.integers(5, 60), st.booleans()), max_size=4),
          dt=DT)
    def new_desired_quotes(self, spec, dt):
        self.set_spec(spec)
        self.one_tick(dt)

    @rule(nudge=st.sampled_from(QUOTE_SLOTS), cents=st.integers(-3, 3), dt=DT)
    def move_one_quote(self, nudge, cents, dt):
        if nudge in self.spec:
            price, size, keep = self.spec[nudge]
            self.spec[nudge] = (min(D("0.95"), max(D("0.05"), price + D(cents) / 100)), size, keep)
        self.one_tick(dt)

    @rule(dt=DT)
    def tick(self, dt):
        self.one_tick(dt)

    @precondition(lambda self: any(v.live for v in self.venue.values()))
    @rule(data=st.data(), full=st.booleans(), dt=st.one_of(st.none(), DT))
    def fill(self, data, full, dt):
        live = sorted((v for v in self.venue.values() if v.live), key=lambda v: v.order_id)
        v = data.draw(st.sampled_from(live))
        amount = v.remaining if full else data.draw(st.integers(1, 99).map(lambda c: (v.remaining * c / 100).quantize(D("0.01"))))
        self.fill_at_venue(v, amount)
        if dt is not None:
            self.one_tick(dt)

    @rule(landed=st.booleans(), spec_change=st.integers(-3, 3), dt=DT)
    def lose_the_next_reply(self, landed, spec_change, dt):
        if landed:
            self.lose_reply_next = True
        else:
            self.lose_request_next = True
        self.nudge_all(spec_change)
        self.one_tick(dt)

    @rule(spec_change=st.integers(-3, 3), dt=DT)
    def lose_the_next_cancel_reply(self, spec_change, dt):
        self.lose_cancel_reply_next = True
        self.nudge_all(spec_change)
        self.one_tick(dt)

    @rule(fraction=st.sampled_from((D("0.3"), D("1"))), spec_change=st.integers(-3, 3), dt=DT)
    def race_a_fill_against_the_next_cancel(self, fraction, spec_change, dt):
        self.race_next_cancel = fraction
        self.nudge_all(spec_change)
        self.one_tick(dt)

    @rule(spec_change=st.integers(-3, 3), dt=DT)
    def blind_tick(self, spec_change, dt):
        self.blind_next_tick = True
        self.nudge_all(spec_change)
        self.one_tick(dt)

    @rule(unknown=st.booleans(), dt=DT)
    def balance_read(self, unknown, dt):
        self.collateral_unknown = unknown
        self.one_tick(dt)

    @rule(lag=st.sampled_from((0.0, 2.0, GRACE_S - 1)), spec_change=st.integers(-3, 3), dt=DT)
    def lagging_reads(self, lag, spec_change, dt):
        self.read_lag_s = lag
        self.nudge_all(spec_change)
        self.one_tick(dt)

    @rule(dt=DT)
    def restart(self, dt):
        self.ledger.close()
        self.ledger = Ledger(self.dir / "ledger.sqlite", clock=lambda: self.now)
        self.one_tick(dt)

    def nudge_all(self, cents: int) -> None:
        """Move every desired quote by `cents` (so the next tick has cancels and replacements to make)."""
        for slot, (price, size, keep) in list(self.spec.items()):
            self.spec[slot] = (min(D("0.95"), max(D("0.05"), price + D(cents) / 100)), size, keep)

    @rule()
    def quiet_ticks_reach_the_fixed_point(self):
        self.lose_reply_next = self.lose_request_next = self.lose_cancel_reply_next = False
        self.race_next_cancel = None
        self.blind_next_tick = False
        for _ in range(5):
            self.one_tick(3.0)
        gated = self.decide(self.observe_and_sync(blind=False))
        assert gated.cancels == () and gated.places == (), (gated.cancels, gated.places)
        assert all(why for _, why in gated.dropped)
        wanted = self.desired().by_slot()
        for v in self.venue.values():
            if v.live:
                want = wanted.get(v.slot_key)
                assert want is not None, f"{v.order_id} rests in {v.slot_key}, which is not desired"
                assert abs(v.price - want.price) <= POLICY.price_tolerance
                assert want.min_keep_size <= v.remaining <= want.size
        assert all(o.state in ("open", "partially_filled") for o in self.ledger.active_orders())

    # ------------------------------------------------------------------ invariants
    @invariant()
    def at_most_one_live_order_per_slot(self):
        slots = [v.slot_key for v in self.venue.values() if v.live]
        assert len(slots) == len(set(slots)), sorted(slots)

    @invariant()
    def every_live_order_at_the_venue_is_active_in_the_ledger(self):
        active = {o.order_id for o in self.ledger.active_orders()}
        assert {oid for oid, v in self.venue.items() if v.live} <= active

    @invariant()
    def exposure_stays_within_the_caps(self):
        # The ledger's view once every venue fill is known: active buys at their remaining size
        # (unknown and in-flight included) and inventory at cost.
        matched = matched_by_order(self.ledger.fills() + self.undelivered)
        buys = [BuyExposure(o.condition_id, o.price, max(o.size - max(o.size_matched, matched.get(o.order_id, D(0))), D(0)))
                for o in self.ledger.active_orders() if o.side == "BUY"]
        held: dict[str, list[D]] = {t: [p.size, p.cost] for t, p in self.ledger.positions().items()}
        for f in self.undelivered:
            size, cost = held.get(f.token_id, [D(0), D(0)])
            if f.side == "BUY":
                held[f.token_id] = [size + f.size, cost + f.size * f.price]
            else:
                held[f.token_id] = [size - f.size, cost - (cost / size * f.size if size else D(0))]
        inventory = [InventoryExposure(MARKET_OF[t], s, c / s if s else D(0)) for t, (s, c) in held.items()]
        by_market = exposure_by_market(buys, inventory)
        for market, value in by_market.items():
            assert value <= LIMITS.max_exposure_per_market, (market, value)
        assert total_exposure(by_market) <= LIMITS.max_total_exposure


TestReconcilerMachine = ReconcilerMachine.TestCase
TestReconcilerMachine.settings = settings(max_examples=50, stateful_step_count=30, deadline=None,
                                          suppress_health_check=[HealthCheck.too_slow])


def test_a_fill_racing_the_cancel_of_a_replaced_buy_keeps_the_cap():
    m = ReconcilerMachine()
    try:
        m.set_spec({"0xA|a-no|BUY|quote": (46, 54, True)})
        m.one_tick(1.0)  # 0.46 x 54 = 24.84 of the 25 cap
        m.set_spec({"0xA|a-no|BUY|quote": (48, 52, True)})  # 24.96: fits only with the old order's credit
        m.race_replaced_buys = True
        m.race_next_cancel = D("0.5")  # 27 shares of the old buy fill after our cancel request
        m.one_tick(1.0)
        m.one_tick(1.0)  # the racing fill is observed
        m.exposure_stays_within_the_caps()
    finally:
        m.teardown()
