"""Alerts to a webhook and/or a Telegram bot, rate-limited, redacted, and sent from a background thread.

What is sent: health changes, unhedged positions, exposure near the cap, and a daily summary.

Destinations come from the environment only (they are credentials):
  POLYMM_ALERT_WEBHOOK_URL                    POST {"text", "content", "kind", "severity", "at"} as JSON
                                              ("text" suits Slack/Mattermost, "content" Discord)
  POLYMM_TELEGRAM_BOT_TOKEN + POLYMM_TELEGRAM_CHAT_ID
                                              POST <alerts.telegram_api_url>/bot<token>/sendMessage with
                                              {"chat_id", "text"} (https://core.telegram.org/bots/api#sendmessage)
The tick only decides and enqueues: a slow or dead receiver can never block or crash the loop. Each
destination is a Channel of its own — its own bounded queue (full: the alert is dropped for that
channel and counted), its own thread and its own back-off after a failed send (5 s doubling to
5 min; an alert is tried 3 times) — so a failing webhook delays nothing on Telegram, and the log
says once that a channel fails and once that it delivers again, not once per alert. Every text
passes through logs.Redactor with the wallet and API secrets and the bot token before it leaves
the process.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable, Mapping

import httpx

from polymm.logs import Redactor

log = logging.getLogger("polymm.alerts")
WEBHOOK_ENV = "POLYMM_ALERT_WEBHOOK_URL"
TELEGRAM_TOKEN_ENV = "POLYMM_TELEGRAM_BOT_TOKEN"
TELEGRAM_CHAT_ENV = "POLYMM_TELEGRAM_CHAT_ID"
QUEUE_SIZE = 100
SEND_TIMEOUT_S = 10.0
ZERO = Decimal(0)
DAILY_CURSOR = "alerts.daily_summary_date"


@dataclass(frozen=True)
class Alert:
    kind: str  # health | unhedged | exposure | daily_summary
    key: str  # what rate limiting counts by (one market's exposure alert does not mute another's)
    severity: str  # critical | warning | info
    text: str
    at: float


BACKOFF_FIRST_S = 5.0
BACKOFF_MAX_S = 300.0
ATTEMPTS = 3  # sends of one alert before it is given up (each after the channel's back-off)


class Channel:
    """One destination: a bounded queue and a thread that posts from it, backing off after failures."""

    def __init__(self, name: str, post: Callable[[httpx.Client, Alert, str], None],
                 clean: Callable[[str], str]) -> None:
        self.name = name
        self.post = post  # (http, alert, redacted text): raises when the receiver did not take it
        self.clean = clean
        self.queue: queue.Queue[Alert | None] = queue.Queue(QUEUE_SIZE)
        self.sent = self.failed = self.dropped = 0
        self.failing_since: float | None = None
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"polymm-alerts-{name}", daemon=True)
        self.thread.start()

    def submit(self, alert: Alert) -> bool:
        try:
            self.queue.put_nowait(alert)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def _run(self) -> None:
        backoff = 0.0
        with httpx.Client(timeout=SEND_TIMEOUT_S) as http:
            while True:
                alert = self.queue.get()
                if alert is None:
                    return
                text = self.clean(alert.text)
                for _attempt in range(ATTEMPTS):
                    if backoff and self.closing.wait(backoff):
                        return  # closing while the receiver fails: what is queued is given up
                    try:
                        self.post(http, alert, text)
                    except Exception as exc:  # never let one bad send end the thread
                        backoff = min(BACKOFF_MAX_S, backoff * 2 or BACKOFF_FIRST_S)
                        self._failed(alert, exc, backoff)
                        continue
                    backoff = 0.0
                    self._delivered()
                    break
                else:
                    self.failed += 1

    def _failed(self, alert: Alert, exc: Exception, backoff: float) -> None:
        if self.failing_since is None:  # once per outage, not once per alert
            self.failing_since = time.time()
            # the URL (and the token inside it) must not reach the log
            log.warning("%s alerts not delivered (%s alert): %s; retrying each with a back-off of up to %.0f s",
                        self.name, alert.kind, self.clean(type(exc).__name__ + ": " + str(exc)), BACKOFF_MAX_S)

    def _delivered(self) -> None:
        self.sent += 1
        if self.failing_since is not None:
            log.warning("%s alerts delivered again after %.0f s", self.name, time.time() - self.failing_since)
            self.failing_since = None


class AlertSender:
    """The alert channels (webhook, Telegram), each sending on its own; `submit` never blocks."""

    def __init__(self, webhook_url: str | None, telegram_token: str | None, telegram_chat: str | None,
                 telegram_api_url: str, secrets: tuple[str, ...] = ()) -> None:
        self.webhook_url = webhook_url
        self.telegram = (telegram_token, telegram_chat) if telegram_token and telegram_chat else None
        self.telegram_api_url = telegram_api_url.rstrip("/")
        self.redact = Redactor(tuple(secrets) + tuple(s for s in (telegram_token, webhook_url) if s))
        self.channels: list[Channel] = []
        if webhook_url:
            self.channels.append(Channel("webhook", self._post_webhook, self.clean))
        if self.telegram:
            self.channels.append(Channel("telegram", self._post_telegram, self.clean))
        self.dropped = 0  # alerts no channel could take (every queue full)

    @property
    def enabled(self) -> bool:
        return bool(self.channels)

    @property
    def queue(self) -> queue.Queue:
        """The first channel's queue (with one destination, the only one)."""
        return self.channels[0].queue

    @property
    def sent(self) -> int:
        return sum(c.sent for c in self.channels)

    @property
    def failed(self) -> int:
        return sum(c.failed for c in self.channels)

    def submit(self, alert: Alert) -> bool:
        accepted = [c.submit(alert) for c in self.channels]
        if not any(accepted):
            self.dropped += 1
        return any(accepted)

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (up to `timeout`), then stop the threads."""
        deadline = time.monotonic() + timeout
        for channel in self.channels:
            channel.closing.set()  # a channel backing off gives up; the others send what they hold
            try:
                channel.queue.put(None, timeout=max(0.0, deadline - time.monotonic()))
            except queue.Full:
                pass
        for channel in self.channels:
            channel.thread.join(max(0.0, deadline - time.monotonic()))

    def clean(self, text: str) -> str:
        return self.redact(text)

    def _post_webhook(self, http: httpx.Client, alert: Alert, text: str) -> None:
        self._post(http, self.webhook_url, {
            "text": text, "content": text, "kind": alert.kind, "severity": alert.severity,
            "at": datetime.fromtimestamp(alert.at, tz=timezone.utc).isoformat()})

    def _post_telegram(self, http: httpx.Client, alert: Alert, text: str) -> None:
        token, chat = self.telegram
        self._post(http, f"{self.telegram_api_url}/bot{token}/sendMessage", {"chat_id": chat, "text": text})

    @staticmethod
    def _post(http: httpx.Client, url: str, body: dict) -> None:
        resp = http.post(url, json=body)
        if resp.status_code >= 300:
            raise RuntimeError(f"receiver answered {resp.status_code}")


class AlertRules:
    """Turns each tick into the alerts it warrants; the same key is sent at most every `min_interval_s`."""

    def __init__(self, cfg: Any, sender: AlertSender, clock: Callable[[], float] = time.time,
                 ledger: Any = None) -> None:
        a = cfg.alerts
        self.cfg = cfg
        self.sender = sender
        self.clock = clock
        self.ledger = ledger
        self.unhedged_ticks = a.unhedged_ticks
        self.unhedged_min_shares = a.unhedged_min_shares
        self.exposure_threshold = float(a.exposure_threshold)
        self.min_interval_s = a.min_interval_seconds
        self.daily_hour = a.daily_summary_hour_utc
        self.last_health = "ok"
        self.last_sent: dict[str, float] = {}
        self.unhedged_for: dict[str, int] = {}
        self.suppressed = 0

    def _emit(self, kind: str, key: str, severity: str, text: str, force: bool = False) -> None:
        now = self.clock()
        last = self.last_sent.get(key)
        if not force and last is not None and now - last < self.min_interval_s:
            self.suppressed += 1
            return
        self.last_sent[key] = now
        self.sender.submit(Alert(kind, key, severity, f"polymm: {text}", now))

    def tick(self, summary: dict, active: list, positions: Mapping[str, Any]) -> None:
        self._health(summary)
        self._unhedged(active, positions)
        self._exposure(summary)
        self._daily(summary, positions)

    def _health(self, summary: dict) -> None:
        health, why = summary.get("health", "unknown"), summary.get("why", "")
        if health != self.last_health:
            if health in ("degraded", "halted"):
                severity = "critical" if health == "halted" else "warning"
                self._emit("health", f"health:{health}", severity, f"health {health}: {why}")
            elif health == "ok" and self.last_health in ("degraded", "halted"):
                self._emit("health", "health:ok", "info", f"health back to ok (was {self.last_health})")
        self.last_health = health

    def _unhedged(self, active: list, positions: Mapping[str, Any]) -> None:
        covered: dict[str, Decimal] = {}
        for o in active:
            if o.side == "SELL":
                covered[o.token_id] = covered.get(o.token_id, ZERO) + o.remaining
        still: dict[str, int] = {}
        for token, p in positions.items():
            open_size = p.size - covered.get(token, ZERO)
            if p.size <= 0 or open_size < self.unhedged_min_shares:
                continue
            ticks = self.unhedged_for.get(token, 0) + 1
            still[token] = ticks
            if ticks > self.unhedged_ticks:
                self._emit("unhedged", f"unhedged:{token}", "critical",
                           f"position unhedged for {ticks} ticks (more than {self.unhedged_ticks}): token "
                           f"{token[:16]}… in market {p.condition_id[:18]}…, {p.size} shares held at "
                           f"{p.avg_cost:.4f}, {open_size} not covered by a live sell")
        self.unhedged_for = still

    def _exposure(self, summary: dict) -> None:
        per_market = {cid: Decimal(v) for cid, v in (summary.get("exposure") or {}).items()}
        cap_market = Decimal(str(summary.get("exposure_cap_per_market") or 0))
        cap_total = Decimal(str(summary.get("exposure_cap_total") or 0))
        total = sum(per_market.values(), ZERO)
        if cap_total > 0 and total >= cap_total * Decimal(str(self.exposure_threshold)):
            self._emit("exposure", "exposure:total", "warning",
                       f"total exposure ${total:.2f} is {total / cap_total:.0%} of the ${cap_total} cap "
                       f"(alert from {self.exposure_threshold:.0%})")
        if cap_market > 0:
            for cid, value in per_market.items():
                if value >= cap_market * Decimal(str(self.exposure_threshold)):
                    self._emit("exposure", f"exposure:{cid}", "warning",
                               f"exposure ${value:.2f} in market {cid[:18]}… is {value / cap_market:.0%} of the "
                               f"${cap_market} per-market cap")

    def _daily(self, summary: dict, positions: Mapping[str, Any]) -> None:
        """Once per UTC day, at the first tick from `alerts.daily_summary_hour_utc` on: the last 24 hours."""
        now = datetime.fromtimestamp(self.clock(), tz=timezone.utc)
        if now.hour < self.daily_hour:
            return
        today = now.date().isoformat()
        if self.ledger is not None and self.ledger.get_cursor(DAILY_CURSOR) == today:
            return  # sent already today, by this run or an earlier one
        if self.ledger is not None:
            self.ledger.set_cursor(DAILY_CURSOR, today)
        fills = self.ledger.fills(since=self.clock() - 86400) if self.ledger is not None else []
        volume = sum((f.size * f.price for f in fills if f.status != "FAILED"), ZERO)
        realized = sum((p.realized_pnl for p in positions.values()), ZERO)
        held = sum(1 for p in positions.values() if p.size > 0)
        total = sum((Decimal(v) for v in (summary.get("exposure") or {}).values()), ZERO)
        self._emit("daily_summary", f"daily:{today}", "info",
                   f"daily summary {today}: health {summary.get('health')}, {len(fills)} fill(s) in the last 24 h "
                   f"(${volume:.2f}), realised P&L ${realized:.4f}, est. rewards "
                   f"${float(summary.get('expected_rewards_per_day') or 0):.2f}/day, {held} position(s), exposure "
                   f"${total:.2f} of ${summary.get('exposure_cap_total')}", force=True)


def sender_from_env(cfg: Any, secrets: tuple[str, ...] = (), environ: Mapping[str, str] | None = None) -> AlertSender | None:
    env = os.environ if environ is None else environ
    webhook = env.get(WEBHOOK_ENV) or None
    token = env.get(TELEGRAM_TOKEN_ENV) or None
    chat = env.get(TELEGRAM_CHAT_ENV) or None
    if token and not chat:
        log.warning("%s is set but %s is not: Telegram alerts are off", TELEGRAM_TOKEN_ENV, TELEGRAM_CHAT_ENV)
    if not webhook and not (token and chat):
        return None
    return AlertSender(webhook, token, chat, cfg.alerts.telegram_api_url, secrets)
