"""Fees in every number, end to end: the controller's hedges that sell into bids are taker trades and pay
`shares × rate × p × (1 − p)`; the ledger's fills carry that fee and `polymm status` shows it — equal to
the venue's own account of it (`/_sim/state` fees_paid) to the cent, positions too.
"""

from __future__ import annotations

import time
from decimal import Decimal

from controller_support import h


def test_hedge_taker_fees_in_the_ledger_and_status_equal_the_venue_to_the_cent(venue, truth, controllers):
    ctl = controllers("fees", max_markets=5)
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    engine = venue.server.engine
    fee_markets = venue.call(lambda: {cid for cid, m in engine.markets.items() if m.fee_rate})
    quotes = [q for q in h.live_orders(truth.state(), ctl.address)
              if q["side"] == "BUY" and q["market"] in fee_markets and Decimal("0.2") <= Decimal(q["price"]) <= Decimal("0.8")]
    assert quotes, "a quote in a market with a taker fee"
    h.take_through(truth, quotes[0], Decimal(1))
    took = time.time()
    ctl.wait_tick_started_after(took)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the hedge sells into the bids at once (a taker trade)
        account = truth.state()["accounts"][ctl.address]
        if account["fees_paid"] > 0 and not account["positions"].get(quotes[0]["asset_id"]):
            break
        ctl.wait_ticks(1, timeout=30)
    account = truth.state()["accounts"][ctl.address]
    assert account["fees_paid"] > 0, ctl.log_tail()
    ctl.wait_ticks(2, timeout=30)

    status = ctl.status()
    with ctl.ledger() as ledger:
        ledger_fees = sum((f.fee for f in ledger.fills() if f.status != "FAILED"), Decimal(0))
        positions = {t: p.size for t, p in ledger.positions().items() if p.size}
    venue_fees = Decimal(str(account["fees_paid"]))
    print(f"\ntaker fees: venue {venue_fees}, ledger {ledger_fees}, status {status['fees_paid_total']}")
    assert ledger_fees.quantize(Decimal("0.01")) == venue_fees.quantize(Decimal("0.01"))
    assert abs(ledger_fees - venue_fees) < Decimal("0.000011")  # the same rounding, fill by fill
    assert Decimal(status["fees_paid_total"]) == venue_fees.quantize(Decimal("0.01"))
    venue_positions = {t: Decimal(str(s)) for t, s in account["positions"].items() if s}
    assert positions == venue_positions
