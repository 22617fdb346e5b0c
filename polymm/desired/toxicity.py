"""Stepping back from a toxic market: which markets not to quote this tick, and why.

A market is toxic for `pause_s` seconds after either
- a buy quote of ours in it filled: with competing size deep at the touch, only a large taker reaches a
  quote behind it, and on the simulated and the real venue that flow is partly informed (the fills that
  run against us); or
- the midpoint of one of its tokens moved by `jump` or more from its reference — the midpoint seen at the
  start of the current `pause_s` window (the reference is reset once a window old) — so a news jump, a large
  taker walking the book, and a trend moving `jump` within the window all count.
With `jump_memory_s` > 0, a market whose midpoint moved by `jump_size` or more *at once* (between two
observations at most `SUDDEN_S` apart) is also left for `jump_memory_s`, a longer time: a quote behind the touch
is filled by a news jump at the old price (the arbitrageurs take every bid the new price has passed), and one
such fill costs the size times the jump's overshoot — measured on the simulator, 0.3–1.0 USDC, more than a
reward-minimum quote earns in that market in weeks (cents a day). So a market seen to reprice in steps larger
than the distance of our quote behind the midpoint is not worth quoting again for hours; a diffusion or a
trend moves the midpoint a tick at a time and never counts here (the `jump` rule above handles those).
With `jump_scope = "venue"` a jump anywhere leaves every market we watch for `jump_memory_s`: news that moves one
market at once moves related ones with it, and a market's own first jump fills our quote before it can be seen
— with a reward of cents a day against a jump fill's tenths of a dollar, the hours lost in a quiet market cost
far less than that first fill.
While toxic its quotes are cancelled and not replaced; hedges of positions in it go on as always. The
state is what the controller remembers between ticks (the last midpoint per token, the last toxic event
per market); `step` is pure. Close to the end date a market is left by the funnel's end-date rule
(`filters.min_days_until_end`, applied every tick), not here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Iterable, Mapping


SUDDEN_S = 60.0  # two observations of a token at most this far apart: a move between them is "at once"


@dataclass(frozen=True, slots=True)
class ToxicityParams:
    pause_s: float  # 0: never step back (the seed's behaviour)
    jump: Decimal  # a midpoint move of at least this much within pause_s of its reference (price units)
    jump_memory_s: float = 0.0  # after a sudden move of jump_size, leave the market this long (0: off)
    jump_size: Decimal = Decimal("0.03")  # a midpoint move at least this large between two observations
    # "market": a jump leaves its own market for jump_memory_s | "venue": every market we watch (news moves related
    # markets together, and a market's first jump fills a quote before it can be seen)
    jump_scope: str = "market"


@dataclass(frozen=True)
class ToxicityState:
    mids: Mapping[str, tuple[float, Decimal]] = field(default_factory=dict)  # token -> (since, reference midpoint)
    events: Mapping[str, tuple[float, str]] = field(default_factory=dict)  # market -> (time, reason) of the last event
    last: Mapping[str, tuple[float, Decimal]] = field(default_factory=dict)  # token -> (time, midpoint) last observed
    jumps: Mapping[str, tuple[float, str]] = field(default_factory=dict)  # market -> (time, reason) of the last jump
    seen: Mapping[str, float] = field(default_factory=dict)  # market -> when its book was last observed


def step(state: ToxicityState, now: float, mids: Mapping[str, tuple[str, Decimal]],
         buy_fills: Iterable[tuple[str, float, Decimal, Decimal]], params: ToxicityParams) -> ToxicityState:
    """The state after one observation. `mids`: token -> (condition id, midpoint) of the books read this tick;
    `buy_fills`: the fills of our buys this observation lists, as (condition id, match time, size, price); a fill
    seen again (the trade cursor overlaps) sets the same event again, so the pause runs from the fill's time."""
    if params.pause_s <= 0 and params.jump_memory_s <= 0:
        return state
    jumps: dict[str, tuple[float, str]] = {}
    last = dict(state.last)
    markets_seen = dict(state.seen)
    if params.jump_memory_s > 0:
        jumps = {cid: ev for cid, ev in state.jumps.items() if now - ev[0] < params.jump_memory_s}
        markets_seen = {cid: at for cid, at in state.seen.items() if now - at <= SUDDEN_S}
        for token, (cid, mid) in mids.items():
            seen = state.last.get(token)
            if seen is not None and now - seen[0] <= SUDDEN_S and abs(mid - seen[1]) >= params.jump_size:
                jumps[cid] = (now, f"jump: midpoint moved {seen[1]} → {mid} at once")
            last[token] = (now, mid)
            markets_seen[cid] = now
    if params.pause_s <= 0:
        return ToxicityState(state.mids, state.events, last, jumps, markets_seen)
    events = {cid: ev for cid, ev in state.events.items() if now - ev[0] < params.pause_s}
    for cid, at, size, price in buy_fills:
        if now - at < params.pause_s and at >= events.get(cid, (float("-inf"), ""))[0]:
            events[cid] = (at, f"toxic: our bid of {price} was filled ({size} shares)")
    new_mids = dict(state.mids)
    for token, (cid, mid) in mids.items():
        since, before = state.mids.get(token, (now, mid))
        if abs(mid - before) >= params.jump:
            events[cid] = (now, f"toxic: midpoint moved {before} → {mid} in {now - since:.0f} s")
            since, before = now, mid
        elif now - since >= params.pause_s:
            since, before = now, mid
        new_mids[token] = (since, before)
    return ToxicityState(new_mids, events, last, jumps, markets_seen)


def paused(state: ToxicityState, now: float, params: ToxicityParams) -> dict[str, str]:
    """Markets not to quote now, with the reason and how long the pause still lasts."""
    out: dict[str, str] = {}
    for cid, (at, reason) in state.events.items():
        left = params.pause_s - (now - at)
        if left > 0:
            out[cid] = f"{reason}; stepping back {left:.0f} s more"
    jumps = dict(state.jumps)
    if params.jump_scope == "venue" and jumps:
        where, (at, reason) = max(jumps.items(), key=lambda kv: (kv[1][0], kv[0]))  # the latest jump we saw anywhere
        jumps = {m: (at, f"{reason} in {where[:12]}…") for m in set(state.seen) | set(jumps)}
    for cid, (at, reason) in jumps.items():
        left = params.jump_memory_s - (now - at)
        if left > 0 and left > params.pause_s - (now - state.events.get(cid, (float("-inf"),))[0]):
            out[cid] = f"{reason}; stepping back {left:.0f} s more"
    return out
