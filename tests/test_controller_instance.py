"""One controller per account and ledger, end to end: a second `polymm reconcile --loop` on the same ledger or
the same key refuses (exit 2, naming the first's PID and ledger) and sends nothing; a lock left by a
`kill -9` is taken over; another client heartbeating the account makes the health say so. Real
processes against the in-process venue over HTTP; the venue's truth judges.
"""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal

from controller_support import h, wait_until


def slots(truth, ctl) -> Counter:
    return Counter((o["asset_id"], o["side"]) for o in h.live_orders(truth.state(), ctl.address))


def test_a_second_loop_on_the_same_ledger_exits_2_naming_the_first_and_sends_nothing(venue, truth, controllers):
    first = controllers("instance-ledger")
    first.start()
    first.wait_ticks(2, timeout=60)
    before = slots(truth, first)
    writes_before = sum(n for k, n in truth.requests().items() if k.startswith(h.WRITES))
    second = h.ControllerProcess(venue.url, first.key, first.workdir)  # same ledger, same key
    done = second.run("reconcile", "--loop", timeout=60)
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in done.stderr
    assert f"PID {first.proc.pid}" in line and str(first.ledger_path) in line
    first.wait_ticks(2)
    assert sum(n for k, n in truth.requests().items() if k.startswith(h.WRITES)) - writes_before <= 2 * len(before)
    after = slots(truth, first)
    assert max(after.values()) == 1  # never two live orders in one slot
    assert first.alive


def test_a_second_loop_with_the_same_key_on_another_ledger_exits_2(venue, truth, controllers, tmp_path):
    first = controllers("instance-key")
    first.start()
    first.wait_ticks(2, timeout=60)
    second = h.ControllerProcess(venue.url, first.key, tmp_path / "other-ledger")
    done = second.run("reconcile", "--loop", timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"PID {first.proc.pid}" in done.stderr and str(first.ledger_path) in done.stderr
    assert "account" in done.stderr
    assert not second.ledger_path.exists() or second.tick_id() == 0
    first.wait_ticks(2)
    assert max(slots(truth, first).values()) == 1


def test_a_lock_left_by_a_killed_controller_is_taken_over(venue, truth, controllers):
    ctl = controllers("instance-stale")
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    ctl.kill9()
    assert (ctl.workdir / "ledger.sqlite.lock").exists()
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    assert ctl.alive
    assert max(slots(truth, ctl).values()) == 1


def test_another_client_heartbeating_the_account_makes_health_degraded_not_ok(venue, truth, controllers, make_client):
    ctl = controllers("instance-heartbeat", {"POLYMM_CONTROLLER__HEARTBEAT_INTERVAL_SECONDS": "0.5"})
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    assert ctl.status()["health"] == "ok", ctl.status()
    other = make_client(ctl.key)  # the same wallet elsewhere, with its own heartbeat session
    stop = threading.Event()

    def beat() -> None:
        hb = ""
        while not stop.wait(0.3):
            try:
                hb = other.post_heartbeat(hb).get("heartbeat_id", "")
            except Exception:
                hb = ""

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        status = wait_until(lambda: (lambda s: s if s["health"] != "ok" else None)(ctl.status()), 20,
                            "health leaves ok while another client heartbeats", ctl, poll=0.25)
        assert "another client is heartbeating this account" in status["why"], status
        assert ctl.alive
    finally:
        stop.set()
        thread.join(5)
