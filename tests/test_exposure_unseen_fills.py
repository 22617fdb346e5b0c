"""Shares matched that no fill of ours shows yet still count against the caps. Two ways the ledger could lose them
while the trades read fails (found by `scripts/chaos.py --storm`, which ended a simulated hour at 1.08 × the
market cap with the venue holding buys on both tokens and a position the ledger did not know of):

- the venue's open-order row reports a match (`size_matched`) whose trade the trades read has not shown: the
  order's remaining size shrinks, the position does not grow;
- the venue confirms the cancel of a buy that was partly filled just before it: the order leaves the active set,
  and its fill is not in the ledger either.

The real Controller (the one pure tick, a real SQLite ledger, the real executor) with a venue that records what
is sent; the market's cap is $10 and one resting buy of 20 at 0.50 fills it.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D
from pathlib import Path

from polymm.config import PolymmConfig
from polymm.controller.core import Controller
from polymm.desired.state import slot_key
from polymm.domain.terms import OrderTerms
from polymm.domain.types import Book, LiveOrder, RewardMarket, Token
from polymm.domain.unknown import Unknown
from polymm.observed.state import ObservedState
from polymm.reconciler.gate import GatedPlan
from polymm.reconciler.plan import Cancel
from polymm.ledger import Ledger, NewOrder

from test_plan_is_the_tick import RecordingVenue

NOW = 1_800_000_000.0
CID, YES, NO = "0x" + "c" * 64, "3001", "3002"
CFG = PolymmConfig.model_validate({
    "strategy": {"max_markets": 1, "max_exposure_per_market_usdc": 10},
    "risk": {"min_protection_size_multiplier": 0, "min_protection_size_multiplier_hedge": 0},
})
MARKET = RewardMarket(CID, "market c", (Token(YES, "Yes"), Token(NO, "No")), D("4"), D("5"), D("100"), D("0.01"),
                      D("5"), False, datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(days=3650), D("50000"))
BOOKS = {t: Book.from_levels(t, [(D(p) / 100, D(200)) for p in (49, 48, 47, 46, 45)],
                             [(D(p) / 100, D(200)) for p in (51, 52, 53, 54, 55)], D("0.01")) for t in (YES, NO)}
RESTING = "0x" + "1" * 64  # our buy of 20 at 0.50 on YES: $10, the market's whole cap


def observation(at: float, listed: tuple[LiveOrder, ...], fills_known: bool) -> ObservedState:
    # the venue's price history (GET /prices-history): a flat hour before, so the trend rule lets the market be quoted
    flat_hour = {t: ((at - 3600, b.midpoint), (at - 60, b.midpoint)) for t, b in BOOKS.items()}
    return ObservedState(at=at, open_orders=listed, fills=() if fills_known else Unknown("trades read failed"),
                         books=BOOKS, reward_markets=(MARKET,), collateral=D(1000), price_history=flat_hour)


def buys_placed(decision) -> list:
    return [p.order for p in decision.gated.places if p.order.side == "BUY" and p.order.condition_id == CID]


def controller_with_a_resting_buy(tmp: str, clock: list[float]) -> tuple[Controller, Ledger]:
    ledger = Ledger(Path(tmp) / "ledger.sqlite", clock=lambda: clock[0])
    ledger.record_intent(NewOrder(OrderTerms(RESTING, slot_key(CID, YES, "BUY", "quote"), CID, YES, "BUY", "quote",
                                             D("0.50"), D(20)), "GTC", True, {"id": RESTING}))
    for trigger in ("submit", "accept"):
        ledger.transition(RESTING, trigger)
    return Controller(CFG, public=None, trading=RecordingVenue(), ledger=ledger, clock=lambda: clock[0],
                      market_data=object()), ledger


def test_a_match_the_open_order_row_shows_before_any_fill_keeps_counting_the_whole_order():
    with tempfile.TemporaryDirectory() as tmp:
        clock = [NOW]
        controller, ledger = controller_with_a_resting_buy(tmp, clock)
        try:
            row = LiveOrder(RESTING, CID, YES, "BUY", D("0.50"), D(20), D(12), "us", int(NOW) - 60)  # 12 matched
            decision = controller.decide(observation(NOW, (row,), fills_known=False), dry_run=True)
            assert decision.gated.exposure_before[CID] == D(10)  # 12 shares in no fill still count, at 0.50
            assert buys_placed(decision) == []
        finally:
            ledger.close()


def test_a_buy_cancelled_while_the_trades_read_fails_counts_until_a_trades_read_after_the_cancel():
    with tempfile.TemporaryDirectory() as tmp:
        clock = [NOW]
        controller, ledger = controller_with_a_resting_buy(tmp, clock)
        try:
            # the venue confirms our cancel of it (it may have been partly filled a moment before)
            resting = OrderTerms(RESTING, slot_key(CID, YES, "BUY", "quote"), CID, YES, "BUY", "quote", D("0.50"),
                                 D(20))
            report = controller.executor.run(GatedPlan((Cancel(resting, D(20), "test"),), (), (), (), {}, {}))
            assert report.cancels_confirmed == 1 and ledger.order(RESTING).state == "cancelled"

            clock[0] = NOW + 1  # the next tick: the trades read fails, the order is gone from the list
            blind = controller.decide(observation(NOW + 1, (), fills_known=False))
            assert blind.gated.exposure_before.get(CID) == D(10)
            assert buys_placed(blind) == []

            clock[0] = NOW + 2  # a trades read after the cancel shows no fill of it: the room is back
            seen = controller.decide(observation(NOW + 2, (), fills_known=True))
            assert seen.gated.exposure_before.get(CID, D(0)) == D(0)
            assert buys_placed(seen)
        finally:
            ledger.close()


def test_a_row_saying_fully_matched_while_the_trades_read_fails_does_not_close_the_order():
    """A stale listing shows an order that has since matched in full (its current figures): with no fill of ours
    to show the shares, the order stays open in the ledger and counts whole until the trades read works."""
    with tempfile.TemporaryDirectory() as tmp:
        clock = [NOW]
        controller, ledger = controller_with_a_resting_buy(tmp, clock)
        try:
            row = LiveOrder(RESTING, CID, YES, "BUY", D("0.50"), D(20), D(20), "us", int(NOW) - 60)
            blind = controller.decide(observation(NOW, (row,), fills_known=False))
            assert ledger.order(RESTING).state == "open"
            assert blind.gated.exposure_before[CID] == D(10) and buys_placed(blind) == []
        finally:
            ledger.close()
