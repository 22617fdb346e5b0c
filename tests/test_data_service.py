"""The data service as its own process, and the controller that depends on it, under faults.

- Kill the data service (`kill -9`) under a running `polymm reconcile --loop`: the controller holds
  (no order sent or cancelled while its market data is dead, even though the venue's book moved),
  says so in `polymm status`, and resumes by itself when the data service is started again.
- Drop the venue's WebSocket connections: a fill made while the controller's user channel is down
  is found by the REST resync and hedged.

Everything is real: the simulator on a loopback port (manual clock: only the test moves books),
Redis at POLYMM_TEST_REDIS_URL under a per-test key prefix, `polymm` subprocesses, the SDK.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlparse

import httpx
import pytest
import redis
from py_clob_client_v2.client import ClobClient

from polymm.config import load_config, load_secrets
from polymm.controller.loop import Service
from polymm.controller.session import open_session
from polymm.marketdata.service import DataService
from polymm.marketdata.store import RedisStore
from polymm.sim.model import MICRO, PIPS
from polymm.sim.runner import SimOptions, SimVenue
from polymm.sim.server import take
from polymm.ledger import Ledger
from polymm.venue.gateway import VenueEndpoints, VenueGateway

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("POLYMM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ORDER_WRITES = ("POST /order", "POST /orders", "DELETE /order", "DELETE /orders", "DELETE /cancel-all",
                "DELETE /cancel-market-orders")
BOOK_INTERVAL_S = 1  # the data service's refresh; the controller trusts books 3 × 1 + 1 = 4 s, the service 10 s
SERVICE_MAX_AGE_S = 10


# ----------------------------------------------------------------------------- helpers
def redis_or_skip() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis answers at {REDIS_URL} ({exc}); scripts/test starts one")
    return client


def delete_prefix(client: redis.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


def environment(venue: SimVenue, prefix: str, tmp: Path, key: str) -> dict[str, str]:
    """The configuration of both processes: the remote (simulated) venue and the Redis data service."""
    r = urlparse(REDIS_URL)
    u = venue.urls
    return {
        "POLYMM_VENUE__MODE": "remote", "POLYMM_VENUE__CLOB_URL": u["clob_url"],
        "POLYMM_VENUE__GAMMA_URL": u["gamma_url"], "POLYMM_VENUE__DATA_URL": u["data_url"],
        "POLYMM_VENUE__WS_URL": u["ws_url"], "POLYMARKET_PRIVATE_KEY": key,
        "POLYMM_LEDGER__PATH": str(tmp / "ledger.sqlite"), "POLYMM_LOGGING__DIRECTORY": str(tmp / "logs"),
        "POLYMM_ORDERBOOK_SERVICE__ENABLED": "true",
        "POLYMM_ORDERBOOK_SERVICE__REDIS_HOST": r.hostname or "127.0.0.1",
        "POLYMM_ORDERBOOK_SERVICE__REDIS_PORT": str(r.port or 6379),
        "POLYMM_ORDERBOOK_SERVICE__REDIS_DB": (r.path or "/0").strip("/") or "0",
        "POLYMM_ORDERBOOK_SERVICE__REDIS_KEY_PREFIX": prefix,
        "POLYMM_ORDERBOOK_SERVICE__ORDERBOOK_UPDATE_INTERVAL": str(BOOK_INTERVAL_S),
    }


def eventually(condition: Callable[[], object], what: str, timeout: float = 15.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


class Venue:
    """The venue's truth for one account, from its admin surface."""

    def __init__(self, venue: SimVenue, address: str) -> None:
        self.http = httpx.Client(base_url=venue.url, timeout=10)
        self.address = address

    def order_writes(self) -> int:
        counts = self.http.get("/_sim/requests").json()["counts"]
        return sum(counts.get(k, 0) for k in ORDER_WRITES)

    def account(self) -> dict:
        return self.http.get("/_sim/state").json()["accounts"].get(self.address, {})

    def open_orders(self) -> list[dict]:
        return self.account().get("open_orders", [])

    def quiet(self, seconds: float) -> int:
        """Wait until no order is sent or cancelled for `seconds`; the count of order writes then."""
        last, since = self.order_writes(), time.monotonic()
        while time.monotonic() - since < seconds:
            time.sleep(0.1)
            now = self.order_writes()
            if now != last:
                last, since = now, time.monotonic()
        return last


