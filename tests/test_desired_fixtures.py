"""The pure desire functions over every real Polymarket capture: they run, and their answers make sense.

Books come through polymm.venue.parse.book_from_wire; reward markets through reward_market_from_wire,
fed either a real /rewards/markets/current row or one rebuilt from a CLOB /markets row's `rewards`.
Where a capture has only one token's book, the other token's book is its mirror (bids at 1 − the
asks, asks at 1 − the bids), which is how the venue's complementary books relate.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal as D

import pytest

from conftest import FIXTURES
from polymm.config import PolymmConfig
from polymm.desired.funnel import STEP_NAMES, SelectionParams, evaluate, select_markets
from polymm.desired.hedge import HedgeParams, hedge_price
from polymm.desired.quotes import quote_price, quote_size, reward_band
from polymm.desired.safety import refusals
from polymm.domain import rewards
from polymm.domain.ticks import is_on_tick, is_valid_price
from polymm.domain.types import Book, Position, RewardMarket, Token
from polymm.venue.parse import MalformedReply, book_from_wire, reward_market_from_wire

if not FIXTURES.is_dir():
    pytest.skip(f"Polymarket captures not found at {FIXTURES}", allow_module_level=True)

PARAMS = SelectionParams.from_config(PolymmConfig())
OPEN = SelectionParams.from_config(PolymmConfig.model_validate(
    {"filters": {"question_blacklist": [], "rewards_min_size_range": {"max": None},
                 "midpoint_range": {"min": None, "max": None}}}))
HEDGE = HedgeParams(max_bid_gap=D("0.05"), stop_loss_pct=D("0.10"), take_profit_pct=D("0.10"),
                    min_profit_margin_bps=D("5"))


def load(name: str):
    return json.loads((FIXTURES / name).read_text())


def market_row_tick(name: str) -> str:
    return str(load(name)["minimum_tick_size"])


# Book replies from 2024 carry no tick_size (the field came later); their market's tick is supplied.
CURRENT_BOOKS = ["clob_book.json", "clob_book_empty_ask.json", "ws_market_book_captured_2026.json"]
TICK_FOR_2024_BOOKS = {
    # Its market is not among the captures; every one of its prices is a whole cent.
    "clob_book_2024.json": "0.01",
    # The No token of the 2024 Trump market, whose CLOB row says minimum_tick_size 0.001.
    "ws_market_book.json": market_row_tick("clob_market_2024_negrisk.json"),
}
ALL_BOOKS = CURRENT_BOOKS + list(TICK_FOR_2024_BOOKS)


def captured_book(name: str) -> Book:
    raw = load(name)
    if name in TICK_FOR_2024_BOOKS:
        raw = {**raw, "tick_size": TICK_FOR_2024_BOOKS[name]}
    return book_from_wire(raw)


def mirror(book: Book, token_id: str) -> Book:
    return Book.from_levels(token_id, [(1 - lv.price, lv.size) for lv in book.asks],
                            [(1 - lv.price, lv.size) for lv in book.bids], book.tick_size, book.min_order_size)


def market_around(book: Book, complement_id: str, **fields) -> RewardMarket:
    """A reward market for a captured book whose market is not among the captures (v 3.5¢, 20 shares)."""
    values = dict(condition_id=f"market-of-{book.token_id[:8]}", question="a captured book",
                  tokens=(Token(book.token_id, "Yes"), Token(complement_id, "No")), rewards_max_spread=D("3.5"),
                  rewards_min_size=D(20), rate_per_day=D(10), tick_size=book.tick_size, min_order_size=D(5),
                  neg_risk=False, end_date=None, volume_24hr=None)
    values.update(fields)
    return RewardMarket(**values)


def reward_row_from_market_row(row: dict) -> tuple[dict, dict] | None:
    """A CLOB /markets row as (rewards row, Gamma row) for reward_market_from_wire; None without rewards."""
    rates = (row.get("rewards") or {}).get("rates")
    if not rates:
        return None
    reward_row = {
        "condition_id": row["condition_id"],
        "rewards_config": [{"rate_per_day": r["rewards_daily_rate"]} for r in rates],
        "rewards_max_spread": row["rewards"]["max_spread"],
        "rewards_min_size": row["rewards"]["min_size"],
    }
    gamma_row = {
        "conditionId": row["condition_id"], "question": row["question"],
        "clobTokenIds": json.dumps([t["token_id"] for t in row["tokens"]]),
        "outcomes": json.dumps([t["outcome"] for t in row["tokens"]]),
        "orderPriceMinTickSize": row["minimum_tick_size"], "orderMinSize": row["minimum_order_size"],
        "negRisk": row["neg_risk"], "endDate": row["end_date_iso"],
    }
    return reward_row, gamma_row


def xi_jinping_market() -> RewardMarket:
    """Gamma's market row with rewards, and a rewards row built from its own clobRewards block."""
    gamma = load("gamma_market_with_rewards.json")
    reward_row = {
        "condition_id": gamma["conditionId"],
        "rewards_config": [{"rate_per_day": r["rewardsDailyRate"]} for r in gamma["clobRewards"]],
        "rewards_max_spread": gamma["rewardsMaxSpread"], "rewards_min_size": gamma["rewardsMinSize"],
    }
    return reward_market_from_wire(reward_row, gamma)


