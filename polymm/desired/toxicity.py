"""Stepping back from a toxic market: which markets not to quote this tick, and why.

A market is toxic for `pause_s` seconds after either
- a buy quote of ours in it filled: with competing size deep at the touch, only a large taker reaches a
  quote behind it, and on the simulated and the real venue that flow is partly informed (the fills that
  run against us); or
- the midpoint of one of its tokens moved by `jump` or more from its reference — the midpoint seen at the
  start of the current `pause_s` window (the reference is reset once a window old) — so a news jump, a large
  taker walking the book, and a trend moving `jump` within the window all count.
With `jump_memory_s` > 0, a market whose midpoint moved by `jump_size` or more *at once* (within `SUDDEN_S`, a
minute: between any two observations of a token in that window, so a repricing the book shows in two or three
steps as its makers refresh counts as one move) is also left for `jump_memory_s`, a longer time: a quote behind
the touch is filled by a news jump at the old price (the arbitrageurs take every bid the new price has passed),
and one such fill costs the size times the jump's overshoot — measured on the simulator, 0.3–1.0 USDC, more than
a reward-minimum quote earns in that market in weeks (cents a day). So a market seen to reprice in steps larger
than the distance of our quote behind the midpoint is not worth quoting again for hours; a diffusion or a trend
moves the midpoint a tick at a time and never counts here (the `jump` rule above handles those). A jump is
counted once: the token's window starts again after it.
With `jump_scope = "venue"` a jump anywhere leaves every market we watch for `jump_memory_s`.
With `max_jump_rate` > 0 every market we watch is left while the *jump rate* of the markets we watch — the
jumps seen per market-hour watched, both decaying with the time constant `jump_memory_s`, plus a prior of
`RATE_PRIOR_JUMPS` jumps in `RATE_PRIOR_HOURS` market-hours — is above `max_jump_rate`: a market's own first
jump fills our quote before it can be seen, so the warning has to come from the others. One jump in a quiet
venue is not a regime (the prior holds the estimate down); two in the first hours of ten markets are. The
controller watches more markets' books than it quotes for this (polymm.marketdata.scope, `watching`).
With `trend_window_s` > 0 a market is also left while the midpoint of one of its tokens is `trend_move` or more
away from where it was `trend_window_s` ago (sampled once every TREND_SAMPLE_S), and it is not quoted until its
midpoint has been watched that long (the trend is unknown before) — a watch that starts from the venue's price
history of the window (GET /prices-history, read by the controller for a token first seen) has: a trend of a few
cents an hour moves less than
`jump` in any `pause_s` window, so the rule above never sees it, and every bid it reaches is bought above where the
price goes (trending seed 1, 24 h: a 20-share bid at 0.84 filled 18 minutes into the run, the midpoint at 0.78 an
hour later; −1.00, the day's loss). A token not observed for TREND_GAP_S starts its watch again (from the
history again, when it can be read).
While toxic its quotes are cancelled and not replaced; hedges of positions in it go on as always. The
state is what the controller remembers between ticks (the last midpoint per token, the last toxic event
per market); `step` is pure. Close to the end date a market is left by the funnel's end-date rule
(`filters.min_days_until_end`, applied every tick), not here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Iterable, Mapping, Sequence


SUDDEN_S = 60.0  # a move between two observations of a token at most this far apart is "at once"
# the jump rate's prior: one jump per 100 market-hours (calm and trending show 0.01–0.02 on the simulator,
# docs/STRATEGY.md), worth 25 market-hours of watching — ten markets for two and a half hours
RATE_PRIOR_JUMPS = 0.25
RATE_PRIOR_HOURS = 25.0
TREND_SAMPLE_S = 60.0  # the trend rule keeps one midpoint a minute per token
TREND_GAP_S = 600.0  # a token unobserved this long has no trend history: its watch starts again


@dataclass(frozen=True, slots=True)
class ToxicityParams:
    pause_s: float  # 0: never step back (the seed's behaviour)
    jump: Decimal  # a midpoint move of at least this much within pause_s of its reference (price units)
    jump_memory_s: float = 0.0  # after a sudden move of jump_size, leave the market this long (0: off)
    jump_size: Decimal = Decimal("0.03")  # a midpoint move at least this large within SUDDEN_S
    # "market": a jump leaves its own market for jump_memory_s | "venue": every market we watch
    jump_scope: str = "market"
    # jumps per market-hour watched above which every market is left (0: off); needs jump_memory_s > 0
    max_jump_rate: float = 0.0
    trend_window_s: float = 0.0  # a midpoint move of trend_move over this long leaves the market (0: off)
    trend_move: Decimal = Decimal("0.03")

    @property
    def active(self) -> bool:
        return self.pause_s > 0 or self.jump_memory_s > 0 or self.trend_window_s > 0


@dataclass(frozen=True)
class ToxicityState:
    mids: Mapping[str, tuple[float, Decimal]] = field(default_factory=dict)  # token -> (since, reference midpoint)
    events: Mapping[str, tuple[float, str]] = field(default_factory=dict)  # market -> (time, reason) of the last event
    # token -> its midpoints of the last SUDDEN_S, oldest first, as (last time seen at that midpoint, midpoint)
    recent: Mapping[str, tuple[tuple[float, Decimal], ...]] = field(default_factory=dict)
    jumps: Mapping[str, tuple[float, str]] = field(default_factory=dict)  # market -> (time, reason) of the last jump
    seen: Mapping[str, float] = field(default_factory=dict)  # market -> when its book was last observed
    jump_count: float = 0.0  # jumps seen, decayed (the jump rate's numerator)
    watched_hours: float = 0.0  # market-hours watched, decayed (its denominator)
    rate_at: float | None = None  # when the two were last brought up to date
    # token -> (condition id, its midpoints one a TREND_SAMPLE_S over the last trend_window_s, oldest first, as
    # (time, midpoint)); the first entry is where the watch of the token started, if within the window
    trend: Mapping[str, tuple[str, tuple[tuple[float, Decimal], ...]]] = field(default_factory=dict)

    def jump_rate(self) -> float:
        """Jumps per market-hour watched, with the prior."""
        return (self.jump_count + RATE_PRIOR_JUMPS) / (self.watched_hours + RATE_PRIOR_HOURS)

    def to_wire(self) -> dict:
        """The state as JSON-ready data (Decimals as strings: exact), for the tick memory's storage."""
        def points(ps):
            return [[t, str(p)] for t, p in ps]
        return {"mids": {k: [at, str(m)] for k, (at, m) in self.mids.items()},
                "events": {k: list(v) for k, v in self.events.items()},
                "recent": {k: points(v) for k, v in self.recent.items()},
                "jumps": {k: list(v) for k, v in self.jumps.items()},
                "seen": dict(self.seen), "jump_count": self.jump_count, "watched_hours": self.watched_hours,
                "rate_at": self.rate_at, "trend": {k: [cid, points(v)] for k, (cid, v) in self.trend.items()}}

    @classmethod
    def from_wire(cls, raw: dict) -> "ToxicityState":
        def points(ps):
            return tuple((float(t), Decimal(p)) for t, p in ps)
        return cls({k: (float(at), Decimal(m)) for k, (at, m) in raw["mids"].items()},
                   {k: (float(at), str(why)) for k, (at, why) in raw["events"].items()},
                   {k: points(v) for k, v in raw["recent"].items()},
                   {k: (float(at), str(why)) for k, (at, why) in raw["jumps"].items()},
                   {k: float(at) for k, at in raw["seen"].items()}, float(raw["jump_count"]),
                   float(raw["watched_hours"]), None if raw["rate_at"] is None else float(raw["rate_at"]),
                   {k: (str(cid), points(v)) for k, (cid, v) in raw["trend"].items()})


