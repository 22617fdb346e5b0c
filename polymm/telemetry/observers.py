"""Feeds what watches the service from outside the tick, by one call per tick from controller/loop.py.

What it feeds: Prometheus metrics (telemetry/metrics.py), alerts (telemetry/alerts.py), and the market
snapshot the dashboard draws (views/dashboard.py).

Nothing here may slow or break a tick: every failure is logged (once per kind) and swallowed, the
metrics server and the alert sender run on their own threads, and the per-tick reads are the
bounded ones the loop already does (active orders, positions, fills first seen since the last tick).
They start at the first tick, so a Service built only to cancel (`polymm stop`) opens no port.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from polymm.config import SECRET_ENV_VARS
from polymm.ledger.journal import ACCOUNT_CURSOR

log = logging.getLogger("polymm.observers")
MAX_SNAPSHOT_MARKETS = 20


class Observers:
    def __init__(self, service: Any) -> None:
        self.service = service
        self.metrics = None
        self.alerts = None
        self.sender = None
        self.started = False
        self.fills_since = time.time()
        self.seen_fills: set[tuple[str, str]] = set()
        self.failed: set[str] = set()
        self.closing = threading.Event()
        cfg = service.cfg
        if cfg.controller.metrics_port is not None:
            from polymm.telemetry.metrics import PUBLIC_ENDPOINTS, TRADING_ENDPOINTS, Metrics

            # counting starts now (start-up reads included); the port opens at the first tick
            self.metrics = Metrics()
            self.metrics.instrument(service.session.trading, TRADING_ENDPOINTS)
            self.metrics.instrument(service.session.public, PUBLIC_ENDPOINTS)

    def _start(self) -> None:
        self.started = True
        cfg = self.service.cfg
        if self.metrics is not None:
            try:
                self.metrics.serve(cfg.controller.metrics_port, cfg.controller.metrics_host)
            except OSError as exc:
                log.warning("metrics off: cannot listen on %s:%s (%s)", cfg.controller.metrics_host,
                            cfg.controller.metrics_port, exc)
                self.metrics = None
        if self.metrics is not None:
            # once: the fees of fills recorded before this process began; later ones arrive tick by tick
            self.metrics.seed_fees([f for f in self.service.ledger.fills() if f.first_seen_at < self.fills_since])
            self.earnings = threading.Thread(target=self._poll_earnings, name="polymm-earnings", daemon=True)
            self.earnings.start()
        from polymm.telemetry.alerts import AlertRules, sender_from_env

        self.sender = sender_from_env(cfg, self._secrets())
        if self.sender is not None:
            self.alerts = AlertRules(cfg, self.sender, ledger=self.service.ledger)
            log.info("alerts on: %s", ", ".join(n for n, on in (("webhook", self.sender.webhook_url),
                                                                 ("telegram", self.sender.telegram)) if on))

    def _poll_earnings(self) -> None:
        """The venue's rewards today and maker rebates for the metrics, off the tick thread (a slow read never
        delays a tick), every controller.earnings_interval_seconds; the balance comes from the loop's account
        reading (controller/account.py)."""
        from polymm.venue.outcomes import Ok

        trading = self.service.session.trading
        interval = self.service.cfg.controller.earnings_interval_seconds
        while not self.closing.is_set():
            now = datetime.now(timezone.utc)
            try:
                rewards = trading.rewards_paid(now.date().isoformat())
                rebates = trading.rebates_paid((now - timedelta(days=1)).date().isoformat())
                figures = {"rewards_today": rewards.value if isinstance(rewards, Ok) else None,
                           "rebates_paid_yesterday": rebates.value if isinstance(rebates, Ok) else None}
                if self.metrics is not None:
                    self.metrics.observe_earnings(figures)
            except Exception:  # logged once; the metrics keep their last known figures
                if "earnings" not in self.failed:
                    self.failed.add("earnings")
                    log.exception("reading rewards and rebates for the metrics failed")
            self.closing.wait(interval)

    def _secrets(self) -> tuple[str, ...]:
        values = [os.environ.get(name, "") for name in SECRET_ENV_VARS.values()]
        creds = getattr(self.service.session.trading.client, "creds", None)
        if creds is not None:
            values += [creds.api_key, creds.api_secret, creds.api_passphrase]
        return tuple(v for v in values if v)

    def tick(self, summary: dict, decision: Any, report: Any) -> None:
        """Called once per tick, after the summary is built and before it is journaled."""
        try:
            if not self.started:
                self._start()
            summary["markets"] = market_snapshot(decision)
            if self.metrics is None and self.alerts is None:
                return
            ledger = self.service.ledger
            active = ledger.active_orders()
            positions = ledger.positions()
            if self.metrics is not None:
                now = time.time()
                fresh = [f for f in ledger.fills(since=self.fills_since) if (f.trade_id, f.order_id) not in self.seen_fills]
                self.seen_fills = {(f.trade_id, f.order_id) for f in fresh} or self.seen_fills
                self.fills_since = now
                self.metrics.observe_tick(summary, report, ledger, now, fresh, active, positions)
                self.metrics.observe_account(ledger.get_cursor(ACCOUNT_CURSOR))
            if self.alerts is not None:
                self.alerts.tick(summary, active, positions)
        except Exception as exc:  # observers never break a tick
            kind = type(exc).__name__
            if kind not in self.failed:
                self.failed.add(kind)
                log.exception("observers failed (%s); the tick goes on", kind)

    def close(self) -> None:
        self.closing.set()
        if self.sender is not None:
            self.sender.close()
        if self.metrics is not None:
            self.metrics.close()


def market_snapshot(decision: Any) -> list[dict]:
    """The selected markets with the reward band and our quote price per token (for the dashboard)."""
    if decision is None:
        return []
    out = []
    for ev in decision.selection.selected[:MAX_SNAPSHOT_MARKETS]:
        tokens = []
        for q in ev.quotes:
            tokens.append({"token_id": q.token_id, "outcome": q.outcome, "price": str(q.price), "size": str(q.size),
                           "mid": str(q.band.midpoint), "lower": str(q.band.lower), "upper": str(q.band.upper)})
        out.append({"condition_id": ev.market.condition_id, "question": ev.market.question[:120],
                    "max_spread_cents": str(ev.market.rewards_max_spread), "rate_per_day": str(ev.market.rate_per_day),
                    "tick_size": str(ev.market.tick_size),
                    "expected_per_day": round(ev.expected_per_day, 4), "tokens": tokens})
    return out
