"""Shared fixtures: a real simulated venue on a loopback port and real `py-clob-client-v2` clients talking to it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Callable

import httpx
import pytest
from py_clob_client_v2.client import ClobClient

from controller_support import controllers, truth  # noqa: F401  (fixtures of the controller tests)
from polymm.sim.model import SimMarket
from polymm.sim.runner import SimOptions, SimVenue

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "polymarket"


def _children(pid: int) -> set[int]:
    """Live processes whose parent is `pid` (from /proc: no extra dependency)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            found.add(int(entry.name))
    return found


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:200].strip()
    except OSError:
        return "?"


@pytest.fixture(autouse=True)
def no_process_left_behind(request):
    """A process a test starts must be gone when the test ends, on every path: one left running (a
    `polymm reconcile --loop` heartbeating against a dead venue, say) outlives the suite on the CI machine.
    Any child still alive after the test's own teardown is killed here and the test fails naming it."""
    before = _children(os.getpid())
    yield
    left = _children(os.getpid()) - before
    if left:
        deadline = time.monotonic() + 2  # a process told to stop a moment ago may still be exiting
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left &= _children(os.getpid())
    if left:
        names = {pid: _cmdline(pid) for pid in left}
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in left:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        pytest.fail(f"{request.node.nodeid} left {len(names)} process(es) running (killed now): "
                    + "; ".join(f"{pid} {cmd}" for pid, cmd in names.items()), pytrace=False)


class Admin:
    """The venue's admin surface (`/_sim/...`), the source of truth in tests."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=30)

    def state(self) -> dict:
        return self.http.get("/_sim/state").json()

    def requests(self) -> dict:
        return self.http.get("/_sim/requests").json()

    def advance(self, seconds: float) -> dict:
        return self.http.post("/_sim/advance", json={"seconds": seconds}).json()

    def take(self, token_id: str, side: str, price: float, size: float) -> dict:
        r = self.http.post("/_sim/take", json={"token_id": token_id, "side": side, "price": price, "size": size})
        r.raise_for_status()
        return r.json()

    def faults(self, plan: dict) -> dict:
        r = self.http.post("/_sim/faults", json=plan)
        r.raise_for_status()
        return r.json()

    def mode(self, mode: str) -> httpx.Response:
        return self.http.post("/_sim/mode", json={"mode": mode})

    def fund(self, address: str, collateral: float = 0, tokens: dict | None = None) -> dict:
        return self.http.post("/_sim/fund", json={"address": address, "collateral": collateral, "tokens": tokens or {}}).json()


@pytest.fixture
def sim_options() -> SimOptions:
    """Manual clock (speed 0) so tests decide when simulated time passes; a small universe for speed.
    The real venue's behaviour (fees, self-trade prevention, settlement delays, heartbeat rotation), except
    the balance lag after a fill: on a manual clock no bought token would ever become sellable (the tests of
    that lag set it themselves). The generated universe: the controller tests' quotes and fills were written for its
    seed 7 (in the real universe's 30 markets of seed 7 the default funnel quotes nothing; tests/test_sim_calibration.py
    checks the real one)."""
    return SimOptions(seed=7, speed=0, markets=30, scenario="calm", balance_delay_s=0.0, universe="generated")


@pytest.fixture
def venue(sim_options: SimOptions):
    with SimVenue(sim_options) as v:
        yield v


@pytest.fixture
def admin(venue: SimVenue) -> Admin:
    return Admin(venue.url)


@pytest.fixture
def make_client(venue: SimVenue) -> Callable[..., ClobClient]:
    """A factory of authenticated (L2) SDK clients, each with a fresh random key funded by the venue."""

    def factory(key: str | None = None, nonce: int | None = None) -> ClobClient:
        client = ClobClient(venue.url, chain_id=137, key=key or "0x" + os.urandom(32).hex())
        client.set_api_creds(client.create_or_derive_api_key(nonce=nonce))
        return client

    return factory


@pytest.fixture
def client(make_client) -> ClobClient:
    return make_client()


@pytest.fixture
def reward_market(venue: SimVenue) -> SimMarket:
    """A generated reward market with a two-sided book and a 0.01 tick, away from the price extremes, made
    fee-free: the tests using it check cash as price × size (fees have tests of their own)."""

    def pick() -> SimMarket:
        for m in venue.server.engine.markets.values():
            bid, ask = m.book.best_bid(), m.book.best_ask()
            # a spread of two ticks or more: the matching tests place orders strictly inside it
            if m.rate_per_day > 0 and m.tick_pips == 100 and bid and ask and 2000 < bid < 8000 and ask - bid >= 2 * m.tick_pips:
                m.fee_rate, m.rebate_share = 0.0, 0.0
                return m
        raise AssertionError("no suitable market in the simulated universe")

    return venue.call(pick)
