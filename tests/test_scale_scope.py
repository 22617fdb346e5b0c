"""A tick's scope (issue 15): the full funnel over every reward market on a rescan, between rescans only the
markets in force and those we hold orders in — against the simulated venue over HTTP with the real SDK.

The controller runs in-process on a manual clock (the venue's is frozen too), so "one rescan interval
later" is exact; the venue's truth (its engine and `/_sim/state`) judges what was quoted.
"""

from __future__ import annotations

import os

import pytest

from polymm.config import load_config, load_secrets
from polymm.controller.session import open_session
from polymm.marketdata.scope import RESERVE_FACTOR, WATCH_LIMIT
from polymm.sim.runner import SimOptions

MAX_MARKETS = 3
INTERVAL_S = 600.0


@pytest.fixture
def sim_options() -> SimOptions:
    return SimOptions(seed=11, speed=0, markets=150, scenario="calm", balance_delay_s=0.0,
                      universe="generated")  # its picks and fills were written for the generated universe's seed 11


@pytest.fixture
def controller(venue, admin, tmp_path):
    u = venue.urls
    env = {"POLYMARKET_PRIVATE_KEY": "0x" + os.urandom(32).hex(), "POLYMM_VENUE__MODE": "remote",
           "POLYMM_VENUE__CLOB_URL": u["clob_url"], "POLYMM_VENUE__GAMMA_URL": u["gamma_url"],
           "POLYMM_VENUE__DATA_URL": u["data_url"], "POLYMM_VENUE__WS_URL": u["ws_url"],
           "POLYMM_STRATEGY__MAX_MARKETS": str(MAX_MARKETS), "POLYMM_LOOP__UPDATE_INTERVAL_SECONDS": str(INTERVAL_S),
           "POLYMM_LEDGER__PATH": str(tmp_path / "ledger.sqlite")}
    cfg = load_config(environ=env)
    with open_session(cfg, load_secrets(env)) as session:
        clock = [float(admin.state()["now"])]  # the venue's frozen clock: fills are read by their time
        ctl = session.controller
        ctl.clock = ctl.executor.clock = lambda: clock[0]
        ctl.test_clock = clock
        yield ctl


def tick(ctl):
    observed = ctl.observe()
    decision = ctl.decide(observed)
    ctl.execute(decision)
    return decision


def reward_condition_ids(venue) -> set[str]:
    return venue.call(lambda: {m.condition_id for m in venue.server.engine.markets.values() if m.rate_per_day > 0})


def quoted_markets(admin, address: str) -> set[str]:
    acct = admin.state()["accounts"][address]
    return {o["market"] for o in acct["open_orders"] if o["side"] == "BUY"}


def test_a_rescan_reaches_every_reward_market_and_ticks_between_read_only_the_markets_in_force(venue, admin, controller):
    everything = reward_condition_ids(venue)
    first = tick(controller)
    assert first.observed.full_scan
    assert {m.condition_id for m in first.observed.reward_markets} == everything
    # every reward market was judged: ranked, or rejected by exactly one named rule
    judged = {ev.market.condition_id for ev in first.selection.ranked} | set(first.selection.rejected)
    assert judged == everything
    assert len(first.selection.selected) == MAX_MARKETS
    address = controller.trading.address
    quoted = quoted_markets(admin, address)
    assert quoted == {ev.market.condition_id for ev in first.selection.selected}

    before = admin.requests()["counts"]
    controller.test_clock[0] += 1
    second = tick(controller)
    after = admin.requests()["counts"]
    assert not second.observed.full_scan
    in_force = {ev.market.condition_id for ev in first.selection.ranked[:RESERVE_FACTOR * MAX_MARKETS]}
    looked_at = {m.condition_id for m in second.observed.reward_markets}
    assert looked_at == in_force | quoted
    # the books read: those of the markets looked at, and of up to WATCH_LIMIT more open reward markets not about
    # to end, the highest reward rates first — watched for the jump rate only (polymm.desired.toxicity)
    soon = controller.clock() + controller.params.min_days_until_end * 86400
    open_ = [m for m in first.observed.reward_markets if not m.closed and m.accepting_orders
             and (m.end_date is None or m.end_date.timestamp() >= soon)]
    others = sorted((m for m in open_ if m.condition_id not in in_force), key=lambda m: -m.rate_per_day)
    assert len(others) > WATCH_LIMIT  # the universe is larger than what is watched
    watched = others[:WATCH_LIMIT]
    assert min(m.rate_per_day for m in watched) >= max(m.rate_per_day for m in others[WATCH_LIMIT:])
    assert set(second.observed.books) == {t for m in list(second.observed.reward_markets) + watched
                                          for t in m.token_ids}
    assert {ev.market.condition_id for ev in second.selection.ranked} <= looked_at  # watched: never ranked
    assert after.get("GET /rewards/markets/current", 0) == before.get("GET /rewards/markets/current", 0)
    # the same markets stay quoted, and nothing is rewritten at the venue
    assert {ev.market.condition_id for ev in second.selection.selected} == quoted
    assert quoted_markets(admin, address) == quoted
    assert after.get("POST /orders", 0) + after.get("POST /order", 0) == \
        before.get("POST /orders", 0) + before.get("POST /order", 0)


