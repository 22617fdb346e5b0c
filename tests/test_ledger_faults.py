"""The ledger's storage failing, end to end: a corrupt or truncated ledger, a read-only state directory or an
immutable ledger file, and the disk filling up under a running loop. Each either runs on correctly or stops
quoting with a clear reason; none sends an order whose intent it could not write, none crashes in a
loop. Real `polymm reconcile --loop` processes against the in-process venue; `/_sim/state` judges.
The disk-full and read-only cases mount a small tmpfs (root only; skipped elsewhere).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import pytest

from controller_support import h, wait_until


def order_writes(truth) -> int:
    return sum(n for k, n in truth.requests().items() if k.startswith(("POST /order", "POST /orders")))


def run_once(ctl, timeout=60) -> subprocess.CompletedProcess:
    return ctl.run("reconcile", "--loop", timeout=timeout)


def assert_one_line_refusal(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture
def tmpfs(tmp_path):
    mount = tmp_path / "state"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def a_run_ledger(venue, truth, workdir: Path, label: str) -> h.ControllerProcess:
    """A ledger with orders and ticks in it, from a short real run, stopped cleanly (logs kept elsewhere)."""
    ctl = h.ControllerProcess(venue.url, h.wallet_key(label), workdir)
    ctl.log_path = workdir.parent / f"{label}.log"
    ctl.env["POLYMM_LOGGING__DIRECTORY"] = str(workdir.parent / f"{label}-logs")
    ctl.start()
    ctl.wait_ticks(3, timeout=60)
    assert ctl.terminate(30) == 0
    return ctl


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_or_truncated_ledger_is_refused_in_one_line_and_nothing_is_sent(venue, truth, tmp_path, damage):
    ctl = a_run_ledger(venue, truth, tmp_path / damage, f"corrupt-{damage}")
    path = ctl.ledger_path
    if damage == "garbage":
        path.write_bytes(b"this is not a database" * 500)
    else:
        data = path.read_bytes()
        assert len(data) > 8192
        path.write_bytes(data[: len(data) // 2])
    before = order_writes(truth)
    done = run_once(ctl)
    assert_one_line_refusal(done, "ledger", str(path))
    assert order_writes(truth) == before
    assert h.live_orders(truth.state(), ctl.address) == []
    assert path.stat().st_size > 0  # never overwritten


def test_an_immutable_ledger_file_is_refused_in_one_line_and_nothing_is_sent(venue, truth, tmp_path):
    ctl = a_run_ledger(venue, truth, tmp_path / "immutable", "immutable")
    for suffix in ("-wal", "-shm"):
        Path(f"{ctl.ledger_path}{suffix}").unlink(missing_ok=True)
    if subprocess.run(["chattr", "+i", str(ctl.ledger_path)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i not supported here")
    try:
        before = order_writes(truth)
        done = run_once(ctl)
        assert_one_line_refusal(done, "ledger")
        assert order_writes(truth) == before
    finally:
        subprocess.run(["chattr", "-i", str(ctl.ledger_path)], capture_output=True)


def test_a_read_only_state_directory_is_refused_in_one_line_and_nothing_is_sent(venue, truth, tmpfs):
    ctl = a_run_ledger(venue, truth, tmpfs, "read-only")
    assert subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], capture_output=True).returncode == 0
    before = order_writes(truth)
    done = run_once(ctl)
    assert_one_line_refusal(done, "ledger")
    assert order_writes(truth) == before


def test_the_disk_filling_up_under_a_running_loop_stops_quoting_and_sends_nothing_unrecorded(venue, truth, tmpfs,
                                                                                              request):
    ctl = h.ControllerProcess(venue.url, h.wallet_key("disk-full"), tmpfs)
    request.addfinalizer(ctl.stop)  # before the tmpfs is unmounted: its finalizer runs after this one
    ctl.log_path = tmpfs.parent / "controller.log"  # the log must not need the full disk
    ctl.env["POLYMM_LOGGING__DIRECTORY"] = str(tmpfs.parent / "logs")
    ctl.start()
    ctl.wait_ticks(3, timeout=60)
    assert [o for o in h.live_orders(truth.state(), ctl.address) if o["side"] == "BUY"]
    filler = tmpfs / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)  # until ENOSPC
    # a quote that moves forces a cancel + place: the intent cannot be written, so nothing may be sent
    book_moves = 0
    for q in [o for o in h.live_orders(truth.state(), ctl.address) if o["side"] == "BUY"][:2]:
        h.take_through(truth, q, Decimal("0.3"))
        book_moves += 1
    wait_until(lambda: not [o for o in h.live_orders(truth.state(), ctl.address) if o["side"] == "BUY"], 20,
               "quotes cancelled once the ledger cannot be written", ctl)
    time.sleep(3)
    assert ctl.alive
    with ctl.ledger() as ledger:
        known_ids = {o.order_id for o in ledger.orders()}
    assert {o["id"] for o in h.live_orders(truth.state(), ctl.address)} <= known_ids  # nothing sent unrecorded
    assert [o for o in h.live_orders(truth.state(), ctl.address) if o["side"] == "BUY"] == []
    # the loop cannot journal into a full ledger: status turns degraded once the journal is older than a few
    # ticks (max(5 s, 5 ticks)), measured from the last tick that could still be written
    wait_until(lambda: ctl.status()["health"] in ("degraded", "halted"), 15,
               "status degraded once the journal stops moving", ctl)
    assert "not writable" in ctl.log_tail(20000) and "full" in ctl.log_tail(20000)

    filler.unlink()  # space again: the loop recovers by itself
    wait_until(lambda: [o for o in h.live_orders(truth.state(), ctl.address) if o["side"] == "BUY"], 30,
               "quotes back once the disk has room", ctl)
    ctl.wait_ticks(3)
    audit = h.Audit()
    h.check_settled(truth.state(), ctl.address, ctl.ledger_path, truth, audit)
    assert audit.orphans == 0 and audit.unhedged == 0 and not audit.position_mismatches, (
        audit.orphan_ids, audit.unhedged_tokens, audit.position_mismatches)
    h.check_continuous(truth.state(), ctl.address, Decimal(25), audit)
    assert audit.duplicates == 0
    assert ctl.status()["health"] in ("ok", "degraded")
    shutil.rmtree(tmpfs / "logs", ignore_errors=True)


def test_a_ledger_older_than_the_venue_stops_quoting_with_a_reason_instead_of_doubling_orders(venue, truth, tmp_path,
                                                                                              controllers):
    """The ledger restored from a copy taken before the last fills and replacements: the venue holds live orders
    under our API key that the ledger never recorded. Quoting stops (a new quote could double one), fills are
    re-read from the older cursor, positions stay hedged, and the health says why; after `cancel --all` and
    `resume` the loop quotes again from a ledger that matches the venue."""
    import sqlite3

    ctl = controllers("older-ledger", {"POLYMM_HEDGE_SELL__MAX_BID_GAP": "0.001",
                                       "POLYMM_RISK__MIN_PROTECTION_SIZE_MULTIPLIER_HEDGE": "0"})
    ctl.start()
    ctl.wait_ticks(3, timeout=60)
    src, dst = sqlite3.connect(ctl.ledger_path), sqlite3.connect(tmp_path / "copy.sqlite")
    src.backup(dst)
    src.close()
    dst.close()
    quote = [o for o in h.live_orders(truth.state(), ctl.address)
             if o["side"] == "BUY" and Decimal("0.2") <= Decimal(o["price"]) <= Decimal("0.8")][0]
    h.take_through(truth, quote, Decimal("0.5"))
    wait_until(lambda: [o for o in h.live_orders(truth.state(), ctl.address) if o["side"] == "SELL"], 20,
               "the hedge", ctl)
    ctl.kill9()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{ctl.ledger_path}{suffix}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "copy.sqlite", ctl.ledger_path)
    ctl.start()
    ctl.wait_ticks(4, timeout=60)
    state = truth.state()
    audit = h.Audit()
    h.check_continuous(state, ctl.address, Decimal(25), audit)
    h.check_settled(state, ctl.address, ctl.ledger_path, truth, audit)
    assert audit.duplicates == 0, audit.duplicate_slots
    assert audit.exposure_breaches == 0 and audit.unhedged == 0 and not audit.position_mismatches
    assert audit.fills_missing == 0
    status = ctl.status()
    assert status["health"] == "degraded" and "not in the ledger" in status["why"], status
    assert ctl.run("cancel", "--all").returncode == 0
    assert ctl.run("resume").returncode == 0
    wait_until(lambda: [o for o in h.live_orders(truth.state(), ctl.address) if o["side"] == "BUY"], 20,
               "quotes again", ctl)
    ctl.wait_ticks(3)
    audit = h.Audit()
    h.check_settled(truth.state(), ctl.address, ctl.ledger_path, truth, audit)
    assert audit.orphans == 0, audit.orphan_ids
