"""The controller as real processes for the harness: the service, killed and restarted, and one-shot commands.

`polymm reconcile --loop` and `polymm plan`/`status` run against one venue with one wallet and one ledger.

The wallet key is fixed per label (reproducible runs, never a real wallet); the environment points every
venue URL at the simulated venue and, unless `chaos.py --strategy defaults`, sets the seed's strategy.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from polymm.ledger import Ledger

from .venue import POLYMM, ROOT

SEED_STRATEGY = True  # chaos.py --strategy: "seed" (True) or "defaults" (config.yaml's strategy, False)


def wallet_key(label: str) -> str:
    """A fixed private key per label (reproducible runs; never a real wallet)."""
    return "0x" + hashlib.sha256(f"polymm-test:{label}".encode()).hexdigest()


def address_of(key: str) -> str:
    from eth_account import Account

    return Account.from_key(key).address


def controller_env(venue_url: str, key: str, workdir: Path, max_markets: int | None = 3,
                   extra: dict[str, str] | None = None) -> dict[str, str]:
    base = venue_url.rstrip("/")
    ws = base.replace("http://", "ws://")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYMM_", "POLYMARKET_"))}
    env.update({
        "POLYMM_VENUE__MODE": "remote",
        "POLYMM_VENUE__CLOB_URL": base,
        "POLYMM_VENUE__GAMMA_URL": f"{base}/gamma",
        "POLYMM_VENUE__DATA_URL": f"{base}/dataapi",
        "POLYMM_VENUE__RELAYER_URL": f"{base}/relayer",
        "POLYMM_VENUE__WS_URL": f"{ws}/ws",
        "POLYMARKET_PRIVATE_KEY": key,
        "POLYMM_LEDGER__PATH": str(workdir / "ledger.sqlite"),
        "POLYMM_LOGGING__DIRECTORY": str(workdir / "logs"),
        "PYTHONUNBUFFERED": "1",
    })
    if SEED_STRATEGY:
        # the seed's strategy (hedges that cross at once, no stepping back): the figures and the tests built on
        # this harness are written around it; `extra` sets the defaults' maker hedge where a test wants it, and
        # `chaos.py --strategy defaults` runs config.yaml's strategy as it ships
        env.update({"POLYMM_HEDGE_SELL__MODE": "cross", "POLYMM_STRATEGY__TOXIC_PAUSE_SECONDS": "0",
                    "POLYMM_STRATEGY__TREND_WINDOW_SECONDS": "0", "POLYMM_HEDGE_SELL__STOP_LOSS_MAKER_SECONDS": "0"})
    if max_markets is not None:
        env["POLYMM_STRATEGY__MAX_MARKETS"] = str(max_markets)
    env.update(extra or {})
    return env


class ControllerProcess:
    """`polymm` commands against one venue, one wallet, one ledger — each a real process."""

    def __init__(self, venue_url: str, key: str, workdir: Path, max_markets: int | None = 3,
                 extra_env: dict[str, str] | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.key = key
        self.address = address_of(key)
        self.env = controller_env(venue_url, key, self.workdir, max_markets, extra_env)
        self.ledger_path = self.workdir / "ledger.sqlite"
        self.log_path = self.workdir / "controller.log"
        self.proc: subprocess.Popen | None = None
        self.started_tick_id = 0

    # one-shot commands
    def run(self, *args: str, timeout: float = 60, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([POLYMM, *args], env={**self.env, **(env or {})}, cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout)

    def plan(self) -> dict:
        done = self.run("plan", "--json")
        if done.returncode != 0:
            raise RuntimeError(f"polymm plan exited {done.returncode}: {done.stderr[-2000:]}")
        return json.loads(done.stdout)

    def status(self) -> dict:
        done = self.run("status", "--json")
        if done.returncode != 0:
            raise RuntimeError(f"polymm status exited {done.returncode}: {done.stderr[-2000:]}")
        return json.loads(done.stdout)

    # the service
    def start(self, *args: str) -> "ControllerProcess":
        if self.alive:  # a second start would lose the handle of the first, which then outlives the run
            raise RuntimeError(f"controller PID {self.proc.pid} is still running: kill or stop it before a restart")
        self.started_tick_id = self.tick_id()
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([POLYMM, *(args or ("reconcile", "--loop"))], env=self.env, cwd=ROOT,
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.alive:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def signal(self, sig: int) -> None:
        if self.alive:
            os.kill(self.proc.pid, sig)

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM and wait for the exit status."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.alive:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    # the ledger, read from a second connection (as `polymm status` does)
    def ledger(self) -> Ledger:
        return Ledger(self.ledger_path)

    def last_tick(self) -> dict | None:
        if not self.ledger_path.exists():
            return None
        with self.ledger() as ledger:
            return ledger.last_tick()

    def tick_id(self) -> int:
        last = self.last_tick()
        return last["id"] if last else 0

    def ticks_since_start(self) -> int:
        """Ticks journaled by the running process (the journal id is shared across restarts)."""
        last = self.last_tick()
        if not last or last["id"] <= self.started_tick_id:
            return 0
        return int(last["summary"].get("tick", 0))

    def wait_tick_started_after(self, wall_time: float, timeout: float = 30) -> dict:
        """Wait for the first tick that started at or after `wall_time` to be journaled (it saw the venue
        as it was at that time or later); return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = self.last_tick()
            if last and last["started_at"] >= wall_time and not last["summary"].get("final"):
                return last
            if self.proc is not None and not self.alive:
                raise RuntimeError(f"controller exited ({self.proc.returncode}):\n{self.log_tail()}")
            time.sleep(0.01)
        raise TimeoutError(f"no tick started after {wall_time} within {timeout} s:\n{self.log_tail()}")

    def wait_ticks(self, n: int, timeout: float = 30, after: int | None = None) -> dict:
        """Wait until `n` more ticks are journaled after journal id `after` (default: now); return the last."""
        base = self.tick_id() if after is None else after
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = self.last_tick()
            if last and last["id"] >= base + n and not last["summary"].get("final"):
                return last
            if self.proc is not None and not self.alive:
                raise RuntimeError(f"controller exited ({self.proc.returncode}):\n{self.log_tail()}")
            time.sleep(0.05)
        raise TimeoutError(f"{n} tick(s) not journaled within {timeout} s:\n{self.log_tail()}")