def test_a_market_made_attractive_is_quoted_within_one_rescan_interval(venue, admin, controller):
    first = tick(controller)
    ranked = first.selection.ranked
    # a market outside those in force whose quotes would score (a bigger pool then ranks it first)
    outside = [ev for ev in ranked[RESERVE_FACTOR * MAX_MARKETS:] if ev.q_ours > 0]
    assert outside, "the universe must have scoring markets outside those in force"
    outsider = outside[-1].market.condition_id

    # the venue's admin hook: that market's reward pool jumps
    admin.http.post("/_sim/rewards", json={"condition_id": outsider, "rate_per_day": 50_000}).raise_for_status()
    controller.test_clock[0] += 1
    between = tick(controller)
    assert not between.observed.full_scan
    assert outsider not in {m.condition_id for m in between.observed.reward_markets}

    # one interval later the rescan runs off the tick; the first tick after it ends adopts its ranking
    controller.test_clock[0] = controller.scope.scanned_at + INTERVAL_S
    starts = tick(controller)
    assert not starts.observed.full_scan
    controller.rescans.wait(30)
    controller.test_clock[0] += 1
    adopted = tick(controller)
    assert controller.scope.in_force[0] == outsider
    assert adopted.selection.selected[0].market.condition_id == outsider
    assert outsider in quoted_markets(admin, controller.trading.address)


def test_ticks_go_on_and_a_fill_is_hedged_while_a_slow_rescan_runs_then_its_pick_is_quoted(venue, admin, controller):
    import time

    first = tick(controller)
    address = controller.trading.address
    outside = [ev for ev in first.selection.ranked[RESERVE_FACTOR * MAX_MARKETS:] if ev.q_ours > 0]
    assert outside
    outsider = outside[-1].market.condition_id
    admin.http.post("/_sim/rewards", json={"condition_id": outsider, "rate_per_day": 50_000}).raise_for_status()
    # the rescan's reward-list read takes 4 s at the venue; the ticks' own reads are not slowed
    admin.faults({"seed": 1, "rules": [{"match": "GET /rewards/markets/current", "kind": "latency",
                                        "latency_ms": 4000}]})
    controller.test_clock[0] = controller.scope.scanned_at + INTERVAL_S
    started = time.monotonic()
    tick(controller)
    assert controller.rescans.running
    # a buy quote of ours fills while the rescan runs
    quote = next(o for o in admin.state()["accounts"][address]["open_orders"] if o["side"] == "BUY")
    filled = admin.take(quote["asset_id"], "SELL", float(quote["price"]), 100_000)  # sells down through our bid
    assert filled["filled"] > 0, filled
    ticks = []
    for _ in range(3):
        controller.test_clock[0] += 1
        t0 = time.monotonic()
        ticks.append(tick(controller))
        assert time.monotonic() - t0 < 2.0, "a tick waited for the rescan"
    assert controller.rescans.running and time.monotonic() - started < 4.0, "the ticks ran while the rescan ran"
    assert all(not d.observed.full_scan for d in ticks)
    # the venue's truth: our bought shares were sold again by a hedge (resting or matched), tick 1 or 2
    assert any(p.order.role == "hedge" for d in ticks[:2] for p in d.gated.places)
    token = quote["asset_id"]
    acct = admin.state()["accounts"][address]
    resting = sum(float(o["original_size"]) - float(o["size_matched"]) for o in acct["open_orders"]
                  if o["side"] == "SELL" and o["asset_id"] == token)
    assert float(acct["positions"].get(token, 0)) - resting <= 0, "the fill was not hedged while the rescan ran"
    controller.rescans.wait(30)
    admin.faults({"rules": []})
    controller.test_clock[0] += 1
    adopted = tick(controller)
    assert adopted.selection.selected[0].market.condition_id == outsider
    assert outsider in quoted_markets(admin, address)


