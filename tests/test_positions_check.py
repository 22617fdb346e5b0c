"""Positions are checked against the venue: a ledger that disagrees with the venue's positions makes health
`degraded` with both figures (a real `polymm reconcile --loop` process against the simulated venue)."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import httpx

from controller_support import h
from polymm.statemachines.ledger import Ledger, ObservedFill

HEDGE_RESTS = {"POLYMM_HEDGE_SELL__MAX_BID_GAP": "0.001", "POLYMM_RISK__MIN_PROTECTION_SIZE_MULTIPLIER_HEDGE": "0"}


def test_a_ledger_that_disagrees_with_the_venues_positions_makes_health_degraded_with_both_figures(
        venue, truth, controllers):
    http = httpx.Client(base_url=venue.url, timeout=30)
    row = http.get("/gamma/markets", params={"limit": 1}).json()[0]
    cid, token = row["conditionId"], json.loads(row["clobTokenIds"])[0]
    ctl = controllers("disagree", HEDGE_RESTS)
    with Ledger(ctl.ledger_path) as ledger:  # our ledger says 20 shares...
        ledger.apply_fill(ObservedFill("t-earlier", "0x" + "e2" * 32, cid, token, "BUY", Decimal(20), Decimal("0.5"),
                                       "CONFIRMED", "maker", int(time.time()) - 3600))
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
