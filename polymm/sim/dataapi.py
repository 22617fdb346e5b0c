"""Polymarket's Data API over the engine, under /dataapi: a user's positions and trades, a token's price points.

Query parameters and shapes: docs.polymarket.com/api-reference/endpoints/data (get-positions) and what
polymarket-client parses (models/data/*.py); rendered by polymm.sim.wire.
"""

from __future__ import annotations

import base64

from aiohttp import web

from polymm.sim import rest, wire
from polymm.sim.engine import Engine
from polymm.sim.model import MICRO, PIPS
from polymm.sim.orders import VenueError


class DataApi:
    """GET /dataapi/positions, /dataapi/v2/positions, /dataapi/v2/trades, /dataapi/v2/prices-history."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/dataapi/v2/prices-history", self.data_prices_history_v2),
            web.get("/dataapi/v2/trades", self.data_trades_v2),
            web.get("/dataapi/positions", self.positions),
            web.get("/dataapi/v2/positions", self.positions_v2),
        ]

    async def data_prices_history_v2(self, request: web.Request) -> web.Response:
        """Data API GET /v2/prices-history?token_id=: the sim keeps no history, so one point: the current midpoint
        (or none), in the shape polymarket-client parses (models/data/analytics.py PriceHistoryPoint)."""
        token_id = request.query.get("token_id", "")
        points = []
        if token_id in self.engine.market_by_token:
            bid, ask = rest.best(self.engine, token_id)
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
            offset = max(rest.cursor_offset(q.get("cursor")), 0)
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
        return self.engine.accounts.get(rest.address(request.query["user"], "user"))

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
