"""Embedded mode (the default): with `polymm reconcile --loop` running its in-process venue, `status`, `plan`,
`cancel --all` and `stop` act on THAT loop's venue and ledger — no second simulator, no reset of
`<ledger>-embedded.sqlite`. The embedded venue's own `/_sim/state` (its URL is in the lock file) judges.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from controller_support import h, wait_until

ROOT = Path(__file__).resolve().parents[1]


def embedded_env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYMM_", "POLYMARKET_"))}
    env.update({"POLYMM_LEDGER__PATH": str(workdir / "polymm.sqlite"), "POLYMM_LOGGING__DIRECTORY": str(workdir / "logs"),
                "POLYMM_VENUE__SIM__MARKETS": "30", "POLYMM_STRATEGY__MAX_MARKETS": "3",
                "PYTHONUNBUFFERED": "1"})
    return env


def polymm(env, *args, timeout=90) -> subprocess.CompletedProcess:
    return subprocess.run([h.POLYMM, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_commands_in_embedded_mode_act_on_the_running_loops_venue_and_ledger(tmp_path):
    env = embedded_env(tmp_path)
    ledger = tmp_path / "polymm-embedded.sqlite"
    lock = tmp_path / "polymm-embedded.sqlite.lock"
    log = open(tmp_path / "loop.log", "wb")
    loop = subprocess.Popen([h.POLYMM, "reconcile", "--loop"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        owner = wait_until(lambda: (lambda d: d if d.get("control") else None)(
            json.loads(lock.read_text() or "{}") if lock.exists() else {}), 90, "the loop's lock with its control socket")
        assert owner["pid"] == loop.pid and owner["embedded"]["clob_url"].startswith("http://127.0.0.1:")
        assert oct(Path(owner["key_file"]).stat().st_mode & 0o777) == "0o600"
        admin = h.Admin(owner["embedded"]["clob_url"])
        address = h.address_of(Path(owner["key_file"]).read_text().strip())
        wait_until(lambda: len(h.live_orders(admin.state(), address)) >= 2, 60, "quotes at the embedded venue")
        inode = ledger.stat().st_ino

        status = polymm(env, "status", "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["last_tick"] is not None  # not "no tick has run yet"

        planned = polymm(env, "plan", "--json")
        assert planned.returncode == 0, planned.stderr
        assert ledger.stat().st_ino == inode

        cancelled = polymm(env, "cancel", "--all")
        assert cancelled.returncode == 0, cancelled.stderr
        assert h.live_orders(admin.state(), address) == []  # the running loop's venue
        assert ledger.stat().st_ino == inode and loop.poll() is None
        with h.Ledger(ledger) as led:
            assert led.orders(), "the loop's ledger still holds its orders"
        after = json.loads(polymm(env, "status", "--json").stdout)
        assert after["last_tick"] is not None

        stopped = polymm(env, "stop")
        assert stopped.returncode == 0, stopped.stderr
        assert loop.wait(30) == 0
        assert "no order of ours is live" in stopped.stdout
        assert not Path(owner["key_file"]).exists()  # the test key leaves with the loop
        admin.close()
    finally:
        if loop.poll() is None:
            loop.kill()
            loop.wait()
        log.close()
