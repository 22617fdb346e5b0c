"""Prometheus metrics of the running service, served on `controller.metrics_port` (off by default).

Everything is fed from what the loop already has once per tick (the tick summary, the ledger's
active orders, positions and the fills first seen since the last tick) plus one counter around
each venue-gateway call, so metrics add no venue request and no per-tick cost that grows with
history. Names follow Prometheus' conventions (base units, `_total` for counters, `_seconds`,
`_usdc` for money): https://prometheus.io/docs/practices/naming/ . deploy/grafana-dashboard.json
charts every one of them.
"""

from __future__ import annotations

import functools
import json
import logging
from decimal import Decimal
from typing import Any, Callable

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, start_http_server

from polymm.venue.outcomes import Ok, Refused, Unknown

log = logging.getLogger("polymm.metrics")
HEALTH_STATES = ["ok", "degraded", "halted", "stopped"]
# how each gateway method is named in the metrics: the venue endpoint it calls
TRADING_ENDPOINTS = {
    "post_batch": "POST /orders",
    "cancel": "DELETE /orders",
    "cancel_all": "DELETE /cancel-all",
    "heartbeat": "POST /v1/heartbeats",
    "open_orders": "GET /data/orders",
    "trades": "GET /data/trades",
    "collateral": "GET /balance-allowance",
    "positions": "GET /positions",
}
PUBLIC_ENDPOINTS = {
    "reward_rows": "GET /rewards/markets/current",
    "gamma_rows": "GET /markets",
    "books": "POST /books",
}
ZERO = Decimal(0)


