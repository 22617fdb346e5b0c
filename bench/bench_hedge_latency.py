"""Benchmark: fill-to-hedge latency on loopback, and the venue requests the controller makes in steady state.

Starts `polymm sim serve --speed 0` and `polymm reconcile --loop` as their own processes (the real SDK over
loopback), lets the controller quote, then repeatedly fills one of its quotes with a simulated taker
(`POST /_sim/take`) and times how long until the hedge sell is at the venue. The moment the hedge lands
is read from the venue's own user channel (`/ws/user`, subscribed with the controller's API key): the
hedge's `order` PLACEMENT event when it rests, or its `trade` event when it sells into the bids at once.
The controller learns of the fill from the same channel (which wakes its loop) and reads the truth
over REST before placing.

Two controllers run one after the other against the same venue: one woken by the venue's channels
(`loop.channels_enabled: true`, the default) and one polling every `loop.order_check_interval_seconds`
(the baseline). The benchmark's own user-channel reader reconnects when its WebSocket closes (a fill
timed across the gap counts as a miss).

    .venv/bin/python bench/bench_hedge_latency.py [--fills 40] [--seed 7] [--steady-seconds 15] [--resting-hedges]
                                                  [--modes channels polling]

Prints, per mode, p50/p99/max of fill-to-hedge (target with the channels on: p99 < 50 ms) and the
controller's tick cost, and requests per minute in steady state (from /_sim/requests deltas), split into
writes, reads and heartbeats.
"""

from __future__ import annotations

import argparse
import json
import queue
import random
import statistics
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

TARGET_P99_MS = 50.0

from chaos import WRITES, Admin, ControllerProcess, VenueProcess, live_orders, take_through, wallet_key  # noqa: E402


class UserChannel(threading.Thread):
    """The controller's user channel, read by the benchmark: (monotonic receipt time, event) on a queue."""

    def __init__(self, ws_url: str, creds) -> None:
        super().__init__(name="bench-user-ws", daemon=True)
        self.url = ws_url.rstrip("/") + "/user"
        self.auth = {"apiKey": creds.api_key, "secret": creds.api_secret, "passphrase": creds.api_passphrase}
        self.events: queue.Queue = queue.Queue()
        self.ready = threading.Event()
        self.stop_event = threading.Event()

    def run(self) -> None:
        """Reads until stopped; a closed or failed connection is opened again (events in the gap are lost, and
        the fill being timed then counts as a miss, not a crash)."""
        from websockets.exceptions import WebSocketException
        from websockets.sync.client import connect

        self.reconnects = 0
        while not self.stop_event.is_set():
            try:
                with connect(self.url, open_timeout=5) as ws:
                    ws.send(json.dumps({"auth": self.auth, "markets": [], "type": "user"}))
                    self.ready.set()
                    while not self.stop_event.is_set():
                        try:
                            message = ws.recv(timeout=0.5)
                        except TimeoutError:
                            continue
                        at = time.perf_counter()
                        if message == "PONG":
                            continue
                        try:
                            data = json.loads(message)
                        except ValueError:
                            continue
                        for event in data if isinstance(data, list) else [data]:
                            if isinstance(event, dict):
                                self.events.put((at, event))
            except (WebSocketException, OSError, TimeoutError):
                self.reconnects += 1
                self.stop_event.wait(0.2)

    def drain(self) -> None:
        while not self.events.empty():
            self.events.get_nowait()

    def wait_for(self, match, timeout: float) -> tuple[float, dict] | None:
        deadline = time.perf_counter() + timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                return None
            try:
                at, event = self.events.get(timeout=left)
            except queue.Empty:
                return None
            if match(event):
                return at, event