def _window(recent: tuple[tuple[float, Decimal], ...], now: float, mid: Decimal) -> tuple[tuple[float, Decimal], ...]:
    """The token's midpoints within SUDDEN_S of `now`, with `mid` seen now (an unchanged midpoint only moves
    its time forward)."""
    kept = tuple(e for e in recent if now - e[0] <= SUDDEN_S)
    if kept and kept[-1][1] == mid:
        return kept[:-1] + ((now, mid),)
    return kept + ((now, mid),)


def step(state: ToxicityState, now: float, mids: Mapping[str, tuple[str, Decimal]],
         buy_fills: Iterable[tuple[str, float, Decimal, Decimal]], params: ToxicityParams,
         history: Mapping[str, Sequence[tuple[float, Decimal]]] | None = None) -> ToxicityState:
    """The state after one observation. `mids`: token -> (condition id, midpoint) of the books read this tick;
    `buy_fills`: the fills of our buys this observation lists, as (condition id, match time, size, price); a fill
    seen again (the trade cursor overlaps) sets the same event again, so the pause runs from the fill's time.
    `history`: for tokens the trend rule has not watched yet, the venue's price a minute before now (GET
    /prices-history), which its watch starts from instead of from now."""
    if not params.active:
        return state
    trend = _trend_after(state.trend, now, mids, params, history or {}) if params.trend_window_s > 0 else state.trend
    jumps: dict[str, tuple[float, str]] = {}
    recent = dict(state.recent)
    markets_seen = dict(state.seen)
    count, hours, rate_at = state.jump_count, state.watched_hours, state.rate_at
    if params.jump_memory_s > 0:
        jumps = {cid: ev for cid, ev in state.jumps.items() if now - ev[0] < params.jump_memory_s}
        markets_seen = {cid: at for cid, at in state.seen.items() if now - at <= SUDDEN_S}
        jumped: set[str] = set()
        for token, (cid, mid) in mids.items():
            window = _window(state.recent.get(token, ()), now, mid)
            at, far = max(window[:-1], key=lambda e: (abs(mid - e[1]), e[0]), default=(now, mid))
            if abs(mid - far) >= params.jump_size:
                jumps[cid] = (now, f"jump: midpoint moved {far} → {mid} in {now - at:.0f} s")
                jumped.add(cid)
                window = ((now, mid),)  # counted once: the next move is measured from here
            recent[token] = window
            markets_seen[cid] = now
        for token in [t for t, w in recent.items() if t not in mids and now - w[-1][0] > SUDDEN_S]:
            del recent[token]
        # the jump rate: decay both sums, then add this observation (a gap longer than SUDDEN_S is not watched)
        if rate_at is not None:
            dt = max(0.0, now - rate_at)
            decay = math.exp(-dt / params.jump_memory_s)
            watched = len({cid for cid, _ in mids.values()})
            count, hours = count * decay + len(jumped), hours * decay + watched * min(dt, SUDDEN_S) / 3600
        rate_at = now
    if params.pause_s <= 0:
        return ToxicityState(state.mids, state.events, recent, jumps, markets_seen, count, hours, rate_at, trend)
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
    return ToxicityState(new_mids, events, recent, jumps, markets_seen, count, hours, rate_at, trend)


