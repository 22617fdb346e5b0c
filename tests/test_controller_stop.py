"""Stopping and steering a running loop, end to end: SIGTERM, Ctrl-C and `polymm stop` leave the venue exactly
as the README says (checked 15 simulated seconds after the exit, past the venue's heartbeat timeout),
`stop --keep-hedges` keeps the process heartbeating until the hedges sell, and pause/resume/reload/
cancel --all act on the running loop. `polymm reconcile --loop` runs as a real process against the
in-process venue over HTTP; the venue's truth (`/_sim/state`) judges.
"""

from __future__ import annotations

import signal
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from controller_support import h, wait_until

ROOT = Path(__file__).resolve().parents[1]
HEDGE_RESTS = {"POLYMM_HEDGE_SELL__MAX_BID_GAP": "0.001", "POLYMM_RISK__MIN_PROTECTION_SIZE_MULTIPLIER_HEDGE": "0"}
PAST_HEARTBEAT_TIMEOUT_S = 15  # the venue cancels everything ~10 s after the last heartbeat


def quotes(truth, ctl) -> list[dict]:
    return [o for o in h.live_orders(truth.state(), ctl.address) if o["side"] == "BUY"]


def hedges(truth, ctl) -> list[dict]:
    return [o for o in h.live_orders(truth.state(), ctl.address) if o["side"] == "SELL"]


def held(truth, ctl) -> dict[str, Decimal]:
    return {t: Decimal(str(s)) for t, s in h.account(truth.state(), ctl.address)["positions"].items() if Decimal(str(s)) > 0}


def fill_one_quote(truth, ctl) -> dict:
    """Half-fill a mid-priced quote and wait until its hedge rests at the venue."""
    mine = [q for q in quotes(truth, ctl) if Decimal("0.2") <= Decimal(q["price"]) <= Decimal("0.8")]
    assert mine, ctl.log_tail()
    h.take_through(truth, mine[0], Decimal("0.5"))
    wait_until(lambda: hedges(truth, ctl), 20, "a hedge resting after the fill", ctl)
    return mine[0]


class Clock(threading.Thread):
    """Moves the venue's manual clock like a real one (1 simulated second per wall second)."""

    def __init__(self, truth) -> None:
        super().__init__(daemon=True)
        self.truth, self.stop_event = truth, threading.Event()

    def run(self) -> None:
        while not self.stop_event.wait(0.25):
            self.truth.advance(0.25)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(5)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_signal_cancels_quotes_and_hedges_and_the_venue_still_holds_nothing_15_s_later(venue, truth, controllers, sig):
    """README: a stop cancels every order of ours (the venue would cancel the hedges anyway once the heartbeats
    stop) and says which positions are left unhedged."""
    ctl = controllers(f"stop-{sig.name}", HEDGE_RESTS)
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    fill_one_quote(truth, ctl)
    position = held(truth, ctl)
    assert position
    ctl.signal(sig)
    assert ctl.proc.wait(30) == 0
    assert h.live_orders(truth.state(), ctl.address) == []
    truth.advance(PAST_HEARTBEAT_TIMEOUT_S)
    assert h.live_orders(truth.state(), ctl.address) == []
    assert held(truth, ctl) == position  # nothing was sold or bought after the stop
    status = ctl.status()
    assert status["health"] == "stopped"
    assert "no order of ours left at the venue" in status["why"] and "1 position(s) left unhedged" in status["why"]
    assert "position(s) left unhedged" in ctl.log_tail() and "hedges kept" not in ctl.log_tail()


def test_polymm_stop_makes_the_running_loop_cancel_everything_and_exit_and_reports_the_venue(venue, truth, controllers):
    ctl = controllers("stop-cmd", HEDGE_RESTS)
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    fill_one_quote(truth, ctl)
    assert len(quotes(truth, ctl)) >= 2
    done = ctl.run("stop", timeout=90)
    assert done.returncode == 0, done.stderr
    assert not ctl.alive and ctl.proc.returncode == 0  # the loop itself exited
    assert h.live_orders(truth.state(), ctl.address) == []  # right after `stop` returned
    assert "no order of ours is live" in done.stdout and "positions left unhedged (1)" in done.stdout, done.stdout
    truth.advance(PAST_HEARTBEAT_TIMEOUT_S)
    assert h.live_orders(truth.state(), ctl.address) == []
    again = ctl.run("stop")  # nothing running: it acts itself, finds nothing to cancel
    assert again.returncode == 0, again.stderr
    assert "no polymm loop was running" in again.stdout and "no order of ours is live" in again.stdout


