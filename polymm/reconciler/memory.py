"""What one tick remembers for the next, as a frozen value (`TickMemory`), and how a tick moves it on (pure).

The tick's outcome depends on more than the ledger and the observation: how long each position has
been held (the maker hedge's wait), how long the stop-loss has been firing on it, the markets stepped
back from (the toxicity state: last midpoints, toxic events, jumps, the jump rate, the trend samples),
our cancelled buys still counted against the caps (a fill may have raced the cancel), and what the
positions checks saw. `reconciler.tick.decide` takes the memory in and hands the next one back; each of
these steps runs once per tick, there. The controller keeps the current memory between ticks and stores
it in the ledger (`to_json`, the cursor `tick_memory`) whenever a tick changed it, and loads it at start.

What a restart (or `polymm reload`) keeps, and why: everything here. A market stepped back from
stays stepped back from — a restart is no evidence the jump regime is over (10 orders went out 2 s
after a reload into markets under a jump-rate pause when it was forgotten). A position's age and its
stop-loss timer keep counting from when they started, so the maker hedge's wait no longer starts again
per restart (it did before: bounded by `hedge_sell.maker_wait_seconds` per restart); a position the
memory lacks (a ledger from before this memory existed) is aged from the ledger's fills, as before.
Times are the controller's clock (unix seconds); a gap (the process down) counts as time passing, as
it does at the venue. Backtests never restart, so their output does not depend on any of this.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Iterable, Mapping

from polymm.desired.toxicity import ToxicityParams, ToxicityState
from polymm.desired.toxicity import step as toxicity_step
from polymm.domain.exposure import BuyExposure
from polymm.domain.unknown import known
from polymm.observed.state import ObservedState

FORMAT = 1  # the stored text's version: a text of another version is not read (the tick starts from empty memory)


@dataclass(frozen=True)
class TickMemory:
    toxicity: ToxicityState = field(default_factory=ToxicityState)
    # token -> when the position was first seen held (the maker hedge's wait counts from here)
    position_since: Mapping[str, float] = field(default_factory=dict)
    # token -> when the stop-loss first fired on the position (`hedge_sell.stop_loss_maker_seconds`)
    stop_since: Mapping[str, float] = field(default_factory=dict)
    # order id -> (what was left of our buy, when the venue confirmed its cancel): still counted against the caps
    # until a trades read that knows its market's fills comes after the cancel (see `settling_after`)
    settling: Mapping[str, tuple[BuyExposure, float]] = field(default_factory=dict)
    # token -> (ledger shares, venue shares): apart at two positions checks in a row (the exposure cap counts the
    # venue's), and apart at the last check only (checked again before it counts)
    position_mismatches: Mapping[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    position_suspects: Mapping[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    unhedged_for: Mapping[str, int] = field(default_factory=dict)  # token -> consecutive ticks without a hedge

    def with_cancelled_buys(self, cancelled: Iterable[tuple[str, BuyExposure, float]]) -> "TickMemory":
        """With our buys whose cancel the venue confirmed since the last tick (the executor's record)."""
        cancelled = list(cancelled)
        if not cancelled:
            return self
        return replace(self, settling={**self.settling, **{oid: (b, at) for oid, b, at in cancelled}})

    def with_positions_opened(self, opened: Mapping[str, float]) -> "TickMemory":
        """With when positions the memory lacks were opened (from the ledger's fills: a ledger older than the memory)."""
        missing = {t: at for t, at in opened.items() if t not in self.position_since}
        return replace(self, position_since={**self.position_since, **missing}) if missing else self

    # ------------------------------------------------------------------ storage
    def to_json(self) -> str:
        """The memory as text (Decimals as strings, exact; floats as Python writes them, exact)."""
        return json.dumps({
            "format": FORMAT,
            "toxicity": self.toxicity.to_wire(),
            "position_since": dict(self.position_since),
            "stop_since": dict(self.stop_since),
            "settling": {oid: [b.condition_id, str(b.price), str(b.size), at] for oid, (b, at) in self.settling.items()},
            "position_mismatches": {t: [str(a), str(b)] for t, (a, b) in self.position_mismatches.items()},
            "position_suspects": {t: [str(a), str(b)] for t, (a, b) in self.position_suspects.items()},
            "unhedged_for": dict(self.unhedged_for),
        }, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "TickMemory":
        """The memory `to_json` wrote; ValueError for a text it cannot read (another format, or damaged)."""
        try:
            raw = json.loads(text)
            if raw.get("format") != FORMAT:
                raise ValueError(f"tick memory format {raw.get('format')!r}, expected {FORMAT}")
            return cls(
                toxicity=ToxicityState.from_wire(raw["toxicity"]),
                position_since={t: float(at) for t, at in raw["position_since"].items()},
                stop_since={t: float(at) for t, at in raw["stop_since"].items()},
                settling={oid: (BuyExposure(cid, Decimal(p), Decimal(s)), float(at))
                          for oid, (cid, p, s, at) in raw["settling"].items()},
                position_mismatches={t: (Decimal(a), Decimal(b)) for t, (a, b) in raw["position_mismatches"].items()},
                position_suspects={t: (Decimal(a), Decimal(b)) for t, (a, b) in raw["position_suspects"].items()},
                unhedged_for={t: int(n) for t, n in raw["unhedged_for"].items()},
            )
        except (KeyError, TypeError, AttributeError, ArithmeticError, json.JSONDecodeError) as exc:
            raise ValueError(f"tick memory unreadable: {type(exc).__name__}: {exc}") from None


# ---------------------------------------------------------------------------------------------- steps


def toxicity_after(state: ToxicityState, observed: ObservedState, params: ToxicityParams) -> ToxicityState:
    """The toxicity state after this observation's midpoints and buy fills (polymm.desired.toxicity)."""
    if not params.active:
        return state
    mids = {}
    if known(observed.books):
        market_of = {t: m.condition_id for ms in (observed.reward_markets, observed.other_markets) if known(ms)
                     for m in ms for t in m.token_ids}
        for token, book in observed.books.items():
            cid = market_of.get(token) or observed.watched_markets.get(token)
            if book.midpoint is not None and cid is not None:
                mids[token] = (cid, book.midpoint)
    buys = []
    if known(observed.fills):
        buys = [(f.condition_id, float(f.match_time), f.size, f.price) for f in observed.fills
                if f.side == "BUY" and f.status != "FAILED"]
    return toxicity_step(state, observed.at, mids, buys, params, observed.price_history)


def settling_after(settling: Mapping[str, tuple[BuyExposure, float]],
                   observed: ObservedState) -> dict[str, tuple[BuyExposure, float]]:
    """Our cancelled buys still counted against the caps after this observation: those whose cancel the venue
    confirmed after the last trades read that knew their market's fills. A fill that came just before a cancel
    shows only in a later trades read; with that read failing (or a row of the market unreadable) the order,
    cancelled in the ledger, would count for nothing and the market could be bought past its cap (measured: a
    storm at 40 % faults ended at 1.08 × the cap)."""
    if not known(observed.fills) or not observed.fills_complete:  # a recent-window read releases nothing
        return dict(settling)
    return {oid: (b, at) for oid, (b, at) in settling.items()
            if b.condition_id in observed.fills_unknown_markets or at >= observed.at}


def checked(mismatches: Mapping[str, tuple[Decimal, Decimal]], suspects: Mapping[str, tuple[Decimal, Decimal]],
            seen: Mapping[str, tuple[Decimal, Decimal]]
            ) -> tuple[dict[str, tuple[Decimal, Decimal]], dict[str, tuple[Decimal, Decimal]]]:
    """(mismatches, suspects) after a positions check that saw `seen` apart: a difference counts once two checks
    in a row see it (the venue's positions may lag a fill); a first sighting is checked again."""
    confirmed = {t: v for t, v in seen.items() if t in suspects or t in mismatches}
    return confirmed, {t: v for t, v in seen.items() if t not in confirmed}
