"""Alerts from `polymm reconcile --loop` (a real process) to a local HTTP receiver standing in for a webhook
and for the Telegram Bot API: a forced degraded state, an unhedged position, the daily summary; plus
the sender's guarantees (never blocks, bounded, redacted) on their own."""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from controller_support import h
from polymm.telemetry.alerts import SEND_TIMEOUT_S, Alert, AlertRules, AlertSender
from polymm.config import load_config

TOKEN = "123456:TEST-bot-token-never-in-a-message"


class Receiver:
    """A local HTTP server recording every POST (path and JSON body)."""

    def __init__(self, hang: bool = False) -> None:
        self.posts: list[tuple[str, dict]] = []
        self.hang = hang
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if receiver.hang:
                    receiver.release.wait(30)
                receiver.posts.append((self.path, body))
                payload = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def webhook(self, kind: str | None = None) -> list[dict]:
        return [b for p, b in self.posts if p == "/hook" and (kind is None or b["kind"] == kind)]

    def telegram(self) -> list[dict]:
        return [b for p, b in self.posts if p == f"/bot{TOKEN}/sendMessage"]

    def wait(self, what, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = what()
            if found:
                return found
            time.sleep(0.05)
        raise TimeoutError(f"no such alert within {timeout} s; received {self.posts}")

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def alert_env(receiver: Receiver, **extra: str) -> dict[str, str]:
    return {"POLYMM_ALERT_WEBHOOK_URL": f"{receiver.url}/hook", "POLYMM_TELEGRAM_BOT_TOKEN": TOKEN,
            "POLYMM_TELEGRAM_CHAT_ID": "4242", "POLYMM_ALERTS__TELEGRAM_API_URL": receiver.url, **extra}


def test_a_forced_degraded_state_is_alerted_with_its_reason_to_the_webhook_and_telegram(
        venue, truth, controllers, make_client, receiver):
    ctl = controllers("alert-degraded", alert_env(receiver))
    creds = make_client(ctl.key).creds  # the API credentials the controller derives for this wallet
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    assert receiver.webhook("health") == []  # healthy so far
    truth.faults({"rules": [{"match": "GET /data/trades*", "kind": "error_before", "status": 500, "max_count": 3}]})
    degraded = receiver.wait(lambda: receiver.webhook("health"))[0]
    assert degraded["severity"] == "warning"
    assert degraded["text"].startswith("polymm: health degraded: unknown: fills (")
    assert "500" in degraded["text"]
    assert degraded["content"] == degraded["text"] and degraded["at"].endswith("+00:00")
    tg = receiver.wait(lambda: [b for b in receiver.telegram() if "health degraded" in b["text"]])[0]
    assert tg == {"chat_id": "4242", "text": degraded["text"]}
    # the faults run out: the recovery is alerted once, and the degraded state was alerted once
    recovered = receiver.wait(lambda: [b for b in receiver.webhook("health") if "back to ok" in b["text"]])
    assert len(recovered) == 1
    assert len([b for b in receiver.webhook("health") if b["text"].startswith("polymm: health degraded")]) == 1
    daily = receiver.webhook("daily_summary")
    assert len(daily) <= 1  # at most once per UTC day (none before alerts.daily_summary_hour_utc)
    everything = json.dumps(receiver.posts)
    for secret in (ctl.key, ctl.key[2:], creds.api_secret, creds.api_passphrase, creds.api_key, TOKEN):
        assert secret not in json.dumps([b for _, b in receiver.posts]), "a secret reached an alert"
    assert TOKEN in everything  # (only in the Telegram path, where the Bot API wants it)
    assert ctl.terminate() == 0


def test_a_position_unhedged_beyond_k_ticks_is_alerted_once_per_interval(venue, truth, controllers, receiver):
    ctl = controllers("alert-unhedged", alert_env(receiver, POLYMM_ALERTS__UNHEDGED_TICKS="2",
                                                  POLYMM_ALERTS__UNHEDGED_MIN_SHARES="1",
                                                  POLYMM_HEDGE_SELL__MAX_BID_GAP="0.001",
                                                  POLYMM_RISK__MIN_PROTECTION_SIZE_MULTIPLIER_HEDGE="0"))
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    quote = next(o for o in h.live_orders(truth.state(), ctl.address) if o["side"] == "BUY"
                 and Decimal("0.2") <= Decimal(o["price"]) <= Decimal("0.8"))
    # every new order is refused from now on: the fill's hedge cannot be placed
    truth.faults({"rules": [{"match": "POST /order*", "kind": "error_before", "status": 400}]})
    h.take_through(truth, quote, Decimal(1))
    filled_at = ctl.tick_id()
    alert = receiver.wait(lambda: receiver.webhook("unhedged"))[0]
    assert ctl.tick_id() - filled_at >= 3  # not before K = 2 ticks had passed
    assert alert["severity"] == "critical"
    assert f"token {quote['asset_id'][:16]}" in alert["text"]
    assert f"{Decimal(quote['original_size']):f}" in alert["text"] or quote["original_size"] in alert["text"]
    assert "unhedged for 3 ticks (more than 2)" in alert["text"]
    ctl.wait_ticks(5)
    assert len(receiver.webhook("unhedged")) == 1  # rate-limited: alerts.min_interval_seconds is 300
    venue_positions = h.venue_positions(truth.state(), ctl.address)
    assert venue_positions[quote["asset_id"]].size > 0  # the venue agrees: held, and no sell covers it
    assert not [o for o in h.live_orders(truth.state(), ctl.address) if o["side"] == "SELL"]
    truth.faults({"rules": []})
    ctl.terminate()


# ------------------------------------------------------------------ the sender and the rules on their own

def test_submitting_never_blocks_on_a_hanging_receiver_and_the_queue_is_bounded():
    hanging = Receiver(hang=True)
    try:
        sender = AlertSender(f"{hanging.url}/hook", None, None, "http://127.0.0.1:9")
        started = time.monotonic()
        accepted = sum(sender.submit(Alert("health", f"k{i}", "warning", "x", time.time())) for i in range(300))
        elapsed = time.monotonic() - started
        # a submit that waited for the hanging receiver would wait out at least one send's timeout; 300 queue puts
        # take far less even on a loaded machine (no tighter wall-clock bound: speed is not what this test checks)
        assert elapsed < SEND_TIMEOUT_S, elapsed
        assert accepted <= 101 and sender.dropped == 300 - accepted  # 100 queued + at most one in flight
        while not sender.queue.empty():
            sender.queue.get_nowait()
    finally:
        hanging.close()


def test_alert_text_is_redacted_before_it_is_sent(receiver):
    key = "0x" + "ab" * 32
    sender = AlertSender(f"{receiver.url}/hook", None, None, "http://127.0.0.1:9", secrets=(key, "s3cr3t-api-secret"))
    sender.submit(Alert("health", "k", "warning", f"halted: key {key} secret=hunter2 and s3cr3t-api-secret", 0.0))
    sent = receiver.wait(lambda: receiver.webhook())[0]["text"]
    sender.close()
    assert key not in sent and "hunter2" not in sent and "s3cr3t-api-secret" not in sent
    assert "[redacted]" in sent


def test_exposure_above_the_threshold_of_a_cap_is_alerted_per_market_and_in_total():
    cfg = load_config(environ={"POLYMM_ALERTS__DAILY_SUMMARY_HOUR_UTC": "23"})
    sent: list[Alert] = []
    sender = SimpleNamespace(submit=sent.append)
    now = [1_800_000_000.0]  # 2027-01-15 08:00 UTC, before hour 23: no daily summary
    rules = AlertRules(cfg, sender, clock=lambda: now[0])
    summary = {"health": "ok", "why": "", "exposure": {"0xaaa": "22.5", "0xbbb": "10"},
               "exposure_cap_per_market": "25", "exposure_cap_total": "250"}
    rules.tick(summary, [], {})
    assert [(a.kind, a.key) for a in sent] == [("exposure", "exposure:0xaaa")]
    assert "90% of the $25 per-market cap" in sent[0].text
    rules.tick(summary, [], {})
    assert len(sent) == 1  # the same alert within min_interval_seconds is suppressed
    now[0] += 301
    rules.tick({**summary, "exposure": {f"0x{i}": "23" for i in range(10)}}, [], {})
    assert ("exposure", "exposure:total") in [(a.kind, a.key) for a in sent]
