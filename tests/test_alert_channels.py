"""Each alert channel on its own: a webhook that refuses, fails or hangs delays nothing on Telegram, and the log
says once that it fails rather than once per alert. A real `polymm reconcile --loop` against the simulator,
forced into a degraded state, and a local HTTP receiver standing in for both destinations."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from polymm.telemetry.alerts import SEND_TIMEOUT_S, Alert, AlertSender

TOKEN = "123456:TEST-bot-token-for-the-channels-test"


class Receiver:
    """Records every POST; answers `status` on /hook (or hangs there), 200 on the Telegram path."""

    def __init__(self, hook_status: int = 200, hang_hook: bool = False) -> None:
        self.posts: list[tuple[str, dict, float]] = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.posts.append((self.path, body, time.monotonic()))
                hook = self.path == "/hook"
                if hook and hang_hook:
                    receiver.release.wait(30)
                status = hook_status if hook else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def telegram(self) -> list[dict]:
        return [b for p, b, _ in self.posts if p == f"/bot{TOKEN}/sendMessage"]

    def hook(self) -> list[dict]:
        return [b for p, b, _ in self.posts if p == "/hook"]

    def wait(self, what, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = what()
            if found:
                return found
            time.sleep(0.05)
        raise TimeoutError(f"not within {timeout} s; received {[(p, b) for p, b, _ in self.posts]}")

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refused_webhook_does_not_stop_telegram_and_is_logged_once(venue, truth, controllers):
    receiver = Receiver()
    try:
        ctl = controllers("alert-channels", {
            "POLYMM_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{closed_port()}/hook",  # connection refused
            "POLYMM_TELEGRAM_BOT_TOKEN": TOKEN, "POLYMM_TELEGRAM_CHAT_ID": "4242",
            "POLYMM_ALERTS__TELEGRAM_API_URL": receiver.url})
        ctl.start()
        ctl.wait_ticks(2, timeout=60)
        truth.faults({"rules": [{"match": "GET /data/trades*", "kind": "error_before", "status": 500, "max_count": 3}]})
        degraded = receiver.wait(lambda: [b for b in receiver.telegram() if "health degraded" in b["text"]])[0]
        assert degraded["chat_id"] == "4242"
        receiver.wait(lambda: [b for b in receiver.telegram() if "back to ok" in b["text"]])
        assert ctl.terminate() == 0
        failing = [line for line in ctl.log_tail(200_000).splitlines() if "webhook alerts not delivered" in line]
        assert len(failing) == 1, failing  # one line for the outage, not one per alert
        assert "telegram alerts not delivered" not in ctl.log_tail(200_000)
    finally:
        receiver.close()


def test_a_hanging_or_failing_webhook_delays_nothing_on_telegram():
    """Telegram's five alerts all arrive before anything the webhook's failure holds its own channel up with: the
    hanging post's 10 s timeout, or the failed post's back-off before its retry. Judged by the order of what the
    receiver saw, not by a wall-clock bound, so a loaded machine is slow without being wrong."""
    for receiver in (Receiver(hang_hook=True), Receiver(hook_status=500)):
        try:
            sender = AlertSender(f"{receiver.url}/hook", TOKEN, "4242", receiver.url)
            for i in range(5):
                assert sender.submit(Alert("health", f"k{i}", "warning", f"alert {i}", time.time()))
            receiver.wait(lambda: len(receiver.telegram()) == 5)
            receiver.wait(receiver.hook)  # the webhook's thread is scheduled too, however late
            assert [b["text"] for b in receiver.telegram()] == [f"alert {i}" for i in range(5)]
            telegram_done = max(t for p, _, t in receiver.posts if p != "/hook")
            hooks = [t for p, _, t in receiver.posts if p == "/hook"]
            # not behind the webhook: its post still hanging (the client gives up after SEND_TIMEOUT_S) or, failed,
            # not yet retried (the retry waits BACKOFF_FIRST_S)
            assert telegram_done < hooks[0] + SEND_TIMEOUT_S
            assert len(receiver.hook()) == 1  # the failing channel backs off instead of hammering
            assert receiver.hook()[0]["text"] == "alert 0"
            sender.close(timeout=1)
        finally:
            receiver.close()
