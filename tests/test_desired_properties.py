"""Properties of the pure desire functions over random books, reward parameters and configurations.

Books are generated on a random allowed tick with 0–12 levels per side, never crossing, listed in a
random order; every quote and hedge price must then be a price the venue would accept.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from polymm.config import PolymmConfig, ValueRange
from polymm.desired.funnel import STEP_NAMES, SelectionParams, select_markets
from polymm.desired.hedge import HedgeParams, hedge_price
from polymm.desired.quotes import quote_price, quote_size
from polymm.desired.safety import SafetyLimits
from polymm.domain.ticks import ALLOWED_TICKS, is_on_tick, is_valid_price
from polymm.domain.types import Book, Position, RewardMarket, Token

NOW = datetime(2026, 9, 1, tzinfo=timezone.utc)
ONE = D(1)

sizes = st.decimals(min_value=D("0.01"), max_value=D(5000), places=2)
# Real programmes use 1–6¢; sub-cent values exercise the degenerate band (mid ∓ a negative half-width).
max_spreads = st.decimals(min_value=D("0.1"), max_value=D(10), places=1)
min_sizes = st.decimals(min_value=D(1), max_value=D(300), places=0)
multipliers = st.decimals(min_value=D("0.1"), max_value=D(5), places=2)
market_mins = st.decimals(min_value=D(1), max_value=D(20), places=3)
placements = st.sampled_from(["band_edge", "one_tick_inside", "band_floor"])


@st.composite
def books(draw, token_id: str = "T", tick: D | None = None) -> Book:
    """A non-crossing book: bids strictly below every ask, all on the tick, 0–12 levels a side."""
    tick = tick if tick is not None else draw(st.sampled_from(ALLOWED_TICKS))
    steps = int(ONE / tick)  # prices are k × tick for k in 1 .. steps − 1
    split = draw(st.integers(min_value=1, max_value=steps - 1))  # bids ≤ split < asks
    bid_ks = draw(st.lists(st.integers(1, split), max_size=12, unique=True))
    ask_ks = draw(st.lists(st.integers(split + 1, steps - 1), max_size=12, unique=True)) if split < steps - 1 else []
    bids = [(k * tick, draw(sizes)) for k in bid_ks]
    asks = [(k * tick, draw(sizes)) for k in ask_ks]
    return Book.from_levels(token_id, draw(st.permutations(bids)), draw(st.permutations(asks)), tick,
                            draw(market_mins))


def mirror(book: Book, token_id: str) -> Book:
    """The complementary token's book: its bids are 1 − our asks and its asks 1 − our bids."""
    return Book.from_levels(token_id, [(ONE - lv.price, lv.size) for lv in book.asks],
                            [(ONE - lv.price, lv.size) for lv in book.bids], book.tick_size, book.min_order_size)


# --- quotes -------------------------------------------------------------------------------


@given(book=books(), max_spread=max_spreads, placement=placements)
def test_every_quote_price_is_a_valid_tick_price_strictly_below_the_best_ask(book: Book, max_spread: D,
                                                                               placement: str) -> None:
    quote = quote_price(book, max_spread, placement)

    if len(book.bids) < 2 or not book.asks:
        assert quote is None
    if quote is not None:
        assert is_valid_price(quote.price, book.tick_size)
        assert quote.price < book.best_ask
        assert abs(book.midpoint - quote.price) * 100 < max_spread  # it scores


@given(book=books(), max_spread=max_spreads)
def test_one_tick_inside_is_within_one_tick_above_the_band_edge_and_never_improves_past_the_best_bid(
    book: Book, max_spread: D
) -> None:
    edge = quote_price(book, max_spread, "band_edge")
    inside = quote_price(book, max_spread, "one_tick_inside")

    if edge is not None and inside is not None:
        assert edge.price <= inside.price <= edge.price + book.tick_size
        # the extra tick never lifts the quote past the best bid (the band edge itself may sit above it)
        assert inside.price == edge.price or inside.price <= book.best_bid


@given(book=books(), max_spread=max_spreads)
def test_band_floor_is_never_closer_to_the_midpoint_than_band_edge(book: Book, max_spread: D) -> None:
    edge = quote_price(book, max_spread, "band_edge")
    floor = quote_price(book, max_spread, "band_floor")

    if edge is not None and floor is not None:
        assert floor.price <= edge.price
        assert floor.at_band_edge == edge.at_band_edge  # the book's verdict, whichever placement


