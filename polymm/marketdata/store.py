"""Where market data lives between the data service and the controllers: in-process memory or Redis.

Both backends hold the same records with the same TTLs and both say when data is missing or stale,
so the controller treats them alike: data older than its TTL, or never written, is Unknown.

Redis keys (prefix `orderbook_service.redis_key_prefix`, default `polymm`):
- `<p>:markets`          the reward-market list (JSON), TTL 300 s
- `<p>:markets_at`       when that list was written (unix seconds), same TTL: a reader re-parses the
                         list only when this changes
- `<p>:market:<cid>`     one market's details (JSON), TTL 7 days
- `<p>:book:<token>`     one token's book with its `written_at` (JSON), TTL 300 s
- `<p>:vol:<token>`      volatility (coefficient of variation), TTL 900 s
- `<p>:service`          the data service's last write (unix seconds), TTL 60 s
Only this module talks to Redis (STYLE.md rule 6).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Callable, Iterable, Protocol

import redis

from polymm.domain.types import Book, Level, RewardMarket, Token

MARKETS_TTL_S = 300
BOOK_TTL_S = 300
DETAILS_TTL_S = 7 * 24 * 3600
VOLATILITY_TTL_S = 900
SERVICE_TTL_S = 60
STORE_ERRORS = (redis.exceptions.RedisError,)  # what a failing store raises, for callers that must not import redis


# ---------------------------------------------------------------------- codecs
def book_to_json(book: Book, written_at: float) -> str:
    return json.dumps({
        "token_id": book.token_id, "tick_size": str(book.tick_size), "min_order_size": str(book.min_order_size),
        "timestamp_ms": book.timestamp_ms, "written_at": written_at,
        "bids": [[str(lv.price), str(lv.size)] for lv in book.bids],
        "asks": [[str(lv.price), str(lv.size)] for lv in book.asks],
    }, separators=(",", ":"))


def book_from_json(text: str) -> tuple[Book, float]:
    d = json.loads(text)
    book = Book(
        d["token_id"],
        tuple(Level(Decimal(p), Decimal(s)) for p, s in d["bids"]),
        tuple(Level(Decimal(p), Decimal(s)) for p, s in d["asks"]),
        Decimal(d["tick_size"]), Decimal(d["min_order_size"]), int(d["timestamp_ms"]),
    )
    return book, float(d["written_at"])


def market_to_dict(m: RewardMarket) -> dict:
    return {
        "condition_id": m.condition_id, "question": m.question,
        "tokens": [[t.token_id, t.outcome] for t in m.tokens],
        "rewards_max_spread": str(m.rewards_max_spread), "rewards_min_size": str(m.rewards_min_size),
        "rate_per_day": str(m.rate_per_day), "tick_size": str(m.tick_size), "min_order_size": str(m.min_order_size),
        "neg_risk": m.neg_risk, "end_date": m.end_date.isoformat() if m.end_date else None,
        "volume_24hr": str(m.volume_24hr) if m.volume_24hr is not None else None,
        "fee_rate": str(m.fee_rate),
    }


def market_from_dict(d: dict) -> RewardMarket:
    return RewardMarket(
        condition_id=d["condition_id"], question=d["question"],
        tokens=tuple(Token(t, o) for t, o in d["tokens"]),  # type: ignore[arg-type]
        rewards_max_spread=Decimal(d["rewards_max_spread"]), rewards_min_size=Decimal(d["rewards_min_size"]),
        rate_per_day=Decimal(d["rate_per_day"]), tick_size=Decimal(d["tick_size"]),
        min_order_size=Decimal(d["min_order_size"]), neg_risk=bool(d["neg_risk"]),
        end_date=datetime.fromisoformat(d["end_date"]) if d["end_date"] else None,
        volume_24hr=Decimal(d["volume_24hr"]) if d["volume_24hr"] is not None else None,
        fee_rate=Decimal(d.get("fee_rate") or 0),
    )


# ---------------------------------------------------------------------- the interface
@dataclass(frozen=True)
class Freshness:
    markets_age_s: float | None
    books: int
    oldest_book_age_s: float | None
    service_age_s: float | None  # None: no data service (in-process) or never wrote


class MarketDataStore(Protocol):
    def put_markets(self, markets: list[RewardMarket], now: float) -> None: ...
    def get_markets(self, now: float) -> tuple[list[RewardMarket], float] | None: ...
    def markets_written_at(self, now: float) -> float | None: ...
    def put_books(self, books: Iterable[Book], now: float) -> None: ...
    def get_books(self, tokens: Iterable[str], now: float, max_age_s: float) -> dict[str, Book]: ...
    def put_volatility(self, values: dict[str, float]) -> None: ...
    def get_volatility(self, tokens: Iterable[str]) -> dict[str, float]: ...
    def mark_alive(self, now: float) -> None: ...
    def service_last_write(self) -> float | None: ...


class MemoryStore:
    """The in-process backend (one controller, no data service): same TTL rules, no server."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.markets: tuple[list[RewardMarket], float] | None = None
        self.books: dict[str, tuple[Book, float]] = {}
        self.vol: dict[str, tuple[float, float]] = {}
        self.alive: float | None = None

    def put_markets(self, markets: list[RewardMarket], now: float) -> None:
        self.markets = (list(markets), now)

    def get_markets(self, now: float) -> tuple[list[RewardMarket], float] | None:
        if self.markets is None or now - self.markets[1] > MARKETS_TTL_S:
            return None
        return self.markets

    def markets_written_at(self, now: float) -> float | None:
        got = self.get_markets(now)
        return None if got is None else got[1]

    def put_books(self, books: Iterable[Book], now: float) -> None:
        for book in books:
            self.books[book.token_id] = (book, now)

    def get_books(self, tokens: Iterable[str], now: float, max_age_s: float) -> dict[str, Book]:
        out = {}
        for token in tokens:
            entry = self.books.get(token)
            if entry is not None and now - entry[1] <= min(max_age_s, BOOK_TTL_S):
                out[token] = entry[0]
        return out

    def put_volatility(self, values: dict[str, float]) -> None:
        now = self.clock()
        self.vol.update({t: (v, now) for t, v in values.items()})

    def get_volatility(self, tokens: Iterable[str]) -> dict[str, float]:
        now = self.clock()
        return {t: v for t in tokens if (e := self.vol.get(t)) and now - e[1] <= VOLATILITY_TTL_S for v in [e[0]]}

    def mark_alive(self, now: float) -> None:
        self.alive = now

    def service_last_write(self) -> float | None:
        return self.alive


