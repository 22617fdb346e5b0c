"""A position in a market that is no longer rewarded keeps its hedge (RELIABILITY promise 4).

`polymm reconcile --loop` runs as a real process against the simulated venue; the venue's truth
(`/_sim/state`) is the judge. The market leaves the reward list (`/_sim/rewards` rate 0) but keeps
trading; the controller must read its details by condition id, hedge the position, and keep that
hedge live across ticks instead of cancelling it as "no longer desired".
"""

from __future__ import annotations

import time
from decimal import Decimal

import httpx

from controller_support import h
from polymm.domain.terms import FillTerms
from polymm.domain.types import Fill
from polymm.ledger import Ledger

# a hedge that rests (no bid within 0.001 of cost), so the test can see it live across ticks
HEDGE_RESTS = {"POLYMM_HEDGE_SELL__MAX_BID_GAP": "0.001", "POLYMM_RISK__MIN_PROTECTION_SIZE_MULTIPLIER_HEDGE": "0"}
SHARES = Decimal(20)


def a_mid_priced_market(http: httpx.Client) -> tuple[dict, str, Decimal]:
    """A rewarded market whose first token's best bid sits in 0.3–0.7: (gamma row, token, best bid)."""
    import json

    for row in http.get("/gamma/markets", params={"limit": 500}).json():
        token = json.loads(row["clobTokenIds"])[0]
        book = http.get("/book", params={"token_id": token}).json()
        bids = sorted((Decimal(b["price"]) for b in book["bids"]), reverse=True)
        if bids and Decimal("0.3") <= bids[0] <= Decimal("0.7"):
            return row, token, bids[0]
    raise AssertionError("no mid-priced market in the simulated universe")


def our_sells(state: dict, address: str, token: str) -> list[dict]:
    return [o for o in h.live_orders(state, address) if o["side"] == "SELL" and o["asset_id"] == token]


def test_a_position_in_a_market_no_longer_rewarded_is_hedged_and_the_hedge_is_kept(venue, truth, controllers):
    http = httpx.Client(base_url=venue.url, timeout=30)
    market, token, best_bid = a_mid_priced_market(http)
    cid = market["conditionId"]
    dropped = http.post("/_sim/rewards", json={"condition_id": cid, "rate_per_day": 0})
    assert dropped.status_code == 200, dropped.text
    assert cid not in {r["condition_id"] for r in http.get("/rewards/markets/current").json()["data"]}

    ctl = controllers("held", HEDGE_RESTS)
    # the ledger of an earlier run: 20 shares bought at 2 cents over the best bid (no stop-loss, no bid near cost)
    cost = best_bid + Decimal("0.02")
    with Ledger(ctl.ledger_path) as ledger:
        ledger.apply_fill(Fill(FillTerms("t-earlier", "0x" + "e1" * 32, cid, token, "BUY", SHARES, cost, "maker",
                                         int(time.time()) - 3600), "CONFIRMED"))
    # ...and the venue holds those shares
    funded = http.post("/_sim/fund", json={"address": ctl.address, "collateral": 1000, "tokens": {token: str(SHARES)}})
    assert funded.status_code == 200, funded.text

    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    sells = our_sells(truth.state(), ctl.address, token)
    assert len(sells) == 1, (sells, ctl.log_tail())
    hedge = sells[0]
    assert Decimal(hedge["original_size"]) == SHARES
    assert Decimal(hedge["price"]) >= cost  # rests above cost: nothing within reach

    ctl.wait_ticks(6, timeout=60)
    sells = our_sells(truth.state(), ctl.address, token)
    assert [o["id"] for o in sells] == [hedge["id"]], "the hedge was cancelled or replaced while the market is off the list"
    assert Decimal(sells[0]["size_matched"]) == 0
    with ctl.ledger() as ledger:
        summary = ledger.last_tick()["summary"]
    assert cid not in summary["selected"]  # not quoted: only hedged
    http.close()
