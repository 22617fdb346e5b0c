"""Early wake-ups from the venue's WebSocket channels: a fill, an order update, or a change in a book we
quote in ends the loop's sleep.

The channels only wake the loop; the tick still reads everything over REST (a channel does not
replay what was missed while disconnected, so REST is the truth). Each channel runs on its own
thread and reconnects with back-off; after a reconnect it wakes the loop so the tick resyncs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading

import websockets

log = logging.getLogger("polymm.wake")
POLL_S = 0.25  # how often a listener looks up from recv() (stop requests, new subscriptions)
PING_EVERY_S = 10.0


class ChannelWaker:
    """A WebSocket listener that sets `wake` on the events `relevant` accepts."""

    path = ""
    name = "ws"

    def __init__(self, ws_url: str, wake: threading.Event) -> None:
        self.url = ws_url.rstrip("/") + self.path
        self.wake = wake
        self.connected = False
        self.events = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # hooks
    def first_messages(self) -> list[dict]:
        return []

    def more_messages(self) -> list[dict]:
        """Subscriptions to send while connected (called every POLL_S)."""
        return []

    def relevant(self, event: dict) -> bool:
        return False

    # machinery
    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._task = self._loop.create_task(self._run())
        self._thread = threading.Thread(target=self._serve, name=f"polymm-{self.name}-ws", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            self._loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        finally:
            self._loop.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._task.cancel)
            self._thread.join(5)

    async def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                async with websockets.connect(self.url, open_timeout=5, ping_interval=None, max_size=2**24) as ws:
                    for message in self.first_messages():
                        await ws.send(json.dumps(message))
                    self.connected, backoff = True, 0.5
                    self.wake.set()  # after a (re)connect, resync over REST at once
                    await self._listen(ws)
            except (OSError, websockets.WebSocketException, asyncio.TimeoutError) as exc:
                log.debug("%s channel: %s", self.name, exc)
            self.connected = False
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, 10.0)

    async def _listen(self, ws) -> None:
        idle = 0.0
        while not self._stop.is_set():
            for message in self.more_messages():
                await ws.send(json.dumps(message))
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=POLL_S)
            except asyncio.TimeoutError:
                idle += POLL_S
                if idle >= PING_EVERY_S:
                    await ws.send("PING")
                    idle = 0.0
                continue
            idle = 0.0
            if raw == "PONG":
                continue
            try:
                events = json.loads(raw)
            except json.JSONDecodeError:
                continue
            for event in events if isinstance(events, list) else [events]:
                if isinstance(event, dict) and self.relevant(event):
                    self.events += 1
                    self.wake.set()


class UserChannelWaker(ChannelWaker):
    """Our fills and order updates."""

    path = "/user"
    name = "user"

    def __init__(self, ws_url: str, api_key: str, secret: str, passphrase: str, wake: threading.Event) -> None:
        super().__init__(ws_url, wake)
        self.auth = {"apiKey": api_key, "secret": secret, "passphrase": passphrase}

    def first_messages(self) -> list[dict]:
        return [{"auth": self.auth, "markets": [], "type": "user"}]

    def relevant(self, event: dict) -> bool:
        return event.get("event_type") in ("trade", "order")


class MarketChannelWaker(ChannelWaker):
    """Book changes on the tokens we have orders on (`watch` is called every tick)."""

    path = "/market"
    name = "market"

    def __init__(self, ws_url: str, wake: threading.Event) -> None:
        super().__init__(ws_url, wake)
        self._lock = threading.Lock()
        self._wanted: set[str] = set()
        self._sent: set[str] = set()

    def watch(self, tokens: set[str]) -> None:
        with self._lock:
            self._wanted = set(tokens)

    def first_messages(self) -> list[dict]:
        with self._lock:
            self._sent = set()
        return []

    def more_messages(self) -> list[dict]:
        with self._lock:
            fresh = sorted(self._wanted - self._sent)
            self._sent |= set(fresh)
        return [{"assets_ids": fresh, "type": "market"}] if fresh else []

    def relevant(self, event: dict) -> bool:
        if event.get("event_type") != "price_change":
            return False  # the `book` snapshot on subscribing is not a change
        with self._lock:
            wanted = self._wanted
        return any(str(c.get("asset_id")) in wanted for c in event.get("price_changes") or [])