class Metrics:
    """The metric families, in their own registry (several services or tests may share a process)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.ticks = Counter("polymm_ticks", "Ticks run by this process.", registry=r)
        self.tick_seconds = Histogram(
            "polymm_tick_duration_seconds", "Wall time of one tick (observe, decide, execute).", registry=r,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
        self.health = Enum("polymm_health", "Health of the last tick.", states=HEALTH_STATES, registry=r)
        self.heartbeat = Gauge("polymm_heartbeat_healthy", "1 while venue heartbeats succeed.", registry=r)
        self.requests = Counter("polymm_venue_requests", "Venue requests by endpoint and outcome "
                                "(ok, refused, unknown, unavailable).", ["endpoint", "outcome"], registry=r)
        self.errors = Counter("polymm_venue_errors", "Venue requests that did not succeed, by endpoint and outcome.",
                              ["endpoint", "outcome"], registry=r)
        self.orders = Gauge("polymm_orders", "Our active orders in the ledger by state and role.",
                            ["state", "role"], registry=r)
        self.order_actions = Counter("polymm_order_actions", "Order actions by kind (placed, confirmed, refused, "
                                     "unknown, cancel_sent, cancelled, resent).", ["action"], registry=r)
        self.fills = Counter("polymm_fills", "Fills first seen by this process, by our side and role.",
                             ["side", "liquidity"], registry=r)
        self.fill_volume = Counter("polymm_fill_volume_usdc", "Notional of the fills first seen, USDC.", ["side"],
                                   registry=r)
        self.fill_to_hedge = Histogram(
            "polymm_fill_to_hedge_seconds", "From a buy fill first seen to the intent of the hedge sell covering it.",
            registry=r, buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0))
        self.exposure = Gauge("polymm_exposure_usdc", "Exposure per market after this tick's plan, USDC.",
                              ["market"], registry=r)
        self.exposure_total = Gauge("polymm_exposure_total_usdc", "Exposure summed over markets, USDC.", registry=r)
        self.exposure_cap = Gauge("polymm_exposure_cap_usdc", "The configured exposure caps, USDC.", ["scope"],
                                  registry=r)
        self.exposure_ratio = Gauge("polymm_exposure_cap_ratio", "Exposure / cap: the largest market's (scope="
                                    "per_market) and the total's (scope=total).", ["scope"], registry=r)
        self.pnl = Gauge("polymm_pnl_usdc", "Money by kind, USDC: trading_realized (ledger positions), fees_paid "
                         "(taker fees of the ledger's fills), rewards_today (the venue's /rewards/user/total) and "
                         "rebates_paid_yesterday, both read every controller.earnings_interval_seconds.",
                         ["kind"], registry=r)
        self.fees_paid = ZERO
        self.balance = Gauge("polymm_balance_usdc", "The wallet's collateral balance at the venue (read once a minute).",
                             registry=r)
        self.rewards_expected = Gauge("polymm_rewards_expected_usdc_per_day",
                                      "Expected liquidity rewards of the selected markets, USDC per day.", registry=r)
        self.positions = Gauge("polymm_positions", "Tokens with inventory.", registry=r)
        self.unhedged = Gauge("polymm_unhedged_shares", "Inventory not covered by a live hedge sell, shares.",
                              registry=r)
        self.data_age = Gauge("polymm_data_age_seconds", "Age of market data at the last tick: books, markets, "
                              "data_service; -1 when unknown.", ["source"], registry=r)
        self.last_tick = Gauge("polymm_last_tick_timestamp_seconds", "Unix time the last tick finished.", registry=r)
        self._known_markets: set[str] = set()
        self._pending_hedges: dict[str, list[float]] = {}  # token → first-seen times of unhedged buy fills
        self._known_order_labels: set[tuple[str, str]] = set()
        self.server = None

    # ---------------------------------------------------------------- serving
    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        self.server, _ = start_http_server(port, addr=host, registry=self.registry)
        log.info("metrics on http://%s:%d/metrics", host, self.server.server_port)

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    # ---------------------------------------------------------------- the venue seam
    def instrument(self, gateway: Any, endpoints: dict[str, str]) -> None:
        """Count every call of `gateway`'s listed methods by endpoint and outcome (wraps the instance only)."""
        for name, endpoint in endpoints.items():
            method = getattr(gateway, name, None)
            if method is not None:
                setattr(gateway, name, self._counted(method, endpoint))

    def _counted(self, method: Callable, endpoint: str) -> Callable:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                result = method(*args, **kwargs)
            except Exception:  # VenueUnavailable from the read gateway, or anything unexpected
                self._count(endpoint, "unavailable")
                raise
            self._count(endpoint, _outcome_name(result))
            return result
        return call

    def _count(self, endpoint: str, outcome: str) -> None:
        self.requests.labels(endpoint, outcome).inc()
        if outcome != "ok":
            self.errors.labels(endpoint, outcome).inc()

    def seed_fees(self, fills: list) -> None:
        """The fees of the fills recorded before this process started (read once, at the first tick)."""
        self.fees_paid = sum((f.fee for f in fills if f.status != "FAILED"), ZERO)

    def observe_account(self, cursor: str | None) -> None:
        """The loop's latest account reading (controller/account.py, once a minute): the balance."""
        if not cursor:
            return
        try:
            record = json.loads(cursor)
        except ValueError:
            return
        if record.get("balance") is not None:
            self.balance.set(float(record["balance"]))

    def observe_earnings(self, earnings: dict) -> None:
        for kind, amount in earnings.items():
            if amount is not None:  # a failed read leaves the last known figure
                self.pnl.labels(kind).set(float(amount))

    # ---------------------------------------------------------------- once per tick
    def observe_tick(self, summary: dict, report: Any, ledger: Any, finished_at: float,
                     new_fills: list, active: list, positions: dict) -> None:
        self.ticks.inc()
        self.tick_seconds.observe(float(summary.get("seconds") or 0.0))
        health = summary.get("health", "halted")
        self.health.state(health if health in HEALTH_STATES else "halted")
        self.heartbeat.set(1 if summary.get("heartbeat_healthy") else 0)
        self.last_tick.set(finished_at)
        for action, value in (("placed", report.places_sent), ("confirmed", report.places_confirmed),
                              ("refused", report.places_refused), ("unknown", report.places_unknown),
                              ("cancel_sent", report.cancels_sent), ("cancelled", report.cancels_confirmed),
                              ("resent", report.resends)):
            if value:
                self.order_actions.labels(action).inc(value)
        self._orders(active)
        self._exposure(summary)
        self._fills(new_fills, active, positions)
        self.rewards_expected.set(float(summary.get("expected_rewards_per_day") or 0.0))
        self.pnl.labels("trading_realized").set(float(sum((p.realized_pnl for p in positions.values()), ZERO)))
        md = summary.get("market_data") or {}
        for source, key in (("books", "books_age_s"), ("markets", "markets_age_s"),
                            ("data_service", "data_service_age_s")):
            age = md.get(key)
            self.data_age.labels(source).set(-1 if age is None else float(age))

    def _orders(self, active: list) -> None:
        counts: dict[tuple[str, str], int] = {}
        for o in active:
            counts[(o.state, o.role)] = counts.get((o.state, o.role), 0) + 1
        for labels in self._known_order_labels - set(counts):
            self.orders.labels(*labels).set(0)  # a state emptied since the last tick reads 0, not its old count
        for labels, n in counts.items():
            self.orders.labels(*labels).set(n)
        self._known_order_labels |= set(counts)

    def _exposure(self, summary: dict) -> None:
        per_market = {cid: float(v) for cid, v in (summary.get("exposure") or {}).items()}
        for gone in self._known_markets - set(per_market):
            self.exposure.remove(gone)
        self._known_markets = set(per_market)
        for cid, value in per_market.items():
            self.exposure.labels(cid).set(value)
        total = sum(per_market.values())
        self.exposure_total.set(total)
        cap_market = float(summary.get("exposure_cap_per_market") or 0) or None
        cap_total = float(summary.get("exposure_cap_total") or 0) or None
        if cap_market:
            self.exposure_cap.labels("per_market").set(cap_market)
            self.exposure_ratio.labels("per_market").set(max(per_market.values(), default=0.0) / cap_market)
        if cap_total:
            self.exposure_cap.labels("total").set(cap_total)
            self.exposure_ratio.labels("total").set(total / cap_total)

    def _fills(self, new_fills: list, active: list, positions: dict) -> None:
        fees = ZERO
        for f in new_fills:
            self.fills.labels(f.side, f.liquidity).inc()
            self.fill_volume.labels(f.side).inc(float(f.size * f.price))
            if f.side == "BUY" and f.status != "FAILED":
                self._pending_hedges.setdefault(f.token_id, []).append(f.first_seen_at)
            if f.status != "FAILED":
                fees += f.fee  # the taker fee the ledger recorded with the fill (makers pay none)
        self.fees_paid += fees
        self.pnl.labels("fees_paid").set(float(self.fees_paid))
        hedge_created: dict[str, list[float]] = {}
        for o in active:
            if o.role == "hedge" and o.side == "SELL":
                hedge_created.setdefault(o.token_id, []).append(o.created_at)
        for token, seen in list(self._pending_hedges.items()):
            held = positions.get(token)
            if held is None or held.size <= 0:
                del self._pending_hedges[token]  # sold already (a hedge filled within the tick): nothing to time
                continue
            after = [t for t in hedge_created.get(token, []) if t >= min(seen) - 1e-6]
            if after:
                for first_seen in seen:
                    self.fill_to_hedge.observe(max(0.0, min(after) - first_seen))
                del self._pending_hedges[token]
        self.positions.set(sum(1 for p in positions.values() if p.size > 0))
        covered: dict[str, Decimal] = {}
        for o in active:
            if o.side == "SELL":
                covered[o.token_id] = covered.get(o.token_id, ZERO) + o.remaining
        self.unhedged.set(float(sum((max(p.size - covered.get(t, ZERO), ZERO) for t, p in positions.items()), ZERO)))


def _outcome_name(result: Any) -> str:
    if isinstance(result, Ok):
        return "ok"
    if isinstance(result, Refused):
        return "refused"
    if isinstance(result, Unknown):
        return "unknown"
    return "ok"  # the read gateway returns plain data and raises on failure
