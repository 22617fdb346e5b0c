"""The venue gateway: the only code that reads the venue's public data (CLOB and Gamma) — through polymarket-client.

Read side: reward markets (every page), market details from Gamma in batches of 20, and order books in batches
through POST /books. Each read is one guarded call (venue/guard.py) under the back-off of its kind (reward markets,
market details, books, prices-history): a 429 stops that kind for the reply's Retry-After (else 1 s doubling), at
most MAX_BACKOFF_S, and meanwhile the read fails at once, without a request; a later tick reads again. Failures
raise VenueUnavailable with the reason; the controller turns those into Unknown sections.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Iterable

from polymarket._internal.actions import clob as sdk_clob
from polymarket._internal.actions import rewards as sdk_rewards
from polymarket._internal.actions._cursor import next_cursor_or_none

from polymm.domain.types import Book, RewardMarket
from polymm.venue import sdk
from polymm.venue.guard import MAX_BACKOFF_S, Guard, classify
from polymm.venue.outcomes import Ok
from polymm.venue.parse import MalformedReply, book_from_wire, market_from_gamma, reward_market_from_wire

__all__ = ["BOOKS_BATCH", "GAMMA_BATCH", "MAX_BACKOFF_S", "VenueEndpoints", "VenueGateway", "VenueUnavailable"]

GAMMA_BATCH = 20
BOOKS_BATCH = 500


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
        self.clob = sdk.transport(endpoints.clob_url, timeout_s)
        self.gamma = sdk.transport(endpoints.gamma_url, timeout_s)
        self.clock = time.monotonic
        self.guard = Guard(lambda: self.clock())

    def _read(self, kind: str, send: Callable[[], Any], read: Callable[[Any], Any] | None = None) -> Any:
        """One guarded read: its value, or VenueUnavailable naming the kind and the reason."""
        outcome = self.guard.call(kind, send, read)
        if not isinstance(outcome, Ok):
            raise VenueUnavailable(f"{kind}: {outcome.reason}")
        return outcome.value

    def reward_rows(self) -> list[dict]:
        """Every row of /rewards/markets/current, following next_cursor to the end (polymarket-client
        _internal/actions/rewards.py `build_list_current_rewards_request`; the rows are kept as the venue sent them)."""
        def send() -> list[dict]:
            rows: list[dict] = []
            cursor = None
            while True:
                path, params = sdk_rewards.build_list_current_rewards_request(cursor=cursor)
                page = self.clob.get_json(path, params=params)
                rows.extend(page["data"])
                cursor = next_cursor_or_none(page.get("next_cursor"))
                if cursor is None:
                    return rows

        return self._read("reward markets", send)

    def gamma_rows(self, condition_ids: list[str], progress: Callable[[int], None] | None = None,
                   closed: bool = False) -> dict[str, dict]:
        """Gamma rows by condition id. Gamma's /markets lists open markets unless asked `closed=true` (its
        default is closed=false: dilettante-trading/polyoxide, polyoxide-gamma/src/api/markets.rs `get_many`)."""
        out: dict[str, dict] = {}

        def read(rows: Any) -> list:
            if not isinstance(rows, list):
                raise ValueError("expected a JSON array")
            return rows

        for i in range(0, len(condition_ids), GAMMA_BATCH):
            chunk = condition_ids[i:i + GAMMA_BATCH]
            # condition_ids repeated, one per id (a tuple is the SDK's repeated-key form: _internal/request.py)
            params: dict[str, Any] = {"condition_ids": tuple(chunk), "limit": str(len(chunk))}
            if closed:
                params["closed"] = "true"
            rows = self._read("market details", lambda: self.gamma.get_json("/markets", params=params), read)
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
        """POST /books in batches of BOOKS_BATCH (polymarket-client _internal/actions/clob.py
        `build_order_books_request`); a book that does not parse leaves its token unknown."""
        ids = list(dict.fromkeys(token_ids))
        out: dict[str, Book] = {}
        if self.read_only:
            return self._books_by_get(ids, progress)

        def read(raw: Any) -> list:
            if not isinstance(raw, list):
                raise ValueError("expected a JSON array")
            return raw

        for i in range(0, len(ids), BOOKS_BATCH):
            chunk = ids[i:i + BOOKS_BATCH]
            path, body = sdk_clob.build_order_books_request(token_ids=chunk)
            raw = self._read("books", lambda: self.clob.post_json(path, json=body), read)
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
        """A token's price a minute over [start_ts, end_ts] as (unix seconds, price), oldest first: the CLOB's
        GET /prices-history?market=&startTs=&endTs=&fidelity=1 (docs.polymarket.com/api-reference/markets/
        get-prices-history; polymarket-client has no call for it, so it is sent through its transport). Raises
        VenueUnavailable when it cannot be read; points that do not parse are skipped."""
        def read(raw: Any) -> list:
            rows = raw.get("history") if isinstance(raw, dict) else None
            if not isinstance(rows, list):
                raise ValueError("expected {\"history\": [...]}")
            return rows

        params = {"market": token_id, "startTs": int(start_ts), "endTs": int(end_ts), "fidelity": 1}
        rows = self._read("prices-history", lambda: self.clob.get_json("/prices-history", params=params), read)
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
            path, params = sdk_clob.build_order_book_request(token_id=token_id)
            try:
                return book_from_wire(self.clob.get_json(path, params=params))
            except Exception as exc:  # a venue failure or a reply that does not parse: that book stays unknown
                if isinstance(exc, MalformedReply):
                    return None
                classify(exc)  # raises again what is not the venue's
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
        sdk.close_transport(self.clob)
        sdk.close_transport(self.gamma)
