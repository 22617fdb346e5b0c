"""Chaos run: `kill -9` the controller at random moments while a simulated venue fills its quotes, then
check the venue's truth against RELIABILITY.md's promises.

    .venv/bin/python scripts/chaos.py --kills 20 --seed 1

What it does: starts `polymm sim serve` (manual clock, seeded) and `polymm reconcile --loop` as real
processes (the real SDK over loopback), with a seeded venue fault plan (order posts executed but their
reply lost, cancels executed then answered 500: `--fault-rate`); a traffic thread advances the simulated
clock, fills our quotes and hedges at random through `/_sim/take`, and samples `/_sim/state` on every
round. The controller is killed with SIGKILL at random moments (half of them just after a fill, while
it reacts) and restarted each time. Before the final restart the traffic and the faults stop; that
restart runs K = 3 ticks (`controller.settle_ticks`); then everything is judged from the venue
(`/_sim/state`), never from polymm's ledger:

- duplicates: more than one live order of ours for one slot (token + side), at any sampled moment;
- exposure breaches: open buy notional + position cost per market above the cap, at any moment;
- orphans after K: our live orders that are not in the ledger, or not active in it;
- unhedged after K: positions ≥ the market's minimum order size without a live sell covering them;
- fills double counted: ledger fills per (trade id, order id) > 1, or a ledger position ≠ the venue's;
- also: fills missing from the ledger, and self trades (a hedge of ours that traded with a quote of ours).

The venue runs with its realistic defaults (`polymm sim serve`: taker fees, self-trade prevention, 26 s / 180 s
settlement, the balance lag after a buy), and the run meets two venue events: after `--restart-at` kills (4)
a matching-engine restart (`POST /_sim/restart`: 425 for `--restart-down` simulated seconds, then post-only
mode for `--restart-post-only`; shorter than the venue's 90 s / 120 s so that a run of about 80 simulated
seconds sees all of it; the last life starts once the engine is back), and after `--resolve-at` kills (10) a
market we hold a position or an order in resolves (`POST /_sim/market`): the venue cancels our orders there
and our shares there cannot be sold, so they are not counted unhedged (`-1` turns either off).

It prints the figures line of RELIABILITY.md and, when a check fails, the command that reruns the
seed (the same markets, kill moments, takes and faults; the interleaving with the controller's own
timing is not replayed exactly) with its ledger and logs kept; the exit status is 0 only when every
count is zero.

The harness classes (VenueProcess, Admin, ControllerProcess, audit) are reused by the end-to-end
tests (tests/test_controller_*.py, tests/test_chaos.py) and by bench/bench_hedge_latency.py.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from polymm.observed.parse import our_fills  # noqa: E402
from polymm.domain.positions import PositionRecord, apply_to_position  # noqa: E402
from polymm.ledger import Ledger  # noqa: E402

POLYMM = str(ROOT / ".venv" / "bin" / "polymm")
# the venue requests that change orders (as counted by /_sim/requests); everything else is a read or a heartbeat
WRITES = ("POST /order", "POST /orders", "DELETE /order", "DELETE /orders", "DELETE /cancel-all",
          "DELETE /cancel-market-orders")
ZERO = Decimal(0)
CENT = Decimal("0.01")


# ---------------------------------------------------------------------------------------------- venue
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wallet_key(label: str) -> str:
    """A fixed private key per label (reproducible runs; never a real wallet)."""
    return "0x" + hashlib.sha256(f"polymm-test:{label}".encode()).hexdigest()


def address_of(key: str) -> str:
    from eth_account import Account

    return Account.from_key(key).address


class Admin:
    """The venue's admin surface (`/_sim/...`) and the public reads the checks need."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=30)
        self._markets: dict[str, dict] = {}

    def state(self) -> dict:
        return self.http.get("/_sim/state").json()

    def requests(self) -> dict[str, int]:
        return self.http.get("/_sim/requests").json()["counts"]

    def advance(self, seconds: float) -> dict:
        return self.http.post("/_sim/advance", json={"seconds": seconds}).json()

    def take(self, token_id: str, side: str, price, size) -> dict:
        r = self.http.post("/_sim/take", json={"token_id": token_id, "side": side, "price": float(price),
                                               "size": float(size)})
        r.raise_for_status()
        return r.json()

    def faults(self, plan: dict) -> dict:
        r = self.http.post("/_sim/faults", json=plan)
        r.raise_for_status()
        return r.json()

    def fired(self) -> list[dict]:
        return self.http.get("/_sim/faults").json()["fired"]

    def mode(self, mode: str) -> dict:
        r = self.http.post("/_sim/mode", json={"mode": mode})
        r.raise_for_status()
        return r.json()

    def book(self, token_id: str) -> dict:
        # a public read: under a storm's fault plan it may be refused or mangled too — read until it parses
        for _ in range(50):
            r = self.http.get("/book", params={"token_id": token_id})
            try:
                if r.status_code == 200:
                    return r.json()
            except ValueError:
                pass
            time.sleep(0.01)
        raise RuntimeError(f"GET /book {token_id[:12]}… kept failing: {r.status_code}")

    def market(self, condition_id: str) -> dict:
        if condition_id not in self._markets:
            self._markets[condition_id] = self.http.get(f"/markets/{condition_id}").json()
        return self._markets[condition_id]

    def close(self) -> None:
        self.http.close()


