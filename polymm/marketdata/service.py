"""`polymm data-service`: keeps the reward-market list, order books and volatility fresh in a store.

- every `market_scan_interval` (300 s): the reward markets (every page) and their details from
  Gamma in batches of 20;
- every `orderbook_update_interval` (3 s): every reward token's book through POST /books (≤ 500
  tokens per call), written with its time; midpoints feed the volatility windows (30 samples);
- between refreshes, the market WebSocket keeps the subscribed books live: `book` replaces a book,
  `price_change` sets a level's size ("0" removes it), `tick_size_change` sets the book's tick, and
  changed books are written at once;
- every write also refreshes the service's own liveness key, which `polymm status` shows.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from decimal import Decimal
from typing import Callable

from polymm.domain.ticks import parse_tick
from polymm.domain.types import Book, Level
from polymm.marketdata.store import MARKETS_TTL_S, MarketDataStore
from polymm.marketdata.volatility import VolatilityTracker
from polymm.venue.channels import MarketSubscription
from polymm.venue.gateway import VenueGateway, VenueUnavailable
from polymm.venue.parse import MalformedReply, book_from_wire

log = logging.getLogger("polymm.marketdata")
RESCAN_MARGIN_S = 15.0


def apply_price_change(book: Book, change: dict) -> Book:
    """A book with one `price_change` entry applied (the size is the level's new total)."""
    price, size = Decimal(str(change["price"])), Decimal(str(change["size"]))
    is_bid = str(change.get("side", "")).upper() == "BUY"
    levels = {lv.price: lv.size for lv in (book.bids if is_bid else book.asks)}
    if size > 0:
        levels[price] = size
    else:
        levels.pop(price, None)
    ordered = tuple(Level(p, levels[p]) for p in sorted(levels, reverse=is_bid))
    if is_bid:
        return Book(book.token_id, ordered, book.asks, book.tick_size, book.min_order_size, book.timestamp_ms)
    return Book(book.token_id, book.bids, ordered, book.tick_size, book.min_order_size, book.timestamp_ms)


class DataService:
    def __init__(self, public: VenueGateway, store: MarketDataStore, scan_interval_s: float, book_interval_s: float,
                 ws_url: str | None, window: int = 30, clock: Callable[[], float] = time.time) -> None:
        self.public = public
        self.store = store
        self.scan_interval_s = scan_interval_s
        self.book_interval_s = book_interval_s
        self.ws_url = ws_url
        self.clock = clock
        self.tokens: list[str] = []
        self.books: dict[str, Book] = {}
        self.lock = threading.Lock()
        self.volatility = VolatilityTracker(window)
        self.last_scan: float | None = None
        self.stats = {"scans": 0, "refreshes": 0, "ws_updates": 0, "errors": 0}
        self._stop = threading.Event()
        self._feed: _BookFeed | None = None

    # ------------------------------------------------------------------ REST
    def scan(self) -> None:
        now = self.clock()
        markets, problems = self.public.reward_markets()
        self.store.put_markets(markets, now)
        self.tokens = list(dict.fromkeys(t for m in markets for t in m.token_ids))
        self.last_scan = now
        self.stats["scans"] += 1
        log.info("scanned %d reward markets (%d tokens), %d skipped", len(markets), len(self.tokens), len(problems))

    def refresh_books(self) -> int:
        books = self.public.books(self.tokens)
        now = self.clock()
        with self.lock:
            self.books.update(books)
        self.store.put_books(books.values(), now)
        for book in books.values():
            mid = book.midpoint
            self.volatility.observe(book.token_id, float(mid) if mid is not None else None, now)
        self.store.put_volatility(self.volatility.all())
        self.store.mark_alive(now)
        self.stats["refreshes"] += 1
        return len(books)

    def run(self, stop: threading.Event | None = None) -> None:
        stop = stop or self._stop
        next_books = 0.0
        while not stop.is_set():
            now = self.clock()
            try:
                # rescan a little before the list's TTL runs out, so controllers never see it missing
                rescan_every = min(self.scan_interval_s, MARKETS_TTL_S - RESCAN_MARGIN_S)
                if self.last_scan is None or now - self.last_scan >= rescan_every:
                    self.scan()
                    self._ensure_ws()
                if now >= next_books:
                    started = time.monotonic()
                    count = self.refresh_books()
                    took = time.monotonic() - started
                    if took > self.book_interval_s:
                        log.warning("book refresh of %d tokens took %.2f s (> %.1f s interval)", count, took,
                                    self.book_interval_s)
                    next_books = now + self.book_interval_s
            except (VenueUnavailable, OSError) as exc:
                self.stats["errors"] += 1
                log.warning("market data refresh failed: %s", exc)
            except Exception:  # the service must keep running; the data simply ages until it recovers
                self.stats["errors"] += 1
                log.exception("market data refresh failed")
            stop.wait(min(0.25, self.book_interval_s))
        self.stop()

    # ------------------------------------------------------------------ WebSocket
    def _ensure_ws(self) -> None:
        """Keep the market channel subscribed to every reward token (new ones join after a rescan)."""
        if self.ws_url is None:
            return
        if self._feed is None:
            self._feed = _BookFeed(self.ws_url, self._on_events)
            self._feed.watch(self.tokens)
            self._feed.start()
        else:
            self._feed.watch(self.tokens)

    def stop(self) -> None:
        """Stop the market-channel listener (the REST loop stops with the event given to `run`)."""
        self._stop.set()
        if self._feed is not None:
            self._feed.stop()

    def _on_events(self, events: list[dict]) -> None:
        changed: dict[str, Book] = {}
        with self.lock:
            for event in events:
                try:
                    if event.get("event_type") == "book":
                        # the channel's book has no min_order_size: keep the one the REST book gave
                        known_book = self.books.get(str(event.get("asset_id")))
                        fallback = str(known_book.min_order_size) if known_book else "5"
                        book = book_from_wire(dict(event, min_order_size=event.get("min_order_size", fallback)))
                        self.books[book.token_id] = changed[book.token_id] = book
                    elif event.get("event_type") == "tick_size_change":
                        # the venue changed the market's tick (price past 0.96 / under 0.04): the book keeps its
                        # levels and takes the new tick at once, before the next REST refresh
                        # (docs.polymarket.com/market-data/websocket/market-channel; capture ws_market_tick_size_change.json)
                        token = str(event.get("asset_id"))
                        if token in self.books:
                            book = self.books[token]
                            self.books[token] = changed[token] = replace(book, tick_size=parse_tick(str(event["new_tick_size"])))
                    elif event.get("event_type") == "price_change":
                        for change in event.get("price_changes") or []:
                            token = str(change.get("asset_id"))
                            if token in self.books:
                                self.books[token] = changed[token] = apply_price_change(self.books[token], change)
                except (MalformedReply, KeyError, ValueError, ArithmeticError):
                    continue
        if changed:
            self.stats["ws_updates"] += len(changed)
            try:
                self.store.put_books(changed.values(), self.clock())
            except Exception as exc:  # Redis unreachable: keep the channel; the next write or refresh catches up
                self.stats["errors"] += 1
                log.warning("writing %d book(s) from the market channel failed: %s", len(changed), exc)


class _BookFeed(MarketSubscription):
    """The market channel feeding the data service's live books."""

    def __init__(self, ws_url: str, on_events) -> None:
        super().__init__(ws_url)
        self._handler = on_events

    def on_events(self, events: list[dict]) -> None:
        self._handler(events)
