"""The tick's memory and the operator's switches, end to end: `polymm plan` decides with the running loop's
inputs, and a reload or a restart keeps what the tick remembers (polymm.reconciler.memory, polymm.controller.loop).

Each test runs `polymm reconcile --loop` as a real process against the simulated venue at speed 0 (the `venue`
fixture): simulated time moves only when a test advances it, so the books stay as a test leaves them, and the
loop's next tick — the first one journaled that started after the plan ran — is compared with the plan: the
places it sent (none in these states) and the reasons of every place it dropped.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from controller_support import h, wait_until
from polymm.desired.toxicity import ToxicityState
from polymm.domain.exposure import BuyExposure
from polymm.reconciler.memory import TickMemory

# a hedge rests instead of selling into the bids at once, so a position stays held while a test looks
HEDGE_RESTS = {"POLYMM_HEDGE_SELL__MAX_BID_GAP": "0.001", "POLYMM_RISK__MIN_PROTECTION_SIZE_MULTIPLIER_HEDGE": "0"}
TIMEOUT_S = 60
# a sudden midpoint move of 2 cents counts as a jump (the default 5 is more than the simulated book's depth can show);
# the jump rate's threshold stays the default: one jump over the prior is above it
JUMPS = {"POLYMM_STRATEGY__JUMP_SIZE": "0.02"}


def stored_memory(ledger: Path) -> TickMemory | None:
    """The tick memory the loop last stored (read-only connection, as `polymm plan` reads while a loop runs)."""
    if not ledger.exists():
        return None
    conn = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT value FROM cursors WHERE name = 'tick_memory'").fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()
    return TickMemory.from_json(row[0]) if row else None


def our_buys(truth, address: str) -> list[dict]:
    return [o for o in h.live_orders(truth.state(), address) if o["side"] == "BUY"]


def plan_then_next_tick(ctl) -> tuple[dict, dict]:
    """`polymm plan` against the running loop, and the loop's first tick started after the plan ended."""
    planned = ctl.plan()
    tick = ctl.wait_tick_started_after(time.time(), timeout=TIMEOUT_S)
    return planned, tick["summary"]


def assert_plan_is_the_next_tick(planned: dict, summary: dict) -> None:
    places = [a for a in planned["actions"] if a["action"] == "place"]
    assert len(places) == summary["places"] == 0, (places, summary)
    dropped = [d["reason"] for d in planned["dropped"]]
    assert len(dropped) <= 20  # the journal keeps 20 reasons
    assert Counter(dropped) == Counter(summary["denied"]), (dropped, summary["denied"])


def jump(truth, token: str) -> None:
    """A taker buys every ask but the highest level: the midpoint moves up at once by half the asks' span (the
    simulated book holds six levels a cent apart: 0.025, above JUMPS' jump size)."""
    asks = sorted(Decimal(a["price"]) for a in truth.book(token)["asks"])
    assert len(asks) >= 4, asks
    size = sum(Decimal(a["size"]) for a in truth.book(token)["asks"] if Decimal(a["price"]) <= asks[-2])
    truth.take(token, "BUY", asks[-2], size)


def quoted(ctl, truth) -> list[dict]:
    return wait_until(lambda: our_buys(truth, ctl.address), TIMEOUT_S, "quotes at the venue", ctl)


def watched_token(ctl, truth) -> str:
    """A token the loop watches (reads the book of again and again, for the jump rate) in a market it does not quote:
    a taker there trades with nobody of ours (a bid of ours on the other token would be an ask on this one)."""
    ours = {t["token_id"] for o in h.live_orders(truth.state(), ctl.address) for t in truth.market(o["market"])["tokens"]}
    first = wait_until(lambda: stored_memory(ctl.ledger_path), TIMEOUT_S, "the loop's memory", ctl)

    def read_again() -> str | None:
        recent = (stored_memory(ctl.ledger_path) or first).toxicity.recent
        for token, window in sorted(recent.items()):
            before = first.toxicity.recent.get(token)
            if (token not in ours and before and window[-1][0] > before[-1][0]
                    and Decimal("0.2") <= window[-1][1] <= Decimal("0.8")):  # asks are left above the jump
                return token
        return None

    return wait_until(read_again, TIMEOUT_S, "a book watched and not quoted", ctl)


def under_jump_rate_pause(ctl, truth) -> None:
    """Jump the midpoint of a market the loop watches; the loop then steps back from every market (jump rate)."""
    quoted(ctl, truth)
    jump(truth, watched_token(ctl, truth))
    wait_until(lambda: (m := stored_memory(ctl.ledger_path)) is not None and m.toxicity.jump_count >= 1,
               TIMEOUT_S, "the jump in the loop's memory", ctl)
    wait_until(lambda: not our_buys(truth, ctl.address), TIMEOUT_S, "every quote cancelled (jump rate)", ctl)


# ----------------------------------------------------------------------------- the value


def test_memory_survives_its_text_exactly():
    tox = ToxicityState({"t1": (1.5, Decimal("0.415"))}, {"c1": (2.25, "toxic: midpoint moved")},
                        {"t1": ((1.0, Decimal("0.40")), (1.5, Decimal("0.4150000001")))}, {"c1": (2.0, "jump")},
                        {"c1": 2.5}, 1.0000000000000002, 0.1, 2.5, {"t1": ("c1", ((0.5, Decimal("0.39")),))})
    memory = TickMemory(tox, {"t1": 1_800_000_000.125}, {"t1": 1_800_000_100.0},
                        {"0xo": (BuyExposure("c1", Decimal("0.41"), Decimal("12.34")), 1_800_000_050.5)},
                        {"t2": (Decimal("10"), Decimal("9.99"))}, {"t3": (Decimal("1"), Decimal("0"))}, {"t1": 3})
    again = TickMemory.from_json(memory.to_json())
    assert again == memory
    assert again.to_json() == memory.to_json()
    assert TickMemory.from_json(TickMemory().to_json()) == TickMemory()


