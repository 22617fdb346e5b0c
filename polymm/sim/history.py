"""The simulated venue's price history: the midpoint of every market, one point a minute, for GET /prices-history.

The real endpoint (docs.polymarket.com/api-reference/markets/get-prices-history: `market` = the token id, `startTs`
/ `endTs` in unix seconds, `interval` one of 1m, 1h, 6h, 1d, 1w, max, all, `fidelity` the resolution in minutes,
1 by default; reply `{"history": [{"t": <unix s>, "p": <price>}]}`) is what polymm reads to know a market's recent
path before it quotes it (the trend rule, polymm.desired.toxicity). The documentation does not say which price a
point is; the sim records the midpoint of the book at each whole minute, for the
YES token, and answers 1 − p for the NO token. A minute whose book has no bid or no ask has no point.
Kept for a week (the longest named interval); each market costs 4 bytes a minute.
"""

from __future__ import annotations

from array import array

from polymm.sim.engine import Engine
from polymm.sim.model import PIPS

MINUTE = 60
KEEP_MINUTES = 7 * 1440
INTERVAL_S = {"1m": 60, "1h": 3600, "6h": 6 * 3600, "1d": 86_400, "1w": 7 * 86_400}
NO_POINT = -1


class PriceHistory:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.first_minute = int(engine.now // MINUTE) * MINUTE  # the unix time of series[cid][0]
        self.series: dict[str, array] = {}
        self.next_minute = self.first_minute
        engine.on_step(self.step, during_restart=True)  # the book is frozen, not gone, while the engine restarts
        self.step(engine.now)

    def step(self, now: float) -> None:
        while now >= self.next_minute:
            index = (self.next_minute - self.first_minute) // MINUTE
            for cid, market in self.engine.markets.items():
                column = self.series.setdefault(cid, array("i"))
                column.extend([NO_POINT] * (index - len(column)))  # a market added later starts with no points
                bid, ask = market.book.best_bid(), market.book.best_ask()
                column.append(NO_POINT if bid is None or ask is None else bid + ask)  # twice the midpoint: exact in pips
            self.next_minute += MINUTE
        if (self.next_minute - self.first_minute) // MINUTE > KEEP_MINUTES + 1440:  # trim a day at a time
            for column in self.series.values():
                del column[:1440]
            self.first_minute += 1440 * MINUTE

    def backfill(self, past: dict[str, list[int]]) -> None:
        """Put a made-up past (per market, bid + ask in YES pips a minute, oldest first, ending the minute before the
        first recorded one) in front of the series: a venue that has just started answers as one that has run."""
        longest = max((len(v) for v in past.values()), default=0)
        if not longest:
            return
        for cid in set(self.series) | set(past):
            before = past.get(cid, [])
            column = array("i", [NO_POINT] * (longest - len(before)) + list(before))
            column.extend(self.series.get(cid, array("i")))
            self.series[cid] = column
        self.first_minute -= longest * MINUTE

    def points(self, token_id: str, start: float | None, end: float | None, fidelity_minutes: int) -> list[dict]:
        """The points of one token in [start, end] (unix seconds; None: unbounded), one every `fidelity_minutes`."""
        market = self.engine.market_by_token.get(token_id)
        if market is None:
            return []
        column = self.series.get(market.condition_id, array("i"))
        yes = market.token_index(token_id) == 0
        lo = 0 if start is None else max(0, -(-(int(start) - self.first_minute) // MINUTE))
        hi = len(column) - 1 if end is None else min(len(column) - 1, (int(end) - self.first_minute) // MINUTE)
        out = []
        for i in range(lo, hi + 1, max(1, fidelity_minutes)):
            twice = column[i]  # bid + ask, in YES pips: twice the midpoint
            if twice == NO_POINT:
                continue
            mid = twice / 2 / PIPS
            out.append({"t": self.first_minute + i * MINUTE, "p": round(mid if yes else 1 - mid, 4)})
        return out
