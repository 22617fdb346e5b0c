"""The venue's two layers of rate limits, as documented.

1. Per-IP limits per endpoint family, enforced by Cloudflare: a request over the limit is throttled —
   delayed until the sliding window has room — rather than refused
   (docs.polymarket.com/api-reference/rate-limits). On loopback every client shares one IP, so the sim keeps
   one window per family. A request that would wait longer than a whole window is answered 429 with
   `Retry-After` instead (a queue that deep is the point where a proxy gives up).
2. Per-signer token buckets for orders and cancels (docs.polymarket.com/api-reference/trading-rate-limits):
   an order bucket (POST /order costs 1, POST /orders the batch size) and a cancel bucket (DELETE /order 1,
   DELETE /orders the ids sent, DELETE /cancel-all and /cancel-market-orders 1 + the orders cancelled), refilled
   continuously; a request the bucket cannot pay for is refused 429 whole (a batch is all or nothing). Order
   and cancel replies carry `Poly-RateLimit-Remaining` (tokens left, negative after a large cancel-all),
   `Poly-RateLimit-Reset` (unix seconds when the current wait ends: when the bucket is full again, or for a
   refusal when it can pay) and `Poly-RateLimit-Tier`, the headers polymarket-client reads
   (polymarket/rate_limit.py, clients/_transport.py). The lowest tier's rates are VENUE.md's: orders 40/s
   burst 60, cancels 80/s burst 120.
"""

from __future__ import annotations

import time
from bisect import insort
from collections import deque
from dataclasses import dataclass

TIER = "standard"  # the tightest tier, the one a new account starts in

# (method or "*", path or path prefix ending in "*", requests, window in seconds); the first match is the
# family, and every endpoint also counts against its API's general limit (GENERAL). Sustained limits of the
# trading endpoints are windows of 600 s. DELETE /orders is cut off on the docs page we read; it is given
# POST /orders' limits.
FAMILIES: tuple[tuple[str, str, int, float], ...] = (
    ("GET", "/ok", 100, 10), ("GET", "/", 100, 10),
    ("GET", "/book", 1500, 10), ("POST", "/books", 500, 10),
    ("GET", "/price", 1500, 10), ("POST", "/prices", 500, 10),
    ("GET", "/midpoint", 1500, 10), ("POST", "/midpoints", 500, 10),
    ("GET", "/prices-history", 1000, 10), ("GET", "/tick-size", 200, 10),
    ("GET", "/balance-allowance/update", 50, 10), ("GET", "/balance-allowance", 200, 10),
    ("GET", "/data/orders", 500, 10), ("GET", "/data/trades", 500, 10),
    ("*", "/notifications", 125, 10), ("*", "/auth/*", 100, 10),
    ("POST", "/order", 3500, 10), ("DELETE", "/order", 3000, 10),
    ("POST", "/orders", 1000, 10), ("DELETE", "/orders", 1000, 10),
    ("GET", "/data/order/*", 900, 10),
    ("GET", "/gamma/markets", 300, 10), ("GET", "/gamma/events", 500, 10),
    ("GET", "/dataapi/positions", 150, 10), ("GET", "/dataapi/v2/positions", 150, 10),
    ("GET", "/dataapi/trades", 200, 10),
)
SUSTAINED: dict[tuple[str, str], tuple[int, float]] = {
    ("POST", "/order"): (36_000, 600), ("DELETE", "/order"): (30_000, 600),
    ("POST", "/orders"): (15_000, 600), ("DELETE", "/orders"): (15_000, 600),
}
GENERAL = (("/gamma/", 4000, 10), ("/dataapi/", 1000, 10), ("/", 9000, 10))


def family_of(method: str, path: str) -> tuple[str, int, float] | None:
    for m, p, limit, window in FAMILIES:
        if m not in ("*", method):
            continue
        if p.endswith("*") and path.startswith(p[:-1]) or path == p:
            return f"{m} {p}", limit, window
    return None