class Proc:
    """A `polymm` subprocess with its output in a file (shown when a test fails)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], tmp: Path) -> None:
        self.log = tmp / f"{name}.log"
        with self.log.open("ab") as out:
            self.p = subprocess.Popen([sys.executable, "-m", "polymm.cli", *args], cwd=ROOT, env=os.environ | env,
                                      stdout=out, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self.p.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def status_json(env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-m", "polymm.cli", "status", "--json"], cwd=ROOT, env=os.environ | env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# ----------------------------------------------------------------------------- kill -9 the data service
@dataclass
class Outage:
    """What the venue and `polymm status` showed around a data-service kill; asserted by the tests below."""

    quotes_before: list[dict] = field(default_factory=list)
    writes_at_kill: int = 0
    moved: str = ""  # the market whose book the test moved
    writes_during: list[tuple[float, int]] = field(default_factory=list)  # (seconds after the kill, order writes)
    controller_alive_during: bool = False
    status_during: dict = field(default_factory=dict)
    writes_at_restart: int = 0
    writes_after: int = 0
    quotes_after: list[dict] = field(default_factory=list)
    resumed_after_s: float | None = None
    status_after: dict = field(default_factory=dict)
    logs: str = ""


def move_the_book(venue: SimVenue, quotes: list[dict]) -> str:
    """Take away every bid ahead of one of our quotes (a simulated taker sells down to one tick above it),
    so that the desired quote changes; our own orders are not touched. Returns that market's condition id."""
    for q in sorted(quotes, key=lambda o: o["asset_id"]):
        price = round(Decimal(q["price"]) * PIPS)

        def sweep(token=q["asset_id"], price=price):
            market = venue.server.engine.market_by_token[token]
            bids = market.book.token_levels(market.token_index(token))[0]
            ahead = sum(s for p, s in bids if p > price) / MICRO
            if not ahead:
                return None
            return take(venue.server.engine, token, "SELL", (price + market.tick_pips) / PIPS, ahead)

        result = venue.call(sweep)
        if result and result["filled"] > 0:
            return q["market"]
    raise AssertionError(f"no bid ahead of any of our quotes to move: {quotes}")


@pytest.fixture(scope="module")
def outage(tmp_path_factory) -> Iterator[Outage]:
    client = redis_or_skip()
    tmp = tmp_path_factory.mktemp("outage")
    prefix = f"polymm-test-{uuid.uuid4().hex}"
    record = Outage()
    key = "0x" + os.urandom(32).hex()
    procs: list[Proc] = []
    with SimVenue(SimOptions(seed=7, speed=0, markets=30, scenario="calm", universe="generated")) as venue:
        env = environment(venue, prefix, tmp, key)
        truth = Venue(venue, ClobClient(venue.url, chain_id=137, key=key).get_address())
        try:
            data = Proc("data-service-1", ["data-service"], env, tmp)
            procs.append(data)
            eventually(lambda: client.exists(f"{prefix}:service") and client.exists(f"{prefix}:markets"),
                       "the data service writes its first books")
            controller = Proc("controller", ["reconcile", "--loop"], env, tmp)
            procs.append(controller)
            eventually(truth.open_orders, "the controller's quotes are live at the venue", timeout=20)
            record.writes_at_kill = truth.quiet(1.5)
            record.quotes_before = [o for o in truth.open_orders() if o["side"] == "BUY"]

            data.p.kill()  # kill -9
            data.p.wait(5)
            killed = time.monotonic()
            record.moved = move_the_book(venue, record.quotes_before)
            # hold well past both limits: books trusted 4 s, the data service's liveness 10 s
            while time.monotonic() - killed < SERVICE_MAX_AGE_S + 3:
                time.sleep(0.5)
                record.writes_during.append((round(time.monotonic() - killed, 1), truth.order_writes()))
            record.controller_alive_during = controller.alive()
            record.status_during = status_json(env)

            record.writes_at_restart = truth.order_writes()
            restarted = time.monotonic()
            procs.append(Proc("data-service-2", ["data-service"], env, tmp))
            eventually(lambda: truth.order_writes() > record.writes_at_restart, "orders move again", timeout=20)
            record.resumed_after_s = round(time.monotonic() - restarted, 1)
            record.writes_after = truth.quiet(1.5)
            record.quotes_after = [o for o in truth.open_orders() if o["side"] == "BUY"]
            # one more tick journalled with the settled state: a status whose last tick is younger than the settling
            settled = time.monotonic()
            record.status_after = eventually(
                lambda: (s := status_json(env))["last_tick_age_s"] < time.monotonic() - settled and s,
                "a tick journalled after the orders settled", timeout=30)
        finally:
            record.logs = "\n".join(f"--- {p.log.name}\n{p.output()}" for p in procs)
            for p in reversed(procs):
                p.stop()
            delete_prefix(client, prefix)
            client.close()
    yield record


def test_the_controller_sends_nothing_while_the_data_service_is_dead(outage: Outage) -> None:
    assert outage.quotes_before, outage.logs
    assert outage.moved
    assert outage.controller_alive_during, outage.logs
    assert outage.writes_during[-1][0] > SERVICE_MAX_AGE_S + 1
    changed = [(at, n) for at, n in outage.writes_during if n != outage.writes_at_kill]
    assert not changed, f"orders sent or cancelled while market data was dead: {changed}\n{outage.logs}"
    assert outage.writes_at_restart == outage.writes_at_kill


