"""The CLOB's public market data over the engine: books, prices, spreads, price history, markets, reward markets.

Paths and reply shapes as Polymarket's (docs.polymarket.com/api-reference/market-data, /markets, /rewards; the
captures under ../shared/fixtures/polymarket); rendered by polymm.sim.wire.
"""

from __future__ import annotations

import json

from aiohttp import web

from polymm.sim import auth, rest, wire
from polymm.sim.engine import Engine
from polymm.sim.history import INTERVAL_S, PriceHistory
from polymm.sim.model import PIPS, SimMarket
from polymm.sim.orders import VenueError
from polymm.sim.payouts import utc_date


class ClobMarkets:
    """GET /book, /price, /markets, /rewards/markets/... : what anyone may read without a key."""

    def __init__(self, engine: Engine, history: PriceHistory) -> None:
        self.engine = engine
        self.history = history  # GET /prices-history (polymm.sim.history)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/", self.ok),
            web.get("/ok", self.ok),
            web.get("/time", self.time_),
            web.get("/version", self.version),
            web.get("/tick-size", self.tick_size),
            web.get("/neg-risk", self.neg_risk),
            web.get("/fee-rate", self.fee_rate),
            web.get("/book", self.book),
            web.post("/books", self.books),
            web.get("/midpoint", self.midpoint),
            web.post("/midpoints", self.midpoints),
            web.get("/price", self.price),
            web.get("/spread", self.spread),
            web.get("/last-trade-price", self.last_trade_price),
            web.post("/prices", self.prices),
            web.post("/spreads", self.spreads),
            web.post("/last-trades-prices", self.last_trades_prices),
            web.get("/prices-history", self.prices_history),
            web.get("/markets/live-activity/{condition_id}", self.live_activity),
            web.get("/rewards/markets/multi", self.rewards_markets_multi),
            web.get("/rebates/current", self.rebates_current),
            web.get("/markets", self.markets),
            web.get("/sampling-markets", self.sampling_markets),
            web.get("/simplified-markets", self.simplified_markets),
            web.get("/sampling-simplified-markets", self.sampling_simplified),
            web.get("/markets/{condition_id}", self.market),
            web.get("/clob-markets/{condition_id}", self.clob_market),
            web.get("/markets-by-token/{token_id}", self.market_by_token),
            web.get("/rewards/markets/current", self.rewards_current),
            web.get("/rewards/markets/{condition_id}", self.rewards_market),
            web.get("/fees/builder-fees/{builder_code}", self.builder_fees),
        ]

    async def ok(self, request: web.Request) -> web.Response:
        return web.json_response("OK")

    async def time_(self, request: web.Request) -> web.Response:
        return web.json_response(int(self.engine.now))

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": 2})

    async def tick_size(self, request: web.Request) -> web.Response:
        market = rest.market_of(self.engine, request.query.get("token_id"))
        return web.json_response({"minimum_tick_size": market.tick_pips / PIPS})

    async def neg_risk(self, request: web.Request) -> web.Response:
        return web.json_response({"neg_risk": rest.market_of(self.engine, request.query.get("token_id")).neg_risk})

    async def fee_rate(self, request: web.Request) -> web.Response:
        market = rest.market_of(self.engine, request.query.get("token_id"))
        # GET /fee-rate answers basis points (docs.polymarket.com/api-reference/market-data/get-fee-rate)
        return web.json_response({"base_fee": round((market.fee_rate or 0.0) * 10_000)})

    async def book(self, request: web.Request) -> web.Response:
        token_id = request.query.get("token_id", "")
        market = rest.market_of(self.engine, token_id)
        if market.closed:  # a closed market has no book (docs.polymarket.com/resources/error-codes, GET book)
            raise VenueError(404, "No orderbook exists for the requested token id")
        return web.json_response(wire.book_json(market, token_id, self.engine.now))

    async def _token_list(self, request: web.Request, limit: int = 500) -> list[dict]:
        try:
            items = json.loads(await rest.body_text(request) or "[]")
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

    def _mid(self, token_id: str) -> str:
        bid, ask = rest.best(self.engine, token_id)
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
        if rest.market_of(self.engine, token_id).closed:  # as GET /book: a resolved market has no book, so no price either
            raise VenueError(404, "No orderbook exists for the requested token id")
        bid, ask = rest.best(self.engine, token_id)
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
            if rest.market_of(self.engine, item["token_id"]).closed:
                continue  # no book, no price: left out, as POST /books leaves out a resolved market's books
            out.setdefault(item["token_id"], {})[side] = self._price_of(item["token_id"], side)
        return web.json_response(out)

    async def spreads(self, request: web.Request) -> web.Response:
        """POST /spreads [{token_id}] -> {token_id: spread}."""
        out = {}
        for item in await self._token_list(request):
            bid, ask = rest.best(self.engine, item["token_id"])
            out[item["token_id"]] = f"{((ask or PIPS) - (bid or 0)) / PIPS:g}"
        return web.json_response(out)

    async def last_trades_prices(self, request: web.Request) -> web.Response:
        rows = []
        for item in await self._token_list(request):
            market = rest.market_of(self.engine, item["token_id"])
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

    async def spread(self, request: web.Request) -> web.Response:
        bid, ask = rest.best(self.engine, request.query.get("token_id", ""))
        return web.json_response({"spread": f"{((ask or PIPS) - (bid or 0)) / PIPS:g}"})

    async def last_trade_price(self, request: web.Request) -> web.Response:
        token_id = request.query.get("token_id", "")
        market = rest.market_of(self.engine, token_id)
        px = market.last_trade_pips if market.token_index(token_id) == 0 else PIPS - market.last_trade_pips
        return web.json_response({"price": f"{px / PIPS:g}", "side": "BUY"})

    async def markets(self, request: web.Request) -> web.Response:
        rows = [wire.clob_market_json(m) for m in rest.listed_markets(self.engine, False)]
        return web.json_response(rest.page(rows, request.query.get("next_cursor"), 1000))

    async def sampling_markets(self, request: web.Request) -> web.Response:
        rows = [wire.clob_market_json(m) for m in rest.listed_markets(self.engine, True)]
        return web.json_response(rest.page(rows, request.query.get("next_cursor"), 1000))

    def _simplified(self, m: SimMarket) -> dict:
        full = wire.clob_market_json(m)
        return {k: full[k] for k in ("condition_id", "rewards", "tokens", "active", "closed", "archived", "accepting_orders")}

    async def simplified_markets(self, request: web.Request) -> web.Response:
        rows = [self._simplified(m) for m in rest.listed_markets(self.engine, False)]
        return web.json_response(rest.page(rows, request.query.get("next_cursor"), 1000))

    async def sampling_simplified(self, request: web.Request) -> web.Response:
        rows = [self._simplified(m) for m in rest.listed_markets(self.engine, True)]
        return web.json_response(rest.page(rows, request.query.get("next_cursor"), 1000))

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
        m = rest.market_of(self.engine, request.match_info["token_id"])
        return web.json_response({"condition_id": m.condition_id, "primary_token_id": m.token_ids[0],
                                  "secondary_token_id": m.token_ids[1]})

    async def rewards_current(self, request: web.Request) -> web.Response:
        rows = [wire.rewards_market_current_json(m) for m in rest.listed_markets(self.engine, True)]
        return web.json_response(rest.page(rows, request.query.get("next_cursor"), 100))

    async def rewards_market(self, request: web.Request) -> web.Response:
        market = self._condition(request)
        rows = [wire.rewards_market_detail_json(market)] if market.rate_per_day > 0 else []
        return web.json_response(rest.page(rows, request.query.get("next_cursor"), 100))

    async def rewards_markets_multi(self, request: web.Request) -> web.Response:
        """GET /rewards/markets/multi: the reward markets' details, paginated."""
        rows = [wire.rewards_market_detail_json(m) for m in rest.listed_markets(self.engine, True)]
        return web.json_response(rest.page(rows, request.query.get("next_cursor"), 100))

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

    async def builder_fees(self, request: web.Request) -> web.Response:
        """GET /fees/builder-fees/{code}: the builder's own fee rates in bps; the sim's builders charge none."""
        return web.json_response({"builder_maker_fee_rate_bps": 0, "builder_taker_fee_rate_bps": 0})
