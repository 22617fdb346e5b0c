"""The venue's WebSocket channels: one reconnecting listener that the controller's wake-ups and the
market-data service both build on (a channel does not replay what was missed while disconnected,
so whoever listens resyncs over REST after a reconnect)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading

import websockets

log = logging.getLogger("polymm.venue.channels")
POLL_S = 0.25  # how often a listener looks up from recv() (stop requests, new subscriptions)
PING_EVERY_S = 10.0


class ChannelListener:
    """A reconnecting WebSocket listener on its own thread; subclasses say what to send and what to do."""

    path = ""
    name = "ws"

    def __init__(self, ws_url: str) -> None:
        self.url = ws_url.rstrip("/") + self.path
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

    def on_connect(self) -> None:
        """Called after each (re)connect, once the first messages are sent."""

    def on_events(self, events: list[dict]) -> None:
        """Called with the events of one message (the venue may batch several into a JSON array)."""

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
                    self.on_connect()
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
            events = [e for e in (events if isinstance(events, list) else [events]) if isinstance(e, dict)]
            if events:
                self.events += len(events)
                self.on_events(events)


class MarketSubscription(ChannelListener):
    """The market channel for a set of tokens that may grow (`watch`); new tokens are subscribed while
    connected, and all of them again after a reconnect."""

    path = "/market"
    name = "market"
    chunk = 500

    def __init__(self, ws_url: str) -> None:
        super().__init__(ws_url)
        self._lock = threading.Lock()
        self._wanted: set[str] = set()
        self._sent: set[str] = set()

    def watch(self, tokens) -> None:
        with self._lock:
            self._wanted = set(tokens)

    def watched(self) -> set[str]:
        with self._lock:
            return self._wanted

    def first_messages(self) -> list[dict]:
        with self._lock:
            self._sent = set()
        return []

    def more_messages(self) -> list[dict]:
        with self._lock:
            fresh = sorted(self._wanted - self._sent)
            self._sent |= set(fresh)
        return [{"assets_ids": fresh[i:i + self.chunk], "type": "market"} for i in range(0, len(fresh), self.chunk)]
