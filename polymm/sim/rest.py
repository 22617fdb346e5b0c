"""What every HTTP surface of the simulated venue shares: error replies, request bodies, pagination, argument
checks, L1/L2 authentication and the market lookups of the public reads."""

from __future__ import annotations

import base64
import hmac
import json
import re
import time
from typing import Any, Protocol

from aiohttp import web

from polymm.sim import auth
from polymm.sim.engine import Engine
from polymm.sim.model import SimMarket
from polymm.sim.orders import VenueError
from polymm.sim.ratelimits import BucketState

END_CURSOR = "LTE="
STALE_S = web.RequestKey("stale_s", float)  # a stale-read fault's age: the order reads answer as of then
RATE_STATE = web.RequestKey("rate_state", BucketState)  # the signer's bucket, reported in the reply's headers
L1_SKEW_S = 600  # how far an L1/L2 timestamp may be from the venue's wall clock
ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


class Surface(Protocol):
    """One HTTP surface of the venue (CLOB, Gamma, Data API, relayer, WebSocket, admin): its routes over the engine."""

    def routes(self) -> list[web.RouteDef]: ...


class RateLimited(VenueError):
    """A 429 with Retry-After (the per-signer order and cancel buckets)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(429, "Too Many Requests")
        self.retry_after = retry_after


def error(status: int, message: str, **extra: Any) -> web.Response:
    """The venue's error envelope: {"error": message, ...extra}."""
    return web.json_response({"error": message, **extra}, status=status)


def address(value: Any, field: str) -> str:
    """A 0x-prefixed 40-hex address (the Data API's `user` pattern, docs …/api-reference/endpoints/data/get-positions),
    checksummed; a 400 naming the field otherwise."""
    if not isinstance(value, str) or not ADDRESS.fullmatch(value):
        raise VenueError(400, f"{field}: {value!r} is not an address (0x followed by 40 hex digits)")
    return auth.checksum_address(value)


def number(data: dict, field: str, default: float | None = None, minimum: float | None = None) -> float:
    """`data[field]` as a number (bools are not numbers), else a 400 naming the field and what is allowed."""
    value = data.get(field, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if field not in data and default is None:
            raise VenueError(400, f"{field} is required (a number)")
        raise VenueError(400, f"{field}: {value!r} is not a number")
    if minimum is not None and value < minimum:
        raise VenueError(400, f"{field}: {value!r} must be ≥ {minimum:g}")
    return float(value)


def cursor_offset(cursor: str | None) -> int:
    """The row offset a `next_cursor` names (base64 of the number; "LTE=": past the end, -1)."""
    if not cursor or cursor == "MA==":
        return 0
    if cursor == END_CURSOR:
        return -1
    try:
        return int(base64.b64decode(cursor).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise VenueError(400, f"invalid next_cursor {cursor!r}") from exc


def next_cursor(end: int) -> str:
    return base64.b64encode(str(end).encode()).decode()


def page(rows: list, cursor: str | None, limit: int) -> dict:
    """One page of a CLOB listing: {"data", "next_cursor", "limit", "count"}."""
    offset = cursor_offset(cursor)
    if offset < 0:
        return {"data": [], "next_cursor": END_CURSOR, "limit": limit, "count": 0}
    chunk = rows[offset:offset + limit]
    end = offset + limit
    nxt = next_cursor(end) if end < len(rows) else END_CURSOR
    return {"data": chunk, "next_cursor": nxt, "limit": limit, "count": len(chunk)}


async def body_text(request: web.Request) -> str:
    return (await request.read()).decode() if request.can_read_body else ""


async def admin_body(request: web.Request) -> dict:
    """The JSON object an admin hook takes ({} when empty); a 400 saying so for anything else."""
    try:
        data = json.loads(await body_text(request) or "{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise VenueError(400, f"{request.path}: the body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise VenueError(400, f"{request.path}: the body must be a JSON object, not {type(data).__name__}")
    return data


def l2(engine: Engine, request: web.Request, body: str) -> str:
    """The API key of a correctly signed L2 request; 401 otherwise."""
    h = request.headers
    api_key = h.get("POLY_API_KEY", "")
    creds = engine.credentials.get(api_key)
    if creds is None or h.get("POLY_PASSPHRASE") != creds.passphrase:
        raise VenueError(401, "Unauthorized/Invalid api key")
    if h.get("POLY_ADDRESS", "").lower() != creds.address.lower():
        raise VenueError(401, "Unauthorized/Invalid api key")
    ts = h.get("POLY_TIMESTAMP", "")
    if not ts.isdigit() or abs(int(ts) - time.time()) > L1_SKEW_S:
        raise VenueError(401, "Unauthorized/Invalid api key")
    expected = auth.hmac_signature(creds.secret, ts, request.method, request.path, body)
    if not hmac.compare_digest(expected.encode(), h.get("POLY_SIGNATURE", "").encode()):
        raise VenueError(401, "Unauthorized/Invalid api key")
    return api_key


def l1(engine: Engine, request: web.Request) -> tuple[str, int]:
    """The address and nonce of a correctly signed L1 request (EIP-712 ClobAuth); 401 otherwise."""
    h = request.headers
    address_, ts, nonce_text, signature = (h.get(k, "") for k in ("POLY_ADDRESS", "POLY_TIMESTAMP", "POLY_NONCE", "POLY_SIGNATURE"))
    try:
        nonce = int(nonce_text or "0")
        digest = auth.clob_auth_digest(address_, ts, nonce, engine.settings.chain_id)
        signer = auth.recover_address(digest, signature)
    except (ValueError, auth.SignatureError) as exc:
        raise VenueError(401, "Invalid L1 Request headers") from exc
    if signer.lower() != address_.lower() or not ts.isdigit() or abs(int(ts) - time.time()) > L1_SKEW_S:
        raise VenueError(401, "Invalid L1 Request headers")
    return address_, nonce


def market_of(engine: Engine, token_id: str | None) -> SimMarket:
    """The market of a token; 404 "No orderbook exists" as the venue answers an unknown one."""
    market = engine.market_by_token.get(token_id or "")
    if market is None:
        raise VenueError(404, "No orderbook exists for the requested token id")
    return market


def best(engine: Engine, token_id: str) -> tuple[int | None, int | None]:
    """The token's best bid and best ask in its own pips (None: that side is empty)."""
    market = market_of(engine, token_id)
    bids, asks = market.book.token_levels(market.token_index(token_id))
    return (bids[0][0] if bids else None), (asks[0][0] if asks else None)


def listed_markets(engine: Engine, rewarded_only: bool) -> list[SimMarket]:
    """Every market, or those with a reward program (a closed market's rewards have ended)."""
    return [m for m in engine.markets.values() if (m.rate_per_day > 0 and not m.closed) or not rewarded_only]