def test_a_rescan_whose_read_fails_keeps_the_markets_in_force_and_health_says_so(venue, admin, controller):
    first = tick(controller)
    in_force = controller.scope.in_force
    admin.faults({"rules": [{"match": "GET /rewards/markets/current", "kind": "error_before", "status": 503}]})
    controller.test_clock[0] = controller.scope.scanned_at + INTERVAL_S
    tick(controller)
    controller.rescans.wait(60)
    controller.test_clock[0] += 1
    after = tick(controller)
    assert controller.scope.in_force == in_force
    assert any("rescan failed" in p for p in after.observed.problems)
    assert {ev.market.condition_id for ev in after.selection.selected} == \
        {ev.market.condition_id for ev in first.selection.selected}
    admin.faults({"rules": []})


# ----------------------------------------------------------------------------- the scope's rules (pure)
def _market(i: int):
    from datetime import datetime, timezone
    from decimal import Decimal

    from polymm.domain.types import RewardMarket, Token

    return RewardMarket(condition_id=f"0x{i:064x}", question=f"Q{i}?", tokens=(Token(f"{i}1", "Yes"), Token(f"{i}2", "No")),
                        rewards_max_spread=Decimal(3), rewards_min_size=Decimal(20), rate_per_day=Decimal(10),
                        tick_size=Decimal("0.01"), min_order_size=Decimal(5), neg_risk=False,
                        end_date=datetime(2027, 1, 1, tzinfo=timezone.utc), volume_24hr=Decimal(1000))


def test_the_scope_scans_fully_at_first_on_a_new_list_and_after_the_interval_else_narrowly():
    from polymm.marketdata.scope import Scope

    scope = Scope(rescan_interval_s=100, max_markets=2)
    assert scope.full_scan_due(0, new_list=False, rescan=None)  # never scanned
    scope.scanned(["a", "b", "c", "d", "e"], now=0)
    assert scope.in_force == ("a", "b", "c", "d")  # 2 × max_markets, in rank order
    assert not scope.full_scan_due(99, new_list=False, rescan=None)
    assert scope.full_scan_due(99, new_list=True, rescan=None)
    assert scope.full_scan_due(100, new_list=False, rescan=None)
    assert scope.full_scan_due(1, new_list=False, rescan=True)
    assert not scope.full_scan_due(1000, new_list=True, rescan=False)  # a command that needs only our orders


def test_between_rescans_the_scope_is_the_markets_in_force_plus_those_we_hold_and_drops_delisted_ones():
    from polymm.marketdata.scope import Scope

    universe = tuple(_market(i) for i in range(50))
    scope = Scope(rescan_interval_s=100, max_markets=1)
    scope.scanned([universe[3].condition_id, universe[7].condition_id, "0xgone"], now=0)
    held = [universe[20].token_ids[1], "not-a-reward-token"]
    assert scope.narrow(universe, held) == (universe[3], universe[7], universe[20])


def test_a_reserve_that_runs_dry_brings_the_next_rescan_forward_at_most_once_a_minute():
    from polymm.marketdata.scope import EARLY_RESCAN_SPACING_S, Scope

    scope = Scope(rescan_interval_s=1200, max_markets=3)
    scope.scanned(["a", "b", "c", "d", "e", "f"], now=0)
    scope.narrow_result(selected=3, now=5)  # drop-outs replaced from the reserve: no early rescan
    assert not scope.full_scan_due(EARLY_RESCAN_SPACING_S, new_list=False, rescan=None)
    scope.narrow_result(selected=2, now=10)  # fewer than max_markets although six were in force
    assert not scope.full_scan_due(EARLY_RESCAN_SPACING_S - 1, new_list=False, rescan=None)
    assert scope.full_scan_due(EARLY_RESCAN_SPACING_S, new_list=False, rescan=None)
    scope.scanned(["a"], now=EARLY_RESCAN_SPACING_S)  # the universe has one market to offer: not short
    scope.narrow_result(selected=1, now=EARLY_RESCAN_SPACING_S + 1)
    assert not scope.full_scan_due(EARLY_RESCAN_SPACING_S * 3, new_list=False, rescan=None)
