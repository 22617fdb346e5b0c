"""The controller's one market-data interface, with two backends.

- `VenueMarketData` (the default, in-process): reads the venue directly — reward markets on each
  rescan, books every tick (only the markets the tick looks at: polymm.marketdata.scope) — and
  keeps volatility windows itself.
- `StoreMarketData` (when `orderbook_service.enabled`): reads what `polymm data-service` wrote to
  Redis. A book older than `max_book_age_s`, a market list past its TTL, or a data service that has
  stopped writing makes that data Unknown, and the controller holds the affected markets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from polymm.domain.types import Book, RewardMarket
from polymm.marketdata.store import MarketDataStore
from polymm.marketdata.volatility import VolatilityTracker
from polymm.observed.state import Unknown
from polymm.venue.gateway import VenueGateway, VenueUnavailable


@dataclass
class MarketsRead:
    markets: tuple[RewardMarket, ...] | Unknown
    problems: list[str]
    fresh: bool = False  # a list not seen before (read from the venue, or newly written by the data service)


class VenueMarketData:
    def __init__(self, public: VenueGateway, rescan_interval_s: float, window: int = 30) -> None:
        self.public = public
        self.rescan_interval_s = rescan_interval_s
        self.markets: tuple[RewardMarket, ...] | None = None
        self.markets_at: float | None = None
        self.volatility_tracker = VolatilityTracker(window)
        self.books_at: float | None = None

    def reward_markets(self, now: float, rescan: bool | None = None) -> MarketsRead:
        due = self.markets_at is None or now - self.markets_at >= self.rescan_interval_s
        if not (due if rescan is None else rescan):
            return MarketsRead(self.markets if self.markets is not None else Unknown("never scanned"), [])
        try:
            markets, skipped = self.public.reward_markets()
        except VenueUnavailable as exc:
            held = self.markets if self.markets is not None else Unknown(str(exc))
            return MarketsRead(held, [f"reward markets: {exc}"])
        self.markets, self.markets_at = tuple(markets), now
        return MarketsRead(self.markets, list(skipped), fresh=True)

    def books(self, tokens: Iterable[str], now: float) -> tuple[dict[str, Book], list[str]]:
        tokens = list(tokens)
        if not tokens:
            return {}, []
        try:
            books = self.public.books(tokens)
        except VenueUnavailable as exc:
            return {}, [str(exc)]
        self.books_at = now
        for book in books.values():
            mid = book.midpoint
            self.volatility_tracker.observe(book.token_id, float(mid) if mid is not None else None, now)
        return books, []

    def volatility(self, tokens: Iterable[str], now: float) -> dict[str, float]:
        return {t: v for t in tokens if (v := self.volatility_tracker.volatility(t)) is not None}

    def freshness(self, now: float) -> dict:
        return {"backend": "in-process", "markets_age_s": None if self.markets_at is None else round(now - self.markets_at, 1),
                "books_age_s": None if self.books_at is None else round(now - self.books_at, 1),
                "data_service_age_s": None}


class StoreMarketData:
    def __init__(self, store: MarketDataStore, max_book_age_s: float, max_service_age_s: float) -> None:
        self.store = store
        self.max_book_age_s = max_book_age_s
        self.max_service_age_s = max_service_age_s
        self._markets: tuple[tuple[RewardMarket, ...], float] | None = None  # the last list read, by its written_at

    def _service_alive(self, now: float) -> str | None:
        """None when the data service wrote recently, else why the data cannot be trusted."""
        try:
            last = self.store.service_last_write()
        except OSError as exc:
            return f"market-data store unreachable: {exc}"
        except Exception as exc:  # redis raises its own ConnectionError family
            return f"market-data store unreachable: {exc}"
        if last is None:
            return "data service not running (no liveness key)"
        if now - last > self.max_service_age_s:
            return f"data service silent for {now - last:.0f} s"
        return None

    def reward_markets(self, now: float, rescan: bool | None = None) -> MarketsRead:
        dead = self._service_alive(now)
        if dead:
            return MarketsRead(Unknown(dead), [dead])
        # the list is parsed only when the data service wrote a new one, not every tick
        written_at = self.store.markets_written_at(now)
        if written_at is not None and self._markets is not None and self._markets[1] == written_at:
            return MarketsRead(self._markets[0], [])
        got = self.store.get_markets(now)
        if got is None:
            self._markets = None
            return MarketsRead(Unknown("reward-market list missing or past its TTL"), [])
        self._markets = (tuple(got[0]), got[1])
        return MarketsRead(self._markets[0], [], fresh=True)

    def books(self, tokens: Iterable[str], now: float) -> tuple[dict[str, Book], list[str]]:
        dead = self._service_alive(now)
        if dead:
            return {}, [dead]
        try:
            return self.store.get_books(tokens, now, self.max_book_age_s), []
        except Exception as exc:
            return {}, [f"books from the store: {exc}"]

    def volatility(self, tokens: Iterable[str], now: float) -> dict[str, float]:
        try:
            return self.store.get_volatility(tokens)
        except Exception:
            return {}

    def freshness(self, now: float) -> dict:
        try:
            last = self.store.service_last_write()
        except Exception:
            last = None
        return {"backend": "redis", "data_service_age_s": None if last is None else round(now - last, 1)}
