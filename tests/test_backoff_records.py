"""While the venue's 429 back-off holds, polymm records nothing it did not send: a tick whose places span several
batches (≤ 15 orders a request) stops at the batch that was rate limited, and the later batches are neither signed
nor recorded — not written as intents and then rejected by the local back-off ("backing off after 429"), which
made the ledger claim refusals the venue never saw. A real `polymm reconcile --loop` against the simulator."""

from __future__ import annotations

import json
import time

import pytest

from controller_support import wait_until
from polymm.sim.runner import SimOptions


@pytest.fixture
def sim_options() -> SimOptions:
    """Eighty generated markets: thirty quoted make about 38 places at the first tick, three batches."""
    return SimOptions(seed=7, speed=0, markets=80, scenario="calm", balance_delay_s=0.0, universe="generated")


def test_while_backing_off_a_429_the_ledger_records_no_order_the_venue_did_not_see(venue, truth, controllers):
    ctl = controllers("backoff-records", {"POLYMM_STRATEGY__MAX_TOTAL_EXPOSURE_USDC": "2000"}, max_markets=30)
    truth.faults({"seed": 5, "rules": [{"match": "POST /orders", "kind": "rate_limit", "probability": 1,
                                        "retry_after": 2}]})
    ctl.start()
    wait_until(lambda: truth.fired(), 60, "a 429 on an order post", ctl)
    time.sleep(5)  # a few back-offs
    assert ctl.terminate() == 0
    posts = len([f for f in truth.fired() if "/orders" in json.dumps(f)])  # the 429s the venue answered
    with ctl.ledger() as ledger:
        refused = [o for o in ledger.orders() if o.state == "rejected"]
        ticks = [t["summary"] for t in ledger.recent_ticks(200)]
    # a tick whose first batch was rate limited and whose later batches therefore stayed unsent
    split = [t for t in ticks if any("rate limited" in n for n in t.get("notes", []))
             and any("placing paused" in n for n in t.get("notes", []))]
    assert split, "no tick wanted more than one batch: the test proves nothing"
    assert not [o for o in refused if "backing off" in (o.last_error or "")], "recorded a rejection it never sent"
    assert 1 <= posts and len(refused) <= 15 * posts, (len(refused), posts)
    assert all(t.get("refused", 0) <= 15 for t in split)