def ny11_market() -> RewardMarket:
    """The live /rewards/markets/current row, joined with a Gamma row shaped like the captured one
    and filled from the reward detail capture (question, tokens). Volume and end date are not in
    either capture, so they are left out: unknown, not guessed."""
    reward_row = load("clob_rewards_markets_current.json")["data"][0]
    detail = load("clob_rewards_market_detail.json")["data"][0]
    assert detail["condition_id"] == reward_row["condition_id"]
    gamma = {key: value for key, value in load("gamma_market_with_rewards.json").items()
             if key not in ("volume24hr", "endDate", "endDateIso")}
    gamma.update(conditionId=detail["condition_id"], question=detail["question"],
                 clobTokenIds=json.dumps([t["token_id"] for t in detail["tokens"]]),
                 outcomes=json.dumps([t["outcome"] for t in detail["tokens"]]))
    return reward_market_from_wire(reward_row, gamma)


def trump_2024_market() -> RewardMarket:
    return reward_market_from_wire(*reward_row_from_market_row(load("clob_market_2024_negrisk.json")))


def trump_2024_books(m: RewardMarket) -> dict[str, Book]:
    no = captured_book("ws_market_book.json")
    assert no.token_id == m.token_ids[1]
    return {m.token_ids[0]: mirror(no, m.token_ids[0]), no.token_id: no}


# --- books --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_BOOKS)
def test_every_captured_book_parses_best_first_on_its_tick_and_uncrossed(name: str) -> None:
    book = captured_book(name)

    assert [lv.price for lv in book.bids] == sorted((lv.price for lv in book.bids), reverse=True)
    assert [lv.price for lv in book.asks] == sorted(lv.price for lv in book.asks)
    assert all(is_valid_price(lv.price, book.tick_size) and lv.size > 0 for lv in book.bids + book.asks)
    if book.bids and book.asks:
        assert book.best_bid < book.best_ask


@pytest.mark.parametrize("name", list(TICK_FOR_2024_BOOKS))
def test_a_2024_book_without_tick_size_is_refused_naming_the_missing_field(name: str) -> None:
    with pytest.raises(MalformedReply, match="tick_size"):
        book_from_wire(load(name))


@pytest.mark.parametrize("placement", ["band_edge", "one_tick_inside"])
@pytest.mark.parametrize("max_spread", ["1.5", "3", "3.5", "4.5"])
@pytest.mark.parametrize("name", ALL_BOOKS)
def test_every_captured_book_gives_a_valid_scoring_quote_or_none(name: str, max_spread: str, placement: str) -> None:
    book = captured_book(name)

    quote = quote_price(book, D(max_spread), placement)

    if quote is None:
        return
    assert is_valid_price(quote.price, book.tick_size)
    assert quote.price < book.best_ask
    assert abs(book.midpoint - quote.price) * 100 < D(max_spread)


@pytest.mark.parametrize("name", ALL_BOOKS)
def test_every_captured_book_is_quoted_or_refused_with_a_reason_for_each_token(name: str) -> None:
    book = captured_book(name)
    m = market_around(book, "mirror")

    ev = evaluate(m, (book, mirror(book, "mirror")), PARAMS, {})

    assert {q.token_id for q in ev.quotes} | {t for t, _ in ev.refused if t != "*"} == {book.token_id, "mirror"}
    assert all(reason for _, reason in ev.refused)
    assert 0.0 <= ev.share <= 1.0