def is_hedge_of(token_id: str, api_key: str):
    def match(event: dict) -> bool:
        if event.get("event_type") == "order":
            return event.get("type") == "PLACEMENT" and event["side"] == "SELL" and event["asset_id"] == token_id
        if event.get("event_type") == "trade":  # a hedge that sold into the bids at once: we are its taker
            return event.get("owner") == api_key and event["side"] == "SELL" and event["asset_id"] == token_id
        return False
    return match


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def steady_rates(admin: Admin, ctl: ControllerProcess, seconds: float) -> None:
    before, first = admin.requests(), ctl.tick_id()
    started = time.monotonic()
    time.sleep(seconds)
    after, last = admin.requests(), ctl.tick_id()
    minutes = (time.monotonic() - started) / 60
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
    delta = {k: v for k, v in delta.items() if not k.startswith("GET /_sim")}
    writes = sum(v for k, v in delta.items() if k in WRITES)
    beats = delta.get("POST /v1/heartbeats", 0)
    reads = sum(delta.values()) - writes - beats
    print(f"steady state over {seconds:.0f} s ({last - first} ticks): {sum(delta.values()) / minutes:.0f} requests/min "
          f"= writes {writes / minutes:.0f}/min, reads {reads / minutes:.0f}/min, heartbeats {beats / minutes:.0f}/min")
    for k, v in sorted(delta.items(), key=lambda kv: -kv[1]):
        print(f"  {k:32s} {v / minutes:8.0f}/min")


def measure(venue: VenueProcess, admin: Admin, work: Path, args, channels: bool, rng: random.Random) -> dict:
    """One controller (its own wallet) against the shared venue: fill-to-hedge latencies and tick costs."""
    extra = {"POLYMM_HEDGE_SELL__MAX_BID_GAP": "0.001",
             "POLYMM_RISK__MIN_PROTECTION_SIZE_MULTIPLIER_HEDGE": "0"} if args.resting_hedges else {}
    extra["POLYMM_LOOP__CHANNELS_ENABLED"] = "true" if channels else "false"
    label = "channels" if channels else "polling"
    ctl = ControllerProcess(venue.url, wallet_key(f"bench-hedge-{label}"), work / label, args.max_markets, extra)
    channel = None
    latencies: list[float] = []
    kinds: dict[str, int] = {}
    misses = 0
    tick_costs: list[float] = []
    cpu_ms: list[float] = []
    phases: list[dict] = []
    try:
        ctl.start()
        ctl.wait_ticks(3, timeout=60)
        if channels:
            steady_rates(admin, ctl, args.steady_seconds)

        from polymm.venue.gateway import VenueEndpoints
        from polymm.venue.outcomes import Ok
        from polymm.venue.trading import TradingGateway

        # the controller's API key, derived with its wallet key (L1) through polymm's gateway on polymarket-client
        keys = TradingGateway(VenueEndpoints(venue.url, f"{venue.url}/gamma", f"{venue.url}/dataapi", ""), ctl.key)
        derived = keys.derive_credentials()
        keys.close()
        if not isinstance(derived, Ok):
            raise SystemExit(f"cannot derive the controller's API key: {derived.reason}")
        creds = derived.value
        channel = UserChannel(venue.url.replace("http://", "ws://") + "/ws", creds)
        channel.start()
        channel.ready.wait(10)
        first_tick = ctl.tick_id()
        while len(latencies) + misses < args.fills:
            quotes = [o for o in live_orders(admin.state(), ctl.address)
                      if o["side"] == "BUY" and Decimal("0.1") <= Decimal(o["price"]) <= Decimal("0.9")]
            if not quotes:
                admin.advance(1)
                ctl.wait_ticks(2)
                continue
            quote = rng.choice(quotes)
            started = time.monotonic()
            channel.drain()
            t0 = time.perf_counter()
            take_through(admin, quote, Decimal(1))
            seen = channel.wait_for(is_hedge_of(quote["asset_id"], creds.api_key), timeout=5)
            if seen is None:
                misses += 1
            else:
                latencies.append((seen[0] - t0) * 1000)
                kind = "rested" if seen[1]["event_type"] == "order" else "sold at once"
                kinds[kind] = kinds.get(kind, 0) + 1
                if seen[1]["event_type"] == "order":  # clear the position: a taker buys the hedge
                    time.sleep(0.05)
                    hedge = next((o for o in live_orders(admin.state(), ctl.address) if o["id"] == seen[1].get("id")), None)
                    if hedge:
                        take_through(admin, hedge, Decimal(1))
            # let the simulated makers refill the book, and the controller settle; at most one simulated
            # second per wall second, so the controller's heartbeats (every 5 s) stay inside the venue's 10 s
            admin.advance(1)
            ctl.wait_ticks(3)
            time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
        summaries = [t for t in (tick_summary(ctl, i) for i in range(first_tick + 1, ctl.tick_id() + 1))
                     if t is not None]
        tick_costs = [t["seconds"] * 1000 for t in summaries]
        phases = [t["phases_ms"] for t in summaries if t.get("places") and t.get("phases_ms")]
        # the controller's own CPU in a tick that placed: less sensitive to other load than wall time
        cpu_ms = [t["cpu_seconds"] * 1000 for t in summaries if t.get("places") and t.get("cpu_seconds") is not None]
    finally:
        if channel:
            channel.stop_event.set()
        ctl.terminate(30)
    return {"label": label, "latencies": latencies, "kinds": kinds, "misses": misses, "tick_costs": tick_costs,
            "phases": phases, "cpu_ms": cpu_ms, "reconnects": getattr(channel, "reconnects", 0)}