@given(min_size=min_sizes, multiplier=multipliers, market_min=market_mins)
def test_quote_size_meets_both_minimums_on_the_0_01_share_step(min_size: D, multiplier: D, market_min: D) -> None:
    size = quote_size(min_size, multiplier, market_min)

    assert size >= min_size * multiplier and size >= market_min
    assert size % D("0.01") == 0
    assert size - D("0.01") < max(min_size * multiplier, market_min)  # rounded up by less than a step


# --- hedges -------------------------------------------------------------------------------

hedge_params = st.builds(
    HedgeParams,
    max_bid_gap=st.decimals(min_value=D("0.01"), max_value=D("0.5"), places=2),
    stop_loss_pct=st.decimals(min_value=D("0.01"), max_value=D("0.99"), places=2),
    take_profit_pct=st.decimals(min_value=D(0), max_value=D(2), places=2),
    min_profit_margin_bps=st.decimals(min_value=D(0), max_value=D(500), places=1),
)


@st.composite
def positions_and_books(draw) -> tuple[Position, Book]:
    book = draw(books())
    tick = book.tick_size
    # An average of buys at valid prices: anywhere in [tick, 1 − tick], not necessarily on the tick.
    cost = draw(st.decimals(min_value=tick, max_value=ONE - tick, places=6))
    return Position(book.token_id, draw(sizes), cost), book


@given(position_and_book=positions_and_books(), params=hedge_params)
def test_every_hedge_price_is_a_valid_tick_price_and_crosses_exactly_when_it_meets_a_bid(
    position_and_book: tuple[Position, Book], params: HedgeParams
) -> None:
    position, book = position_and_book

    hedge = hedge_price(position, book, params)

    assert is_valid_price(hedge.price, book.tick_size)
    assert hedge.reason in ("stop_loss", "take_profit", "covering_bid", "best_bid", "margin_over_cost")
    assert hedge.crosses is (book.best_bid is not None and hedge.price <= book.best_bid)
    if hedge.reason == "margin_over_cost":
        assert hedge.price >= min(position.avg_cost, ONE - book.tick_size)  # never rests below cost


# --- the funnel ---------------------------------------------------------------------------

ranges = st.builds(
    lambda lo, hi: ValueRange(min=min(lo, hi) if lo is not None and hi is not None else lo,
                              max=max(lo, hi) if lo is not None and hi is not None else hi),
    st.none() | st.decimals(min_value=0, max_value=100, places=2),
    st.none() | st.decimals(min_value=0, max_value=100, places=2),
)
price_ranges = st.builds(
    lambda lo, hi: ValueRange(min=lo, max=None if hi is None or (lo is not None and hi < lo) else hi),
    st.none() | st.decimals(min_value=0, max_value=D("0.05"), places=3),
    st.none() | st.decimals(min_value=0, max_value=D("0.2"), places=3),
)
BASE = SelectionParams.from_config(PolymmConfig())


@st.composite
def selection_params(draw) -> SelectionParams:
    return replace(
        BASE,
        blacklist=tuple(draw(st.lists(st.sampled_from(["rain", "snow", "trump"]), max_size=2))),
        volume_24hr_range=draw(ranges),
        rewards_min_size_range=draw(ranges),
        spread_range=draw(price_ranges),
        min_days_until_end=draw(st.integers(0, 30)),
        rate_per_day_range=draw(ranges),
        min_reward_ratio=draw(st.decimals(min_value=0, max_value=20, places=1)),
        order_size_multiplier=draw(multipliers),
        ranking=draw(st.sampled_from(["expected_reward", "original_ratio"])),
        placement=draw(placements),
        max_markets=draw(st.integers(1, 6)),
        limits=SafetyLimits(
            price_cliff_threshold=draw(st.decimals(min_value=D("0.01"), max_value=D("0.5"), places=2)),
            min_protection_size_multiplier=draw(st.decimals(min_value=0, max_value=3, places=1)),
            min_protection_size_multiplier_hedge=draw(st.decimals(min_value=0, max_value=6, places=1)),
            max_bid_gap=draw(st.decimals(min_value=D("0.01"), max_value=D("0.5"), places=2)),
            volatility_enabled=draw(st.booleans()),
            volatility_threshold=0.03,
        ),
    )


