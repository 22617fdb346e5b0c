"""The stored ledger is the tick's projection: random fills, partial fills, cancels, status moves
(MATCHED → MINED → CONFIRMED, RETRYING), FAILED trades (first seen FAILED, or turning FAILED later), stale
re-reads and restarts are driven through the pure tick (`reconciler.tick.sync`) and a real `Ledger` on a
temporary SQLite file applying `changes`; after every tick the stored orders, fills and positions equal what the
tick projected, and every position equals the fold of its effective fills (reconciler/fills.py) — the store
writes the projection and recomputes nothing of its own."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from dataclasses import dataclass, replace
from decimal import Decimal as D
from pathlib import Path

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from polymm.config import PolymmConfig
from polymm.desired.funnel import SelectionParams
from polymm.desired.hedge import HedgeParams
from polymm.domain.terms import FillTerms, OrderTerms
from polymm.domain.types import Fill, LiveOrder
from polymm.ledger import Ledger, NewOrder
from polymm.observed.state import ObservedState
from polymm.reconciler.fills import refold
from polymm.reconciler.gate import RiskLimits
from polymm.reconciler.plan import PlanPolicy
from polymm.reconciler.tick import TickParams, sync
from polymm.statemachines.orders import ACTIVE_STATES, IllegalTransition, next_state

GRACE_S = 5.0
CURSOR = "trades_after"
MARKETS = {"0xA": ("a-yes", "a-no"), "0xB": ("b-yes",)}
MARKET_OF = {t: m for m, tokens in MARKETS.items() for t in tokens}
PARAMS = TickParams(SelectionParams.from_config(PolymmConfig()), HedgeParams(D("0.05"), D("0.2"), D("0.2"), D(0)),
                    True, PlanPolicy(price_tolerance=D("0.01")),
                    RiskLimits(max_exposure_per_market=D(25), max_total_exposure=D(40), max_places=4, max_cancels=3),
                    GRACE_S)
NEXT = {"MATCHED": ("MINED", "CONFIRMED", "RETRYING", "FAILED"), "MINED": ("CONFIRMED", "RETRYING", "FAILED"),
        "RETRYING": ("MINED", "CONFIRMED", "FAILED")}
EARLIER = {"MINED": "MATCHED", "CONFIRMED": "MINED", "RETRYING": "MATCHED", "FAILED": "MATCHED"}
PRICES = st.integers(1, 99).map(lambda c: D(c) / 100)


@dataclass
class VenueOrder:
    order_id: str
    token_id: str
    side: str
    price: D
    size: D
    matched: D = D(0)
    live: bool = True


class LedgerIsTheProjection(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="polymm-projection-"))
        self.now = 1_800_000_000.0
        self.ledger = Ledger(self.dir / "ledger.sqlite", clock=lambda: self.now)
        self.venue: dict[str, VenueOrder] = {}
        self.trades: dict[tuple[str, str], Fill] = {}  # the venue's trades of ours, at their current status
        self.stale: set[tuple[str, str]] = set()  # shown at an older status on the next read
        self.ids = itertools.count()
        self.expected_fills: dict[tuple[str, str], tuple[str, bool, bool]] = {}  # key -> (status, applied, reversed)

    def teardown(self) -> None:
        self.ledger.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ------------------------------------------------------------------ the venue moves
    @initialize(sizes=st.lists(st.integers(1, 30).map(D), min_size=2, max_size=3))
    def some_orders(self, sizes):
        for i, size in enumerate(sizes):
            self.place(sorted(MARKET_OF)[i % len(MARKET_OF)], ("BUY", "SELL")[i % 2], D("0.40"), size)

    @rule(token=st.sampled_from(sorted(MARKET_OF)), side=st.sampled_from(("BUY", "SELL")), price=PRICES,
          size=st.integers(1, 30).map(D))
    def place(self, token, side, price, size):
        """An order of ours, sent and accepted (the executor's moves)."""
        oid = f"0xo{next(self.ids)}"
        cond = MARKET_OF[token]
        self.ledger.record_intent(NewOrder(OrderTerms(oid, f"{cond}|{token}|{side}|quote", cond, token, side, "quote",
                                                      price, size), "GTC", True, {}))
        self.ledger.transition(oid, "submit")
        self.ledger.transition(oid, "accept")
        self.venue[oid] = VenueOrder(oid, token, side, price, size)

    @rule(data=st.data(), status=st.sampled_from(("MATCHED", "MATCHED", "MINED", "CONFIRMED", "FAILED")),
          whole=st.booleans(), late=st.booleans())
    def fill(self, data, status, whole, late):
        """A trade on one of our orders: partial or whole, first seen at any status (FAILED included); `late`:
        even on an order the venue no longer lists (a fill racing our cancel)."""
        orders = [v for v in self.venue.values() if (v.live or late) and v.matched < v.size]
        if not orders:
            return
        v = data.draw(st.sampled_from(orders))
        left = v.size - v.matched
        size = left if whole else data.draw(st.integers(1, int(left)).map(D)) if left >= 1 else left
        tid = f"t{next(self.ids)}"
        self.trades[(tid, v.order_id)] = Fill(FillTerms(tid, v.order_id, MARKET_OF[v.token_id], v.token_id, v.side,
                                                        size, v.price, "maker", int(self.now)), status)
        if status != "FAILED":
            v.matched += size
            if v.matched >= v.size:
                v.live = False  # the venue drops a fully matched order from the list

    @rule(data=st.data())
    def settle(self, data):
        """A trade's status moves on: MINED, CONFIRMED, RETRYING, or FAILED (the shares come back)."""
        pending = sorted(k for k, f in self.trades.items() if f.status in NEXT)
        if not pending:
            return
        key = data.draw(st.sampled_from(pending))
        f = self.trades[key]
        status = data.draw(st.sampled_from(NEXT[f.status]))
        self.trades[key] = replace(f, status=status)
        if status == "FAILED" and key[1] in self.venue:
            self.venue[key[1]].matched -= f.size

    @rule(data=st.data())
    def stale_read(self, data):
        """The next read shows a trade at an older status (a lagging replica): a regression, to be ignored."""
        moved = sorted(k for k, f in self.trades.items() if f.status in EARLIER)
        if moved:
            self.stale.add(data.draw(st.sampled_from(moved)))

    @rule(data=st.data())
    def cancel(self, data):
        """The venue cancels one of our live orders (ours or its own doing): gone from the open orders."""
        live = sorted(o for o, v in self.venue.items() if v.live)
        if live:
            self.venue[data.draw(st.sampled_from(live))].live = False

    @rule()
    def restart(self):
        self.ledger.close()
        self.ledger = Ledger(self.dir / "ledger.sqlite", clock=lambda: self.now)

    # ------------------------------------------------------------------ one tick, checked against the store
    @rule(dt=st.sampled_from((1.0, 6.0)), every=st.booleans())
    def tick(self, dt, every):
        """Read the venue (every trade of ours, or only those not final yet) and apply the tick's changes."""
        self.now += dt
        shown = []
        for key, f in sorted(self.trades.items()):
            if key in self.stale:
                shown.append(replace(f, status=EARLIER[f.status]))
            elif every or f.status in NEXT or key not in self.expected_fills:
                shown.append(f)
        self.stale.clear()
        live = tuple(LiveOrder(v.order_id, MARKET_OF[v.token_id], v.token_id, v.side, v.price, v.size, v.matched,
                               "us", 0) for v in self.venue.values() if v.live)
        observed = ObservedState(at=self.now, open_orders=live, fills=tuple(shown))
        snapshot = self.ledger.tick_snapshot([o.order_id for o in live], shown, CURSOR)
        synced = sync(snapshot, observed, PARAMS, self.now)
        before = {o.order_id: o for o in self.ledger.orders()}
        self.ledger.apply_changes(synced.changes, CURSOR)

        # the fills: as projected (new with whether each moved its position, status moves with the reversal)
        for ch in synced.changes.fills:
            key = (ch.fill.trade_id, ch.fill.order_id)
            assert ch.new == (key not in self.expected_fills)
            self.expected_fills[key] = (ch.fill.status, ch.applied, ch.reversed)
            event("a fill first seen FAILED" if ch.new and not ch.applied else "a fill reversed" if ch.reversed
                  else "a new fill" if ch.new else "a status move")
        for up in synced.changes.orders:
            event(f"order {before[up.order_id].state} -> {'/'.join(up.triggers) or 'matched'}")
        stored = {(f.trade_id, f.order_id): (f.status, f.applied, f.reversed) for f in self.ledger.fills()}
        assert stored == self.expected_fills
        # the positions: every row the projection holds, and no other
        assert self.ledger.positions() == dict(synced.positions)
        # the orders: the active ones as projected; each moved closed one by its triggers, matched never shrinking
        active = {o.order_id: (o.state, o.size_matched) for o in self.ledger.active_orders()}
        assert active == {o.order_id: (o.state, o.size_matched) for o in synced.orders}
        for up in synced.changes.orders:
            state = before[up.order_id].state
            for trigger in up.triggers:
                state = next_state(state, trigger)
            after = self.ledger.order(up.order_id)
            assert (after.state, after.size_matched) == (state, max(before[up.order_id].size_matched,
                                                                    up.size_matched))
        # the cursor the tick chose
        if synced.changes.cursor is not None:
            assert self.ledger.get_cursor(CURSOR) == str(synced.changes.cursor)

    # ------------------------------------------------------------------ laws of the stored ledger
    @invariant()
    def every_position_is_the_fold_of_its_effective_fills(self):
        effective: dict[str, list] = {}
        for f in self.ledger.fills():  # first-seen order
            if f.applied and not f.reversed:
                effective.setdefault(f.token_id, []).append(f)
        for token, position in self.ledger.positions().items():
            assert position == refold(token, position.condition_id, effective.get(token, []))

    @invariant()
    def a_fill_first_seen_failed_never_moved_a_position_and_reversals_are_failures(self):
        for f in self.ledger.fills():
            assert f.applied or not f.reversed
            assert not f.reversed or f.status == "FAILED"

    @invariant()
    def orders_move_only_through_the_table(self):
        for o in self.ledger.orders():
            history = self.ledger.history(o.order_id)
            state = None
            for event in history:
                if state is not None:
                    try:
                        assert next_state(state, event["trigger"]) == event["to_state"]
                    except IllegalTransition:  # pragma: no cover - the assertion's message is the point
                        raise AssertionError(f"{o.order_id}: {state} --{event['trigger']}--> {event['to_state']}")
                state = event["to_state"]
            assert state == o.state and (o.state in ACTIVE_STATES) == o.active


LedgerIsTheProjection.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestLedgerIsTheProjection = LedgerIsTheProjection.TestCase
