"""The simulated universe against the real one: 300 markets drawn from the reward-universe snapshot
(polymm.sim.realdata), traded for half an hour, then measured through the venue's public HTTP surface as the snapshot
job measured Polymarket (polymm.sim.calibration) — quantiles p10–p90 of pool, minimum size, spread, midpoint,
in-band capital, yield and volume, the share of markets nobody qualifies in and the depth profile, each within the
tolerance docs/SIMULATION.md states. `-s` prints the comparison.

POLYMM_SIM_UNIVERSE=generated measures the old generator instead (it fails); POLYMM_SIM_UNIVERSE_FILE draws from and
compares with another snapshot file of the same fields. The generated universe's own targets:
tests/test_sim_calibration_generated.py."""

from __future__ import annotations

import os
import statistics
from collections import defaultdict
from datetime import datetime, timezone

import pytest

from polymm.sim.calibration import comparison, measure_rows, measure_venue
from polymm.sim.model import MICRO, TAKER_ADDRESS, internal_owner
from polymm.sim.realdata import load_rows, real_universe
from polymm.sim.realflow import trades_per_day
from polymm.sim.runner import SimOptions, SimVenue

UNIVERSE = os.environ.get("POLYMM_SIM_UNIVERSE", "real")
MARKETS = 300
WARM_UP_S = 1800


@pytest.fixture(scope="module")
def venue():
    options = SimOptions(seed=11, speed=0, markets=MARKETS, scenario="calm", start_time=1_790_121_600,
                         rate_limits=False, universe=UNIVERSE)
    running = SimVenue(options)
    running.server.engine.advance(WARM_UP_S)  # before its thread starts: the engine is still the test's alone
    with running:
        yield running


def test_the_universe_measures_as_the_snapshot_through_the_public_api(venue):
    measured = measure_venue(venue.urls["clob_url"], venue.urls["gamma_url"])
    lines, failures = comparison(measured, measure_rows(list(load_rows())))
    print(f"\nuniverse={UNIVERSE}, {MARKETS} markets after {WARM_UP_S // 60} simulated minutes (calm, seed 11):")
    print("\n".join(lines))
    if failures:
        print("OUT OF TOLERANCE:\n" + "\n".join(failures))
    assert not failures, "\n".join(failures)


def test_makers_quote_on_the_markets_own_tick(venue):
    """A 0.001-tick market's book uses the thousandths (not only whole cents); every price is on the market's tick."""
    engine = venue.server.engine
    fine = [m for m in engine.markets.values() if m.tick_pips == 10 and m.rate_per_day > 0]
    assert len(fine) >= 20
    off_cent = 0
    for m in engine.markets.values():
        prices = list(m.book.bids) + list(m.book.asks)
        assert all(p % m.tick_pips == 0 for p in prices)
        off_cent += m.tick_pips == 10 and any(p % 100 for p in prices)
    assert off_cent >= len(fine) // 2


def test_many_makers_hold_each_market(venue):
    """Effective makers a market (1 / HHI of the resting size by maker address): a median near the 32 measured on
    the venue (Dubach: volume-weighted HHI median 0.031)."""
    engine = venue.server.engine
    effective = []
    for m in engine.markets.values():
        size: dict[str, int] = defaultdict(int)
        for side in (m.book.bids, m.book.asks):
            for level in side.values():
                for o in level:
                    if o.internal:
                        size[o.maker_address] += o.remaining
        total = sum(size.values())
        if total:
            effective.append(1 / sum((s / total) ** 2 for s in size.values()))
    middle = statistics.median(effective)
    print(f"\neffective makers a market: median {middle:.1f}, p10 {statistics.quantiles(effective, n=10)[0]:.1f}")
    assert 20 <= middle <= 45


def test_taker_flow_follows_each_markets_volume(venue):
    """Half an hour of taker trades per market against its row's 24 h volume: none where the volume was nil (only
    stale quotes picked off), many where it was thousands of dollars, and the notional traded in the busy markets
    about the volume's share of the half hour."""
    if UNIVERSE != "real":
        pytest.skip("the generated universe's flow is not drawn from volumes")
    engine = venue.server.engine
    start = datetime.fromtimestamp(1_790_121_600, tz=timezone.utc)
    plans = real_universe(MARKETS, 11, start)[1]  # the same draw as the venue's (seeded)
    taker = internal_owner(TAKER_ADDRESS)
    trades: dict[str, int] = defaultdict(int)
    notional: dict[str, float] = defaultdict(float)
    for t in engine.trades_for(taker):
        trades[t.taker_order.market.condition_id] += 1
        notional[t.taker_order.market.condition_id] += t.size / MICRO * t.price_pips / 10_000
    busy = [cid for cid, p in plans.items() if p.volume_24h_usd >= 2000]
    quiet = [cid for cid, p in plans.items() if p.volume_24h_usd == 0]
    assert busy and quiet
    expected = sum(trades_per_day(plans[c].volume_24h_usd) for c in busy) * WARM_UP_S / 86_400
    seen = sum(trades[c] for c in busy)
    print(f"\nbusy markets ({len(busy)}): {seen} taker trades in {WARM_UP_S // 60} min, {expected:.0f} expected; "
          f"quiet markets ({len(quiet)}): {sum(trades[c] for c in quiet)} trades")
    assert 0.6 * expected <= seen <= 1.6 * expected + 5
    assert sum(trades[c] for c in quiet) <= len(quiet) // 5
    volume = sum(plans[c].volume_24h_usd for c in busy) * WARM_UP_S / 86_400
    assert 0.3 * volume <= sum(notional[c] for c in busy) <= 3 * volume