def test_the_2024_book_has_midpoint_0_12_and_the_expected_bands_and_quotes() -> None:
    book = captured_book("clob_book_2024.json")

    assert (book.best_bid, book.best_ask, book.midpoint, book.spread) == (D("0.1"), D("0.14"), D("0.12"), D("0.04"))
    band3 = reward_band(book, D(3))
    assert (band3.lower, band3.upper) == (D("0.10"), D("0.14"))
    band45 = reward_band(book, D("4.5"))
    assert (band45.lower, band45.upper) == (D("0.085"), D("0.155"))
    # v = 3: the second bid 0.09 is below the edge 0.10, so the edge sets the price (joining the best bid).
    at_edge = quote_price(book, D(3))
    assert (at_edge.price, at_edge.at_band_edge) == (D("0.10"), True)
    # v = 4.5: the second bid 0.09 is inside the band (≥ 0.085), so we stand behind the best bid.
    second = quote_price(book, D("4.5"))
    assert (second.price, second.at_band_edge) == (D("0.09"), False)
    # 125 + 294 shares in front of a 20-share quote; 0.09 and 0.08 behind 0.10; 120 + 200 ≥ 100 to hedge into.
    assert refusals(book, at_edge.price, quote_size(D(20), D(1), D(5)), True, None, PARAMS.limits) == ()
    levels = [(lv.price, lv.size) for lv in book.bids], [(lv.price, lv.size) for lv in book.asks]
    assert rewards.adjusted_midpoint(*levels, min_size=20) == pytest.approx(0.12)


def test_the_empty_ask_book_gives_no_quote_and_says_why() -> None:
    book = captured_book("clob_book_empty_ask.json")
    m = market_around(book, "complement", condition_id=load("clob_book_empty_ask.json")["market"], neg_risk=True)
    pair = (book, mirror(book, "complement"))

    assert book.asks == () and book.midpoint is None
    assert quote_price(book, D(3)) is None and reward_band(book, D(3)) is None
    ev = evaluate(m, pair, PARAMS, {})
    assert ev.quotes == ()
    assert dict(ev.refused)[book.token_id].startswith("no quote price")
    sel = select_markets([m], dict(zip(m.token_ids, pair)), PARAMS, datetime(2026, 8, 3, tzinfo=timezone.utc))
    assert (sel.rejected[m.condition_id].rule, sel.rejected[m.condition_id].detail) == (
        "spread", "one side of the book is empty")


@pytest.mark.parametrize("name", ALL_BOOKS)
@pytest.mark.parametrize("cost", ["0.02", "0.12", "0.5", "0.9"])
def test_every_captured_book_gives_a_valid_hedge_price_with_a_reason(name: str, cost: str) -> None:
    book = captured_book(name)

    hedge = hedge_price(Position(book.token_id, D(200), D(cost)), book, HEDGE)

    assert is_on_tick(hedge.price, book.tick_size) and is_valid_price(hedge.price, book.tick_size)
    assert hedge.reason in ("stop_loss", "take_profit", "covering_bid", "best_bid", "margin_over_cost")
    assert hedge.crosses is (book.best_bid is not None and hedge.price <= book.best_bid)


def test_the_empty_ask_book_stops_out_a_position_bought_far_above_its_bids() -> None:
    book = captured_book("clob_book_empty_ask.json")  # bids 0.002 × 6.99 and 0.001 × 667.12

    hedge = hedge_price(Position(book.token_id, D(200), D("0.5")), book, HEDGE)

    assert (hedge.price, hedge.reason, hedge.crosses) == (D("0.001"), "stop_loss", True)


# --- reward markets -----------------------------------------------------------------------


def test_the_gamma_market_with_rewards_parses_with_its_reward_programme() -> None:
    m = xi_jinping_market()

    assert (m.rewards_max_spread, m.rewards_min_size, m.rate_per_day) == (D("3.5"), D(200), D(10))
    assert (m.tick_size, m.min_order_size, m.neg_risk) == (D("0.001"), D(5), False)
    assert m.end_date == datetime(2026, 12, 31, tzinfo=timezone.utc)
    assert m.volume_24hr == D("14542.225487")
    assert m.token_ids[0] == load("clob_book.json")["asset_id"]


def test_the_current_rewards_row_joined_with_its_detail_parses() -> None:
    m = ny11_market()

    assert m.condition_id == "0x0001cb8c0b39aeb614ab9a43867595317f06ede9c011661513065c638fbbefda"
    assert m.question == "Will the Republican Party win the NY-11 House seat?"
    assert (m.rewards_max_spread, m.rewards_min_size, m.rate_per_day) == (D("4.5"), D(20), D(2))
    assert [t.outcome for t in m.tokens] == ["Yes", "No"]
    assert (m.end_date, m.volume_24hr) == (None, None)


