"""Names and ticks of the markets polymm trades, remembered in the ledger for the views that read only it.

`polymm status` and `polymm fills --csv` read there the question, outcome per token, tick and minimum order size.

The loop writes the catalog (a ledger cursor) only when a market it quotes or holds is new to it, so
the tick pays one comparison, not a write. Entries are never dropped: a market that leaves the reward
list keeps its name for the fills and positions that still refer to it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable, Mapping

from polymm.domain.types import RewardMarket

CURSOR = "views.market_catalog"


@dataclass(frozen=True)
class MarketName:
    question: str
    outcomes: Mapping[str, str]  # token id -> outcome ("Yes", "No", a team)
    tick_size: Decimal
    min_order_size: Decimal
    trading: bool = True  # False once the market is closed or not accepting orders
    redemption: Mapping[str, Decimal] | None = None  # token id -> 1 or 0 a share, once resolved


def entry(market: RewardMarket) -> dict:
    out = {"question": market.question, "outcomes": {t.token_id: t.outcome for t in market.tokens},
           "tick_size": str(market.tick_size), "min_order_size": str(market.min_order_size)}
    if not market.trading:  # written only when it changes: the entries of markets that trade stay as they were
        out["trading"] = False
    if market.payouts is not None:
        out["redemption"] = {t: str(v) for t, v in zip(market.token_ids, market.payouts)}
    return out


def new_entries(known: Mapping[str, dict], markets: Iterable[RewardMarket], wanted: set[str]) -> dict[str, dict]:
    """Catalog entries for the `wanted` condition ids among `markets` that `known` lacks (pure)."""
    return {m.condition_id: entry(m) for m in markets if m.condition_id in wanted and m.condition_id not in known}


def parse(text: str | None) -> dict[str, MarketName]:
    """The stored catalog; an unreadable one is empty (names are a convenience, never a decision input)."""
    try:
        raw = json.loads(text) if text else {}
    except ValueError:
        return {}
    out = {}
    for cid, e in raw.items() if isinstance(raw, dict) else ():
        try:
            redemption = e.get("redemption")
            out[cid] = MarketName(str(e["question"]), dict(e["outcomes"]), Decimal(e["tick_size"]),
                                  Decimal(e["min_order_size"]), bool(e.get("trading", True)),
                                  {t: Decimal(v) for t, v in redemption.items()} if isinstance(redemption, dict) else None)
        except (KeyError, TypeError, ValueError, ArithmeticError):
            continue
    return out


class CatalogWriter:
    """Keeps the ledger's catalog up to date from each tick's decision (called by the loop)."""

    def __init__(self, ledger) -> None:
        self.ledger = ledger
        text = ledger.get_cursor(CURSOR)
        try:
            self.known: dict[str, dict] = json.loads(text) if text else {}
        except ValueError:
            self.known = {}

    def update(self, decision) -> None:
        wanted = {ev.market.condition_id for ev in decision.selection.selected}
        wanted |= {o.condition_id for o in decision.orders_after_sync}
        wanted -= set(self.known)
        tokens = set(decision.positions) - self._known_tokens()
        markets: list[RewardMarket] = []
        for section in (decision.observed.reward_markets, decision.observed.other_markets):
            if isinstance(section, tuple):
                markets.extend(section)
        # a known market whose lifecycle changed (closed, resolved, a new tick): its entry is rewritten
        changed = {m.condition_id: entry(m) for m in markets if m.condition_id in self.known
                   and (not m.trading or m.payouts is not None or str(m.tick_size) != self.known[m.condition_id].get("tick_size"))
                   and entry(m) != self.known[m.condition_id]}
        if not wanted and not tokens and not changed:
            return
        wanted |= {m.condition_id for m in markets if tokens.intersection(m.token_ids)}
        fresh = {**new_entries(self.known, markets, wanted), **changed}
        if fresh:
            self.known.update(fresh)
            self.ledger.set_cursor(CURSOR, json.dumps(self.known, sort_keys=True))

    def _known_tokens(self) -> set[str]:
        return {t for e in self.known.values() for t in e.get("outcomes", {})}