# ----------------------------------------------------------------------------- plan sees the loop's inputs


def test_plan_of_a_loop_paused_by_the_operator_lists_no_places_as_its_next_tick(venue, truth, controllers):
    ctl = controllers("paused")
    ctl.start()
    quoted(ctl, truth)
    paused = ctl.run("pause")
    assert paused.returncode == 0, paused.stderr
    assert not our_buys(truth, ctl.address)
    planned, summary = plan_then_next_tick(ctl)
    assert_plan_is_the_next_tick(planned, summary)
    assert any("paused by the operator" in n for n in planned["notes"]), planned["notes"]
    assert planned["selected_markets"], "the markets are selected, only not quoted"


def test_plan_of_a_loop_under_a_jump_rate_pause_lists_no_places_as_its_next_tick(venue, truth, controllers):
    ctl = controllers("jumped", JUMPS)
    ctl.start()
    under_jump_rate_pause(ctl, truth)
    planned, summary = plan_then_next_tick(ctl)
    assert_plan_is_the_next_tick(planned, summary)
    assert any("jump rate" in n for n in planned["notes"]), planned["notes"]


def test_plan_of_a_loop_with_an_unhealthy_heartbeat_drops_every_place_as_its_next_tick(venue, truth, controllers):
    truth.faults({"rules": [{"match": "POST /v1/heartbeats", "kind": "error_before", "status": 500}]})
    ctl = controllers("no-heartbeat")
    ctl.start()
    first = ctl.wait_ticks(1, timeout=TIMEOUT_S)["summary"]
    assert first["denied"] and set(first["denied"]) == {"heartbeat not healthy: placing stopped"}, first
    planned, summary = plan_then_next_tick(ctl)
    assert_plan_is_the_next_tick(planned, summary)
    assert len(planned["dropped"]) >= 2  # the quotes it would place, each dropped with the reason
    assert not h.live_orders(truth.state(), ctl.address)


# ----------------------------------------------------------------------------- reload and restart keep the memory


def holding_a_position_under_a_jump_rate_pause(ctl, truth) -> tuple[str, str, TickMemory]:
    """A quote of ours filled (a position, hedged by a resting sell) and a jump elsewhere: (token, market, memory)."""
    quote = quoted(ctl, truth)[0]
    h.take_through(truth, quote, Decimal(1))
    token = quote["asset_id"]
    wait_until(lambda: token in ((stored_memory(ctl.ledger_path) or TickMemory()).position_since),
               TIMEOUT_S, "the position in the loop's memory", ctl)
    jump(truth, watched_token(ctl, truth))
    wait_until(lambda: stored_memory(ctl.ledger_path).toxicity.jump_count >= 1, TIMEOUT_S, "the jump in memory", ctl)
    wait_until(lambda: not our_buys(truth, ctl.address), TIMEOUT_S, "every quote cancelled (jump rate)", ctl)
    return token, quote["market"], stored_memory(ctl.ledger_path)


def assert_memory_kept(before: TickMemory, after: TickMemory, token: str) -> None:
    assert after.position_since[token] == before.position_since[token]
    assert after.toxicity.jumps == before.toxicity.jumps
    assert after.toxicity.jump_count >= before.toxicity.jump_count * 0.99  # decayed by seconds, never forgotten
    assert before.toxicity.seen.keys() <= after.toxicity.seen.keys() | set(after.toxicity.jumps)


def test_reload_with_an_unchanged_config_keeps_every_pause_position_age_and_market_name(venue, truth, controllers):
    ctl = controllers("reload", {**HEDGE_RESTS, **JUMPS})
    ctl.start()
    token, market, before = holding_a_position_under_a_jump_rate_pause(ctl, truth)
    reloaded = ctl.run("reload")
    assert reloaded.returncode == 0 and "nothing changed" in reloaded.stdout, (reloaded.stdout, reloaded.stderr)
    tick = ctl.wait_tick_started_after(time.time(), timeout=TIMEOUT_S)["summary"]
    assert_memory_kept(before, stored_memory(ctl.ledger_path), token)
    assert tick["places"] == 0 and not our_buys(truth, ctl.address), "no quote goes out under the jump-rate pause"
    assert any("jump rate" in n for n in tick["notes"]), tick["notes"]

    # a fill after the reload is logged with its market's name, as before it
    hedge = next(o for o in h.live_orders(truth.state(), ctl.address) if o["side"] == "SELL" and o["asset_id"] == token)
    logged = len(ctl.log_path.read_text(errors="replace"))
    h.take_through(truth, hedge, Decimal(1))
    question = truth.market(market)["question"]
    line = wait_until(lambda: next((ln for ln in ctl.log_path.read_text(errors="replace")[logged:].splitlines()
                                    if " fill SELL " in ln), None), TIMEOUT_S, "the hedge's fill in the log", ctl)
    assert question[:30] in line and f"token {token[:10]}" not in line, line


def test_the_memory_survives_a_restart(venue, truth, controllers):
    ctl = controllers("restart", {**HEDGE_RESTS, **JUMPS})
    ctl.start()
    token, _, before = holding_a_position_under_a_jump_rate_pause(ctl, truth)
    ctl.kill9()
    ctl.start()
    ctl.wait_ticks(2, timeout=TIMEOUT_S, after=ctl.started_tick_id)
    assert_memory_kept(before, stored_memory(ctl.ledger_path), token)
    assert not our_buys(truth, ctl.address), "no quote goes out under the jump-rate pause after the restart"
    assert any("jump rate" in n for n in ctl.last_tick()["summary"]["notes"])