def _seed(points: Sequence[tuple[float, Decimal]], now: float, window: float) -> tuple[tuple[float, Decimal], ...]:
    """The venue's price points as a token's samples: those of the last window (the one just before it too, as the
    reference), a TREND_SAMPLE_S apart at least, none at or after now."""
    out: list[tuple[float, Decimal]] = []
    for t, p in sorted(points):
        if now - window - TREND_SAMPLE_S <= t < now and (not out or t - out[-1][0] >= TREND_SAMPLE_S):
            out.append((t, p))
    return tuple(out)


def _trend_after(trend: Mapping[str, tuple[str, tuple[tuple[float, Decimal], ...]]], now: float,
                 mids: Mapping[str, tuple[str, Decimal]], params: ToxicityParams,
                 history: Mapping[str, Sequence[tuple[float, Decimal]]]
                 ) -> dict[str, tuple[str, tuple[tuple[float, Decimal], ...]]]:
    """The per-token midpoint history after this observation: a sample a minute, the window's oldest kept as the
    reference (a tick that adds no sample leaves the token's tuple as it was: nothing is copied per tick)."""
    out = {t: h for t, h in trend.items() if now - h[1][-1][0] <= TREND_GAP_S}  # as trend_known
    for token, (cid, mid) in mids.items():
        if token not in out and token in history:
            out[token] = (cid, _seed(history[token], now, params.trend_window_s))
        _, samples = out.get(token, (cid, ()))
        if samples and now - samples[-1][0] < TREND_SAMPLE_S:
            continue
        kept = samples
        while len(kept) > 1 and now - kept[1][0] >= params.trend_window_s:
            kept = kept[1:]  # the oldest kept is the last one at least a window old
        out[token] = (cid, kept + ((now, mid),))
    return out


def trend_known(state: ToxicityState, token: str, now: float) -> bool:
    """Whether the trend rule holds a recent path of `token`: else the next step starts it again (from the venue's
    price history when the observation brings it)."""
    entry = state.trend.get(token)
    return entry is not None and now - entry[1][-1][0] <= TREND_GAP_S


def _trends(state: ToxicityState, now: float, params: ToxicityParams) -> dict[str, str]:
    """Markets the trend rule leaves now: a token watched for less than the window, or moved trend_move in it."""
    out: dict[str, str] = {}
    window = params.trend_window_s
    for token, (cid, samples) in sorted(state.trend.items()):
        if cid in out:
            continue
        (since, before), mid = samples[0], samples[-1][1]
        if now - since < window - TREND_SAMPLE_S:  # one sample's slack: the reference is a window old within a minute
            out[cid] = f"trend: midpoint watched {now - since:.0f} of {window:.0f} s before quoting"
        elif abs(mid - before) >= params.trend_move:
            out[cid] = (f"trend: midpoint moved {before} → {mid} in {now - since:.0f} s "
                        f"(≥ {params.trend_move} in {window:.0f} s); stepping back while it lasts")
    return out


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
    if params.max_jump_rate > 0 and params.jump_memory_s > 0 and state.jump_rate() > params.max_jump_rate:
        reason = (f"jump rate: {state.jump_count:.1f} jumps in {state.watched_hours:.0f} market-hours watched, "
                  f"{state.jump_rate():.3f} an hour > {params.max_jump_rate}; stepping back until it falls")
        for cid in set(state.seen) | set(jumps):
            out.setdefault(cid, reason)
    for cid, (at, reason) in jumps.items():
        left = params.jump_memory_s - (now - at)
        if left > 0 and left > params.pause_s - (now - state.events.get(cid, (float("-inf"),))[0]):
            out[cid] = f"{reason}; stepping back {left:.0f} s more"
    if params.trend_window_s > 0:
        for cid, reason in _trends(state, now, params).items():
            out.setdefault(cid, reason)
    return out
