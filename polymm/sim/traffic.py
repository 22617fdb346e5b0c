"""The front door every request passes: request counts, the per-IP limits, the injected faults, the error envelopes
and the rate-limit headers.

The admin surface under `/_sim/` and the WebSockets under `/ws/` are never faulted and never rate-limited.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, deque
from typing import Any, Awaitable, Callable

from aiohttp import web

from polymm.sim.faults import PHASE_AFTER, FaultPlan
from polymm.sim.orders import HeartbeatMismatch, VenueError
from polymm.sim.ratelimits import TIER, IpLimits
from polymm.sim.rest import RATE_STATE, STALE_S, RateLimited, error

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def mangle_first_row(response: web.StreamResponse, field: str, value: Any) -> web.StreamResponse:
    """One bad row among good ones: the first row of a listed reply (a bare list or `data`) gets `field` = `value`."""
    body = getattr(response, "body", None)
    try:
        data = json.loads(body) if body else None
    except ValueError:
        return response
    rows = data.get("data") if isinstance(data, dict) else data
    if not isinstance(rows, list) or not rows or not isinstance(rows[0], dict):
        return response
    rows[0][field] = value
    return web.json_response(data, status=response.status)


class Traffic:
    """The aiohttp middleware and what it counts; `after` runs once each reply is ready (the WebSocket flush)."""

    def __init__(self, rate_limits: bool, ip_window_scale: float, after: Callable[[], Awaitable[None]],
                 clock: Callable[[], float] | None = None) -> None:
        self.faults = FaultPlan()
        self.requests: Counter[str] = Counter()
        self.request_log: deque[tuple[str, str]] = deque(maxlen=100_000)  # recent requests, bounded
        self.rate_limits = rate_limits
        self.ip_limits = IpLimits(ip_window_scale, clock or time.monotonic)
        self.throttled = 0  # requests the per-IP limits delayed
        self.ip_refused = 0  # requests they answered 429
        self.after = after

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route.resource
        template = route.canonical if route is not None else request.path
        self.requests[f"{request.method} {template}"] += 1
        self.request_log.append((request.method, request.path))
        if request.path.startswith("/_sim/") or request.path.startswith("/ws/"):
            return await self._run(request, handler)
        if self.rate_limits:
            delay = self.ip_limits.admit(request.method, request.path)
            if delay is None:
                self.ip_refused += 1
                return web.json_response({"error": "Too Many Requests", "retry_after_seconds": 10}, status=429,
                                         headers={"Retry-After": "10"})
            if delay > 0:
                self.throttled += 1
                await asyncio.sleep(delay)  # throttled (delayed), as Cloudflare does, not refused
        fired = {rule.kind: rule for rule in self.faults.draw(request.method, request.path)}
        if "latency" in fired:
            await asyncio.sleep(fired["latency"].latency_ms / 1000)
        if "rate_limit" in fired:
            wait = fired["rate_limit"].retry_after
            return web.json_response(
                {"error": "Too Many Requests", "retry_after_seconds": wait}, status=429, headers={"Retry-After": str(wait)}
            )
        if "error_before" in fired:
            return error(fired["error_before"].status, "Internal Server Error (injected before execution)")
        request[STALE_S] = fired["stale_orders"].stale_s if "stale_orders" in fired else 0.0
        response = await self._run(request, handler)
        after = [k for k in PHASE_AFTER if k in fired]
        if not after:
            return response
        kind = after[0]
        if kind == "error_after":
            return error(fired[kind].status, "Internal Server Error (injected after execution)")
        if kind == "malformed":
            return web.Response(status=200, text="<html><body>502 Bad Gateway</body></html>", content_type="text/html")
        if kind == "malformed_row":
            return mangle_first_row(response, fired[kind].field, fired[kind].value)
        if kind == "timeout_after":
            await asyncio.sleep(fired[kind].delay_s)
            return response
        # lost_reply: the venue acted; the client never hears back
        if request.transport is not None:
            request.transport.abort()
        return response

    async def _run(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except RateLimited as exc:
            response = web.json_response(
                {"error": exc.message, "retry_after_seconds": exc.retry_after},
                status=429, headers={"Retry-After": str(exc.retry_after)},
            )
        except VenueError as exc:
            extra = {"code": exc.code} if exc.code else {}
            if isinstance(exc, HeartbeatMismatch):
                extra["heartbeat_id"] = exc.expected
            response = error(exc.status, exc.message, **extra)
        state = request.get(RATE_STATE)
        if state is not None:  # order and cancel replies report the signer's bucket (docs: trading-rate-limits)
            response.headers["Poly-RateLimit-Remaining"] = f"{state.remaining:.3f}"
            response.headers["Poly-RateLimit-Reset"] = f"{state.reset:.3f}"
            response.headers["Poly-RateLimit-Tier"] = TIER
        await self.after()
        return response