@st.composite
def universes(draw) -> tuple[list[RewardMarket], dict[str, Book], dict[str, float]]:
    """0–10 reward markets with unique ids; books mirrored, independent, or missing; some volatility."""
    count = draw(st.integers(0, 10))
    markets, all_books, volatility = [], {}, {}
    for i in range(count):
        cid = f"0x{i:04x}"
        yes, no = f"{cid}-yes", f"{cid}-no"
        tick = draw(st.sampled_from(ALLOWED_TICKS))
        markets.append(RewardMarket(
            condition_id=cid,
            question=draw(st.sampled_from(["Will it rain?", "Will it SNOW?", "Will Trump win?", "Up or down?"])),
            tokens=(Token(yes, "Yes"), Token(no, "No")),
            rewards_max_spread=draw(max_spreads), rewards_min_size=draw(min_sizes),
            rate_per_day=draw(st.decimals(min_value=0, max_value=200, places=2)),
            tick_size=tick, min_order_size=draw(market_mins), neg_risk=False,
            end_date=draw(st.none() | st.builds(lambda d: NOW + timedelta(days=d), st.floats(-5, 60))),
            volume_24hr=draw(st.none() | st.decimals(min_value=0, max_value=200, places=2)),
        ))
        book = draw(books(yes, tick))
        shape = draw(st.sampled_from(["mirror", "mirror", "independent", "missing"]))
        all_books[yes] = book
        if shape == "mirror":
            all_books[no] = mirror(book, no)
        elif shape == "independent":
            all_books[no] = draw(books(no, tick))
        for token in (yes, no):
            if draw(st.booleans()):
                volatility[token] = draw(st.floats(0, 0.06))
    return markets, all_books, volatility


@settings(max_examples=150, deadline=None)
@given(universe=universes(), params=selection_params(), days=st.floats(-1, 1))
def test_the_funnel_never_loses_a_market_without_a_reason(universe, params: SelectionParams, days: float) -> None:
    markets, all_books, volatility = universe

    sel = select_markets(markets, all_books, params, NOW + timedelta(days=days), volatility)

    selected = [ev.market.condition_id for ev in sel.selected]
    assert set(selected).isdisjoint(sel.rejected)
    assert sorted(selected + list(sel.rejected)) == sorted(m.condition_id for m in markets)
    assert all(r.rule in STEP_NAMES[1:] and r.detail for r in sel.rejected.values())
    assert [name for name, _ in sel.steps] == list(STEP_NAMES)
    counts = [n for _, n in sel.steps]
    assert counts[0] == len(markets)
    assert counts == sorted(counts, reverse=True)
    for (_, before), (rule, after) in zip(sel.steps, sel.steps[1:]):
        assert before - after == sum(1 for r in sel.rejected.values() if r.rule == rule)
    assert counts[-1] == len(selected) <= params.max_markets
    assert list(sel.selected) == list(sel.ranked[: params.max_markets])


@settings(max_examples=150, deadline=None)
@given(universe=universes(), params=selection_params())
def test_every_selected_quote_is_valid_sized_and_below_its_best_ask(universe, params: SelectionParams) -> None:
    markets, all_books, volatility = universe

    sel = select_markets(markets, all_books, params, NOW, volatility)

    for ev in sel.ranked:
        assert ev.quotes
        m = ev.market
        for q in ev.quotes:
            book = all_books[q.token_id]
            assert is_on_tick(q.price, book.tick_size) and is_valid_price(q.price, book.tick_size)
            assert q.price < book.best_ask
            assert q.size >= m.rewards_min_size * params.order_size_multiplier and q.size >= m.min_order_size
            assert m.token_ids[q.outcome_index] == q.token_id
        assert ev.capital_usdc == sum((q.price * q.size for q in ev.quotes), D(0))
        assert 0.0 <= ev.share <= 1.0 and ev.expected_per_day <= float(m.rate_per_day) + 1e-9
    if params.ranking == "expected_reward":
        keys = [ev.rank_key for ev in sel.ranked]
    else:
        keys = [(-ev.original_ratio, ev.market.condition_id) for ev in sel.ranked]
    assert keys == sorted(keys)
