"""The venue's WebSocket channels over the engine's events: the market channel (books, price changes, trades, tick
changes, resolutions) at /ws/market and the user channel (the account's orders and trades) at /ws/user.

Subscription messages and event shapes: docs.polymarket.com/api-reference/wss/market and .../user; the captures
ws_*.json under ../shared/fixtures/polymarket; rendered by polymm.sim.wire. Events are queued as the engine emits
them and sent once the request (or clock step) that caused them is done (`flush`), batched per connection.
"""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

from aiohttp import WSMsgType, web

from polymm.sim import wire
from polymm.sim.engine import Engine
from polymm.sim.model import Event


class WebSockets:
    """Who is subscribed to what, and the events waiting to go out."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.market_subs: dict[web.WebSocketResponse, set[str]] = {}
        self.market_custom: set[web.WebSocketResponse] = set()  # subscribed with custom_feature_enabled: true
        self.user_subs: dict[web.WebSocketResponse, tuple[str, frozenset[str]]] = {}  # api key, markets (empty: all)
        self._outbox: list[tuple[web.WebSocketResponse, dict]] = []

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/ws/market", self.ws_market),
            web.get("/ws/user", self.ws_user),
        ]

    def on_event(self, event: Event) -> None:
        """Queue an engine event for the connections subscribed to it (the engine's listener)."""
        if event.channel == "market" and event.payload.get("event_type") == "market_resolved":
            # a custom-feature event: once per subscription holding any of the market's tokens
            tokens = set(event.payload["assets_ids"])
            for ws, assets in self.market_subs.items():
                if ws in self.market_custom and assets & tokens:
                    self._outbox.append((ws, event.payload))
        elif event.channel == "market":
            for ws, assets in self.market_subs.items():
                if event.key in assets:
                    self._outbox.append((ws, event.payload))
        else:
            market = event.payload.get("market")
            for ws, (api_key, markets) in self.user_subs.items():
                if api_key == event.key and (not markets or market in markets):
                    self._outbox.append((ws, event.payload))

    async def flush(self) -> None:
        """Send the queued events: one message a connection, a list when more than one."""
        if not self._outbox:
            return
        outbox, self._outbox = self._outbox, []
        grouped: dict[web.WebSocketResponse, list[dict]] = {}
        for ws, payload in outbox:
            grouped.setdefault(ws, []).append(payload)
        for ws, payloads in grouped.items():
            if ws.closed:
                continue
            try:
                await ws.send_str(json.dumps(payloads if len(payloads) > 1 else payloads[0]))
            except (ConnectionResetError, RuntimeError):
                pass

    async def _ws_loop(self, request: web.Request, on_message: Callable[[web.WebSocketResponse, Any], Awaitable[None]]) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                if msg.data.strip().upper() == "PING":
                    await ws.send_str("PONG")
                    continue
                try:
                    data = json.loads(msg.data)
                except json.JSONDecodeError:
                    await ws.send_str(json.dumps({"error": "invalid message"}))
                    continue
                await on_message(ws, data)
                await self.flush()
        finally:
            self.market_subs.pop(ws, None)
            self.market_custom.discard(ws)
            self.user_subs.pop(ws, None)
        return ws

    async def ws_market(self, request: web.Request) -> web.WebSocketResponse:
        async def on_message(ws: web.WebSocketResponse, data: Any) -> None:
            if not isinstance(data, dict):
                await ws.send_str(json.dumps({"error": "invalid message: expected a JSON object"}))
                return
            assets = [str(a) for a in (data.get("assets_ids") or [])]
            if data.get("operation") == "unsubscribe":
                self.market_subs.get(ws, set()).difference_update(assets)
                return
            self.market_subs.setdefault(ws, set()).update(assets)
            if data.get("custom_feature_enabled") is True:
                self.market_custom.add(ws)
            # `initial_dump` (default true): whether a subscription gets the books' snapshot
            # (docs.polymarket.com/api-reference/wss/market, subscriptionRequest)
            books = [wire.ws_book_event(self.engine.market_by_token[a], a, self.engine.now)
                     for a in assets if a in self.engine.market_by_token] if data.get("initial_dump", True) is not False else []
            if books:
                await ws.send_str(json.dumps(books))

        return await self._ws_loop(request, on_message)

    async def ws_user(self, request: web.Request) -> web.WebSocketResponse:
        async def on_message(ws: web.WebSocketResponse, data: Any) -> None:
            if not isinstance(data, dict):
                await ws.send_str(json.dumps({"error": "invalid message: expected a JSON object"}))
                return
            creds_in = data.get("auth") or {}
            creds = self.engine.credentials.get(creds_in.get("apiKey", ""))
            if creds is None or creds.secret != creds_in.get("secret") or creds.passphrase != creds_in.get("passphrase"):
                await ws.send_str(json.dumps({"error": "Unauthorized/Invalid api key"}))
                await ws.close()
                return
            self.user_subs[ws] = (creds.api_key, frozenset(str(m) for m in data.get("markets") or []))

        return await self._ws_loop(request, on_message)

    async def drop_websockets(self) -> int:
        """Close every WebSocket connection (for tests of reconnect and resync)."""
        sockets = list(self.market_subs) + list(self.user_subs)
        for ws in sockets:
            await ws.close()
        return len(sockets)