def test_stop_keep_hedges_keeps_heartbeating_with_quoting_off_until_the_hedge_sells_then_exits(venue, truth, controllers):
    ctl = controllers("keep-hedges", {**HEDGE_RESTS, "POLYMM_CONTROLLER__HEARTBEAT_INTERVAL_SECONDS": "0.5"})
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    fill_one_quote(truth, ctl)
    clock = Clock(truth)
    clock.start()
    try:
        done = ctl.run("stop", "--keep-hedges", "--timeout", "120")
        assert done.returncode == 0, done.stderr
        assert "stays up heartbeating" in done.stdout
        wait_until(lambda: not quotes(truth, ctl), 10, "quotes cancelled", ctl)
        time.sleep(PAST_HEARTBEAT_TIMEOUT_S / 2)  # simulated seconds pass with the clock: heartbeats keep it alive
        assert ctl.alive
        assert quotes(truth, ctl) == []
        (hedge,) = hedges(truth, ctl)
        h.take_through(truth, hedge, Decimal(1))  # the hedge sells: nothing left to hedge
        assert ctl.proc.wait(30) == 0
    finally:
        clock.stop()
    assert held(truth, ctl) == {}
    assert h.live_orders(truth.state(), ctl.address) == []
    truth.advance(PAST_HEARTBEAT_TIMEOUT_S)
    assert h.live_orders(truth.state(), ctl.address) == []


def test_pause_cancels_quotes_keeps_hedges_and_resume_requotes(venue, truth, controllers):
    ctl = controllers("pause", HEDGE_RESTS)
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    fill_one_quote(truth, ctl)
    done = ctl.run("pause")
    assert done.returncode == 0, done.stderr
    assert "quoting paused" in done.stdout
    wait_until(lambda: not quotes(truth, ctl), 10, "quotes cancelled after pause", ctl)
    ctl.wait_ticks(3)
    assert quotes(truth, ctl) == [] and len(hedges(truth, ctl)) == 1
    assert "paused" in ctl.status()["why"]
    done = ctl.run("resume")
    assert done.returncode == 0, done.stderr
    wait_until(lambda: quotes(truth, ctl), 10, "quotes back after resume", ctl)


def test_reload_applies_a_valid_config_and_refuses_a_bad_one_keeping_the_running_one(venue, truth, controllers, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("strategy:\n  max_markets: 3\n")
    ctl = controllers("reload", max_markets=None)
    ctl.start("reconcile", "--loop", "--config", str(config))
    ctl.wait_ticks(2, timeout=60)
    assert len({q["market"] for q in quotes(truth, ctl)}) >= 2
    config.write_text("strategy:\n  max_markets: 0\n")
    bad = ctl.run("reload", "--config", str(config))
    assert bad.returncode == 2 and "strategy.max_markets: 0" in bad.stderr
    config.write_text("strategy:\n  max_markets: 1\nvenue:\n  request_timeout_seconds: 7\n")
    fixed = ctl.run("reload", "--config", str(config))
    assert fixed.returncode == 1 and "venue changed, which needs a restart" in fixed.stderr, fixed.stderr
    ctl.wait_ticks(2)
    assert len({q["market"] for q in quotes(truth, ctl)}) >= 2  # unchanged
    config.write_text("strategy:\n  max_markets: 1\n")
    good = ctl.run("reload", "--config", str(config))
    assert good.returncode == 0, good.stderr
    assert "strategy changed" in good.stdout
    wait_until(lambda: len({q["market"] for q in quotes(truth, ctl)}) == 1, 15, "quotes in one market after reload", ctl)
    assert ctl.alive


def test_cancel_all_on_a_running_loop_cancels_everything_and_keeps_it_off_until_resume(venue, truth, controllers):
    ctl = controllers("cancel-all", HEDGE_RESTS)
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    fill_one_quote(truth, ctl)
    done = ctl.run("cancel", "--all")
    assert done.returncode == 0, done.stderr
    assert "1 position(s) left unhedged" in done.stdout
    assert h.live_orders(truth.state(), ctl.address) == []
    ctl.wait_ticks(3)
    assert h.live_orders(truth.state(), ctl.address) == [] and ctl.alive
    assert ctl.run("resume").returncode == 0
    wait_until(lambda: quotes(truth, ctl) and hedges(truth, ctl), 15, "quotes and hedge back after resume", ctl)


def test_pause_without_a_running_loop_says_so_and_exits_1(tmp_path, venue):
    ctl = h.ControllerProcess(venue.url, h.wallet_key("no-loop"), tmp_path)
    done = ctl.run("pause")
    assert done.returncode == 1
    assert "no polymm loop is running" in done.stderr and "Traceback" not in done.stderr