class RedisStore:
    """The Redis backend: one data service writes, any number of controllers read."""

    def __init__(self, client: redis.Redis, prefix: str = "polymm") -> None:
        self.r = client
        self.p = prefix

    @classmethod
    def from_url(cls, url: str, prefix: str = "polymm") -> "RedisStore":
        return cls(redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2), prefix)

    def _k(self, *parts: str) -> str:
        return ":".join((self.p,) + parts)

    def put_markets(self, markets: list[RewardMarket], now: float) -> None:
        body = json.dumps({"written_at": now, "markets": [market_to_dict(m) for m in markets]}, separators=(",", ":"))
        pipe = self.r.pipeline(transaction=False)
        pipe.set(self._k("markets"), body, ex=MARKETS_TTL_S)
        pipe.set(self._k("markets_at"), repr(now), ex=MARKETS_TTL_S)
        for m in markets:
            pipe.set(self._k("market", m.condition_id), json.dumps(market_to_dict(m)), ex=DETAILS_TTL_S)
        pipe.execute()

    def get_markets(self, now: float) -> tuple[list[RewardMarket], float] | None:
        raw = self.r.get(self._k("markets"))
        if raw is None:
            return None
        d = json.loads(raw)
        return [market_from_dict(m) for m in d["markets"]], float(d["written_at"])

    def markets_written_at(self, now: float) -> float | None:
        raw = self.r.get(self._k("markets_at"))
        return float(raw) if raw is not None else None

    def put_books(self, books: Iterable[Book], now: float) -> None:
        pipe = self.r.pipeline(transaction=False)
        for book in books:
            pipe.set(self._k("book", book.token_id), book_to_json(book, now), ex=BOOK_TTL_S)
        pipe.execute()

    def get_books(self, tokens: Iterable[str], now: float, max_age_s: float) -> dict[str, Book]:
        tokens = list(tokens)
        if not tokens:
            return {}
        out = {}
        for token, raw in zip(tokens, self.r.mget([self._k("book", t) for t in tokens])):
            if raw is None:
                continue
            book, written_at = book_from_json(raw)
            if now - written_at <= max_age_s:
                out[token] = book
        return out

    def put_volatility(self, values: dict[str, float]) -> None:
        pipe = self.r.pipeline(transaction=False)
        for token, value in values.items():
            pipe.set(self._k("vol", token), repr(value), ex=VOLATILITY_TTL_S)
        pipe.execute()

    def get_volatility(self, tokens: Iterable[str]) -> dict[str, float]:
        tokens = list(tokens)
        if not tokens:
            return {}
        return {t: float(v) for t, v in zip(tokens, self.r.mget([self._k("vol", t) for t in tokens])) if v is not None}

    def mark_alive(self, now: float) -> None:
        self.r.set(self._k("service"), repr(now), ex=SERVICE_TTL_S)

    def service_last_write(self) -> float | None:
        raw = self.r.get(self._k("service"))
        return float(raw) if raw is not None else None
