"""Hedge sell price for a position: where to sell what we bought, and why.

Given a position (size, average cost) and the token's book, in this order:
1. stop-loss — the best bid ≤ cost × (1 − stop_loss_pct): exit now at the lowest bid level whose
   cumulative size covers the position (or the worst bid level if none covers), whatever the gap — or, with
   `stop_loss_depth = "best_bid"`, at the best bid only (the rest rests there and follows the book); with
   `stop_loss_maker_s` > 0, for that long after it first fires it rests a post-only ask one tick inside the
   best ask instead (following the book), and crosses only after;
2. take-profit — the best bid ≥ cost × (1 + take_profit_pct): sell now at the best bid;
3. covering bid — the lowest bid level whose cumulative size (best first) covers the whole
   position, if its price is ≥ cost − max_bid_gap: sell there (fills at once across the levels);
4. best bid — if the best bid is ≥ cost − max_bid_gap: sell at the best bid (fills what it can, the
   rest rests there);
5. otherwise rest an ask at max(cost, midpoint) × (1 + min_profit_margin_bps / 10 000), rounded
   up to the tick (no bid within reach: wait for a buyer above cost).
Every price is clamped into [tick, 1 − tick]. The result says whether it crosses (sells at once).

Maker hedge (`mode = "maker"`), between rules 2 and 3, while the position is younger than
`maker_wait_s`: if the bids covering the position bring at least the cost net of the taker fee, sell
into them (rule 3 without a loss; not with `maker_take_at_cost` off); otherwise rest a post-only ask at max(cost rounded up to the tick,
best bid + tick) — never below cost, never crossing — and wait for a buyer. Once the position is
`maker_wait_s` old, rules 3–5 apply as in `cross` mode (the seed's): the hedge then crosses — unless
`maker_step_s` > 0: then the post-only ask steps down one cent (or one tick, if coarser) every `maker_step_s`,
from cost − 1 cent down to cost − max_bid_gap, never at or below the best bid; it crosses only into bids that
bring the cost net of the fee, and otherwise only the stop-loss crosses (reason `maker_step_down`). The
stop-loss (rule 1) crosses at once in both modes, so a maker hedge never rides a falling market down; in maker
mode it fires when the best bid is both stop_loss_pct and max_bid_gap below cost (on a cheap token one tick is
more than the percentage: the percentage alone would sell into the book on the spread itself).

Dynamic follow: the hedge is recomputed every tick. With `dynamic_follow_enabled`, the reconciler
replaces a live hedge whose price differs from the new target (so a resting ask follows the market);
without it, a live hedge keeps its price and only a stop-loss replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from polymm.domain.ticks import clamp_to_valid, round_up_to_tick
from polymm.domain.types import Book, Position

BPS = Decimal(10_000)
CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class HedgeParams:
    max_bid_gap: Decimal
    stop_loss_pct: Decimal
    take_profit_pct: Decimal
    min_profit_margin_bps: Decimal
    # after a matching-engine restart the venue takes only post-only orders (2 minutes): the hedge is then
    # an ask that does not cross, one tick above the best bid (docs.polymarket.com/trading/matching-engine)
    post_only: bool = False
    mode: str = "cross"  # cross (the seed's: sell into the bids at once) | maker (rest an ask at/above cost first)
    maker_wait_s: float = 0.0  # maker mode: how long a position may wait on its resting ask before crossing
    # maker mode, once the wait is over: 0 crosses (rules 3–5, the behaviour before this option); > 0 keeps a
    # post-only ask and lowers it one cent (or one tick, if coarser) every maker_step_s, never below
    # cost − max_bid_gap and never crossing — only the stop-loss then sells into the bids
    maker_step_s: float = 0.0
    # where the stop-loss sells: "covering" (the lowest bid level whose cumulative size covers the position, the rule
    # before this option) | "best_bid" (only into the best bid: what it holds fills, the rest rests at that price and
    # the next tick sells into the book as it refills — right after a jump the levels under the best bid are what
    # the arbitrageurs left, and walking them sells below the new price)
    stop_loss_depth: str = "covering"
    # maker mode: sell into the bids at once when they bring at least the cost net of the taker fee (True, the rule
    # before this option) — or never, resting the ask instead (False): such a sale gives up the half spread and the
    # fee against the midpoint, a resting ask sells at or above the best ask and earns the rebate
    maker_take_at_cost: bool = True
    # what the stop-loss compares with its price: "best_bid" (the rule before this option) | "midpoint" — right after
    # a sweep or a jump has taken the bids the best bid is a hole in the book, not a price (the makers refill within
    # seconds), and a stop on it sells the whole position into the hole
    stop_loss_on: str = "best_bid"
    # > 0: for this long after the stop-loss first fires on a position, it rests a post-only ask one tick inside the
    # best ask (never crossing, following the book each tick) instead of selling into the bids; then it crosses as
    # before. Right after a jump or a sweep the bids are a hole and the fee is at its worst; the new price is where
    # the asks are. 0: the stop-loss crosses at once (the rule before this option)
    stop_loss_maker_s: float = 0.0


@dataclass(frozen=True, slots=True)
class HedgePrice:
    price: Decimal
    reason: str  # stop_loss | take_profit | covering_bid | best_bid | margin_over_cost | maker_ask | maker_step_down
    crosses: bool  # True when the sell is marketable (meets a bid at once)
    post_only: bool = False  # True when the sell must rest (a maker ask: refused rather than taking)


def covering_level(book: Book, size: Decimal) -> Decimal | None:
    """The lowest bid price whose cumulative size from the best bid down covers `size`."""
    total = Decimal(0)
    for level in book.bids:
        total += level.size
        if total >= size:
            return level.price
    return None


def net_of_fee(price: Decimal, fee_rate: Decimal) -> Decimal:
    """What a share sold into a bid at `price` brings after the taker fee rate × p × (1 − p) (docs: trading/fees)."""
    return price - fee_rate * price * (1 - price)


def stop_fires(position: Position, book: Book, params: HedgeParams) -> bool:
    """Whether the stop-loss (rule 1) fires for this position on this book."""
    cost = position.avg_cost
    stop = cost * (1 - params.stop_loss_pct)
    if params.mode == "maker":
        # on a cheap token one tick is more than stop_loss_pct of the price (cost 0.08: a bid at 0.07 is 12.5 % below),
        # so the percentage alone fires on the spread itself, selling deep into the book right after the fill; in
        # maker mode the stop also needs the bid max_bid_gap below cost
        stop = min(stop, cost - params.max_bid_gap)
    if book.best_bid is None:
        return False
    mark = book.midpoint if params.stop_loss_on == "midpoint" and book.midpoint is not None else book.best_bid
    return mark <= stop


def hedge_price(position: Position, book: Book, params: HedgeParams, fee_rate: Decimal = Decimal(0),
                age_s: float = float("inf"), stop_age_s: float = float("inf")) -> HedgePrice:
    """`fee_rate`: the market's taker fee rate; selling into a bid is a taker trade, so the take-profit and
    bid-gap rules compare what the sale brings net of that fee with the cost (a resting ask pays none).
    `age_s`: how long the position has been held (maker mode waits on a resting ask while it is young).
    `stop_age_s`: how long the stop-loss has been firing on it (`stop_loss_maker_s`)."""
    tick = book.tick_size
    cost = position.avg_cost
    best_bid = book.best_bid
    floor = cost - params.max_bid_gap

    def done(price: Decimal, reason: str, crosses: bool) -> HedgePrice:
        if crosses and params.post_only and best_bid is not None:
            return HedgePrice(clamp_to_valid(best_bid + tick, tick), f"{reason}_post_only", False)
        return HedgePrice(clamp_to_valid(price, tick), reason, crosses)

    if best_bid is not None:
        if stop_fires(position, book, params):
            if stop_age_s < params.stop_loss_maker_s:
                # one tick inside the best ask (at it on a one-tick spread), never at or below the best bid
                inside = book.best_ask - tick if book.best_ask is not None else best_bid + tick
                return HedgePrice(clamp_to_valid(max(inside, best_bid + tick), tick), "stop_loss_maker", False, True)
            if params.stop_loss_depth == "best_bid":
                return done(best_bid, "stop_loss", True)
            level = covering_level(book, position.size)
            return done(level if level is not None else book.bids[-1].price, "stop_loss", True)
        if params.take_profit_pct > 0 and net_of_fee(best_bid, fee_rate) >= cost * (1 + params.take_profit_pct):
            return done(best_bid, "take_profit", True)
        level = covering_level(book, position.size)
        stepping = params.mode == "maker" and params.maker_step_s > 0 and age_s >= params.maker_wait_s
        if params.mode == "maker" and (age_s < params.maker_wait_s or stepping):
            # bids that bring at least the cost net of the fee are taken at once (no loss)
            if params.maker_take_at_cost and level is not None and net_of_fee(level, fee_rate) >= cost:
                return done(level, "covering_bid", True)
            ask, reason = round_up_to_tick(cost, tick), "maker_ask"
            if stepping:
                # the wait is over: concede a cent per step instead of crossing the whole position into the bids
                # (a taker trade right after the sweep that filled us walks a thinned book and pays the spread and
                # the fee; the resting ask sells as a maker when the price comes to it, and earns the rebate)
                steps = 1 + int((age_s - params.maker_wait_s) // params.maker_step_s)
                step = max(tick, CENT)
                ask = max(ask - steps * step, round_up_to_tick(cost - params.max_bid_gap, tick))
                reason = "maker_step_down"
            ask = max(ask, best_bid + tick)
            return HedgePrice(clamp_to_valid(ask, tick), reason, False, True)
        if level is not None and net_of_fee(level, fee_rate) >= floor:
            return done(level, "covering_bid", True)
        if net_of_fee(best_bid, fee_rate) >= floor:
            return done(best_bid, "best_bid", True)
    reference = max(cost, book.midpoint) if book.midpoint is not None else cost
    target = round_up_to_tick(reference * (1 + params.min_profit_margin_bps / BPS), tick)
    return done(target, "margin_over_cost", False)
