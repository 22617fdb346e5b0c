"""The CLOB's authenticated surface over the engine: API and builder keys, orders and cancels, the account's orders,
trades, heartbeats, balance and allowance, and its rewards.

Authenticated as the venue does (L1 EIP-712 for keys, L2 HMAC for the rest: polymm.sim.rest); order and cancel
endpoints draw from per-signer token buckets (docs.polymarket.com trading-rate-limits; polymm.sim.ratelimits) and
answer 425 while the matching engine restarts.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable

from aiohttp import web

from polymm.sim import auth, rest, wire
from polymm.sim.engine import Engine
from polymm.sim.orders import VenueError, order_refusal
from polymm.sim.payouts import RewardSampler, utc_date
from polymm.sim.ratelimits import TokenBucket
from polymm.sim.wire import iso_time

MAX_BATCH = 15


class ClobAccount:
    """Everything behind an API key: keys, orders, cancels, the account's reads."""

    def __init__(self, engine: Engine, sampler: RewardSampler | None, rate_limits: bool,
                 clock: Callable[[], float] | None = None) -> None:
        self.engine = engine
        self.sampler = sampler
        self.rate_limits = rate_limits
        self.order_bucket = TokenBucket(40, 60, clock=clock or time.monotonic)
        self.cancel_bucket = TokenBucket(80, 120, clock=clock or time.monotonic)
        self.builder_keys_by_owner: dict[str, list[dict]] = {}  # account api key -> its builder keys

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/notifications", self.notifications),
            web.delete("/notifications", self.drop_notifications),
            web.get("/auth/ban-status/closed-only", self.closed_only),
            web.get("/rewards/user/markets", self.rewards_user_markets),
            web.post("/auth/api-key", self.create_api_key),
            web.get("/auth/derive-api-key", self.derive_api_key),
            web.get("/auth/api-keys", self.api_keys),
            web.delete("/auth/api-key", self.delete_api_key),
            web.post("/auth/builder-api-key", self.create_builder_key),
            web.get("/auth/builder-api-key", self.builder_keys),
            web.delete("/auth/builder-api-key", self.revoke_builder_key),
            web.get("/builder/trades", self.builder_trades),
            web.post("/order", self.post_order),
            web.post("/orders", self.post_orders),
            web.delete("/order", self.cancel_order),
            web.delete("/orders", self.cancel_orders),
            web.delete("/cancel-all", self.cancel_all),
            web.delete("/cancel-market-orders", self.cancel_market),
            web.get("/data/orders", self.open_orders),
            web.get("/data/order/{order_id}", self.open_order),
            web.get("/data/trades", self.trades),
            web.get("/order-scoring", self.order_scoring),
            web.post("/orders-scoring", self.orders_scoring),
            web.post("/v1/heartbeats", self.heartbeat),
            web.get("/balance-allowance", self.balance_allowance),
            web.get("/balance-allowance/update", self.balance_allowance),
            web.get("/rewards/user", self.rewards_user),
            web.get("/rewards/user/total", self.rewards_user_total),
            web.get("/rewards/user/percentages", self.rewards_percentages),
        ]

    def _limit(self, request: web.Request, bucket: TokenBucket, api_key: str, cost: int | None) -> None:
        """Per-signer buckets: every API key of one wallet draws from the same bucket. `cost` None: admitted with
        one token, charged after the fact by `_charge` (cancel-all, cancel-market-orders)."""
        if not self.rate_limits:
            return
        signer = self.engine.owner_address.get(api_key, api_key)
        wait, state = bucket.take(signer, cost) if cost is not None else bucket.admit_then_charge(signer)
        request[rest.RATE_STATE] = state
        if wait:
            raise rest.RateLimited(max(1, int(wait + 0.999)))

    def _charge(self, request: web.Request, bucket: TokenBucket, api_key: str, cost: int) -> None:
        if self.rate_limits:
            request[rest.RATE_STATE] = bucket.charge(self.engine.owner_address.get(api_key, api_key), cost)

    # ------------------------------------------------------------------ notifications

    async def notifications(self, request: web.Request) -> web.Response:
        rest.l2(self.engine, request, "")
        return web.json_response([])  # the sim raises no notifications

    async def drop_notifications(self, request: web.Request) -> web.Response:
        rest.l2(self.engine, request, await rest.body_text(request))
        return web.json_response("OK")

    async def closed_only(self, request: web.Request) -> web.Response:
        rest.l2(self.engine, request, "")
        return web.json_response({"closed_only": False})

    # ------------------------------------------------------------------ keys

    def _creds_json(self, creds: auth.ApiCredentials) -> web.Response:
        return web.json_response({"apiKey": creds.api_key, "secret": creds.secret, "passphrase": creds.passphrase})

    async def create_api_key(self, request: web.Request) -> web.Response:
        address, nonce = rest.l1(self.engine, request)
        return self._creds_json(self.engine.create_api_key(address, nonce))

    async def derive_api_key(self, request: web.Request) -> web.Response:
        address, nonce = rest.l1(self.engine, request)
        return self._creds_json(self.engine.derive_api_key(address, nonce))

    async def api_keys(self, request: web.Request) -> web.Response:
        api_key = rest.l2(self.engine, request, "")
        address = self.engine.credentials[api_key].address
        return web.json_response({"apiKeys": [k for k, c in self.engine.credentials.items() if c.address == address]})

    async def delete_api_key(self, request: web.Request) -> web.Response:
        """DELETE /auth/api-key (L2): the key that signed the request stops working; the reply is "OK"
        (the official polymarket-client checks for exactly that: polymarket/_internal/actions/auth.py)."""
        api_key = rest.l2(self.engine, request, await rest.body_text(request))
        self.engine.credentials.pop(api_key, None)
        return web.json_response("OK")

    # Builder keys (docs.polymarket.com/builders/api-keys): created under an account's L2 key, replied as
    # {"key","secret","passphrase"}; listed as [{"key","createdAt","revokedAt"}]; revoked with "OK"
    # (the shapes polymarket-client parses: polymarket/_internal/actions/auth.py, models/clob/api_key.py).
    async def create_builder_key(self, request: web.Request) -> web.Response:
        api_key = rest.l2(self.engine, request, await rest.body_text(request))
        creds = auth.derive_credentials(self.engine.venue_secret, f"builder:{api_key}", len(self._builder_keys(api_key)))
        self.builder_keys_by_owner.setdefault(api_key, []).append(
            {"key": creds.api_key, "createdAt": iso_time(self.engine.now), "revokedAt": None})
        return web.json_response({"key": creds.api_key, "secret": creds.secret, "passphrase": creds.passphrase})

    def _builder_keys(self, api_key: str) -> list[dict]:
        return self.builder_keys_by_owner.get(api_key, [])

    async def builder_keys(self, request: web.Request) -> web.Response:
        return web.json_response(self._builder_keys(rest.l2(self.engine, request, "")))

    async def revoke_builder_key(self, request: web.Request) -> web.Response:
        """DELETE /auth/builder-api-key, authenticated by the builder key itself (POLY_BUILDER_API_KEY)."""
        key = request.headers.get("POLY_BUILDER_API_KEY", "")
        for rows in self.builder_keys_by_owner.values():
            for row in rows:
                if row["key"] == key and row["revokedAt"] is None:
                    row["revokedAt"] = iso_time(self.engine.now)
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
        return web.json_response(rest.page(rows, request.query.get("next_cursor"), 100))

    def builder_secrets(self) -> dict[str, tuple[str, str]]:
        """Builder API key -> (secret, passphrase) of every key not revoked: what the relayer accepts."""
        secrets = {}
        for owner, rows in self.builder_keys_by_owner.items():
            for index, row in enumerate(rows):
                if row["revokedAt"] is None:
                    creds = auth.derive_credentials(self.engine.venue_secret, f"builder:{owner}", index)
                    secrets[creds.api_key] = (creds.secret, creds.passphrase)
        return secrets

    # ------------------------------------------------------------------ orders

    def _engine_up(self) -> None:
        """Order endpoints answer 425 Too Early while the matching engine restarts
        (docs.polymarket.com/trading/matching-engine, /resources/error-codes)."""
        if self.engine.engine_down:
            raise VenueError(425, "The matching engine is restarting")

    async def _json_body(self, request: web.Request) -> tuple[str, Any, str]:
        body = await rest.body_text(request)
        api_key = rest.l2(self.engine, request, body)
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
            return rest.error(400, reply["errorMsg"], code=reply.get("errorCode"))
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
                               else order_refusal("", "INVALID_ORDER_ERROR", "invalid order"))
            except VenueError as exc:
                if exc.status == 503:
                    raise
                if "post-only mode" in exc.message:  # a per-order refusal, in the batch reply
                    replies.append(order_refusal(_order_id_or_blank(self.engine, item.get("order", {}))
                                                 if isinstance(item, dict) else "", "POST_ONLY_MODE", exc.message))
                    continue
                order_id = ""
                if isinstance(item, dict) and isinstance(item.get("order"), dict):
                    order_id = _order_id_or_blank(self.engine, item["order"])
                replies.append(order_refusal(order_id, "INVALID_ORDER_ERROR", exc.message))
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
        api_key = rest.l2(self.engine, request, await rest.body_text(request))
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
        stale = request.get(rest.STALE_S, 0.0)
        if not stale:
            return self.engine.active_orders(api_key)
        as_of = self.engine.now - stale
        return [
            o for o in self.engine.orders.values()
            if o.owner == api_key and o.created_at <= as_of and (o.closed_at is None or o.closed_at > as_of)
        ]

    async def open_orders(self, request: web.Request) -> web.Response:
        api_key = rest.l2(self.engine, request, "")
        q = request.query
        rows = [
            wire.open_order_json(o) for o in self._visible_orders(request, api_key)
            if (not q.get("market") or o.market.condition_id == q["market"])
            and (not q.get("asset_id") or o.token_id == q["asset_id"])
            and (not q.get("id") or o.id == q["id"])
        ]
        rows.sort(key=lambda r: (r["created_at"], r["id"]))
        return web.json_response(rest.page(rows, q.get("next_cursor"), 100))

    async def open_order(self, request: web.Request) -> web.Response:
        api_key = rest.l2(self.engine, request, "")
        oid = request.match_info["order_id"]
        for order in self._visible_orders(request, api_key):
            if order.id == oid:
                return web.json_response(wire.open_order_json(order))
        # Only active orders are returned: "not found" may mean filled, cancelled or never placed.
        return web.json_response(None)

    async def trades(self, request: web.Request) -> web.Response:
        api_key = rest.l2(self.engine, request, "")
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
        return web.json_response(rest.page(rows, q.get("next_cursor"), 100))

    async def order_scoring(self, request: web.Request) -> web.Response:
        rest.l2(self.engine, request, "")
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
        api_key = rest.l2(self.engine, request, "")
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
        api_key = rest.l2(self.engine, request, "")
        address = self._trading_address(request, api_key)
        date = request.query.get("date") or utc_date(self.engine.now)
        rows = [
            {"date": d, "condition_id": cid, "asset_address": wire.COLLATERAL_ASSET, "maker_address": address,
             "earnings": round(amount, 6), "asset_rate": 1.0}
            for (d, maker, cid), amount in sorted(self.engine.rewards.earnings.items())
            if d == date and maker == address
        ]
        return web.json_response(rest.page(rows, request.query.get("next_cursor"), 100))

    async def rewards_user_total(self, request: web.Request) -> web.Response:
        api_key = rest.l2(self.engine, request, "")
        address = self._trading_address(request, api_key)
        date = request.query.get("date") or utc_date(self.engine.now)
        total = sum(a for (d, maker, _), a in self.engine.rewards.earnings.items() if d == date and maker == address)
        return web.json_response([{"date": date, "asset_address": wire.COLLATERAL_ASSET, "maker_address": address,
                                   "earnings": round(total, 6), "asset_rate": 1.0}])

    async def rewards_user_markets(self, request: web.Request) -> web.Response:
        """GET /rewards/user/markets (L2): reward markets with the user's share and earnings of the day."""
        api_key = rest.l2(self.engine, request, "")
        address = self._trading_address(request, api_key)
        date = request.query.get("date") or utc_date(self.engine.now)
        rows = []
        for m in rest.listed_markets(self.engine, True):
            share = self.engine.rewards.last_share.get(m.condition_id, {}).get(address, 0.0)
            earned = self.engine.rewards.earnings.get((date, address, m.condition_id), 0.0)
            rows.append({**wire.rewards_market_detail_json(m), "maker_address": address,
                         "earning_percentage": round(share * 100, 6),
                         "earnings": [{"asset_address": wire.COLLATERAL_ASSET, "earnings": round(earned, 6), "asset_rate": 1.0}]})
        return web.json_response(rest.page(rows, request.query.get("next_cursor"), 100))

    async def rewards_percentages(self, request: web.Request) -> web.Response:
        api_key = rest.l2(self.engine, request, "")
        address = self._trading_address(request, api_key)
        return web.json_response({
            cid: round(shares[address] * 100, 6)
            for cid, shares in self.engine.rewards.last_share.items() if shares.get(address)
        })


def _order_id_or_blank(engine: Engine, order: dict) -> str:
    market = engine.market_by_token.get(str(order.get("tokenId", "")))
    if market is None:
        return ""
    try:
        return "0x" + auth.order_digest(order, engine.settings.chain_id, market.neg_risk).hex()
    except auth.SignatureError:
        return ""
