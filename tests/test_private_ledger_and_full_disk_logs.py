"""Two small findings of the adversarial run, on a real `polymm reconcile --loop` against the simulator: the ledger
(every order, fill and position of the account) and its -wal and -shm files are readable by their user only, and
a full disk under the log files costs one line on the console, not logging's traceback for every record."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from controller_support import h, wait_until
from polymm.sim.runner import SimOptions


@pytest.fixture
def sim_options() -> SimOptions:
    """conftest's venue on the seeded generated universe, where the harness's three markets are quoted at once."""
    return SimOptions(seed=7, speed=0, markets=30, scenario="calm", balance_delay_s=0.0, universe="generated")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_ledger_and_its_wal_and_shm_are_readable_by_their_user_only(venue, truth, controllers):
    old_umask = os.umask(0o022)  # the usual umask: what made the ledger 0644
    try:
        ctl = controllers("private-ledger")
        ctl.start()
        ctl.wait_ticks(2, timeout=60)
        files = [ctl.ledger_path, Path(f"{ctl.ledger_path}-wal"), Path(f"{ctl.ledger_path}-shm")]
        assert all(p.exists() for p in files)
        assert [oct(mode(p)) for p in files] == [oct(0o600)] * 3
        assert ctl.terminate() == 0
        ctl.ledger_path.chmod(0o644)  # a ledger written before: made private at the next start
        ctl.start()
        ctl.wait_ticks(1, timeout=60)
        assert oct(mode(ctl.ledger_path)) == oct(0o600)
        assert ctl.terminate() == 0
    finally:
        os.umask(old_umask)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a small tmpfs")
def test_a_full_disk_under_the_log_files_costs_one_line_not_a_traceback_per_record(venue, truth, controllers):
    ctl = controllers("full-disk-logs")
    logs = ctl.workdir / "logs"
    logs.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(logs)], check=True)
    try:
        subprocess.run(["dd", "if=/dev/zero", f"of={logs / 'filler'}", "bs=4k"], capture_output=True)
        ctl.start()
        ctl.wait_ticks(2, timeout=60)
        # warnings for the log files: fills unreadable for a while (health degraded, then ok again)
        truth.faults({"rules": [{"match": "GET /data/trades*", "kind": "error_before", "status": 500, "max_count": 6}]})
        wait_until(lambda: "health ok again" in ctl.log_tail(200_000) or "back to ok" in ctl.log_tail(200_000)
                   or ctl.log_tail(200_000).count("WARNING") >= 4, 60, "warnings while the disk is full", ctl)
        ctl.wait_ticks(3)
        assert ctl.terminate() == 0
        console = ctl.log_tail(1_000_000)
        assert console.count("WARNING") >= 2  # the records themselves still reach the console (the journal)
        assert "Traceback" not in console and "--- Logging error ---" not in console
        assert console.count("are not written: No space left on device") == 1
    finally:
        subprocess.run(["umount", "-l", str(logs)], check=False)

