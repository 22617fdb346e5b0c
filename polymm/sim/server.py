"""The simulated venue's HTTP + WebSocket facade: Polymarket's CLOB, Gamma and Data-API paths on one loopback port.

Handlers authenticate exactly as the venue does, call the engine, and render with `wire`. Faults
from the plan are applied around the handler by a middleware; the admin surface under `/_sim/`
is never faulted and never rate-limited.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import re
import time
from datetime import datetime, timezone
from collections import Counter, deque
from decimal import Decimal
from typing import Any, Awaitable, Callable

from aiohttp import WSMsgType, web
from eth_abi.abi import decode as abi_decode, encode as abi_encode
from eth_hash.auto import keccak
from pydantic import ValidationError

from polymm.sim import auth, lifecycle, wire
from polymm.sim.engine import Engine, Event, HeartbeatMismatch, VenueError
from polymm.sim.faults import PHASE_AFTER, FaultPlan, FaultPlanSpec
from polymm.sim.history import INTERVAL_S, PriceHistory
from polymm.sim.payouts import RewardSampler, utc_date
from polymm.sim.model import MICRO, PIPS, SimMarket
from polymm.sim.relayer import RELAY_ADDRESS, Relayer
from polymm.sim.ratelimits import TIER, BucketState, IpLimits, TokenBucket

END_CURSOR = "LTE="
STALE_S = web.RequestKey("stale_s", float)
RATE_STATE = web.RequestKey("rate_state", BucketState)
MAX_BATCH = 15
L1_SKEW_S = 600  # how far an L1/L2 timestamp may be from the venue's wall clock

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def _address(value: Any, field: str) -> str:
    """A 0x-prefixed 40-hex address (the Data API's `user` pattern, docs …/api-reference/endpoints/data/get-positions),
    checksummed; a 400 naming the field otherwise."""
    if not isinstance(value, str) or not ADDRESS.fullmatch(value):
        raise VenueError(400, f"{field}: {value!r} is not an address (0x followed by 40 hex digits)")
    return auth.checksum_address(value)


def _number(data: dict, field: str, default: float | None = None, minimum: float | None = None) -> float:
    """`data[field]` as a number (bools are not numbers), else a 400 naming the field and what is allowed."""
    value = data.get(field, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if field not in data and default is None:
            raise VenueError(400, f"{field} is required (a number)")
        raise VenueError(400, f"{field}: {value!r} is not a number")
    if minimum is not None and value < minimum:
        raise VenueError(400, f"{field}: {value!r} must be ≥ {minimum:g}")
    return float(value)


def _mangle_first_row(response: web.StreamResponse, field: str, value: Any) -> web.StreamResponse:
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


def _cursor_offset(cursor: str | None) -> int:
    if not cursor or cursor == "MA==":
        return 0
    if cursor == END_CURSOR:
        return -1
    try:
        return int(base64.b64decode(cursor).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise VenueError(400, f"invalid next_cursor {cursor!r}") from exc


def _page(rows: list, cursor: str | None, limit: int) -> dict:
    offset = _cursor_offset(cursor)
    if offset < 0:
        return {"data": [], "next_cursor": END_CURSOR, "limit": limit, "count": 0}
    chunk = rows[offset:offset + limit]
    end = offset + limit
    nxt = base64.b64encode(str(end).encode()).decode() if end < len(rows) else END_CURSOR
    return {"data": chunk, "next_cursor": nxt, "limit": limit, "count": len(chunk)}


class SimServer:
    """Builds the aiohttp application around an engine (and its reward sampler)."""

    def __init__(self, engine: Engine, sampler: RewardSampler | None = None, rate_limits: bool = True,
                 ip_window_scale: float = 1.0) -> None:
        self.engine = engine
        self.sampler = sampler
        self.history = PriceHistory(engine)  # GET /prices-history (polymm.sim.history)
        self.faults = FaultPlan()
        self.requests: Counter[str] = Counter()
        self.request_log: deque[tuple[str, str]] = deque(maxlen=100_000)  # recent requests, bounded
        self.rate_limits = rate_limits
        self.order_bucket = TokenBucket(40, 60)
        self.cancel_bucket = TokenBucket(80, 120)
        self.ip_limits = IpLimits(ip_window_scale)
        self.throttled = 0  # requests the per-IP limits delayed
        self.ip_refused = 0  # requests they answered 429
        self.builder_keys_by_owner: dict[str, list[dict]] = {}  # account api key -> its builder keys
        self.relayer = Relayer(engine)  # gasless transactions of contract wallets: merges (polymm.sim.relayer)
        self.market_subs: dict[web.WebSocketResponse, set[str]] = {}
        self.market_custom: set[web.WebSocketResponse] = set()  # subscribed with custom_feature_enabled: true
        self.user_subs: dict[web.WebSocketResponse, tuple[str, frozenset[str]]] = {}  # api key, markets (empty: all)
        self._outbox: list[tuple[web.WebSocketResponse, dict]] = []
        self._lock = asyncio.Lock()
        engine.listeners.append(self._on_event)
        self.app = self._build_app()

    # ------------------------------------------------------------------ app
    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=4 * 1024 * 1024)
        r = app.router
        get, post, delete = r.add_get, r.add_post, r.add_delete
        get("/", self.ok); get("/ok", self.ok); get("/time", self.time_); get("/version", self.version)
        get("/tick-size", self.tick_size); get("/neg-risk", self.neg_risk); get("/fee-rate", self.fee_rate)
        get("/book", self.book); post("/books", self.books)
        get("/midpoint", self.midpoint); post("/midpoints", self.midpoints)
        get("/price", self.price); get("/spread", self.spread); get("/last-trade-price", self.last_trade_price)
        post("/prices", self.prices); post("/spreads", self.spreads); post("/last-trades-prices", self.last_trades_prices)
        get("/prices-history", self.prices_history); get("/markets/live-activity/{condition_id}", self.live_activity)
        get("/notifications", self.notifications); delete("/notifications", self.drop_notifications)
        get("/auth/ban-status/closed-only", self.closed_only)
        get("/rewards/user/markets", self.rewards_user_markets); get("/rewards/markets/multi", self.rewards_markets_multi)
        get("/rebates/current", self.rebates_current)
        get("/markets", self.markets); get("/sampling-markets", self.sampling_markets)
        get("/simplified-markets", self.simplified_markets); get("/sampling-simplified-markets", self.sampling_simplified)
        get("/markets/{condition_id}", self.market); get("/clob-markets/{condition_id}", self.clob_market)
        get("/markets-by-token/{token_id}", self.market_by_token)
        get("/rewards/markets/current", self.rewards_current); get("/rewards/markets/{condition_id}", self.rewards_market)
        post("/auth/api-key", self.create_api_key); get("/auth/derive-api-key", self.derive_api_key)
        get("/auth/api-keys", self.api_keys); delete("/auth/api-key", self.delete_api_key)
        post("/auth/builder-api-key", self.create_builder_key); get("/auth/builder-api-key", self.builder_keys)
        delete("/auth/builder-api-key", self.revoke_builder_key)
        get("/builder/trades", self.builder_trades); get("/fees/builder-fees/{builder_code}", self.builder_fees)
        post("/order", self.post_order); post("/orders", self.post_orders)
        delete("/order", self.cancel_order); delete("/orders", self.cancel_orders)
        delete("/cancel-all", self.cancel_all); delete("/cancel-market-orders", self.cancel_market)
        get("/data/orders", self.open_orders); get("/data/order/{order_id}", self.open_order)
        get("/data/trades", self.trades)
        get("/order-scoring", self.order_scoring); post("/orders-scoring", self.orders_scoring)
        post("/v1/heartbeats", self.heartbeat)
        get("/balance-allowance", self.balance_allowance); get("/balance-allowance/update", self.balance_allowance)
        get("/rewards/user", self.rewards_user); get("/rewards/user/total", self.rewards_user_total)
        get("/rewards/user/percentages", self.rewards_percentages)
        get("/gamma/markets", self.gamma_markets); get("/gamma/markets/keyset", self.gamma_markets_keyset)
        get("/gamma/markets/slug/{slug}", self.gamma_market); get("/gamma/markets/{market_id}", self.gamma_market)
        get("/dataapi/v2/prices-history", self.data_prices_history_v2)
        get("/dataapi/v2/trades", self.data_trades_v2)
        get("/dataapi/positions", self.positions); get("/dataapi/v2/positions", self.positions_v2)
        get("/ws/market", self.ws_market); get("/ws/user", self.ws_user)
        get("/_sim/state", self.sim_state); get("/_sim/requests", self.sim_requests)
        get("/_sim/faults", self.sim_faults_get); post("/_sim/faults", self.sim_faults)
        post("/_sim/mode", self.sim_mode); post("/_sim/take", self.sim_take)
        post("/_sim/advance", self.sim_advance); post("/_sim/fund", self.sim_fund)
        post("/_sim/restart", self.sim_restart); post("/_sim/wallet", self.sim_wallet)
        get("/relayer/deployed", self.relayer_deployed)
        get("/relayer/nonce", self.relayer_nonce); get("/relayer/relay-payload", self.relayer_relay_payload)
        get("/relayer/v1/account/transactions/params", self.relayer_params)
        post("/relayer/submit", self.relayer_submit); get("/relayer/transaction", self.relayer_transaction)
        get("/relayer/transactions", self.relayer_transactions)
        get("/relayer/v1/account/transactions/{transaction_id}", self.relayer_gasless_transaction)
        post("/_sim/relayer-key", self.sim_relayer_key); post("/rpc", self.rpc)
        post("/_sim/rewards", self.sim_rewards); post("/_sim/market", self.sim_market)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
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
            return _error(fired["error_before"].status, "Internal Server Error (injected before execution)")
        request[STALE_S] = fired["stale_orders"].stale_s if "stale_orders" in fired else 0.0
        response = await self._run(request, handler)
        after = [k for k in PHASE_AFTER if k in fired]
        if not after:
            return response
        kind = after[0]
        if kind == "error_after":
            return _error(fired[kind].status, "Internal Server Error (injected after execution)")
        if kind == "malformed":
            return web.Response(status=200, text="<html><body>502 Bad Gateway</body></html>", content_type="text/html")
        if kind == "malformed_row":
            return _mangle_first_row(response, fired[kind].field, fired[kind].value)
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
        except _RateLimited as exc:
            response = web.json_response(
                {"error": exc.message, "retry_after_seconds": exc.retry_after},
                status=429, headers={"Retry-After": str(exc.retry_after)},
            )
        except VenueError as exc:
            extra = {"code": exc.code} if exc.code else {}
            if isinstance(exc, HeartbeatMismatch):
                extra["heartbeat_id"] = exc.expected
            response = _error(exc.status, exc.message, **extra)
        state = request.get(RATE_STATE)
        if state is not None:  # order and cancel replies report the signer's bucket (docs: trading-rate-limits)
            response.headers["Poly-RateLimit-Remaining"] = f"{state.remaining:.3f}"
            response.headers["Poly-RateLimit-Reset"] = f"{state.reset:.3f}"
            response.headers["Poly-RateLimit-Tier"] = TIER
        await self._flush_ws()
        return response

    # ------------------------------------------------------------------ auth
    async def _body(self, request: web.Request) -> str:
        return (await request.read()).decode() if request.can_read_body else ""

    async def _admin_body(self, request: web.Request) -> dict:
        """The JSON object an admin hook takes ({} when empty); a 400 saying so for anything else."""
        try:
            data = json.loads(await self._body(request) or "{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise VenueError(400, f"{request.path}: the body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise VenueError(400, f"{request.path}: the body must be a JSON object, not {type(data).__name__}")
        return data

    def _admin_market(self, data: dict) -> SimMarket:
        cid = data.get("condition_id")
        if not isinstance(cid, str) or not cid:
            raise VenueError(400, "condition_id is required (a market's 0x… condition id)")
        market = self.engine.markets.get(cid)
        if market is None:
            raise VenueError(404, f"market not found: no market with condition_id {cid!r} (GET /markets lists them)")
        return market

    def _l2(self, request: web.Request, body: str) -> str:
        """The API key of a correctly signed L2 request; 401 otherwise."""
        h = request.headers
        api_key = h.get("POLY_API_KEY", "")
        creds = self.engine.credentials.get(api_key)
        if creds is None or h.get("POLY_PASSPHRASE") != creds.passphrase:
            raise VenueError(401, "Unauthorized/Invalid api key")
        if h.get("POLY_ADDRESS", "").lower() != creds.address.lower():
            raise VenueError(401, "Unauthorized/Invalid api key")
        ts = h.get("POLY_TIMESTAMP", "")
        if not ts.isdigit() or abs(int(ts) - time.time()) > L1_SKEW_S:
            raise VenueError(401, "Unauthorized/Invalid api key")
        expected = auth.hmac_signature(creds.secret, ts, request.method, request.path, body)
        if not _consteq(expected, h.get("POLY_SIGNATURE", "")):
            raise VenueError(401, "Unauthorized/Invalid api key")
        return api_key

    def _l1(self, request: web.Request) -> tuple[str, int]:
        h = request.headers
        address, ts, nonce_text, signature = (h.get(k, "") for k in ("POLY_ADDRESS", "POLY_TIMESTAMP", "POLY_NONCE", "POLY_SIGNATURE"))
        try:
            nonce = int(nonce_text or "0")
            digest = auth.clob_auth_digest(address, ts, nonce, self.engine.settings.chain_id)
            signer = auth.recover_address(digest, signature)
        except (ValueError, auth.SignatureError) as exc:
            raise VenueError(401, "Invalid L1 Request headers") from exc
        if signer.lower() != address.lower() or not ts.isdigit() or abs(int(ts) - time.time()) > L1_SKEW_S:
            raise VenueError(401, "Invalid L1 Request headers")
        return address, nonce

    def _limit(self, request: web.Request, bucket: TokenBucket, api_key: str, cost: int | None) -> None:
        """Per-signer buckets: every API key of one wallet draws from the same bucket. `cost` None: admitted with
        one token, charged after the fact by `_charge` (cancel-all, cancel-market-orders)."""
        if not self.rate_limits:
            return
        signer = self.engine.owner_address.get(api_key, api_key)
        wait, state = bucket.take(signer, cost) if cost is not None else bucket.admit_then_charge(signer)
        request[RATE_STATE] = state
        if wait:
            raise _RateLimited(max(1, int(wait + 0.999)))

    def _charge(self, request: web.Request, bucket: TokenBucket, api_key: str, cost: int) -> None:
        if self.rate_limits:
            request[RATE_STATE] = bucket.charge(self.engine.owner_address.get(api_key, api_key), cost)

    # ------------------------------------------------------------------ public reads
    def _market_of(self, token_id: str | None) -> SimMarket:
        market = self.engine.market_by_token.get(token_id or "")
        if market is None:
            raise VenueError(404, "No orderbook exists for the requested token id")
        return market

    async def ok(self, request: web.Request) -> web.Response:
        return web.json_response("OK")

    async def time_(self, request: web.Request) -> web.Response:
        return web.json_response(int(self.engine.now))

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": 2})

    async def tick_size(self, request: web.Request) -> web.Response:
        market = self._market_of(request.query.get("token_id"))
        return web.json_response({"minimum_tick_size": market.tick_pips / PIPS})

    async def neg_risk(self, request: web.Request) -> web.Response:
        return web.json_response({"neg_risk": self._market_of(request.query.get("token_id")).neg_risk})

    async def fee_rate(self, request: web.Request) -> web.Response:
        market = self._market_of(request.query.get("token_id"))
        # GET /fee-rate answers basis points (docs.polymarket.com/api-reference/market-data/get-fee-rate)
        return web.json_response({"base_fee": round((market.fee_rate or 0.0) * 10_000)})

    async def book(self, request: web.Request) -> web.Response:
        token_id = request.query.get("token_id", "")
        market = self._market_of(token_id)
        if market.closed:  # a closed market has no book (docs.polymarket.com/resources/error-codes, GET book)
            raise VenueError(404, "No orderbook exists for the requested token id")
        return web.json_response(wire.book_json(market, token_id, self.engine.now))

    async def _token_list(self, request: web.Request, limit: int = 500) -> list[dict]:
        try:
            items = json.loads(await self._body(request) or "[]")
        except json.JSONDecodeError as exc:
            raise VenueError(400, "Invalid payload") from exc
        if not isinstance(items, list) or not all(isinstance(i, dict) and "token_id" in i for i in items):
            raise VenueError(400, "Invalid payload: expected [{\"token_id\": ...}]")
        if len(items) > limit:
            raise VenueError(400, f"too many tokens: at most {limit} per request")
        return items

    async def books(self, request: web.Request) -> web.Response:
        items = await self._token_list(request)
        now = self.engine.now
        return web.json_response([
            wire.book_json(self.engine.market_by_token[i["token_id"]], i["token_id"], now)
            for i in items if i["token_id"] in self.engine.market_by_token
            and not self.engine.market_by_token[i["token_id"]].closed  # a closed market has no book
        ])

    def _best(self, token_id: str) -> tuple[int | None, int | None]:
        market = self._market_of(token_id)
        bids, asks = market.book.token_levels(market.token_index(token_id))
        return (bids[0][0] if bids else None), (asks[0][0] if asks else None)

    def _mid(self, token_id: str) -> str:
        bid, ask = self._best(token_id)
        if bid is None or ask is None:
            raise VenueError(404, "No orderbook exists for the requested token id")
        return f"{(bid + ask) / 2 / PIPS:g}"

    async def midpoint(self, request: web.Request) -> web.Response:
        return web.json_response({"mid": self._mid(request.query.get("token_id", ""))})

    async def midpoints(self, request: web.Request) -> web.Response:
        return web.json_response({i["token_id"]: self._mid(i["token_id"]) for i in await self._token_list(request)})

    def _price_of(self, token_id: str, side: str) -> str:
        """GET /price: side=BUY is the best bid, side=SELL the best ask (the price a resting order of that
        side would join; docs.polymarket.com/api-reference/market-data/get-market-price)."""
        if side not in ("BUY", "SELL"):
            raise VenueError(400, "Invalid side")
        if self._market_of(token_id).closed:  # as GET /book: a resolved market has no book, so no price either
            raise VenueError(404, "No orderbook exists for the requested token id")
        bid, ask = self._best(token_id)
        px = bid if side == "BUY" else ask
        return f"{(px or 0) / PIPS:g}"

    async def price(self, request: web.Request) -> web.Response:
        side = request.query.get("side", "BUY").upper()
        return web.json_response({"price": self._price_of(request.query.get("token_id", ""), side)})

    async def prices(self, request: web.Request) -> web.Response:
        """POST /prices [{token_id, side}] -> {token_id: {side: price}}."""
        out: dict[str, dict[str, str]] = {}
        for item in await self._token_list(request):
            side = str(item.get("side", "BUY")).upper()
            if self._market_of(item["token_id"]).closed:
                continue  # no book, no price: left out, as POST /books leaves out a resolved market's books
            out.setdefault(item["token_id"], {})[side] = self._price_of(item["token_id"], side)
        return web.json_response(out)

    async def spreads(self, request: web.Request) -> web.Response:
        """POST /spreads [{token_id}] -> {token_id: spread}."""
        out = {}
        for item in await self._token_list(request):
            bid, ask = self._best(item["token_id"])
            out[item["token_id"]] = f"{((ask or PIPS) - (bid or 0)) / PIPS:g}"
        return web.json_response(out)

    async def last_trades_prices(self, request: web.Request) -> web.Response:
        rows = []
        for item in await self._token_list(request):
            market = self._market_of(item["token_id"])
            px = market.last_trade_pips if market.token_index(item["token_id"]) == 0 else PIPS - market.last_trade_pips
            rows.append({"token_id": item["token_id"], "price": f"{px / PIPS:g}", "side": "BUY"})
        return web.json_response(rows)

    async def prices_history(self, request: web.Request) -> web.Response:
        """GET /prices-history?market=TOKEN&startTs=&endTs=&interval=&fidelity=: the token's midpoint a minute
        (polymm.sim.history; docs.polymarket.com/api-reference/markets/get-prices-history). `interval` (1m, 1h, 6h,
        1d, 1w, max, all) counts back from now; with startTs/endTs it is not needed; `fidelity` in minutes (≥ 1)."""
        q = request.query
        token_id = q.get("market") or ""
        if not token_id:
            raise VenueError(400, "market is required: the token id (asset id) to query")
        interval = q.get("interval")
        if interval is not None and interval not in (*INTERVAL_S, "max", "all"):
            raise VenueError(400, f"invalid interval {interval!r}: one of 1m, 1h, 6h, 1d, 1w, max, all")
        try:
            start = int(q["startTs"]) if q.get("startTs") else None
            end = int(q["endTs"]) if q.get("endTs") else None
            fidelity = int(q.get("fidelity") or 1)
        except ValueError as exc:
            raise VenueError(400, "startTs, endTs and fidelity must be integers") from exc
        if fidelity < 1:
            raise VenueError(400, "fidelity must be ≥ 1 (minutes)")
        if interval in INTERVAL_S and start is None:
            start = int(self.engine.now) - INTERVAL_S[interval]
        return web.json_response({"history": self.history.points(token_id, start, end, fidelity)})

    async def live_activity(self, request: web.Request) -> web.Response:
        """GET /markets/live-activity/{condition_id}: the shape of the capture clob_markets_live_activity.json."""
        m = self._condition(request)
        return web.json_response({"condition_id": m.condition_id, "id": int(m.condition_id[2:8], 16),
                                  "question": m.question, "market_slug": m.slug, "event_slug": m.slug,
                                  "series_slug": m.slug, "icon": "", "image": "", "tags": list(m.tags)})

    async def notifications(self, request: web.Request) -> web.Response:
        self._l2(request, "")
        return web.json_response([])  # the sim raises no notifications

    async def drop_notifications(self, request: web.Request) -> web.Response:
        self._l2(request, await self._body(request))
        return web.json_response("OK")

    async def closed_only(self, request: web.Request) -> web.Response:
        self._l2(request, "")
        return web.json_response({"closed_only": False})

    async def spread(self, request: web.Request) -> web.Response:
        bid, ask = self._best(request.query.get("token_id", ""))
        return web.json_response({"spread": f"{((ask or PIPS) - (bid or 0)) / PIPS:g}"})

    async def last_trade_price(self, request: web.Request) -> web.Response:
        token_id = request.query.get("token_id", "")
        market = self._market_of(token_id)
        px = market.last_trade_pips if market.token_index(token_id) == 0 else PIPS - market.last_trade_pips
        return web.json_response({"price": f"{px / PIPS:g}", "side": "BUY"})

    def _markets(self, rewarded_only: bool) -> list[SimMarket]:
        """Every market, or those with a reward program (a closed market's rewards have ended)."""
        return [m for m in self.engine.markets.values() if (m.rate_per_day > 0 and not m.closed) or not rewarded_only]

    async def markets(self, request: web.Request) -> web.Response:
        rows = [wire.clob_market_json(m) for m in self._markets(False)]
        return web.json_response(_page(rows, request.query.get("next_cursor"), 1000))

    async def sampling_markets(self, request: web.Request) -> web.Response:
        rows = [wire.clob_market_json(m) for m in self._markets(True)]
        return web.json_response(_page(rows, request.query.get("next_cursor"), 1000))

    def _simplified(self, m: SimMarket) -> dict:
        full = wire.clob_market_json(m)
        return {k: full[k] for k in ("condition_id", "rewards", "tokens", "active", "closed", "archived", "accepting_orders")}

    async def simplified_markets(self, request: web.Request) -> web.Response:
        rows = [self._simplified(m) for m in self._markets(False)]
        return web.json_response(_page(rows, request.query.get("next_cursor"), 1000))

    async def sampling_simplified(self, request: web.Request) -> web.Response:
        rows = [self._simplified(m) for m in self._markets(True)]
        return web.json_response(_page(rows, request.query.get("next_cursor"), 1000))

    def _condition(self, request: web.Request) -> SimMarket:
        market = self.engine.markets.get(request.match_info["condition_id"])
        if market is None:
            raise VenueError(404, "market not found")
        return market

    async def market(self, request: web.Request) -> web.Response:
        return web.json_response(wire.clob_market_json(self._condition(request)))

    async def clob_market(self, request: web.Request) -> web.Response:
        m = self._condition(request)
        return web.json_response({
            "r": {"mi": m.rewards_min_size, "ma": m.rewards_max_spread, "e": m.rate_per_day > 0, "moas": 4},
            "t": [{"t": t, "o": o} for t, o in zip(m.token_ids, m.outcomes)],
            "c": m.condition_id, "mos": m.min_order_size, "mts": m.tick_pips / PIPS,
            "mbf": 0, "tbf": 0, "ao": m.accepting_orders, "cbos": True, "aot": "2026-01-01T00:00:00Z", "ibce": True,
            "fd": {"r": m.fee_rate or 0.0, "e": 1, "to": True},  # fee rate, exponent, taker-only (docs: fees)
            **({"nr": True} if m.neg_risk else {}),  # the venue omits nr for markets that are not neg-risk
        })

    async def market_by_token(self, request: web.Request) -> web.Response:
        m = self._market_of(request.match_info["token_id"])
        return web.json_response({"condition_id": m.condition_id, "primary_token_id": m.token_ids[0],
                                  "secondary_token_id": m.token_ids[1]})

    async def rewards_current(self, request: web.Request) -> web.Response:
        rows = [wire.rewards_market_current_json(m) for m in self._markets(True)]
        return web.json_response(_page(rows, request.query.get("next_cursor"), 100))

    async def rewards_market(self, request: web.Request) -> web.Response:
        market = self._condition(request)
        rows = [wire.rewards_market_detail_json(market)] if market.rate_per_day > 0 else []
        return web.json_response(_page(rows, request.query.get("next_cursor"), 100))

    # ------------------------------------------------------------------ keys
    def _creds_json(self, creds: auth.ApiCredentials) -> web.Response:
        return web.json_response({"apiKey": creds.api_key, "secret": creds.secret, "passphrase": creds.passphrase})

    async def create_api_key(self, request: web.Request) -> web.Response:
        address, nonce = self._l1(request)
        return self._creds_json(self.engine.create_api_key(address, nonce))

    async def derive_api_key(self, request: web.Request) -> web.Response:
        address, nonce = self._l1(request)
        return self._creds_json(self.engine.derive_api_key(address, nonce))

    async def api_keys(self, request: web.Request) -> web.Response:
        api_key = self._l2(request, "")
        address = self.engine.credentials[api_key].address
        return web.json_response({"apiKeys": [k for k, c in self.engine.credentials.items() if c.address == address]})

    async def delete_api_key(self, request: web.Request) -> web.Response:
        """DELETE /auth/api-key (L2): the key that signed the request stops working; the reply is "OK"
        (the official polymarket-client checks for exactly that: polymarket/_internal/actions/auth.py)."""
        api_key = self._l2(request, await self._body(request))
        self.engine.credentials.pop(api_key, None)
        return web.json_response("OK")

    # Builder keys (docs.polymarket.com/builders/api-keys): created under an account's L2 key, replied as
    # {"key","secret","passphrase"}; listed as [{"key","createdAt","revokedAt"}]; revoked with "OK"
    # (the shapes polymarket-client parses: polymarket/_internal/actions/auth.py, models/clob/api_key.py).
    async def create_builder_key(self, request: web.Request) -> web.Response:
        api_key = self._l2(request, await self._body(request))
        creds = auth.derive_credentials(self.engine.venue_secret, f"builder:{api_key}", len(self._builder_keys(api_key)))
        self.builder_keys_by_owner.setdefault(api_key, []).append(
            {"key": creds.api_key, "createdAt": _iso(self.engine.now), "revokedAt": None})
        return web.json_response({"key": creds.api_key, "secret": creds.secret, "passphrase": creds.passphrase})

    def _builder_keys(self, api_key: str) -> list[dict]:
        return self.builder_keys_by_owner.get(api_key, [])

    async def builder_keys(self, request: web.Request) -> web.Response:
        return web.json_response(self._builder_keys(self._l2(request, "")))

    async def revoke_builder_key(self, request: web.Request) -> web.Response:
        """DELETE /auth/builder-api-key, authenticated by the builder key itself (POLY_BUILDER_API_KEY)."""
        key = request.headers.get("POLY_BUILDER_API_KEY", "")
        for rows in self.builder_keys_by_owner.values():
            for row in rows:
                if row["key"] == key and row["revokedAt"] is None:
                    row["revokedAt"] = _iso(self.engine.now)
                    return web.json_response("OK")
        raise VenueError(401, "Unauthorized/Invalid api key")

    async def builder_trades(self, request: web.Request) -> web.Response:
        """GET /builder/trades?builder_code=: trades whose taker order carried that builder code (the order's
        signed `builder` field); paginated like /data/trades (py-clob-client-v2 client.get_builder_trades)."""
        code = request.query.get("builder_code", "").lower()
        try:
            valid = code.startswith("0x") and len(code) == 66 and int(code, 16) != 0
        except ValueError:
            valid = False
        if not valid:
            raise VenueError(400, "invalid builder_code: a non-zero bytes32 hex string is required")
        rows = [wire.trade_json(t, t.taker_order.owner) for t in self.engine.trades
                if (t.taker_order.builder or "").lower() == code]
        return web.json_response(_page(rows, request.query.get("next_cursor"), 100))

    async def builder_fees(self, request: web.Request) -> web.Response:
        """GET /fees/builder-fees/{code}: the builder's own fee rates in bps; the sim's builders charge none."""
        return web.json_response({"builder_maker_fee_rate_bps": 0, "builder_taker_fee_rate_bps": 0})

    # ------------------------------------------------------------------ orders
    def _engine_up(self) -> None:
        """Order endpoints answer 425 Too Early while the matching engine restarts
        (docs.polymarket.com/trading/matching-engine, /resources/error-codes)."""
        if self.engine.engine_down:
            raise VenueError(425, "The matching engine is restarting")

    async def _json_body(self, request: web.Request) -> tuple[str, Any, str]:
        body = await self._body(request)
        api_key = self._l2(request, body)
        try:
            return api_key, json.loads(body) if body else None, body
        except json.JSONDecodeError as exc:
            raise VenueError(400, "Invalid payload: body is not JSON") from exc

    async def post_order(self, request: web.Request) -> web.Response:
        api_key, payload, _ = await self._json_body(request)
        self._engine_up()
        if not isinstance(payload, dict):
            raise VenueError(400, "Invalid order payload")
        self._limit(request, self.order_bucket, api_key, 1)
        reply = self.engine.post_order(api_key, payload)
        if not reply["success"]:
            return _error(400, reply["errorMsg"], code=reply.get("errorCode"))
        return web.json_response(reply)

    async def post_orders(self, request: web.Request) -> web.Response:
        api_key, payload, _ = await self._json_body(request)
        self._engine_up()
        if not isinstance(payload, list) or not payload:
            raise VenueError(400, "Invalid payload: expected a non-empty array of orders")
        if len(payload) > MAX_BATCH:
            raise VenueError(400, f"Too many orders in payload: {len(payload)}, max allowed: {MAX_BATCH}")
        self._limit(request, self.order_bucket, api_key, len(payload))
        replies = []
        for item in payload:
            try:
                replies.append(self.engine.post_order(api_key, item) if isinstance(item, dict)
                               else self.engine._reply_error("", "INVALID_ORDER_ERROR", "invalid order"))
            except VenueError as exc:
                if exc.status == 503:
                    raise
                if "post-only mode" in exc.message:  # a per-order refusal, in the batch reply
                    replies.append(self.engine._reply_error(_order_id_or_blank(self.engine, item.get("order", {}))
                                                            if isinstance(item, dict) else "", "POST_ONLY_MODE", exc.message))
                    continue
                order_id = ""
                if isinstance(item, dict) and isinstance(item.get("order"), dict):
                    order_id = _order_id_or_blank(self.engine, item["order"])
                replies.append(self.engine._reply_error(order_id, "INVALID_ORDER_ERROR", exc.message))
        return web.json_response(replies)

    async def cancel_order(self, request: web.Request) -> web.Response:
        api_key, payload, _ = await self._json_body(request)
        self._engine_up()
        if not isinstance(payload, dict) or "orderID" not in payload:
            raise VenueError(400, "Invalid payload: expected {\"orderID\": ...}")
        self._limit(request, self.cancel_bucket, api_key, 1)
        return web.json_response(self.engine.cancel(api_key, [str(payload["orderID"])]))

    async def cancel_orders(self, request: web.Request) -> web.Response:
        api_key, payload, _ = await self._json_body(request)
        self._engine_up()
        if not isinstance(payload, list):
            raise VenueError(400, "Invalid payload: expected an array of order ids")
        self._limit(request, self.cancel_bucket, api_key, max(1, len(payload)))
        return web.json_response(self.engine.cancel(api_key, [str(i) for i in payload]))

    async def cancel_all(self, request: web.Request) -> web.Response:
        api_key = self._l2(request, await self._body(request))
        self._engine_up()
        self._limit(request, self.cancel_bucket, api_key, None)
        reply = self.engine.cancel_where(api_key)
        self._charge(request, self.cancel_bucket, api_key, 1 + len(reply["canceled"]))
        return web.json_response(reply)

    async def cancel_market(self, request: web.Request) -> web.Response:
        api_key, payload, _ = await self._json_body(request)
        self._engine_up()
        payload = payload or {}
        self._limit(request, self.cancel_bucket, api_key, None)
        reply = self.engine.cancel_where(api_key, payload.get("market"), payload.get("asset_id"))
        self._charge(request, self.cancel_bucket, api_key, 1 + len(reply["canceled"]))
        return web.json_response(reply)

    def _visible_orders(self, request: web.Request, api_key: str) -> list:
        """Active orders, or under a stale-read fault the active orders of `stale_s` ago."""
        stale = request.get(STALE_S, 0.0)
        if not stale:
            return self.engine.active_orders(api_key)
        as_of = self.engine.now - stale
        return [
            o for o in self.engine.orders.values()
            if o.owner == api_key and o.created_at <= as_of and (o.closed_at is None or o.closed_at > as_of)
        ]

    async def open_orders(self, request: web.Request) -> web.Response:
        api_key = self._l2(request, "")
        q = request.query
        rows = [
            wire.open_order_json(o) for o in self._visible_orders(request, api_key)
            if (not q.get("market") or o.market.condition_id == q["market"])
            and (not q.get("asset_id") or o.token_id == q["asset_id"])
            and (not q.get("id") or o.id == q["id"])
        ]
        rows.sort(key=lambda r: (r["created_at"], r["id"]))
        return web.json_response(_page(rows, q.get("next_cursor"), 100))

    async def open_order(self, request: web.Request) -> web.Response:
        api_key = self._l2(request, "")
        oid = request.match_info["order_id"]
        for order in self._visible_orders(request, api_key):
            if order.id == oid:
                return web.json_response(wire.open_order_json(order))
        # Only active orders are returned: "not found" may mean filled, cancelled or never placed.
        return web.json_response(None)

    async def trades(self, request: web.Request) -> web.Response:
        api_key = self._l2(request, "")
        q = request.query
        after = int(q["after"]) if q.get("after", "").isdigit() else None
        before = int(q["before"]) if q.get("before", "").isdigit() else None
        rows = []
        for trade in self.engine.trades_for(api_key):
            taker = trade.taker_order
            tokens = {taker.token_id} | {f.order.token_id for f in trade.maker_fills}
            if q.get("id") and trade.id != q["id"]:
                continue
            if q.get("market") and taker.market.condition_id != q["market"]:
                continue
            if q.get("asset_id") and q["asset_id"] not in tokens:
                continue
            if after is not None and trade.match_time < after:
                continue
            if before is not None and trade.match_time >= before:
                continue
            if q.get("maker_address") and q["maker_address"].lower() not in (
                {taker.maker_address.lower()} | {f.order.maker_address.lower() for f in trade.maker_fills}
            ):
                continue
            rows.append(wire.trade_json(trade, api_key))
        return web.json_response(_page(rows, q.get("next_cursor"), 100))

    async def order_scoring(self, request: web.Request) -> web.Response:
        self._l2(request, "")
        oid = request.query.get("order_id", "")
        return web.json_response({"scoring": bool(self.sampler and self.sampler.order_scoring(oid))})

    async def orders_scoring(self, request: web.Request) -> web.Response:
        _, payload, _ = await self._json_body(request)
        ids = payload if isinstance(payload, list) else []
        return web.json_response({i: bool(self.sampler and self.sampler.order_scoring(i)) for i in ids})

    async def heartbeat(self, request: web.Request) -> web.Response:
        api_key, payload, _ = await self._json_body(request)
        hb_id = (payload or {}).get("heartbeat_id", "") if isinstance(payload, dict) else ""
        return web.json_response(self.engine.heartbeat(api_key, hb_id or ""))

    async def balance_allowance(self, request: web.Request) -> web.Response:
        """The balance of the wallet the key's owner trades through under `signature_type` (the SDKs send it:
        0 the EOA itself, 1/2/3 its proxy, safe or deposit wallet; none deployed: 0)."""
        api_key = self._l2(request, "")
        acct = self.engine.accounts.get(self._trading_address(request, api_key))
        if acct is None:
            return web.json_response({"balance": "0", "allowances": {auth.EXCHANGE_V2: str(2**256 - 1)}})
        if request.query.get("asset_type", "COLLATERAL").upper() == "CONDITIONAL":
            balance = acct.tokens.get(request.query.get("token_id", ""), 0)
        else:
            balance = acct.collateral
        return web.json_response({"balance": str(balance), "allowances": {auth.EXCHANGE_V2: str(2**256 - 1)}})

    def _trading_address(self, request: web.Request, api_key: str) -> str:
        """The wallet a per-user read is about: the key owner's wallet of the request's `signature_type` (both
        official clients send it on balance, rewards and notification reads), "" when none is deployed."""
        try:
            signature_type = int(request.query.get("signature_type", "0") or 0)
        except ValueError as exc:
            raise VenueError(400, "signature_type must be 0, 1, 2 or 3") from exc
        return self.engine.wallet_of(self.engine.owner_address[api_key], signature_type) or ""

    # ------------------------------------------------------------------ rewards (per user)
    async def rewards_user(self, request: web.Request) -> web.Response:
        api_key = self._l2(request, "")
        address = self._trading_address(request, api_key)
        date = request.query.get("date") or utc_date(self.engine.now)
        rows = [
            {"date": d, "condition_id": cid, "asset_address": wire.COLLATERAL_ASSET, "maker_address": address,
             "earnings": round(amount, 6), "asset_rate": 1.0}
            for (d, maker, cid), amount in sorted(self.engine.rewards.earnings.items())
            if d == date and maker == address
        ]
        return web.json_response(_page(rows, request.query.get("next_cursor"), 100))

    async def rewards_user_total(self, request: web.Request) -> web.Response:
        api_key = self._l2(request, "")
        address = self._trading_address(request, api_key)
        date = request.query.get("date") or utc_date(self.engine.now)
        total = sum(a for (d, maker, _), a in self.engine.rewards.earnings.items() if d == date and maker == address)
        return web.json_response([{"date": date, "asset_address": wire.COLLATERAL_ASSET, "maker_address": address,
                                   "earnings": round(total, 6), "asset_rate": 1.0}])

    async def rewards_user_markets(self, request: web.Request) -> web.Response:
        """GET /rewards/user/markets (L2): reward markets with the user's share and earnings of the day."""
        api_key = self._l2(request, "")
        address = self._trading_address(request, api_key)
        date = request.query.get("date") or utc_date(self.engine.now)
        rows = []
        for m in self._markets(True):
            share = self.engine.rewards.last_share.get(m.condition_id, {}).get(address, 0.0)
            earned = self.engine.rewards.earnings.get((date, address, m.condition_id), 0.0)
            rows.append({**wire.rewards_market_detail_json(m), "maker_address": address,
                         "earning_percentage": round(share * 100, 6),
                         "earnings": [{"asset_address": wire.COLLATERAL_ASSET, "earnings": round(earned, 6), "asset_rate": 1.0}]})
        return web.json_response(_page(rows, request.query.get("next_cursor"), 100))

    async def rewards_markets_multi(self, request: web.Request) -> web.Response:
        """GET /rewards/markets/multi: the reward markets' details, paginated."""
        rows = [wire.rewards_market_detail_json(m) for m in self._markets(True)]
        return web.json_response(_page(rows, request.query.get("next_cursor"), 100))

    async def rebates_current(self, request: web.Request) -> web.Response:
        """GET /rebates/current?date=&maker_address= (public): the maker's rebated fees per market for a day
        (docs.polymarket.com/api-reference/rebates/get-current-rebated-fees-for-a-maker)."""
        try:
            address = auth.checksum_address(request.query.get("maker_address", ""))
        except (ValueError, IndexError) as exc:
            raise VenueError(400, "invalid maker_address") from exc
        date = request.query.get("date") or utc_date(self.engine.now)
        rows = [{"date": d, "condition_id": cid, "asset_address": wire.COLLATERAL_ASSET, "maker_address": address,
                 "rebated_fees_usdc": round(amount, 6)}
                for (d, maker, cid), amount in sorted(self.engine.rewards.rebates_paid.items())
                if d == date and maker == address]
        return web.json_response(rows)

    async def rewards_percentages(self, request: web.Request) -> web.Response:
        api_key = self._l2(request, "")
        address = self._trading_address(request, api_key)
        return web.json_response({
            cid: round(shares[address] * 100, 6)
            for cid, shares in self.engine.rewards.last_share.items() if shares.get(address)
        })

    # ------------------------------------------------------------------ Gamma and Data API
    async def gamma_markets(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            limit = min(int(q.get("limit", "100")), 500)
            offset = int(q.get("offset", "0"))
        except ValueError as exc:
            raise VenueError(422, "limit and offset must be integers") from exc
        markets = list(self.engine.markets.values())
        if q.get("condition_ids"):
            wanted = set(q.getall("condition_ids"))
            markets = [m for m in markets if m.condition_id in wanted]
        # Gamma's `closed` filter defaults to false: a closed market is listed only when asked `closed=true`
        # (dilettante-trading/polyoxide, polyoxide-gamma/src/api/markets.rs `get_many`)
        closed = q.get("closed", "false").lower() == "true"
        markets = [m for m in markets if m.closed == closed]
        index = self._gamma_index()
        rows = [wire.gamma_market_json(m, index[m.condition_id]) for m in markets]
        return web.json_response(rows[offset:offset + limit])

    def _gamma_index(self) -> dict[str, int]:
        """A market's place in the venue's list: its Gamma id is 500000 + that, the same in every listing."""
        return {cid: i for i, cid in enumerate(self.engine.markets)}

    async def gamma_market(self, request: web.Request) -> web.Response:
        """Gamma GET /markets/{id} and /markets/slug/{slug}: one market (polymarket-client get_market)."""
        index = self._gamma_index()
        key, slug = request.match_info.get("market_id"), request.match_info.get("slug")
        for m in self.engine.markets.values():
            if (slug is not None and m.slug == slug) or (key is not None and key == str(500000 + index[m.condition_id])):
                return web.json_response(wire.gamma_market_json(m, index[m.condition_id]))
        raise VenueError(404, "market not found")

    def _gamma_rows(self, q) -> list[dict]:
        markets = list(self.engine.markets.values())
        if q.get("condition_ids"):
            wanted = set(q.getall("condition_ids"))
            markets = [m for m in markets if m.condition_id in wanted]
        closed = q.get("closed", "false").lower() == "true"
        index = self._gamma_index()
        return [wire.gamma_market_json(m, index[m.condition_id]) for m in markets if m.closed == closed]

    async def gamma_markets_keyset(self, request: web.Request) -> web.Response:
        """Gamma GET /markets/keyset?limit=&after_cursor=: {"markets": [...], "next_cursor": str | null} — the listing
        polymarket-client's list_markets walks (polymarket/_internal/actions/gamma.py list_markets_spec)."""
        q = request.query
        try:
            limit = min(int(q.get("limit", "100")), 500)
            offset = _cursor_offset(q.get("after_cursor"))
        except ValueError as exc:
            raise VenueError(422, "limit must be an integer") from exc
        rows = self._gamma_rows(q)
        chunk = rows[max(offset, 0):max(offset, 0) + limit] if offset >= 0 else []
        end = max(offset, 0) + limit
        nxt = base64.b64encode(str(end).encode()).decode() if offset >= 0 and end < len(rows) else None
        return web.json_response({"markets": chunk, "next_cursor": nxt})

    async def data_prices_history_v2(self, request: web.Request) -> web.Response:
        """Data API GET /v2/prices-history?token_id=: the sim keeps no history, so one point: the current midpoint
        (or none), in the shape polymarket-client parses (models/data/analytics.py PriceHistoryPoint)."""
        token_id = request.query.get("token_id", "")
        points = []
        if token_id in self.engine.market_by_token:
            bid, ask = self._best(token_id)
            if bid is not None and ask is not None:
                points.append({"timestamp": int(self.engine.now), "price": round((bid + ask) / 2 / PIPS, 4),
                               "resolution_seconds": 0})
        return web.json_response({"data": points, "pagination": {"limit": 1, "has_more": False, "next_cursor": None}})

    async def data_trades_v2(self, request: web.Request) -> web.Response:
        """Data API GET /v2/trades?user=&condition_id=&side=&start=&end=&limit=&cursor=: the user's fills, newest
        first, one row per order of theirs in a trade (not FAILED), with the pagination block of /v2/positions
        (the shape polymarket-client parses: models/data/activity.py Trade, _internal/data_envelope.py)."""
        q = request.query
        acct = self._user_account(request) if q.get("user") else None
        address = acct.address if acct else None
        try:
            limit = min(int(q.get("limit", "100")), 1000)
            offset = max(_cursor_offset(q.get("cursor")), 0)
            start, end = (int(q[k]) if q.get(k) else None for k in ("start", "end"))
        except ValueError as exc:
            raise VenueError(400, "limit, start and end must be integers") from exc
        wanted = set(q.getall("condition_id")) if q.get("condition_id") else None
        rows = []
        for trade in reversed(self.engine.trades):
            if trade.status == "FAILED" or trade.taker_order.internal and all(f.order.internal for f in trade.maker_fills):
                continue
            market = trade.taker_order.market
            if wanted and market.condition_id not in wanted:
                continue
            if start is not None and trade.match_time < start or end is not None and trade.match_time > end:
                continue
            legs = [(trade.taker_order, trade.size, trade.price_pips)] + [(f.order, f.matched, f.price_pips)
                                                                        for f in trade.maker_fills]
            for order, size, pips in legs:
                if address and order.maker_address != address or order.internal and not address:
                    continue
                if q.get("side") and order.side != q["side"].upper():
                    continue
                index = market.token_index(order.token_id)
                rows.append({"proxy_wallet": order.maker_address.lower(), "token_id": order.token_id,
                             "condition_id": market.condition_id, "side": order.side, "size": size / MICRO,
                             "price": pips / PIPS, "timestamp": trade.match_time,
                             "transaction_hash": trade.transaction_hash, "title": market.question, "slug": market.slug,
                             "outcome": market.outcomes[index], "outcome_index": index})
        chunk = rows[offset:offset + limit]
        more = offset + limit < len(rows)
        nxt = base64.b64encode(str(offset + limit).encode()).decode() if more else None
        return web.json_response({"data": chunk, "pagination": {"limit": limit, "has_more": more, "next_cursor": nxt}})

    def _user_account(self, request: web.Request):
        if "user" not in request.query:
            raise VenueError(400, "user is required (an address: 0x followed by 40 hex digits)")
        return self.engine.accounts.get(_address(request.query["user"], "user"))

    async def positions(self, request: web.Request) -> web.Response:
        """Data API GET /positions with its documented query (docs.polymarket.com/api-reference/endpoints/data/
        get-positions): sizeThreshold (default 1, ≥ 0), limit (default 100, 0–500), offset (0–10000), market
        (comma-separated condition ids), redeemable / mergeable (true: only those), sortBy (default TOKENS) and
        sortDirection (default DESC). A value out of range is a 400 naming the parameter and what is allowed."""
        acct = self._user_account(request)
        q = request.query

        def number(name: str, default: float, low: float, high: float | None, integer: bool = False) -> float:
            raw = q.get(name)
            if raw is None:
                return default
            try:
                value = int(raw) if integer else float(raw)
            except ValueError:
                value = None
            if value is None or value < low or (high is not None and value > high):
                span = f"{low:g}–{high:g}" if high is not None else f"≥ {low:g}"
                raise VenueError(400, f"{name}: {raw!r} — must be {'an integer' if integer else 'a number'} {span}")
            return value

        threshold = number("sizeThreshold", 1, 0, None)
        limit, offset = int(number("limit", 100, 0, 500, True)), int(number("offset", 0, 0, 10000, True))
        flags = {}
        for name in ("redeemable", "mergeable"):
            raw = q.get(name, "false").lower()
            if raw not in ("true", "false"):
                raise VenueError(400, f"{name}: {q[name]!r} — must be true or false")
            flags[name] = raw == "true"
        sort_keys = {"TOKENS": "size", "CURRENT": "currentValue", "INITIAL": "initialValue", "CASHPNL": "cashPnl",
                     "PERCENTPNL": "percentPnl", "TITLE": "title", "RESOLVING": "endDate", "PRICE": "curPrice",
                     "AVGPRICE": "avgPrice"}
        sort_by, direction = q.get("sortBy", "TOKENS").upper(), q.get("sortDirection", "DESC").upper()
        if sort_by not in sort_keys:
            raise VenueError(400, f"sortBy: {q['sortBy']!r} — allowed: {', '.join(sort_keys)}")
        if direction not in ("ASC", "DESC"):
            raise VenueError(400, f"sortDirection: {q['sortDirection']!r} — allowed: ASC, DESC")
        markets = {m for m in q.get("market", "").split(",") if m}
        if not acct:
            return web.json_response([])
        rows = wire.positions_v1_json(acct, self.engine.market_by_token, min_micro=round(threshold * MICRO))
        rows = [r for r in rows if (not markets or r["conditionId"] in markets)
                and (not flags["redeemable"] or r["redeemable"]) and (not flags["mergeable"] or r["mergeable"])]
        rows.sort(key=lambda r: r[sort_keys[sort_by]], reverse=direction == "DESC")
        return web.json_response(rows[offset:offset + limit])

    async def positions_v2(self, request: web.Request) -> web.Response:
        acct = self._user_account(request)
        empty = {"data": [], "pagination": {"limit": 100, "has_more": False, "next_cursor": None}}
        return web.json_response(wire.positions_v2_json(acct, self.engine.market_by_token) if acct else empty)

    # ------------------------------------------------------------------ WebSockets
    def _on_event(self, event: Event) -> None:
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

    async def _flush_ws(self) -> None:
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
                await self._flush_ws()
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

    # ------------------------------------------------------------------ admin
    async def sim_state(self, request: web.Request) -> web.Response:
        engine = self.engine
        accounts = {}
        for address, acct in engine.accounts.items():
            if acct.unlimited:
                continue
            accounts[address] = {
                "collateral": acct.collateral / MICRO,
                "positions": {t: s / MICRO for t, s in acct.tokens.items()},
                "redemption": _redemption(engine, acct),  # positions in resolved markets, at 1 or 0 a share
                # bought too recently to sell (`--balance-delay`): the venue refuses a sell of these for now
                "locked": engine.locked_by_token(address),
                "open_orders": [wire.open_order_json(o) for o in acct.open_orders.values()],
                "api_keys": [k for k, c in engine.credentials.items() if c.address == address],
                "rewards_earned": round(sum(a for (_, m, _), a in engine.rewards.earnings.items() if m == address), 6),
                **({"wallet_of": engine.wallets[address][0], "signature_type": engine.wallets[address][1]}
                   if address in engine.wallets else {}),
                **money_of(engine, address),
            }
        api_keys = set(engine.credentials)
        trades = [wire.trade_json(t, t.taker_order.owner) for t in engine.trades if t.participant_owners() & api_keys]
        return web.json_response({
            "now": engine.now, "mode": engine.mode, "accounts": accounts, "trades": trades,
            "markets": len(engine.markets), "faults": self.faults.summary(),
            "lifecycle": {m.condition_id: {"tick_size": m.tick_pips / PIPS, "accepting_orders": m.accepting_orders,
                                           "closed": m.closed, "winner": m.winner}
                          for m in engine.markets.values()
                          if not m.accepting_orders or m.closed or m.tick_pips != m.listed_tick_pips},
            "paid_days": list(engine.rewards.paid_days),
            "merges": [tx.state_json() for tx in self.relayer.transactions.values()],
            "engine": self._engine_state(),
            "rate_limits": {"enabled": self.rate_limits, "throttled": self.throttled, "ip_refused": self.ip_refused},
        })

    async def sim_requests(self, request: web.Request) -> web.Response:
        return web.json_response({"counts": dict(self.requests), "total": sum(self.requests.values())})

    async def sim_faults_get(self, request: web.Request) -> web.Response:
        return web.json_response({"plan": self.faults.spec.model_dump(), "fired": [f.__dict__ for f in self.faults.fired]})

    async def sim_faults(self, request: web.Request) -> web.Response:
        try:
            spec = FaultPlanSpec.model_validate_json(await self._body(request) or "{}")
        except ValidationError as exc:  # one clause per problem, without pydantic's boilerplate
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']} (got {e.get('input')!r})"
                                 for e in exc.errors())
            raise VenueError(400, f"invalid fault plan: {problems}") from exc
        except ValueError as exc:
            raise VenueError(400, f"invalid fault plan: {exc}") from exc
        self.faults = FaultPlan(spec)
        return web.json_response({"ok": True, "rules": len(spec.rules)})

    async def sim_mode(self, request: web.Request) -> web.Response:
        data = await self._admin_body(request)
        mode = data.get("mode")
        if mode not in ("normal", "trading-disabled", "cancel-only"):
            raise VenueError(400, f"mode {mode!r} — allowed: normal, trading-disabled, cancel-only")
        self.engine.mode = mode
        return web.json_response({"mode": mode})

    async def sim_take(self, request: web.Request) -> web.Response:
        data = await self._admin_body(request)
        try:
            result = take(self.engine, str(data["token_id"]), str(data["side"]).upper(), float(data["price"]), float(data["size"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise VenueError(400, f"take needs token_id, side (BUY|SELL), price, size: {exc}") from exc
        return web.json_response(result)

    async def sim_advance(self, request: web.Request) -> web.Response:
        seconds = _number(await self._admin_body(request), "seconds", default=0, minimum=0)
        steps = self.engine.advance(seconds)
        return web.json_response({"now": self.engine.now, "steps": steps})

    async def sim_restart(self, request: web.Request) -> web.Response:
        """Start an (unscheduled) matching-engine restart now: `{"down_s": 90, "post_only_s": 120}`."""
        data = await self._admin_body(request)
        down, post_only = _number(data, "down_s", 90, minimum=0), _number(data, "post_only_s", 120, minimum=0)
        self.engine.restart(down, post_only)
        return web.json_response(self._engine_state())

    async def sim_wallet(self, request: web.Request) -> web.Response:
        """POST /_sim/wallet {"owner", "signature_type": 1|2|3, "address"?, "collateral"?}: deploy a contract wallet
        (proxy, safe or deposit wallet) for an EOA, funded like a new account; replies its address."""
        data = await self._admin_body(request)
        try:
            owner, kind = _address(data.get("owner"), "owner"), int(data["signature_type"])
            collateral = None if data.get("collateral") is None else float(data["collateral"])
            address = self.engine.deploy_wallet(owner, kind, data.get("address"), collateral)
        except (KeyError, TypeError, ValueError) as exc:
            raise VenueError(400, f"wallet needs owner (an address) and signature_type (1, 2 or 3): {exc}") from exc
        return web.json_response({"address": address, "owner": auth.checksum_address(owner), "signature_type": kind})

    async def relayer_deployed(self, request: web.Request) -> web.Response:
        """The relayer's GET /deployed?address=&type= (WALLET | PROXY | SAFE): whether that contract wallet exists
        (polymarket-client asks before trading through one: polymarket/_internal/actions/relayer/deployed.py)."""
        kinds = {"PROXY": 1, "SAFE": 2, "WALLET": 3}
        try:
            address = auth.checksum_address(request.query.get("address", ""))
        except (ValueError, IndexError) as exc:
            raise VenueError(400, "invalid address") from exc
        wallet = self.engine.wallets.get(address)
        wanted = kinds.get(request.query.get("type", "").upper())
        return web.json_response({"deployed": wallet is not None and (wanted is None or wallet[1] == wanted)})

    # The relayer (polymm.sim.relayer has the sources): nonces, submit, transaction status.
    def _relayer_auth(self, request: web.Request, body: str = "") -> None:
        secrets = {}
        for owner, rows in self.builder_keys_by_owner.items():
            for index, row in enumerate(rows):
                if row["revokedAt"] is None:
                    creds = auth.derive_credentials(self.engine.venue_secret, f"builder:{owner}", index)
                    secrets[creds.api_key] = (creds.secret, creds.passphrase)
        self.relayer.authenticate(request.headers, request.method, request.path_qs.removeprefix("/relayer"), body,
                                  secrets)

    def _relayer_query(self, request: web.Request) -> tuple[str, str]:
        return request.query.get("address", ""), request.query.get("type", "").upper()

    async def relayer_nonce(self, request: web.Request) -> web.Response:
        """GET /nonce?address=&type= (builder-relayer-client src/endpoints.ts GET_NONCE): {"nonce"}."""
        address, kind = self._relayer_query(request)
        return web.json_response({"nonce": str(self.relayer.nonce(address, kind))})

    async def relayer_relay_payload(self, request: web.Request) -> web.Response:
        """GET /relay-payload?address=&type=PROXY: the relay's address and the nonce a PROXY transaction signs
        (polymarket-client relayer/nonce.py fetch_relay_payload)."""
        address, kind = self._relayer_query(request)
        return web.json_response({"address": RELAY_ADDRESS, "nonce": str(self.relayer.nonce(address, kind or "PROXY"))})

    async def relayer_params(self, request: web.Request) -> web.Response:
        """GET /v1/account/transactions/params?address=&type=SAFE|WALLET (polymarket-client relayer/nonce.py)."""
        address, kind = self._relayer_query(request)
        return web.json_response({"address": self.relayer.wallet_for(address, kind),
                                  "nonce": str(self.relayer.nonce(address, kind))})

    async def relayer_submit(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        self._relayer_auth(request, body)
        try:
            data = json.loads(body or "{}")
        except ValueError as exc:
            raise VenueError(400, f"the body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise VenueError(400, "the body must be a JSON object")
        return web.json_response(self.relayer.submit(data))

    def _relayed(self, transaction_id: str):
        tx = self.relayer.transactions.get(transaction_id)
        if tx is None:
            raise VenueError(404, f"transaction {transaction_id!r} not found")
        return tx

    async def relayer_transaction(self, request: web.Request) -> web.Response:
        """GET /transaction?id= : a one-element array of RelayerTransaction (the docs' example reply)."""
        return web.json_response([self._relayed(request.query.get("id", "")).relayer_json()])

    async def relayer_gasless_transaction(self, request: web.Request) -> web.Response:
        """GET /v1/account/transactions/{id}: what polymarket-client polls (relayer/poll.py)."""
        return web.json_response(self._relayed(request.match_info["transaction_id"]).gasless_json())

    async def relayer_transactions(self, request: web.Request) -> web.Response:
        """GET /transactions (builder-relayer-client GET_TRANSACTIONS), authenticated: the transactions signed by
        the key's owner (Relayer API key) or all the builder's (Builder API key), newest first."""
        self._relayer_auth(request)
        owner = request.headers.get("RELAYER_API_KEY_ADDRESS")
        rows = [tx.relayer_json() for tx in self.relayer.transactions.values()
                if owner is None or tx.owner.lower() == owner.lower()]
        return web.json_response(rows[::-1])

    async def sim_relayer_key(self, request: web.Request) -> web.Response:
        """Admin: a Relayer API key for an address (the real ones are made on polymarket.com, Settings > API Keys)."""
        data = await self._admin_body(request)
        return web.json_response(self.relayer.issue_key(str(data.get("address", ""))))

    async def rpc(self, request: web.Request) -> web.Response:
        """A minimal Polygon JSON-RPC for polymarket-client's merge: eth_chainId, eth_getBlockByNumber (the block's
        timestamp: the simulated clock), eth_call of ERC-1155 balanceOfBatch (on-chain balances). Anything else is
        a JSON-RPC error (the client falls back where it can, e.g. on eth_estimateGas)."""
        data = json.loads(await self._body(request) or "{}")
        method, params, rid = data.get("method"), data.get("params") or [], data.get("id")

        def result(value):
            return web.json_response({"jsonrpc": "2.0", "id": rid, "result": value})
        if method == "eth_chainId":
            return result(hex(self.engine.settings.chain_id))
        if method == "eth_getBlockByNumber":
            return result({"number": hex(int(self.engine.now) // 2), "timestamp": hex(int(self.engine.now))})
        if method == "eth_call" and params and isinstance(params[0], dict):
            raw = bytes.fromhex(str(params[0].get("data", "0x"))[2:])
            if raw[:4] == keccak(b"balanceOfBatch(address[],uint256[])")[:4]:
                owners, ids = abi_decode(["address[]", "uint256[]"], raw[4:])
                values = [max(self.relayer.onchain_tokens(auth.checksum_address(o), str(i)), 0)
                          for o, i in zip(owners, ids)]
                return result("0x" + abi_encode(["uint256[]"], [values]).hex())
        return web.json_response({"jsonrpc": "2.0", "id": rid,
                                  "error": {"code": -32601, "message": f"{method} is not served by the simulator"}})

    def _engine_state(self) -> dict:
        e = self.engine
        return {"down": e.engine_down, "post_only": e.post_only_mode, "down_until": e.down_until,
                "post_only_until": e.post_only_until, "restarts": e.restarts}

    async def sim_fund(self, request: web.Request) -> web.Response:
        data = await self._admin_body(request)
        address, collateral = _address(data.get("address"), "address"), _number(data, "collateral", 0)
        tokens = data.get("tokens") or {}
        if not isinstance(tokens, dict):
            raise VenueError(400, "tokens must be an object {token_id: shares}")
        shares: dict[str, Decimal] = {}
        for token_id, size in tokens.items():
            if token_id not in self.engine.market_by_token:
                raise VenueError(400, f"tokens: unknown token_id {token_id!r}")
            try:
                shares[token_id] = Decimal(str(size)) if not isinstance(size, bool) else Decimal(-1)
            except ArithmeticError:
                shares[token_id] = Decimal(-1)
            if not shares[token_id].is_finite() or shares[token_id] < 0:
                raise VenueError(400, f"tokens: {token_id[:12]}…: {size!r} must be a number of shares ≥ 0")
        acct = self.engine.fund(address, collateral)
        for token_id, size in shares.items():
            acct.tokens[token_id] = acct.tokens.get(token_id, 0) + round(size * MICRO)
        return web.json_response({"address": acct.address, "collateral": acct.collateral / MICRO})

    async def sim_market(self, request: web.Request) -> web.Response:
        """POST /_sim/market {"condition_id", and any of: "tick_size" (0.01, 0.001, ...), "accepting_orders"
        (bool), "closed" (true), "winner" (0 | 1 | an outcome's name: resolves and closes), "at" (simulated unix
        time: close/resolve then, not now)}: a market's lifecycle (polymm.sim.lifecycle)."""
        data = await self._admin_body(request)
        market = self._admin_market(data)
        allowed = {"condition_id", "tick_size", "accepting_orders", "closed", "winner", "at"}
        if set(data) - allowed:
            raise VenueError(400, f"unknown field(s) {sorted(set(data) - allowed)}; allowed: {sorted(allowed)}")
        # everything is checked before anything changes: a refused request leaves the market as it was
        winner = data.get("winner")
        try:
            if isinstance(winner, str):
                if winner not in market.outcomes:
                    raise ValueError(f"winner {winner!r} is not an outcome of the market: {list(market.outcomes)}")
                winner = market.outcomes.index(winner)
            elif winner is not None and (isinstance(winner, bool) or winner not in (0, 1)):
                raise ValueError(f"winner {winner!r} — must be 0, 1 or an outcome's name: {list(market.outcomes)}")
            winner = None if winner is None else int(winner)
            if "accepting_orders" in data and not isinstance(data["accepting_orders"], bool):
                raise ValueError("accepting_orders must be true or false")
            if data.get("accepting_orders") is True and (market.closed or data.get("closed") or winner is not None):
                raise ValueError("a closed market does not accept orders again")
            if "closed" in data and data["closed"] is not True:
                raise ValueError("closed can only be set to true (a market does not reopen)")
            closing = data.get("closed") is True or winner is not None
            if "at" in data and not closing:
                raise ValueError("at (when to close) needs closed: true or a winner")
            at = _number(data, "at") if "at" in data else None
            tick = lifecycle.tick_pips_of(data["tick_size"]) if "tick_size" in data else None
            if winner is not None and market.winner is not None and winner != market.winner:
                raise ValueError(f"the market already resolved to outcome {market.winner}")
        except (TypeError, ValueError) as exc:
            raise VenueError(400, str(exc)) from exc
        cancelled = 0
        if tick is not None:
            lifecycle.change_tick(self.engine, market, tick)
        if "accepting_orders" in data:
            lifecycle.set_accepting(market, data["accepting_orders"])
        if closing:
            if at is not None and at > self.engine.now:  # an `at` already passed closes now, not at the next advance
                self.engine.schedule_resolution(market.condition_id, at, winner)
            else:
                cancelled = lifecycle.close(self.engine, market, winner)
        self.engine.flush_book_events()
        return web.json_response({"condition_id": market.condition_id, "tick_size": market.tick_pips / PIPS,
                                  "accepting_orders": market.accepting_orders, "closed": market.closed,
                                  "winner": market.winner, "orders_cancelled": cancelled})

    async def sim_rewards(self, request: web.Request) -> web.Response:
        """POST /_sim/rewards {"condition_id", "rate_per_day"}: change a market's reward rate; 0 takes it off the
        reward list (/rewards/markets/current) while it keeps trading, as when a program ends."""
        data = await self._admin_body(request)
        market = self._admin_market(data)
        rate = _number(data, "rate_per_day", minimum=0)
        market.rate_per_day = rate
        return web.json_response({"condition_id": market.condition_id, "rate_per_day": rate})


def _redemption(engine: Engine, acct) -> dict[str, dict]:
    """Positions in resolved markets: {token_id: {"shares", "value_per_share" (1 or 0), "value"}}."""
    out = {}
    for token_id, micro in acct.tokens.items():
        per_share = lifecycle.redemption_value(engine.market_by_token[token_id], token_id)
        if per_share is not None:
            out[token_id] = {"shares": micro / MICRO, "value_per_share": per_share, "value": round(micro / MICRO * per_share, 6)}
    return out


def _per_market(items, address: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for (_, maker, cid), amount in items:
        if maker == address:
            out[cid] = round(out.get(cid, 0.0) + amount, 6)
    return out


def money_of(engine: Engine, address: str) -> dict:
    """An account's fees, rebates and rewards as `/_sim/state` shows them (keys documented in the README):
    `fees_paid` (taker fees of its trades that did not fail), `rebates` and `rewards`, each with `accrued`
    (rewards: sampled so far; rebates: worked out at the daily payouts so far), `paid` (credited to the
    collateral at a payout, ≥ $1 a day) and `by_market` ({condition_id: {"accrued", "paid"}})."""
    ledger = engine.rewards
    fees_paid = sum(f.taker_fee for t in engine.trades if t.status != "FAILED" and t.taker_order.maker_address == address
                    for f in t.maker_fills)
    fees_by_market: dict[str, float] = {}
    for t in engine.trades:
        if t.status != "FAILED" and t.taker_order.maker_address == address and t.taker_fee:
            cid = t.taker_order.market.condition_id
            fees_by_market[cid] = round(fees_by_market.get(cid, 0.0) + t.taker_fee / MICRO, 6)

    def block(accrued: dict, paid: dict) -> dict:
        acc, pd = _per_market(accrued.items(), address), _per_market(paid.items(), address)
        return {"accrued": round(sum(acc.values()), 6), "paid": round(sum(pd.values()), 6),
                "by_market": {cid: {"accrued": acc.get(cid, 0.0), "paid": pd.get(cid, 0.0)} for cid in sorted(set(acc) | set(pd))}}

    return {
        "fees_paid": round(fees_paid / MICRO, 6),
        "fees_by_market": fees_by_market,
        "rebates": block(ledger.rebates, ledger.rebates_paid),
        "rewards": block(ledger.earnings, ledger.paid),
    }


class _RateLimited(VenueError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(429, "Too Many Requests")
        self.retry_after = retry_after


def _iso(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _consteq(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _order_id_or_blank(engine: Engine, order: dict) -> str:
    market = engine.market_by_token.get(str(order.get("tokenId", "")))
    if market is None:
        return ""
    try:
        return "0x" + auth.order_digest(order, engine.settings.chain_id, market.neg_risk).hex()
    except auth.SignatureError:
        return ""


def take(engine: Engine, token_id: str, side: str, price: float, size: float) -> dict:
    """A simulated taker's FAK order executed now (the admin `/_sim/take`)."""
    from polymm.sim.model import SimOrder
    from polymm.sim.traders import TAKER_ADDRESS, _owner

    market = engine.market_by_token.get(token_id)
    if market is None:
        raise ValueError(f"unknown token_id {token_id}")
    if side not in ("BUY", "SELL"):
        raise ValueError("side must be BUY or SELL")
    pips = round(price * PIPS)
    if not 0 < pips < PIPS or size <= 0:
        raise ValueError("price must be in (0, 1) and size > 0")
    acct = engine.account(TAKER_ADDRESS, unlimited=True)
    engine.owner_address.setdefault(_owner(acct.address), acct.address)
    order = SimOrder(
        id=engine.new_hash(), owner=_owner(acct.address), maker_address=acct.address, market=market,
        token_id=token_id, side=side, price_pips=pips, original_size=round(Decimal(str(size)) * MICRO), order_type="FAK",
        expiration=0, created_at=engine.now, internal=True,
    )
    reply = engine.execute(order, admin=True)
    return {"order_id": order.id, "status": reply["status"], "filled": order.size_matched / MICRO,
            "trade_ids": reply["tradeIDs"]}