def report(r: dict, target_ms: float | None) -> None:
    lat, name = r["latencies"], "user channel on" if r["label"] == "channels" else "polling only"
    if not lat:
        print(f"{name}: no hedge seen in {r['misses']} fill(s)")
        return
    verdict = "" if target_ms is None else \
        f" — target p99 < {target_ms:.0f} ms: {'met' if pct(lat, 0.99) < target_ms else 'MISSED'}"
    print(f"{name:16s} fill-to-hedge over {len(lat)} fills ({', '.join(f'{v} {k}' for k, v in r['kinds'].items())}; "
          f"{r['misses']} without a hedge event within 5 s; bench channel reconnects {r['reconnects']}): "
          f"p50 {pct(lat, 0.5):.1f} ms, p99 {pct(lat, 0.99):.1f} ms, max {max(lat):.1f} ms, "
          f"mean {statistics.mean(lat):.1f} ms{verdict}")
    costs = r["tick_costs"]
    if costs:
        print(f"{'':16s} controller tick cost over {len(costs)} ticks: p50 {pct(costs, 0.5):.1f} ms, "
              f"p99 {pct(costs, 0.99):.1f} ms, max {max(costs):.1f} ms")
    if r["phases"]:  # where the ticks that placed (the hedges among them) spent their time
        parts = ", ".join(f"{k} p50 {pct([p[k] for p in r['phases']], 0.5):.1f} / p99 "
                          f"{pct([p[k] for p in r['phases']], 0.99):.1f} ms" for k in ("observe", "decide", "execute"))
        print(f"{'':16s} ticks that placed ({len(r['phases'])}): {parts}")
    if r.get("cpu_ms"):
        print(f"{'':16s} controller CPU in a tick that placed: p50 {pct(r['cpu_ms'], 0.5):.1f} / "
              f"p99 {pct(r['cpu_ms'], 0.99):.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fills", type=int, default=40, help="fills to time per mode (default 40)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--markets", type=int, default=30)
    parser.add_argument("--max-markets", type=int, default=3)
    parser.add_argument("--steady-seconds", type=float, default=15)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the ledgers and logs here")
    parser.add_argument("--resting-hedges", action="store_true",
                        help="configure hedges to rest at the ask (timed to their PLACEMENT) instead of selling at once")
    parser.add_argument("--modes", nargs="+", choices=("channels", "polling"), default=["channels", "polling"])
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory(prefix="polymm-bench-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        # bought tokens sellable at once (--balance-delay 0): the venue's balance lag would otherwise hold
        # every hedge for simulated seconds, and this measures the controller's part
        venue = VenueProcess(seed=args.seed, speed=0, markets=args.markets, extra=("--balance-delay", "0"),
                             log=work / "venue.log").start()
        admin = Admin(venue.url)
        results = []
        try:
            for mode in args.modes:
                results.append(measure(venue, admin, work, args, mode == "channels", rng))
        finally:
            admin.close()
            venue.stop()
    for r in results:
        report(r, TARGET_P99_MS if r["label"] == "channels" else None)
    return 0


def tick_summary(ctl: ControllerProcess, tick_id: int) -> dict | None:
    """One journaled tick's summary (duration, phases, places), read from the ledger file read-only."""
    import sqlite3

    with sqlite3.connect(f"file:{ctl.ledger_path}?mode=ro", uri=True) as db:
        row = db.execute("SELECT summary FROM ticks WHERE id = ?", (tick_id,)).fetchone()
    if row is None:
        return None
    summary = json.loads(row[0])
    return None if summary.get("final") or summary.get("seconds") is None else summary


if __name__ == "__main__":
    raise SystemExit(main())