class VenueProcess:
    """`polymm sim serve` as its own process, on a free loopback port."""

    def __init__(self, seed: int = 1, speed: float = 0, markets: int = 30, scenario: str = "calm",
                 extra: tuple[str, ...] = (), log: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [POLYMM, "sim", "serve", "--port", str(self.port), "--seed", str(seed), "--speed", str(speed),
                     "--markets", str(markets), "--scenario", scenario, *extra]
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self) -> "VenueProcess":
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"venue exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/ok", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("venue did not start within 60 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> "VenueProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------------- controller
SEED_STRATEGY = True  # chaos.py --strategy: "seed" (True) or "defaults" (config.yaml's strategy, False)


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


# ---------------------------------------------------------------------------------------------- venue truth
@dataclass
class Audit:
    duplicates: int = 0
    duplicate_slots: list[str] = field(default_factory=list)
    breaches: list[str] = field(default_factory=list)  # market, exposure (open buys + position cost), when
    orphans: int = 0
    orphan_ids: list[str] = field(default_factory=list)
    exposure_breaches: int = 0
    max_exposure_ratio: float = 0.0
    unhedged: int = 0
    unhedged_tokens: list[str] = field(default_factory=list)
    fills_double_counted: int = 0
    fills_missing: int = 0
    position_mismatches: list[str] = field(default_factory=list)
    self_trades: int = 0
    live_orders: int = 0
    positions: dict[str, Decimal] = field(default_factory=dict)
    unsellable: int = 0  # positions in markets that are closed or not accepting orders (not hedgeable, not judged)
    locked: int = 0  # positions with shares bought too recently to sell (the venue refuses the sell for now)


def account(state: dict, address: str) -> dict:
    for addr, acct in state["accounts"].items():
        if addr.lower() == address.lower():
            return acct
    return {"open_orders": [], "positions": {}, "api_keys": [], "collateral": 0}


def venue_fills(state: dict, address: str) -> list:
    """Our fills in the venue's trade list (the same parsing as the controller's, applied to the truth)."""
    acct = account(state, address)
    keys = acct.get("api_keys") or [""]
    out = []
    for trade in sorted(state["trades"], key=lambda t: int(t["match_time"])):
        seen: set[tuple[str, str]] = set()
        for key in keys:
            for f in our_fills(trade, key, address):
                if (f.trade_id, f.order_id) not in seen:
                    seen.add((f.trade_id, f.order_id))
                    out.append(f)
    return out


def venue_positions(state: dict, address: str) -> dict[str, PositionRecord]:
    """Per token: size held at the venue, and its cost from our venue fills (average-cost rule)."""
    folded: dict[str, PositionRecord] = {}
    for f in venue_fills(state, address):
        if f.status == "FAILED":
            continue
        pos = folded.get(f.token_id) or PositionRecord(f.token_id, f.condition_id, ZERO, ZERO, ZERO)
        folded[f.token_id] = apply_to_position(pos, f.side, f.size, f.price)
    held = {t: Decimal(str(s)) for t, s in account(state, address)["positions"].items()}
    out = {}
    for token, size in held.items():
        pos = folded.get(token)
        avg = pos.avg_cost if pos is not None and pos.size > 0 else ZERO
        out[token] = PositionRecord(token, pos.condition_id if pos else "", size, size * avg, ZERO)
    return out


def self_trades(state: dict, address: str) -> list[str]:
    """Trades in which we were the taker and a maker at once (we sold to ourselves)."""
    out = []
    for trade in state["trades"]:
        makers = {m["maker_address"].lower() for m in trade.get("maker_orders") or []}
        if trade["maker_address"].lower() == address.lower() and address.lower() in makers:
            out.append(trade["id"])
    return out


def live_orders(state: dict, address: str) -> list[dict]:
    return [o for o in account(state, address)["open_orders"] if o.get("status", "LIVE") == "LIVE"]


def remaining(o: dict) -> Decimal:
    return Decimal(o["original_size"]) - Decimal(o["size_matched"])


def exposure_by_market(state: dict, address: str) -> dict[str, Decimal]:
    """Venue truth: open buy notional + position cost, per market."""
    out: dict[str, Decimal] = {}
    for o in live_orders(state, address):
        if o["side"] == "BUY":
            out[o["market"]] = out.get(o["market"], ZERO) + Decimal(o["price"]) * remaining(o)
    for pos in venue_positions(state, address).values():
        if pos.size > 0 and pos.condition_id:
            out[pos.condition_id] = out.get(pos.condition_id, ZERO) + pos.cost
    return out


def check_continuous(state: dict, address: str, cap: Decimal, audit: Audit) -> None:
    """What must hold at every moment: one live order per slot, exposure under the cap."""
    slots = Counter((o["asset_id"], o["side"]) for o in live_orders(state, address))
    for slot, n in slots.items():
        if n > 1:
            audit.duplicates += 1
            audit.duplicate_slots.append(f"{slot[0][:12]}…/{slot[1]}×{n} at t={state['now']}")
    for market, value in exposure_by_market(state, address).items():
        audit.max_exposure_ratio = max(audit.max_exposure_ratio, float(value / cap))
        if value > cap + Decimal("0.000001"):
            audit.exposure_breaches += 1
            if len(audit.breaches) < 20:
                buys = [f"{o['asset_id'][:8]}… {remaining(o)}@{o['price']} {o['id'][:10]}…"
                        for o in live_orders(state, address) if o["side"] == "BUY" and o["market"] == market]
                held = [f"{t[:8]}… {p.size} cost {p.cost:.2f}" for t, p in venue_positions(state, address).items()
                        if p.condition_id == market and p.size > 0]
                audit.breaches.append(f"exposure {value:.2f} > cap {cap} in {market[:12]}… at t={state['now']}: "
                                      f"buys [{', '.join(buys)}], held [{', '.join(held)}]")


GRACE_S = 5.0  # controller.open_orders_grace_seconds at its default (config.yaml)


def settle(ctl, admin: Admin, settle_ticks: int, after_tick: int, result, say=print) -> None:
    """K ticks of the final life, each audited (the first clean one is the recovery tick count). Shares the
    venue still locks (bought in the last simulated seconds, by the venue's own traders during the last clock
    move) cannot be sold while the clock stands still: then the clock moves past the lock (6 s, inside the
    heartbeat timeout) and K more ticks run before the judgement, which then sees them sellable. Likewise an
    order whose send lost its reply holds its slot for the open-orders grace window (it may be live, and a second
    order beside it would be a duplicate): when one is left and a position is still unhedged, the judgement
    comes after that window and K more ticks."""
    def k_ticks(after: int | None) -> Audit:
        """K ticks after journal id `after`, each audited; the first clean one is the recovery tick count (counted
        from the start of these K ticks: after a venue lock or a grace window the clock of recovery restarts)."""
        base = ctl.tick_id() if after is None else after
        audit = Audit()
        for k in range(1, settle_ticks + 1):
            ctl.wait_ticks(k, timeout=60, after=base)
            audit = Audit()
            check_settled(admin.state(), ctl.address, ctl.ledger_path, admin, audit)
            if result.final_recovery_ticks is None and audit.orphans == 0 and audit.unhedged == 0:
                result.final_recovery_ticks = k
                result.recovery_ticks.append(k)
        return audit

    audit = k_ticks(after_tick)
    if audit.locked:
        say(f"{audit.locked} position(s) still locked by the venue's balance lag: the clock moves 6 s, "
            f"{settle_ticks} more ticks")
        admin.advance(6)
        audit = k_ticks(None)
    with Ledger(ctl.ledger_path) as ledger:
        unknown = [o for o in ledger.active_orders() if o.state == "unknown"]
    if unknown and audit.unhedged:
        # an order whose send lost its reply may be live: its slot is held (no second order beside it, promise 1)
        # until its resend answers or the open-orders grace window passes without it. K fast ticks can fall
        # inside that window; the judgement then comes after it, K ticks later
        say(f"{len(unknown)} order(s) of unknown outcome hold their slots: {GRACE_S:g} s (the grace window), "
            f"{settle_ticks} more ticks")
        time.sleep(GRACE_S)
        k_ticks(None)


def check_settled(state: dict, address: str, ledger_path: Path, admin: Admin, audit: Audit) -> None:
    """What must hold K ticks after the last restart: no orphans, every position hedged, fills counted once."""
    mine = live_orders(state, address)
    audit.live_orders = len(mine)
    with Ledger(ledger_path) as ledger:
        records = {o.order_id: o for o in ledger.orders()}
        fills = ledger.fills()
        positions = ledger.positions()
    for o in mine:
        rec = records.get(o["id"])
        if rec is None or not rec.active:
            audit.orphans += 1
            audit.orphan_ids.append(f"{o['id'][:12]}… ({'not in ledger' if rec is None else rec.state})")
    offered: dict[str, Decimal] = {}
    for o in mine:
        if o["side"] == "SELL":
            offered[o["asset_id"]] = offered.get(o["asset_id"], ZERO) + remaining(o)
    truth = venue_positions(state, address)
    acct_locked = account(state, address).get("locked") or {}
    closed = {cid for cid, m in (state.get("lifecycle") or {}).items() if m.get("closed") or not m.get("accepting_orders", True)}
    for token, pos in truth.items():
        audit.positions[token] = pos.size
        if pos.size <= 0 or not pos.condition_id:
            continue
        if pos.condition_id in closed:  # the venue takes no sell there; a resolved market's shares are redeemed
            audit.unsellable += 1
            continue
        min_size = Decimal(str(admin.market(pos.condition_id)["minimum_order_size"]))
        # shares bought in the last `--balance-delay` simulated seconds cannot be sold yet: the venue refuses
        # that sell, so they are not judged (the final phase moves the clock past the lock and judges again)
        locked = Decimal(str(acct_locked.get(token, 0)))
        if locked > 0:
            audit.locked += 1
        hedgeable = ((pos.size - locked) / CENT).to_integral_value(rounding="ROUND_FLOOR") * CENT
        if hedgeable >= min_size and offered.get(token, ZERO) < hedgeable:
            audit.unhedged += 1
            audit.unhedged_tokens.append(f"{token[:12]}… {pos.size} held, {offered.get(token, ZERO)} offered")
    audit.self_trades = len(self_trades(state, address))
    keys = Counter((f.trade_id, f.order_id) for f in fills)
    audit.fills_double_counted += sum(n - 1 for n in keys.values() if n > 1)
    truth_keys = {(f.trade_id, f.order_id) for f in venue_fills(state, address)}
    audit.fills_missing = len(truth_keys - set(keys))
    for token in set(truth) | set(positions):
        venue_size = truth[token].size if token in truth else ZERO
        ledger_size = positions[token].size if token in positions else ZERO
        if venue_size != ledger_size:
            audit.position_mismatches.append(f"{token[:12]}… ledger {ledger_size} ≠ venue {venue_size}")


# ---------------------------------------------------------------------------------------------- chaos
@dataclass
class ChaosResult:
    seed: int
    kills: int = 0
    ticks: int = 0
    takes: int = 0
    fills: int = 0
    faults: dict = field(default_factory=dict)
    audit: Audit = field(default_factory=Audit)
    recovery_ticks: list[int] = field(default_factory=list)
    not_recovered_before_kill: int = 0
    restarted_at_kill: int | None = None  # the matching-engine restart (POST /_sim/restart) began after this kill
    resolved: str | None = None  # the market resolved mid-run (POST /_sim/market)
    resolved_at_kill: int | None = None
    final_recovery_ticks: int | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        a = self.audit
        bad = []
        for name, value in (("duplicates", a.duplicates), ("orphans_after_K", a.orphans),
                            ("exposure_breaches", a.exposure_breaches), ("unhedged_beyond_K", a.unhedged),
                            ("fills_double_counted", a.fills_double_counted + len(a.position_mismatches)),
                            ("fills_missing", a.fills_missing), ("self_trades", a.self_trades)):
            if value:
                bad.append(f"{name}={value}")
        return bad + self.errors


def _percentile(values: list[int], q: float) -> int:
    if not values:
        return 0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def figures_line(runs: list[ChaosResult], cap: Decimal) -> str:
    rec = [t for r in runs for t in r.recovery_ticks]
    faults: Counter = Counter()
    for r in runs:
        faults.update(r.faults)
    a = [r.audit for r in runs]
    return (f"runs={len(runs)} ticks={sum(r.ticks for r in runs)} kills={sum(r.kills for r in runs)} "
            f"faults={{{', '.join(f'{k}:{v}' for k, v in sorted(faults.items()))}}} "
            f"duplicates={sum(x.duplicates for x in a)} orphans_after_K={sum(x.orphans for x in a)} "
            f"exposure_breaches={sum(x.exposure_breaches for x in a)} "
            f"max_exposure/cap={max((x.max_exposure_ratio for x in a), default=0):.3f} (cap ${cap}/market) "
            f"unhedged_beyond_K={sum(x.unhedged for x in a)} "
            f"fills_double_counted={sum(x.fills_double_counted + len(x.position_mismatches) for x in a)} "
            f"recovery_ticks{{p50={_percentile(rec, 0.5)},p99={_percentile(rec, 0.99)},max={max(rec, default=0)}}} "
            f"self_trades={sum(x.self_trades for x in a)} fills_missing={sum(x.fills_missing for x in a)}")


class Traffic(threading.Thread):
    """Moves the simulated clock and, at random, fills our quotes (a taker SELL through our bid) and our
    hedges (a taker BUY through our ask). Audits the venue's truth on every round."""

    def __init__(self, admin: Admin, address: str, rng: random.Random, cap: Decimal, result: ChaosResult,
                 period_s: float = 0.25, take_probability: float = 0.25, sim_step_s: float | None = None) -> None:
        super().__init__(name="chaos-traffic", daemon=True)
        self.admin, self.address, self.rng, self.cap, self.result = admin, address, rng, cap, result
        self.period_s, self.take_probability = period_s, take_probability
        self.sim_step_s = period_s if sim_step_s is None else sim_step_s  # simulated seconds per round
        self.simulated_s = 0.0
        self.stop_event = threading.Event()
        self.takes_enabled = threading.Event()
        self.takes_enabled.set()
        self.took = threading.Event()  # set after every take: the controller is about to react

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.round()
            except Exception as exc:  # the venue is ours; a failed admin call is a harness bug worth seeing
                self.result.errors.append(f"traffic: {type(exc).__name__}: {exc}")
                return
            self.stop_event.wait(self.period_s)

    def round(self) -> None:
        # by default one simulated second per wall second: the heartbeat (every 5 s) stays inside the venue's
        # 10 s; a faster clock (the storm) needs a faster heartbeat
        self.admin.advance(self.sim_step_s)
        self.simulated_s += self.sim_step_s
        state = self.admin.state()
        check_continuous(state, self.address, self.cap, self.result.audit)
        if not self.takes_enabled.is_set() or self.rng.random() >= self.take_probability:
            return
        mine = live_orders(state, self.address)
        if not mine:
            return
        order = self.rng.choice(mine)
        self.take_through(order, self.rng.choice((Decimal("0.3"), Decimal("0.6"), Decimal(1))))
        check_continuous(self.admin.state(), self.address, self.cap, self.result.audit)

    def take_through(self, order: dict, fraction: Decimal) -> dict:
        reply = take_through(self.admin, order, fraction)
        self.result.takes += 1
        self.took.set()
        return reply


def take_through(admin: Admin, order: dict, fraction: Decimal = Decimal(1)) -> dict:
    """A simulated taker order that reaches our `order` and fills `fraction` of what is left of it.

    It trades everything ahead of ours first: better-priced levels and, at our price, the orders
    queued before ours (at speed 0 nothing else arrives, so the rest of our level is ahead of us)."""
    book = admin.book(order["asset_id"])
    price = Decimal(order["price"])
    if order["side"] == "BUY":  # we bid: a taker sells down to our price
        ahead = sum(Decimal(l["size"]) for l in book["bids"] if Decimal(l["price"]) >= price)
        side = "SELL"
    else:  # we offer: a taker buys up to our price
        ahead = sum(Decimal(l["size"]) for l in book["asks"] if Decimal(l["price"]) <= price)
        side = "BUY"
    ours = remaining(order)
    size = max(ahead - ours + ours * Decimal(fraction), Decimal("0.01")).quantize(CENT)
    return admin.take(order["asset_id"], side, price, size)


def fault_plan(seed: int, rate: float, stale_rate: float = 0.0) -> dict:
    """Venue faults beside the kills: order posts executed but their reply lost, cancels executed then 500,
    and (optionally) open-order reads that show the venue as it was 2 simulated seconds earlier."""
    rules = []
    if rate > 0:
        rules += [{"match": "POST /order*", "kind": "lost_reply", "probability": rate},
                  {"match": "DELETE /order*", "kind": "error_after", "probability": rate, "status": 500}]
    if stale_rate > 0:
        rules.append({"match": "GET /data/orders", "kind": "stale_orders", "probability": stale_rate, "stale_s": 2})
    return {"seed": seed, "rules": rules}


def restart_engine(admin: Admin, down_s: float, post_only_s: float) -> dict:
    """An unscheduled matching-engine restart now: HTTP 425 for `down_s`, then post-only for `post_only_s`."""
    r = admin.http.post("/_sim/restart", json={"down_s": down_s, "post_only_s": post_only_s})
    r.raise_for_status()
    return r.json()


def resolve_a_market(admin: Admin, address: str, rng: random.Random) -> str | None:
    """Resolve, now, a market we hold a position or a live order in (one with a position first), to a random
    outcome: the venue cancels our orders there (CANCELED_MARKET_RESOLVED) and our shares there can no longer
    be sold."""
    state = admin.state()
    held = [p.condition_id for p in venue_positions(state, address).values() if p.size > 0 and p.condition_id]
    quoted = [o["market"] for o in live_orders(state, address)]
    candidates = list(dict.fromkeys(held + quoted))
    if not candidates:
        return None
    cid = candidates[0] if held else rng.choice(candidates)
    admin.http.post("/_sim/market", json={"condition_id": cid, "winner": rng.choice((0, 1))}).raise_for_status()
    return cid


def wait_engine_normal(admin: Admin, timeout_s: float) -> bool:
    """Wait (the traffic moves the clock) until the matching engine is neither down nor in post-only mode."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        engine = admin.state()["engine"]
        if not engine["down"] and not engine["post_only"]:
            return True
        time.sleep(0.2)
    return False


def run_chaos(kills: int = 20, seed: int = 1, workdir: Path | None = None, markets: int = 60,
              max_markets: int = 3, settle_ticks: int = 3, verbose: bool = True,
              min_life_s: float = 0.2, max_life_s: float = 4.0, fault_rate: float = 0.1,
              stale_rate: float = 0.0, fail_rate: float = 0.0, restart_at: int | None = None,
              restart_down_s: float = 20.0, restart_post_only_s: float = 40.0,
              resolve_at: int | None = None) -> ChaosResult:
    """`restart_at`: after that many kills, a matching-engine restart (425 for `restart_down_s` simulated
    seconds, then post-only for `restart_post_only_s`); `resolve_at`: after that many kills, a market we hold
    a position or an order in resolves. None: neither."""
    rng = random.Random(seed)
    result = ChaosResult(seed)
    cap = Decimal("25")
    own_workdir = workdir is None
    if own_workdir:
        workdir = Path(tempfile.mkdtemp(prefix=f"polymm-chaos-{seed}-"))
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    say = print if verbose else (lambda *a, **k: None)
    venue = VenueProcess(seed=seed, speed=0, markets=markets, log=workdir / "venue.log",
                         extra=("--fail-rate", str(fail_rate)) if fail_rate else ()).start()
    admin = Admin(venue.url)
    ctl = ControllerProcess(venue.url, wallet_key(f"chaos-{seed}"), workdir, max_markets,
                            {"POLYMM_STRATEGY__MAX_EXPOSURE_PER_MARKET_USDC": str(cap),
                             "POLYMM_CONTROLLER__SETTLE_TICKS": str(settle_ticks)})
    traffic = Traffic(admin, ctl.address, rng, cap, result)
    try:
        admin.faults(fault_plan(seed, fault_rate, stale_rate))
        ctl.start()
        ctl.wait_ticks(1, timeout=60)
        traffic.start()
        for i in range(kills):
            if restart_at is not None and i == restart_at:
                restart_engine(admin, restart_down_s, restart_post_only_s)
                result.restarted_at_kill = i
                say(f"matching-engine restart: 425 for {restart_down_s:g} s, post-only for {restart_post_only_s:g} s")
            if resolve_at is not None and i == resolve_at:
                result.resolved = resolve_a_market(admin, ctl.address, rng)
                result.resolved_at_kill = i
                say(f"market {str(result.resolved)[:12]}… resolved")
            if i == kills - 1 and result.restarted_at_kill is not None:
                # the last life runs on a venue back to normal: the final restart is judged, not the outage
                if not wait_engine_normal(admin, restart_down_s + restart_post_only_s + 60):
                    result.errors.append("the matching engine did not come back")
            life = rng.uniform(min_life_s, max_life_s)
            recovered_at = _watch(ctl, admin, life)
            if rng.random() < 0.5:
                # half of the kills land just after a fill, while the controller reacts to it (hedge
                # intent, replacement quote): the moments where a crash can do harm
                traffic.took.clear()
                if traffic.took.wait(5):
                    time.sleep(rng.uniform(0, 0.08))
            ctl.kill9()
            result.kills += 1
            result.ticks += ctl_ticks(ctl)
            if recovered_at is None:
                result.not_recovered_before_kill += 1
            else:
                result.recovery_ticks.append(recovered_at)
            say(f"kill {i + 1}/{kills} after {life:.2f} s: {ctl_ticks(ctl)} tick(s) in that life, "
                f"recovered {'at tick ' + str(recovered_at) if recovered_at is not None else 'not yet'}; "
                f"takes so far {result.takes}")
            if i < kills - 1:
                ctl.start()
        # the final restart: the traffic (takes and clock) and the venue faults stop first, so that what is
        # judged is the restart itself; then K ticks to settle
        traffic.stop_event.set()
        traffic.join(10)
        # tokens bought in the last seconds are not sellable until the venue's balance catches up (a few
        # simulated seconds, `polymm sim serve --balance-delay`): let that pass, within the heartbeat timeout
        admin.advance(6)
        fired = Counter(f["kind"] for f in admin.fired())
        admin.faults({"rules": []})
        ctl.start()
        settle(ctl, admin, settle_ticks, ctl.started_tick_id, result, say)
        # judge the venue's truth after K ticks of the final life
        state = admin.state()
        check_continuous(state, ctl.address, cap, result.audit)
        check_settled(state, ctl.address, ctl.ledger_path, admin, result.audit)
        result.ticks += ctl_ticks(ctl)
        result.fills = len(venue_fills(state, ctl.address))
        result.faults = {"kill -9": result.kills, "taker fills": result.takes, **fired}
        rc = ctl.terminate(60)
        if rc != 0:
            result.errors.append(f"controller exited {rc} on SIGTERM")
    except Exception as exc:
        result.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        _tear_down(result, traffic, ctl, admin, venue, workdir if own_workdir else None)
    return result


def _tear_down(result: ChaosResult, traffic, ctl: ControllerProcess, admin: Admin, venue: VenueProcess,
               own_workdir: Path | None) -> None:
    """Stop the run's traffic and processes; a work directory the run made is removed, unless the run failed."""
    traffic.stop_event.set()
    ctl.stop()
    admin.close()
    venue.stop()
    if own_workdir is not None and not result.failures:
        shutil.rmtree(own_workdir, ignore_errors=True)
    elif own_workdir is not None:
        result.errors.append(f"work directory kept: {own_workdir}")


SETTLEMENT_S = 60.0  # simulated seconds after the storm for trades to settle (MINED after ~26 s)
STORM_SPEED = 8.0  # simulated seconds per wall second in the storm (heartbeats every 0.5 s wall = 4 s simulated)


def storm_plan(seed: int, rate: float) -> dict:
    """Faults at `rate` of the requests of every endpoint the controller uses (heartbeats only delayed:
    a lost heartbeat is its own scenario, and at 40 % the venue would cancel everything every few seconds)."""
    share = rate / 2  # two kinds per endpoint, each at half the rate
    rules = [
        {"match": "POST /order*", "kind": "lost_reply", "probability": share},
        {"match": "POST /order*", "kind": "error_after", "probability": share, "status": 500},
        {"match": "DELETE /order*", "kind": "error_after", "probability": share, "status": 500},
        {"match": "DELETE /order*", "kind": "rate_limit", "probability": share, "retry_after": 1},
        {"match": "GET /data/orders", "kind": "stale_orders", "probability": share, "stale_s": 2},
        {"match": "GET /data/orders", "kind": "error_before", "probability": share, "status": 500},
        {"match": "GET /data/trades", "kind": "error_before", "probability": share, "status": 500},
        {"match": "GET /data/trades", "kind": "malformed", "probability": share / 2},
        {"match": "GET /data/trades", "kind": "malformed_row", "probability": share / 2, "field": "status",
         "value": "PENDING"},
        {"match": "* /book*", "kind": "rate_limit", "probability": share, "retry_after": 1},
        {"match": "* /book*", "kind": "malformed", "probability": share},
        {"match": "*", "kind": "latency", "probability": rate, "latency_ms": 30},
    ]
    return {"seed": seed, "rules": rules}


def run_storm(seed: int = 1, simulated_s: float = 3600.0, rate: float = 0.4, workdir: Path | None = None,
              markets: int = 60, max_markets: int = 3, settle_ticks: int = 3, verbose: bool = True,
              take_probability: float = 0.5) -> ChaosResult:
    """A storm: faults at `rate` of the requests for `simulated_s` simulated seconds while takers fill our
    quotes and hedges; then the faults stop and, K ticks later, the venue's truth is judged."""
    rng = random.Random(seed)
    result = ChaosResult(seed)
    cap = Decimal("25")
    own_workdir = workdir is None
    workdir = Path(workdir or tempfile.mkdtemp(prefix=f"polymm-storm-{seed}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    say = print if verbose else (lambda *a, **k: None)
    venue = VenueProcess(seed=seed, speed=0, markets=markets, log=workdir / "venue.log").start()
    admin = Admin(venue.url)
    ctl = ControllerProcess(venue.url, wallet_key(f"storm-{seed}"), workdir, max_markets,
                            {"POLYMM_STRATEGY__MAX_EXPOSURE_PER_MARKET_USDC": str(cap),
                             "POLYMM_CONTROLLER__SETTLE_TICKS": str(settle_ticks),
                             "POLYMM_CONTROLLER__HEARTBEAT_INTERVAL_SECONDS": "0.5"})
    period = 0.25
    traffic = Traffic(admin, ctl.address, rng, cap, result, period_s=period, take_probability=take_probability,
                      sim_step_s=period * STORM_SPEED)
    samples: Counter = Counter()
    try:
        ctl.start()
        ctl.wait_ticks(1, timeout=60)
        admin.faults(storm_plan(seed, rate))
        traffic.start()
        next_report = time.monotonic() + 10
        while traffic.simulated_s < simulated_s and traffic.is_alive():
            time.sleep(0.5)
            last = ctl.last_tick()
            samples[(last or {}).get("summary", {}).get("health", "?")] += 1
            if not ctl.alive:
                result.errors.append(f"controller exited during the storm ({ctl.proc.returncode})")
                break
            if time.monotonic() >= next_report:
                next_report += 10
                say(f"storm: {traffic.simulated_s:.0f}/{simulated_s:.0f} simulated s, {result.takes} takes, "
                    f"health samples {dict(samples)}")
        # the faults stop; the clock keeps moving (no more takes) for a simulated minute, so that tokens bought
        # in the storm settle and become sellable (the venue refuses a sell before: VENUE.md "balance after a
        # fill"); then K ticks, and the judgement
        fired = Counter(f["kind"] for f in admin.fired())
        admin.faults({"rules": []})
        traffic.takes_enabled.clear()
        settle_from = traffic.simulated_s
        while traffic.is_alive() and traffic.simulated_s - settle_from < SETTLEMENT_S:
            time.sleep(0.1)
        traffic.stop_event.set()
        traffic.join(10)
        settle(ctl, admin, settle_ticks, ctl.tick_id(), result, say)
        state = admin.state()
        check_continuous(state, ctl.address, cap, result.audit)
        check_settled(state, ctl.address, ctl.ledger_path, admin, result.audit)
        result.ticks = ctl.tick_id()
        result.fills = len(venue_fills(state, ctl.address))
        result.faults = {"taker fills": result.takes, **fired}
        say(f"storm: health samples during the storm {dict(samples)}")
        rc = ctl.terminate(60)
        if rc != 0:
            result.errors.append(f"controller exited {rc} on SIGTERM")
    except Exception as exc:
        result.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        _tear_down(result, traffic, ctl, admin, venue, workdir if own_workdir else None)
    return result


def ctl_ticks(ctl: ControllerProcess) -> int:
    return max(ctl.tick_id() - ctl.started_tick_id, 0)


def _watch(ctl: ControllerProcess, admin: Admin, life_s: float) -> int | None:
    """Let the controller live `life_s` seconds; the tick (of this life) at which the venue first looked
    settled for it — no orphans, every position hedged — or None if it never did."""
    deadline = time.monotonic() + life_s
    seen_id = ctl.started_tick_id
    recovered = None
    while time.monotonic() < deadline:
        current = ctl.tick_id()
        if current > seen_id and recovered is None:
            seen_id = current
            audit = Audit()
            try:
                check_settled(admin.state(), ctl.address, ctl.ledger_path, admin, audit)
            except Exception:  # the ledger may be mid-creation right after a kill
                continue
            if audit.orphans == 0 and audit.unhedged == 0:
                recovered = current - ctl.started_tick_id
        time.sleep(0.02)
    return recovered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="kill -9 this many times (default 20)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the venue, the kill moments and the takes")
    parser.add_argument("--runs", type=int, default=1, help="runs with seeds seed, seed+1, ...")
    parser.add_argument("--markets", type=int, default=60, help="simulated markets (default 60)")
    parser.add_argument("--max-markets", type=int, default=3, help="strategy.max_markets (default 3)")
    parser.add_argument("--max-life", type=float, default=4.0,
                        help="longest wall time between a restart and the next kill, seconds (default 4)")
    parser.add_argument("--fault-rate", type=float, default=0.1,
                        help="probability of a lost reply per order post and of a 500 after each cancel (default 0.1)")
    parser.add_argument("--stale-rate", type=float, default=0.0,
                        help="probability that an open-orders read shows the venue 2 simulated seconds ago (default 0)")
    parser.add_argument("--fail-rate", type=float, default=0.0,
                        help="fraction of trades that settle FAILED and are reversed (default 0)")
    parser.add_argument("--restart-at", type=int, default=None,
                        help="after this many kills, a matching-engine restart (POST /_sim/restart; default 4 if --kills is larger; -1: none)")
    parser.add_argument("--restart-down", type=float, default=20.0,
                        help="simulated seconds of HTTP 425 in that restart (default 20; the venue's is ~90, shortened "
                             "so that the run of about 80 simulated seconds sees the outage, post-only mode and after)")
    parser.add_argument("--restart-post-only", type=float, default=40.0,
                        help="simulated seconds of post-only mode after it (default 40; the venue's is 120)")
    parser.add_argument("--resolve-at", type=int, default=None,
                        help="after this many kills, a market we hold a position or an order in resolves to a random "
                             "outcome (POST /_sim/market; default 10 if --kills is larger; -1: none)")
    parser.add_argument("--strategy", choices=("seed", "defaults"), default="seed",
                        help="the controller's strategy: the seed's (hedges cross at once, no stepping back; the "
                             "figures in the README) or config.yaml's defaults as shipped (maker hedges, stepping back)")
    parser.add_argument("--storm", action="store_true",
                        help="instead of kills: faults at --storm-rate of all requests for --storm-seconds simulated "
                             "seconds (clock 8x) while takers fill quotes and hedges")
    parser.add_argument("--storm-rate", type=float, default=0.4, help="storm fault rate per request (default 0.4)")
    parser.add_argument("--storm-seconds", type=float, default=3600.0,
                        help="storm length in simulated seconds (default 3600: a simulated hour, ~8 wall minutes)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep ledgers and logs here")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    global SEED_STRATEGY
    SEED_STRATEGY = args.strategy == "seed"
    # a value the run cannot honour is refused, naming what is allowed (a --kills 0 run "FAILED" on its own
    # harness; a --restart-at at or past --kills silently had no restart)
    at_least = {"--kills": (args.kills, 1), "--runs": (args.runs, 1), "--markets": (args.markets, 1),
                "--max-markets": (args.max_markets, 1)}
    for flag, (value, low) in at_least.items():
        if value < low:
            parser.error(f"{flag} {value}: must be ≥ {low}")
    for flag, value in {"--fault-rate": args.fault_rate, "--stale-rate": args.stale_rate,
                        "--fail-rate": args.fail_rate, "--storm-rate": args.storm_rate}.items():
        if not 0 <= value <= 1:
            parser.error(f"{flag} {value:g}: must be a probability in [0, 1]")
    for flag, value in {"--max-life": args.max_life, "--storm-seconds": args.storm_seconds}.items():
        if value <= 0:
            parser.error(f"{flag} {value:g}: must be > 0 seconds")
    for flag, value in {"--restart-down": args.restart_down, "--restart-post-only": args.restart_post_only}.items():
        if value < 0:
            parser.error(f"{flag} {value:g}: must be ≥ 0 seconds")
    for flag, name, default in (("--restart-at", "restart_at", 4), ("--resolve-at", "resolve_at", 10)):
        value = getattr(args, name)
        if value is None:  # the default applies when the run has that many kills
            setattr(args, name, default if default < args.kills else -1)
        elif not args.storm and value != -1 and not 0 <= value < args.kills:
            parser.error(f"{flag} {value}: must be a kill number from 0 to {args.kills - 1} (< --kills), or -1 for none")
    runs = []
    for n in range(args.runs):
        seed = args.seed + n
        workdir = args.workdir / f"seed-{seed}" if args.workdir else None
        started = time.monotonic()
        if args.storm:
            result = run_storm(seed, args.storm_seconds, args.storm_rate, workdir, args.markets, args.max_markets,
                               verbose=not args.quiet)
            runs.append(result)
            a = result.audit
            print(f"seed {seed}: storm of {args.storm_seconds:.0f} simulated s at {args.storm_rate:.0%}, "
                  f"{result.ticks} ticks, {result.takes} takes, {result.fills} fills, {time.monotonic() - started:.1f} s")
            for line in a.duplicate_slots[:5] + a.breaches[:5] + a.orphan_ids[:5] + a.unhedged_tokens[:5] + a.position_mismatches[:5]:
                print("  " + line)
            continue
        result = run_chaos(args.kills, seed, workdir, args.markets, args.max_markets, verbose=not args.quiet,
                           max_life_s=args.max_life, fault_rate=args.fault_rate, stale_rate=args.stale_rate,
                           fail_rate=args.fail_rate,
                           restart_at=args.restart_at if 0 <= args.restart_at < args.kills else None,
                           restart_down_s=args.restart_down, restart_post_only_s=args.restart_post_only,
                           resolve_at=args.resolve_at if 0 <= args.resolve_at < args.kills else None)
        runs.append(result)
        a = result.audit
        print(f"seed {seed}: {result.kills} kills, {result.ticks} ticks, {result.takes} takes, {result.fills} fills, "
              f"{a.live_orders} live orders at the end, positions {len([p for p in a.positions.values() if p > 0])} "
              f"({a.unsellable} in a resolved market), engine restart after kill {result.restarted_at_kill}, "
              f"market {str(result.resolved)[:12]}… resolved after kill {result.resolved_at_kill}, "
              f"{time.monotonic() - started:.1f} s")
        for line in a.duplicate_slots[:5] + a.breaches[:5] + a.orphan_ids[:5] + a.unhedged_tokens[:5] + a.position_mismatches[:5]:
            print("  " + line)
    print(figures_line(runs, Decimal("25")))
    failed = [r for r in runs if r.failures]
    for r in failed:
        print(f"FAILED seed {r.seed}: {', '.join(r.failures)}")
        mode = (f"--storm --storm-rate {args.storm_rate} --storm-seconds {args.storm_seconds:g}" if args.storm
                else f"--kills {args.kills}")
        print(f"  reproduce: .venv/bin/python scripts/chaos.py {mode} --seed {r.seed} "
              f"--markets {args.markets} --max-markets {args.max_markets} --max-life {args.max_life} "
              f"--fault-rate {args.fault_rate} --restart-at {args.restart_at} --restart-down {args.restart_down:g} "
              f"--restart-post-only {args.restart_post_only:g} --resolve-at {args.resolve_at} "
              f"--stale-rate {args.stale_rate} --fail-rate {args.fail_rate} "
              f"--strategy {args.strategy} --workdir /tmp/polymm-chaos")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
