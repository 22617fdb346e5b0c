"""Early wake-ups from the venue's user channel: a fill or an order update ends the loop's sleep.

The channel only wakes the loop; the tick still reads everything over REST (the channel does not
replay what was missed while disconnected, so REST is the truth). Reconnects with back-off.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading

import websockets

log = logging.getLogger("polymm.wake")


class UserChannelWaker:
    def __init__(self, ws_url: str, api_key: str, secret: str, passphrase: str, wake: threading.Event) -> None:
        self.url = ws_url.rstrip("/") + "/user"
        self.auth = {"apiKey": api_key, "secret": secret, "passphrase": passphrase}
        self.wake = wake
        self.connected = False
        self.events = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._task = self._loop.create_task(self._run())
        self._thread = threading.Thread(target=self._serve, name="polymm-user-ws", daemon=True)
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
                async with websockets.connect(self.url, open_timeout=5, ping_interval=None) as ws:
                    await ws.send(json.dumps({"auth": self.auth, "markets": [], "type": "user"}))
                    self.connected, backoff = True, 0.5
                    self.wake.set()  # after a reconnect, resync over REST at once
                    await self._listen(ws)
            except (OSError, websockets.WebSocketException, asyncio.TimeoutError) as exc:
                log.debug("user channel: %s", exc)
            self.connected = False
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, 10.0)

    async def _listen(self, ws) -> None:
        while not self._stop.is_set():
            try:
                message = await asyncio.wait_for(ws.recv(), timeout=10)
            except asyncio.TimeoutError:
                await ws.send("PING")
                continue
            if message == "PONG":
                continue
            try:
                events = json.loads(message)
            except json.JSONDecodeError:
                continue
            for event in events if isinstance(events, list) else [events]:
                if isinstance(event, dict) and event.get("event_type") in ("trade", "order"):
                    self.events += 1
                    self.wake.set()
