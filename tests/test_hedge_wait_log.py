"""The console tells a new operator why a fill has no hedge yet: the venue credits tokens bought a few seconds
after the fill (VENUE.md "balance after a fill"), so the first sells are refused for balance and retried
every tick. A real `polymm reconcile --loop` against the simulator with its realistic balance lag, on a
clock that does not move: the tokens are never credited, so the hedge keeps waiting."""

from __future__ import annotations

from decimal import Decimal

import pytest

from controller_support import h, wait_until
from polymm.sim.runner import SimOptions


@pytest.fixture
def sim_options() -> SimOptions:
    return SimOptions(seed=7, speed=0, markets=30, scenario="calm", balance_delay_s=5.0,
                      universe="generated")


def test_a_hedge_waiting_for_the_venues_balance_says_so_on_the_console(venue, truth, controllers):
    ctl = controllers("balance-wait")
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    quote = next(o for o in h.live_orders(truth.state(), ctl.address)
                 if o["side"] == "BUY" and Decimal("0.2") <= Decimal(o["price"]) <= Decimal("0.8"))
    h.take_through(truth, quote, Decimal(1))
    line = wait_until(lambda: next((ln for ln in ctl.log_tail(20000).splitlines()
                                    if "wait for the venue to credit the tokens just bought" in ln), None), 20,
                      "a console line naming the hedge's wait for the balance", ctl)
    assert "1 hedge(s)" in line and "[ok]" in line, line
    # the venue holds the position and no sell of ours: the wait is real, not a hedge that was dropped
    assert not [o for o in h.live_orders(truth.state(), ctl.address) if o["side"] == "SELL"]
    assert ctl.status()["health"] == "ok"