def test_only_the_markets_page_rows_with_rewards_become_reward_markets() -> None:
    rows = load("clob_markets_page.json")["data"]

    joined = [pair for pair in map(reward_row_from_market_row, rows) if pair is not None]
    markets = [reward_market_from_wire(*pair) for pair in joined]

    assert len(rows) == 100 and len(markets) == 1
    m = markets[0]
    assert m.question == "Which party wins 2024 US Presidential Election?"
    assert (m.rewards_max_spread, m.rewards_min_size, m.rate_per_day, m.tick_size) == (D("1.5"), D(200), D(75), D("0.01"))
    assert m.end_date == datetime(2024, 11, 8, tzinfo=timezone.utc)


def test_the_xi_jinping_capture_is_refused_by_safety_for_a_reason_that_names_the_cliff() -> None:
    # Its captured book (trimmed to two levels a side) has nothing behind a bid at 0.001 and its
    # midpoint 0.024 is under 0.10, so both tokens would have to pass: neither market side is safe.
    m = xi_jinping_market()
    book = captured_book("clob_book.json")
    books = {book.token_id: book, m.token_ids[1]: mirror(book, m.token_ids[1])}
    capture_day = datetime(2026, 8, 16, 7, tzinfo=timezone.utc)

    sel = select_markets([m], books, OPEN, capture_day)

    rejection = sel.rejected[m.condition_id]
    assert rejection.rule == "safety"
    assert "price_cliff: only 0 bid level(s) behind 0.001" in rejection.detail


def test_the_2024_trump_market_with_its_captured_book_is_selected_with_explained_quotes() -> None:
    m = trump_2024_market()
    book_day = datetime.fromtimestamp(int(load("ws_market_book.json")["timestamp"]) / 1000, timezone.utc)

    blacklisted = select_markets([m], trump_2024_books(m), PARAMS, book_day)
    opened = select_markets([m], trump_2024_books(m), OPEN, book_day)

    assert blacklisted.rejected[m.condition_id].rule == "question blacklist"
    assert [ev.market.condition_id for ev in opened.selected] == [m.condition_id]
    ev = opened.selected[0]
    # v = 1.5¢: bands of ±0.5¢ around 0.4875 (Yes, the mirror) and 0.5125 (No, the capture);
    # each token's second bid is inside its band, so we stand behind the best bid.
    assert [(q.outcome, q.price, q.at_band_edge, q.band.lower, q.band.upper) for q in ev.quotes] == [
        ("Yes", D("0.485"), False, D("0.4825"), D("0.4925")),
        ("No", D("0.51"), False, D("0.5075"), D("0.5175")),
    ]
    assert all(q.size == D(200) for q in ev.quotes)
    assert 0 < ev.share < 0.01 and ev.expected_per_day == pytest.approx(ev.share * 750)
    assert ev.capital_usdc == D("0.485") * 200 + D("0.51") * 200


def test_select_markets_over_every_captured_market_records_a_reason_for_each_one_it_drops() -> None:
    xi, ny11, trump = xi_jinping_market(), ny11_market(), trump_2024_market()
    page = [reward_market_from_wire(*pair) for pair in map(reward_row_from_market_row, load("clob_markets_page.json")["data"])
            if pair is not None]
    xi_book = captured_book("clob_book.json")
    books = {xi_book.token_id: xi_book, **trump_2024_books(trump)}
    markets = [xi, ny11, trump, *page]
    now = datetime(2026, 8, 16, 7, tzinfo=timezone.utc)

    for params in (PARAMS, OPEN):
        sel = select_markets(markets, books, params, now)

        assert sel.selected == ()
        assert set(sel.rejected) == {m.condition_id for m in markets}
        assert all(r.rule in STEP_NAMES and r.detail for r in sel.rejected.values())
        counts = [n for _, n in sel.steps]
        assert counts == sorted(counts, reverse=True) and counts[0] == len(markets)

    default = {cid: r.rule for cid, r in select_markets(markets, books, PARAMS, now).rejected.items()}
    assert default == {
        xi.condition_id: "rewards min size",  # 200 shares > 20
        ny11.condition_id: "order books",  # no capture of its books
        trump.condition_id: "question blacklist",  # "Trump"
        page[0].condition_id: "rewards min size",  # 200 shares > 20
    }
    opened = {cid: r.rule for cid, r in select_markets(markets, books, OPEN, now).rejected.items()}
    assert opened == {
        xi.condition_id: "order books",  # only the Yes token's book was captured
        ny11.condition_id: "order books",
        trump.condition_id: "days to end",  # ended 2024-11-05
        page[0].condition_id: "order books",
    }
