"""Polymarket's Gamma API over the engine: the market listings and one market, under /gamma.

Shapes as the captures gamma_market_with_rewards.json / gamma_market_negrisk_live.json (../shared/fixtures/polymarket)
and what polymarket-client reads (polymarket/_internal/actions/gamma.py); rendered by polymm.sim.wire.
"""

from __future__ import annotations

import base64

from aiohttp import web

from polymm.sim import rest, wire
from polymm.sim.engine import Engine
from polymm.sim.orders import VenueError


class Gamma:
    """GET /gamma/markets, /gamma/markets/keyset, /gamma/markets/{id} and /gamma/markets/slug/{slug}."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/gamma/markets", self.gamma_markets),
            web.get("/gamma/markets/keyset", self.gamma_markets_keyset),
            web.get("/gamma/markets/slug/{slug}", self.gamma_market),
            web.get("/gamma/markets/{market_id}", self.gamma_market),
        ]

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
            offset = rest.cursor_offset(q.get("after_cursor"))
        except ValueError as exc:
            raise VenueError(422, "limit must be an integer") from exc
        rows = self._gamma_rows(q)
        chunk = rows[max(offset, 0):max(offset, 0) + limit] if offset >= 0 else []
        end = max(offset, 0) + limit
        nxt = base64.b64encode(str(end).encode()).decode() if offset >= 0 and end < len(rows) else None
        return web.json_response({"markets": chunk, "next_cursor": nxt})