def test_the_controller_resumes_by_itself_when_the_data_service_returns(outage: Outage) -> None:
    assert outage.resumed_after_s is not None, outage.logs
    assert outage.writes_after > outage.writes_at_restart
    # what it did is what the moved book asked for: only that market's quotes changed, and at least one did
    before = {(o["market"], o["asset_id"], o["id"], o["price"]) for o in outage.quotes_before}
    after = {(o["market"], o["asset_id"], o["id"], o["price"]) for o in outage.quotes_after}
    changed = before ^ after
    assert changed and {market for market, *_ in changed} == {outage.moved}, (before, after)
    assert outage.status_after["health"] == "ok", outage.status_after
    assert outage.status_after["market_data"]["data_service_age_s"] < 5
    assert outage.status_after["active_orders"], "quoting again after the restart"


def test_status_shows_that_the_data_service_is_silent(outage: Outage) -> None:
    status = outage.status_during
    assert status["last_tick_age_s"] < 5, "the controller keeps ticking while it holds"
    assert status["market_data"]["backend"] == "redis"
    assert status["market_data"]["data_service_age_s"] > SERVICE_MAX_AGE_S
    assert any("data service" in note for note in status["notes"]), status["notes"]


def test_status_reports_degraded_health_naming_the_data_service_while_it_is_dead(outage: Outage) -> None:
    status = outage.status_during
    assert status["health"] in ("degraded", "halted"), status
    assert "data service" in status["why"] or "market data" in status["why"], status


# ----------------------------------------------------------------------------- dropped WebSockets and a missed fill
@pytest.fixture
def redis_prefix() -> Iterator[str]:
    client = redis_or_skip()
    prefix = f"polymm-test-{uuid.uuid4().hex}"
    yield prefix
    delete_prefix(client, prefix)
    client.close()


def test_a_fill_missed_while_the_user_channel_is_down_is_found_over_rest_and_hedged(
        venue, redis_prefix, make_client, tmp_path) -> None:
    key = "0x" + os.urandom(32).hex()
    address = make_client(key).get_address()
    env = environment(venue, redis_prefix, tmp_path, key)
    cfg = load_config(environ=env)
    truth = Venue(venue, address)

    u = venue.urls
    gateway = VenueGateway(VenueEndpoints(u["clob_url"], u["gamma_url"], u["data_url"], u["ws_url"]))
    data = DataService(gateway, RedisStore.from_url(REDIS_URL, redis_prefix), 300, BOOK_INTERVAL_S, u["ws_url"])
    data_stop = threading.Event()
    data_thread = threading.Thread(target=data.run, args=(data_stop,), daemon=True)
    data_thread.start()
    stop = threading.Event()
    try:
        eventually(lambda: data.stats["refreshes"] > 0, "the data service writes books")
        with open_session(cfg, load_secrets(env)) as session:
            service = Service(session, stop)
            loop = threading.Thread(target=service.run, daemon=True)
            loop.start()
            try:
                eventually(lambda: service.waker and service.waker.connected, "the user channel connects")
                eventually(lambda: [o for o in truth.open_orders() if o["side"] == "BUY"], "quotes are live")
                truth.quiet(1.0)
                quote = sorted((o for o in truth.open_orders() if o["side"] == "BUY"), key=lambda o: o["asset_id"])[0]
                token, size = quote["asset_id"], Decimal(quote["original_size"])

                async def drop_then_fill() -> tuple[int, int, dict]:
                    """Close every WebSocket, then — before anything can reconnect — sell into our quote."""
                    dropped = await venue.server.drop_websockets()
                    listening = len(venue.server.user_subs)
                    filled = take(venue.server.engine, token, "SELL", float(quote["price"]), 1_000_000)
                    await venue.server._flush_ws()
                    return dropped, listening, filled

                dropped, listening, filled = venue.run_async(drop_then_fill)
                assert dropped >= 2, "the controller's user channel and the data service's market channel"
                assert listening == 0, "the fill happened while no user channel was connected"
                assert filled["filled"] > 0

                assert Decimal(str(truth.account()["positions"][token])) == size, "our whole quote was filled"

                def hedged() -> bool:
                    """Every filled share is offered by a resting SELL of ours, or already sold."""
                    acct = truth.account()
                    sold = size - Decimal(str(acct["positions"].get(token, 0)))
                    offered = sum((Decimal(o["original_size"]) - Decimal(o["size_matched"])
                                   for o in acct["open_orders"] if o["asset_id"] == token and o["side"] == "SELL"),
                                  Decimal(0))
                    return offered + sold >= size

                eventually(hedged, "a hedge SELL for the filled size rests at the venue (or has sold)", timeout=15)
                reader = Ledger(session.ledger_path)  # a second connection, as `polymm status` reads it
                try:
                    assert any(f.order_id == quote["id"] for f in reader.fills()), \
                        "the fill reached the ledger through the REST resync"
                finally:
                    reader.close()
                eventually(lambda: service.waker.connected, "the user channel reconnects")
                # the data service's market channel is back too: it resubscribed after the drop
                eventually(lambda: venue.call(lambda: any(token in s for s in venue.server.market_subs.values())),
                           "the data service resubscribes to the market channel")
            finally:
                stop.set()
                service.wake.set()
                loop.join(20)
    finally:
        data_stop.set()
        data_thread.join(10)
        gateway.close()
