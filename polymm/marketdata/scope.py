"""Which reward markets a tick reads and ranks: the whole universe on a rescan, else the markets in force.

A rescan runs the full funnel over every reward market, with the books of every market that
passes the book-free rules (rules 1–4): when the venue's reward-market list is read anew, every
`loop.update_interval_seconds`, and early when a tick finds that the markets in force no longer
fill `strategy.max_markets` (at most every EARLY_RESCAN_SPACING_S). The rescan's ranking leaves
the markets in force: its best `RESERVE_FACTOR × max_markets` in rank order — the top
`max_markets` are quoted, the rest stand by, so a market that drops out (its spread widened, a
safety rule refused it) is replaced at once, without a rescan.

Between rescans a tick reads and ranks only the markets in force and the markets we hold orders
or positions in, with their books: its cost follows the markets we quote, not the size of the
venue's reward universe (issue 15). Unknown semantics are unchanged: a held market whose book is
missing is held, not cancelled (controller.core.held_markets).

Besides, a tick reads the books of up to WATCH_LIMIT more reward markets of the last rescan (open,
not about to end, the highest reward rates first, whatever the strategy's filters), only to *watch* them: their midpoints feed the
jump-rate rule of polymm.desired.toxicity — a market's own first news jump fills our quote before it
can be seen, so the warning has to come from markets we do not quote. They are not ranked or quoted
between rescans; their books ride in the tick's one batched book read (POST /books), at most every
WATCH_INTERVAL_S, so the ticks between (a fill's hedge) read only what they quote.

Only the first scan (nothing is quoted before it) and an explicit one (`polymm plan`) run inside the
tick. Every later rescan runs on a background thread (`BackgroundRescan`): ticks go on over the
markets in force meanwhile, and the first tick after it ends adopts its ranking. A rescan whose reads
failed changes nothing in force and is retried after EARLY_RESCAN_SPACING_S; health reports it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from polymm.domain.types import RewardMarket

log = logging.getLogger("polymm.marketdata")

RESERVE_FACTOR = 2
WATCH_LIMIT = 40  # markets watched beyond those in force: 80 more books, in the tick's one batch of POST /books
WATCH_INTERVAL_S = 4.0  # read at most this often (a jump is a move within a minute; a fill's tick stays light)
EARLY_RESCAN_SPACING_S = 60.0


class Scope:
    """The markets in force between rescans, and when the next full scan is due."""

    def __init__(self, rescan_interval_s: float, max_markets: int) -> None:
        self.rescan_interval_s = rescan_interval_s
        self.max_markets = max_markets
        self.in_force: tuple[str, ...] = ()  # condition ids, in the last rescan's rank order
        self.watching: tuple[str, ...] = ()  # condition ids whose books are read only to watch them
        self.scanned_at: float | None = None
        self.short_since: float | None = None  # a narrow tick selected fewer markets than are in force
        self._universe: Sequence[RewardMarket] | None = None  # the list the indexes below were built from
        self._by_condition: dict[str, RewardMarket] = {}
        self._by_token: dict[str, RewardMarket] = {}

    # ------------------------------------------------------------------ when
    def full_scan_due(self, now: float, new_list: bool, rescan: bool | None) -> bool:
        """`rescan` True forces a full scan, False forbids one (a command that only needs our orders);
        None: due on a new reward-market list, before the first scan, after the rescan interval, or
        early when the markets in force fell short."""
        if rescan is not None:
            return rescan
        if new_list or self.scanned_at is None or now - self.scanned_at >= self.rescan_interval_s:
            return True
        return self.short_since is not None and now - self.scanned_at >= min(EARLY_RESCAN_SPACING_S,
                                                                           self.rescan_interval_s)

    # ------------------------------------------------------------------ what
    def narrow(self, universe: Sequence[RewardMarket], held_tokens: Iterable[str]) -> tuple[RewardMarket, ...]:
        """The markets in force, then those of `held_tokens` (our orders and positions) that are reward
        markets, each once, taken from the current `universe`."""
        self._index(universe)
        out: dict[str, RewardMarket] = {}
        for cid in self.in_force:
            m = self._by_condition.get(cid)
            if m is not None:
                out[cid] = m
        for token in held_tokens:
            m = self._by_token.get(token)
            if m is not None:
                out.setdefault(m.condition_id, m)
        return tuple(out.values())

    def watched(self, universe: Sequence[RewardMarket]) -> tuple[RewardMarket, ...]:
        """The markets watched beyond those in force, taken from the current `universe`."""
        self._index(universe)
        return tuple(m for cid in self.watching if cid not in self.in_force
                     and (m := self._by_condition.get(cid)) is not None)

    def condition_of(self, token_id: str) -> str | None:
        """The condition id of a reward token of the universe last indexed."""
        m = self._by_token.get(token_id)
        return None if m is None else m.condition_id

    def _index(self, universe: Sequence[RewardMarket]) -> None:
        if universe is self._universe:
            return
        self._universe = universe
        self._by_condition = {m.condition_id: m for m in universe}
        self._by_token = {t: m for m in universe for t in m.token_ids}

    # ------------------------------------------------------------------ after the decision
    def scanned(self, ranked_condition_ids: Sequence[str], now: float,
                watchable: Sequence[RewardMarket] = ()) -> None:
        """A full scan's ranking (best first) becomes the markets in force; of the `watchable` markets, the
        WATCH_LIMIT with the highest reward rates not in force are watched."""
        self.in_force = tuple(ranked_condition_ids[: RESERVE_FACTOR * self.max_markets])
        others = sorted((m for m in watchable if m.condition_id not in self.in_force),
                        key=lambda m: (-m.rate_per_day, m.condition_id))
        self.watching = tuple(m.condition_id for m in others[:WATCH_LIMIT])
        self.scanned_at = now
        self.short_since = None

    def narrow_result(self, selected: int, now: float) -> None:
        """A narrow tick selected `selected` markets: fewer than the markets in force could give means some
        dropped out and the reserve ran dry — look at the whole universe again soon."""
        could = min(self.max_markets, len(self.in_force))
        if selected < could:
            self.short_since = self.short_since if self.short_since is not None else now
        else:
            self.short_since = None


@dataclass(frozen=True)
class Rescanned:
    """A finished background rescan: the ranking (best first) as of `at`, or why it failed (`failed`)."""

    at: float
    ranked: tuple[str, ...] = ()
    failed: str | None = None
    watchable: tuple[RewardMarket, ...] = ()  # the markets that may be watched (Scope.scanned)


class BackgroundRescan:
    """Runs a rescan's I/O and funnel on one worker thread and hands its result to the loop (issue 15).

    A rescan over 10,000 reward markets reads the list, their details and thousands of books: tens of
    seconds. Run inside a tick it would stop the loop hedging fills and following books meanwhile, so the
    loop only starts it (`start`), keeps ticking on the markets in force, and the first tick after it ends
    takes the result (`take`). At most one runs at a time; the handoff is one slot under a lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._result: Rescanned | None = None

    @property
    def running(self) -> bool:
        with self._lock:
            return self._thread is not None

    def start(self, job: Callable[[], Rescanned], at: float) -> bool:
        """Start `job` on the worker thread unless a rescan is already running or waiting to be taken."""
        with self._lock:
            if self._thread is not None or self._result is not None:
                return False
            self._thread = threading.Thread(target=self._run, args=(job, at), name="polymm-rescan", daemon=True)
            self._thread.start()
            return True

    def _run(self, job: Callable[[], Rescanned], at: float) -> None:
        try:
            result = job()
        except Exception as exc:  # a rescan that broke is a failed read: the markets in force stay
            log.exception("background rescan failed")
            result = Rescanned(at, failed=f"rescan failed: {exc}")
        with self._lock:
            self._result, self._thread = result, None

    def take(self) -> Rescanned | None:
        """The finished rescan's result, once; None while it runs or when none was started."""
        with self._lock:
            result, self._result = self._result, None
            return result

    def wait(self, timeout: float | None = None) -> None:
        """For tests and shutdown: until the running rescan (if any) ends."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
