"""The venue gateway: the only code that calls the Polymarket SDK (and the Gamma API beside it).

Read side for now: reward markets (every page), market details from Gamma in batches of 20, and
order books in batches through POST /books. Failures raise VenueUnavailable with the reason; the
controller turns those into Unknown sections. A 429 stops that kind of read (reward markets, market details,
books) for the reply's Retry-After (else 1 s doubling), at most MAX_BACKOFF_S: meanwhile the read fails at once,
without a request, and a later tick reads again.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Callable, Iterable

import httpx
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import BookParams, PricesHistoryParams
from py_clob_client_v2.exceptions import PolyException

from polymm.domain.types import Book, RewardMarket
from polymm.venue.outcomes import no_reply_cause
from polymm.venue.parse import MalformedReply, book_from_wire, market_from_gamma, reward_market_from_wire

GAMMA_BATCH = 20
BOOKS_BATCH = 500
MAX_BACKOFF_S = 60.0


class VenueUnavailable(Exception):
    """A read failed (timeout, 5xx, refused or unparseable): the caller must treat the data as Unknown."""


@dataclass(frozen=True)
class VenueEndpoints:
    clob_url: str
    gamma_url: str
    data_url: str
    ws_url: str
    chain_id: int = 137
    relayer_url: str = ""  # "" = no relayer to ask (check-config --remote then skips the wallet-deployed check)


class VenueGateway:
    def __init__(self, endpoints: VenueEndpoints, timeout_s: float = 30.0, read_only: bool = False) -> None:
        """With read_only, books are read with GET /book per token instead of POST /books, so a dry run
        sends no POST at all."""
        self.endpoints = endpoints
        self.read_only = read_only
        self.clob = ClobClient(endpoints.clob_url, chain_id=endpoints.chain_id)
        self.http = httpx.Client(timeout=timeout_s)
        self.clock = time.monotonic
        self._backoff: dict[str, tuple[float, float]] = {}  # kind -> (until, the step that set it)

    def _check_backoff(self, kind: str) -> None:
        until, _ = self._backoff.get(kind, (0.0, 0.0))
        if self.clock() < until:
            raise VenueUnavailable(f"{kind}: backing off after 429 for {until - self.clock():.1f} s")

    def _after(self, kind: str, exc: Exception | None) -> None:
        """Start (a 429) or clear (a success) the back-off of `kind` from the outcome of one read."""
        if exc is None:
            self._backoff.pop(kind, None)
            return
        response = getattr(exc, "response", None)
        status = getattr(exc, "status_code", None) or (response.status_code if response is not None else None)
        if status != 429:
            return
        msg = getattr(exc, "error_msg", None)
        retry = None
        if isinstance(msg, dict) and msg.get("retry_after_seconds") is not None:
            retry = float(msg["retry_after_seconds"])
        elif response is not None and response.headers.get("Retry-After", "").isdigit():
            retry = float(response.headers["Retry-After"])
        _, last = self._backoff.get(kind, (0.0, 0.5))
        step = retry or min(max(last * 2, 1.0), MAX_BACKOFF_S)
        self._backoff[kind] = (self.clock() + min(step, MAX_BACKOFF_S), step)

    def reward_rows(self) -> list[dict]:
        """Every row of /rewards/markets/current (the SDK follows next_cursor to the end)."""
        self._check_backoff("reward markets")
        try:
            rows = self.clob.get_current_rewards()
            self._after("reward markets", None)
            return rows
        except (PolyException, KeyError, TypeError) as exc:
            self._after("reward markets", exc)
            cause = no_reply_cause(exc)
            raise VenueUnavailable(f"reward markets: {f'no reply from {cause}' if cause else exc}") from exc

    def gamma_rows(self, condition_ids: list[str], progress: Callable[[int], None] | None = None,
                   closed: bool = False) -> dict[str, dict]:
        """Gamma rows by condition id. Gamma's /markets lists open markets unless asked `closed=true` (its
        default is closed=false: dilettante-trading/polyoxide, polyoxide-gamma/src/api/markets.rs `get_many`)."""
        out: dict[str, dict] = {}
        if condition_ids:
            self._check_backoff("market details")
        for i in range(0, len(condition_ids), GAMMA_BATCH):
            chunk = condition_ids[i:i + GAMMA_BATCH]
            extra = [("closed", "true")] if closed else []
            try:
                resp = self.http.get(f"{self.endpoints.gamma_url}/markets",
                                     params=[("condition_ids", c) for c in chunk] + [("limit", str(len(chunk)))] + extra)
                resp.raise_for_status()
                rows = resp.json()
                self._after("market details", None)
            except (httpx.HTTPError, ValueError) as exc:
                self._after("market details", exc)
                raise VenueUnavailable(f"market details: {exc}") from exc
            if not isinstance(rows, list):
                raise VenueUnavailable("market details: expected a JSON array")
            for row in rows:
                if isinstance(row, dict) and row.get("conditionId"):
                    out[row["conditionId"]] = row
            if progress:
                progress(len(chunk))
        return out

    def reward_markets(self, progress: Callable[[int], None] | None = None,
                       rows: list[dict] | None = None) -> tuple[list[RewardMarket], list[str]]:
        """Reward markets joined with their details; the second list names the rows that could not be used.
        `rows`: the /rewards/markets/current rows when the caller has just read them."""
        rows = self.reward_rows() if rows is None else rows
        details = self.gamma_rows([r["condition_id"] for r in rows if "condition_id" in r], progress)
        markets, problems = [], []
        for row in rows:
            cid = row.get("condition_id", "?")
            gamma = details.get(cid)
            if gamma is None:
                problems.append(f"{cid}: no market details")
                continue
            try:
                markets.append(reward_market_from_wire(row, gamma))
            except MalformedReply as exc:
                problems.append(str(exc))
        return markets, problems

    def markets(self, condition_ids: list[str]) -> tuple[list[RewardMarket], list[str]]:
        """Markets by condition id from Gamma, whether rewarded or not (for positions off the reward list), open or
        closed: those the open-market read lacks are asked for again with `closed=true`."""
        details = self.gamma_rows(list(condition_ids))
        missing = [c for c in condition_ids if c not in details]
        if missing:
            details.update(self.gamma_rows(missing, closed=True))
        markets, problems = [], []
        for cid in condition_ids:
            if cid not in details:
                problems.append(f"{cid}: no market details")
                continue
            try:
                markets.append(market_from_gamma(details[cid]))
            except MalformedReply as exc:
                problems.append(str(exc))
        return markets, problems

    def books(self, token_ids: Iterable[str], progress: Callable[[int], None] | None = None) -> dict[str, Book]:
        ids = list(dict.fromkeys(token_ids))
        out: dict[str, Book] = {}
        if self.read_only:
            return self._books_by_get(ids, progress)
        if ids:
            self._check_backoff("books")
        for i in range(0, len(ids), BOOKS_BATCH):
            chunk = ids[i:i + BOOKS_BATCH]
            try:
                raw = self.clob.get_order_books([BookParams(token_id=t) for t in chunk])
                self._after("books", None)
            except PolyException as exc:
                self._after("books", exc)
                raise VenueUnavailable(f"books: {exc}") from exc
            if not isinstance(raw, list):
                raise VenueUnavailable("books: expected a JSON array")
            for item in raw:
                try:
                    book = book_from_wire(item)
                except MalformedReply:
                    continue  # that token stays unknown; selection rejects its market with a reason
                out[book.token_id] = book
            if progress:
                progress(len(chunk))
        return out

    def prices_history(self, token_id: str, start_ts: int, end_ts: int) -> tuple[tuple[float, Decimal], ...]:
        """A token's price a minute over [start_ts, end_ts] as (unix seconds, price), oldest first: GET /prices-history
        with fidelity 1 (docs.polymarket.com/api-reference/markets/get-prices-history; py-clob-client-v2
        get_prices_history). Raises VenueUnavailable when it cannot be read; points that do not parse are skipped."""
        self._check_backoff("prices-history")
        try:
            raw = self.clob.get_prices_history(PricesHistoryParams(market=token_id, start_ts=int(start_ts),
                                                                   end_ts=int(end_ts), fidelity=1))
            self._after("prices-history", None)
        except PolyException as exc:
            self._after("prices-history", exc)
            raise VenueUnavailable(f"prices-history: {exc}") from exc
        rows = raw.get("history") if isinstance(raw, dict) else None
        if not isinstance(rows, list):
            raise VenueUnavailable("prices-history: expected {\"history\": [...]}")
        out = []
        for row in rows:
            try:
                t, p = float(row["t"]), Decimal(str(row["p"]))
            except (KeyError, TypeError, ValueError, ArithmeticError):
                continue
            if 0 <= p <= 1:
                out.append((t, p))
        return tuple(sorted(out))

    def _books_by_get(self, ids: list[str], progress: Callable[[int], None] | None) -> dict[str, Book]:
        def one(token_id: str) -> Book | None:
            try:
                return book_from_wire(self.clob.get_order_book(token_id))
            except (PolyException, MalformedReply):
                return None

        out: dict[str, Book] = {}
        with ThreadPoolExecutor(8) as pool:
            for book in pool.map(one, ids):
                if book is not None:
                    out[book.token_id] = book
                if progress:
                    progress(1)
        return out

    def close(self) -> None:
        self.http.close()
