"""The fault driver: everything done to the controller besides the kills.

Takers that fill our quotes and hedges, the venue's fault plans, a matching-engine restart, a market resolving.
"""

from __future__ import annotations

import random
import threading
import time
from decimal import Decimal

from .report import ChaosResult
from .truth import CENT, check_continuous, live_orders, remaining, venue_positions
from .venue import Admin


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
