"""Positions are checked against the venue: a ledger that disagrees with the venue's positions makes health
`degraded` with both figures (a real `polymm reconcile --loop` process against the simulated venue)."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import httpx

from controller_support import h
from polymm.domain.terms import FillTerms
from polymm.domain.types import Fill
from polymm.ledger import Ledger

HEDGE_RESTS = {"POLYMM_HEDGE_SELL__MAX_BID_GAP": "0.001", "POLYMM_RISK__MIN_PROTECTION_SIZE_MULTIPLIER_HEDGE": "0"}


def test_a_ledger_that_disagrees_with_the_venues_positions_makes_health_degraded_with_both_figures(
        venue, truth, controllers):
    http = httpx.Client(base_url=venue.url, timeout=30)
    row = http.get("/gamma/markets", params={"limit": 1}).json()[0]
    cid, token = row["conditionId"], json.loads(row["clobTokenIds"])[0]
    ctl = controllers("disagree", HEDGE_RESTS)
    with Ledger(ctl.ledger_path) as ledger:  # our ledger says 20 shares...
        ledger.apply_fill(Fill(FillTerms("t-earlier", "0x" + "e2" * 32, cid, token, "BUY", Decimal(20), Decimal("0.5"),
                                         "maker", int(time.time()) - 3600), "CONFIRMED"))
    # ...the venue holds 8
    assert http.post("/_sim/fund", json={"address": ctl.address, "collateral": 1000, "tokens": {token: "8"}}).status_code == 200
    assert h.venue_positions(truth.state(), ctl.address)[token].size == Decimal(8)

    ctl.start()
    last = ctl.wait_ticks(3, timeout=60)["summary"]
    assert last["health"] == "degraded", last
    assert f"ledger 20, venue 8" in last["why"] and token[:12] in last["why"], last["why"]
    # the sell never offers more than the venue holds
    sells = [o for o in h.live_orders(truth.state(), ctl.address) if o["side"] == "SELL" and o["asset_id"] == token]
    assert all(Decimal(o["original_size"]) <= 8 for o in sells), sells  # 20 held by the ledger, 8 sold at most
    http.close()


def test_the_exposure_cap_counts_the_venues_shares_where_they_disagree():
    """Pure: with the venue holding more than the ledger says, the cap counts the venue's shares (a buy that
    fits the ledger's figure is dropped), and a sell never offers more than the smaller figure."""
    from polymm.desired.state import DesiredOrder, DesiredState
    from polymm.domain.positions import PositionRecord
    from polymm.observed.state import ObservedState
    from polymm.reconciler.gate import RiskLimits
    from polymm.reconciler.plan import PlanPolicy
    from polymm.reconciler.tick import Synced, LedgerChanges, TickParams, act

    cid, yes, no = "0x" + "c" * 64, "yes-token", "no-token"
    synced = Synced(LedgerChanges(), (), {yes: PositionRecord(yes, cid, Decimal(10), Decimal(5), Decimal(0))},
                    frozenset())
    buy = DesiredOrder(f"{cid}|{no}|BUY|quote", cid, no, "BUY", "quote", Decimal("0.50"), Decimal(20), Decimal(20),
                       Decimal("0.01"), False, True, "quote")
    sell = DesiredOrder(f"{cid}|{yes}|SELL|hedge", cid, yes, "SELL", "hedge", Decimal("0.60"), Decimal(10), Decimal(1),
                        Decimal("0.01"), False, False, "hedge")
    desired = DesiredState((sell, buy), frozenset(), frozenset())
    params = TickParams(None, None, True, PlanPolicy(Decimal("0.0001")), RiskLimits(Decimal(20), Decimal(100)), 5.0)
    base = dict(at=0.0, open_orders=(), fills=(), collateral=Decimal(1000))

    _, agreed, _ = act(synced, desired, ObservedState(**base), params)
    assert agreed.exposure_before[cid] == Decimal(5)  # 10 shares at 0.50
    assert [p.order.side for p in agreed.places] == ["SELL", "BUY"]  # 5 + 10 fits the 20 cap

    _, apart, _ = act(synced, desired, ObservedState(**base, venue_overrides={yes: Decimal(25)}), params)
    assert apart.exposure_before[cid] == Decimal("12.5")  # the venue's 25 shares at the ledger's 0.50
    assert [p.order.side for p in apart.places] == ["SELL"]  # 12.5 + 10 > 20: the buy is dropped
    assert any(p.order.side == "BUY" for p, _ in apart.dropped)

    _, fewer, _ = act(synced, desired, ObservedState(**base, venue_overrides={yes: Decimal(4)}), params)
    assert [p.order.size for p in fewer.places if p.order.side == "SELL"] == [Decimal(4)]  # sells the 4 the venue holds