class SlidingWindow:
    """Admission times of the last `window_s`; `admit` reserves the first slot with room and says how long
    to wait for it."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self.times: deque[float] = deque()

    def slot(self, now: float) -> float:
        while self.times and self.times[0] <= now - self.window_s:
            self.times.popleft()
        if len(self.times) < self.limit:
            return now
        return self.times[len(self.times) - self.limit] + self.window_s

    def take(self, at: float) -> None:
        if not self.times or at >= self.times[-1]:
            self.times.append(at)
        else:  # a later request admitted earlier than a throttled one: keep the window sorted
            items = list(self.times)
            insort(items, at)
            self.times = deque(items)


class IpLimits:
    """The per-family windows (layer 1). `window_scale` shrinks every window (tests use it to see throttling
    without waiting ten seconds)."""

    def __init__(self, window_scale: float = 1.0, clock=time.monotonic) -> None:
        self.scale = window_scale
        self.clock = clock
        self.windows: dict[str, SlidingWindow] = {}

    def _window(self, name: str, limit: int, window_s: float) -> SlidingWindow:
        w = self.windows.get(name)
        if w is None:
            w = self.windows[name] = SlidingWindow(limit, window_s * self.scale)
        return w

    def admit(self, method: str, path: str) -> float | None:
        """Seconds to delay this request (0: at once), or None when the wait would exceed a whole window (429)."""
        now = self.clock()
        windows = []
        fam = family_of(method, path)
        if fam is not None:
            name, limit, window = fam
            windows.append(self._window(name, limit, window))
            sustained = SUSTAINED.get((method, path))
            if sustained:
                windows.append(self._window(f"{name} sustained", *sustained))
        prefix, limit, window = next(g for g in GENERAL if path.startswith(g[0]))
        windows.append(self._window(f"general {prefix}", limit, window))
        at = max(w.slot(now) for w in windows)
        if at - now > max(w.window_s for w in windows):
            return None
        for w in windows:
            w.take(at)
        return at - now


@dataclass
class BucketState:
    remaining: float
    reset: float  # unix seconds


class TokenBucket:
    """A per-signer bucket (layer 2): `rate` tokens a second up to `burst`."""

    def __init__(self, rate: float, burst: float, clock=time.monotonic, wall=time.time) -> None:
        self.rate, self.burst = rate, burst
        self.clock, self.wall = clock, wall
        self.level: dict[str, tuple[float, float]] = {}

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self.level.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def take(self, key: str, cost: float) -> tuple[float, BucketState]:
        """(0 when admitted else the seconds until it could be, the bucket after the request)."""
        now = self.clock()
        tokens = self._tokens(key, now)
        if cost > tokens:
            self.level[key] = (tokens, now)
            wait = (cost - tokens) / self.rate
            return wait, BucketState(tokens, self.wall() + wait)
        self.level[key] = (tokens - cost, now)
        return 0.0, self.state(key)

    def admit_then_charge(self, key: str) -> tuple[float, BucketState]:
        """Cancel-all style: admitted with at least one token; the caller charges the rest afterwards."""
        now = self.clock()
        tokens = self._tokens(key, now)
        if tokens < 1:
            self.level[key] = (tokens, now)
            wait = (1 - tokens) / self.rate
            return wait, BucketState(tokens, self.wall() + wait)
        self.level[key] = (tokens, now)
        return 0.0, self.state(key)

    def charge(self, key: str, cost: float) -> BucketState:
        """Spend `cost` even below zero (the balance a large cancel-all leaves is negative until it refills)."""
        now = self.clock()
        self.level[key] = (self._tokens(key, now) - cost, now)
        return self.state(key)

    def state(self, key: str) -> BucketState:
        now = self.clock()
        tokens = self._tokens(key, now)
        return BucketState(tokens, self.wall() + max(self.burst - tokens, 0.0) / self.rate)
