"""Market selection: every funnel rule at its bounds, the counts, the first rejecting rule, the ranking.

Every market here has two tokens whose books mirror each other (a bid at p on one token is an ask
at 1 − p on the other), as the venue's complementary order books do.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import pytest

from polymm.config import PolymmConfig, ValueRange
from polymm.desired.funnel import STEP_NAMES, Evaluation, Selection, SelectionParams, prefilter, select_markets
from polymm.domain import rewards
from polymm.domain.types import Book, RewardMarket, Token

NOW = datetime(2026, 9, 1, 12, tzinfo=timezone.utc)
Levels = list[tuple[str, str]]

# The config defaults (blacklist "Trump", min size ≤ 20, spread ≤ 0.05, ≥ 7 days, rate ≥ 5, top 10).
PARAMS = SelectionParams.from_config(PolymmConfig())
LENIENT = replace(PARAMS, limits=replace(PARAMS.limits, min_protection_size_multiplier=D(0),
                                         min_protection_size_multiplier_hedge=D(0)))


def market(cid: str, **overrides) -> RewardMarket:
    """A reward market that passes every default rule: v = 3¢, min size 10, $50/day, 30 days left."""
    fields = dict(
        condition_id=cid, question=f"Will it rain in {cid}?",
        tokens=(Token(f"{cid}-yes", "Yes"), Token(f"{cid}-no", "No")),
        rewards_max_spread=D(3), rewards_min_size=D(10), rate_per_day=D(50), tick_size=D("0.01"),
        min_order_size=D(5), neg_risk=False, end_date=NOW + timedelta(days=30), volume_24hr=D(1000),
    )
    fields.update(overrides)
    return RewardMarket(**fields)


def ladder(best_bid: str, best_ask: str, front: str = "50", deep: str = "100", depth: int = 5) -> tuple[Levels, Levels]:
    """Levels one cent apart from the best bid down and the best ask up: the best two `front`, the rest `deep`."""
    def side(best: str, direction: int) -> Levels:
        return [(str(D(best) + direction * D("0.01") * k), front if k < 2 else deep) for k in range(depth)]

    return side(best_bid, -1), side(best_ask, +1)


def books_for(m: RewardMarket, bids: Levels, asks: Levels) -> dict[str, Book]:
    """The first token's book from these levels and the second token's mirror of it."""
    yes, no = m.token_ids
    parsed_bids = [(D(p), D(s)) for p, s in bids]
    parsed_asks = [(D(p), D(s)) for p, s in asks]
    return {
        yes: Book.from_levels(yes, parsed_bids, parsed_asks, m.tick_size),
        no: Book.from_levels(no, [(1 - p, s) for p, s in parsed_asks], [(1 - p, s) for p, s in parsed_bids], m.tick_size),
    }


def standard(m: RewardMarket) -> dict[str, Book]:
    """Both books around 0.50: bids 0.49/0.48 (50 each) then 100s; asks 0.51/0.52 then 100s."""
    return books_for(m, *ladder("0.49", "0.51"))


def select(markets: list[RewardMarket], books: dict[str, Book] | None = None, params: SelectionParams = PARAMS,
           volatility: dict[str, float] | None = None) -> Selection:
    if books is None:
        books = {t: b for m in markets for t, b in standard(m).items()}
    return select_markets(markets, books, params, NOW, volatility)


def the_evaluation(sel: Selection, cid: str) -> Evaluation:
    return next(ev for ev in sel.ranked if ev.market.condition_id == cid)


def rule_of(sel: Selection, cid: str) -> str | None:
    """The rule that rejected `cid`, or None if it was selected."""
    if any(ev.market.condition_id == cid for ev in sel.selected):
        assert cid not in sel.rejected
        return None
    return sel.rejected[cid].rule


# --- each rule at its bounds --------------------------------------------------------------

BLACKLIST = replace(PARAMS, blacklist=SelectionParams.from_config(
    PolymmConfig.model_validate({"filters": {"question_blacklist": ["TrUmP", "bitcoin"]}})).blacklist)
VOLUME_100_1000 = replace(PARAMS, volume_24hr_range=ValueRange(min=D(100), max=D(1000)))
VOLUME_UNBOUNDED = replace(PARAMS, volume_24hr_range=ValueRange())
MIN_SIZE_10_20 = replace(PARAMS, rewards_min_size_range=ValueRange(min=D(10), max=D(20)))
SPREAD_2_5 = replace(PARAMS, spread_range=ValueRange(min=D("0.02"), max=D("0.05")))
RATE_5_100 = replace(PARAMS, rate_per_day_range=ValueRange(min=D(5), max=D(100)))
SEVEN_DAYS = timedelta(days=7)

RULE_CASES = [
    # (id, market overrides, token-0 (bids, asks) or None for the standard books, params, expected rule)
    ("blacklist-matches-case-insensitively", dict(question="Will TRUMP sign it?"), None, BLACKLIST, "question blacklist"),
    ("blacklist-matches-inside-a-word", dict(question="Bitcoiners rejoice?"), None, BLACKLIST, "question blacklist"),
    ("blacklist-misses-an-unrelated-question", dict(question="Will it rain?"), None, BLACKLIST, None),
    ("volume-exactly-at-the-minimum", dict(volume_24hr=D(100)), None, VOLUME_100_1000, None),
    ("volume-exactly-at-the-maximum", dict(volume_24hr=D(1000)), None, VOLUME_100_1000, None),
    ("volume-just-below-the-minimum", dict(volume_24hr=D("99.99")), None, VOLUME_100_1000, "24h volume"),
    ("volume-just-above-the-maximum", dict(volume_24hr=D("1000.01")), None, VOLUME_100_1000, "24h volume"),
    ("unknown-volume-with-bounds-is-rejected", dict(volume_24hr=None), None, VOLUME_100_1000, "24h volume"),
    ("unknown-volume-without-bounds-passes", dict(volume_24hr=None), None, VOLUME_UNBOUNDED, None),
    ("min-size-exactly-at-the-minimum", dict(rewards_min_size=D(10)), None, MIN_SIZE_10_20, None),
    ("min-size-exactly-at-the-maximum", dict(rewards_min_size=D(20)), None, MIN_SIZE_10_20, None),
    ("min-size-just-below-the-minimum", dict(rewards_min_size=D("9.99")), None, MIN_SIZE_10_20, "rewards min size"),
    ("min-size-just-above-the-maximum", dict(rewards_min_size=D("20.01")), None, MIN_SIZE_10_20, "rewards min size"),
    ("spread-exactly-at-the-maximum", {}, ladder("0.47", "0.52"), SPREAD_2_5, None),
    ("spread-exactly-at-the-minimum", {}, ladder("0.49", "0.51"), SPREAD_2_5, None),
    ("spread-one-tick-above-the-maximum", {}, ladder("0.47", "0.53"), SPREAD_2_5, "spread"),
    ("spread-one-tick-below-the-minimum", {}, ladder("0.49", "0.50"), SPREAD_2_5, "spread"),
    ("a-book-without-asks-has-no-spread", {}, (ladder("0.49", "0.51")[0], []), PARAMS, "spread"),
    ("a-book-without-bids-has-no-spread", {}, ([], ladder("0.49", "0.51")[1]), PARAMS, "spread"),
    ("days-to-end-exactly-at-the-minimum", dict(end_date=NOW + SEVEN_DAYS), None, PARAMS, None),
    ("days-to-end-a-second-short", dict(end_date=NOW + SEVEN_DAYS - timedelta(seconds=1)), None, PARAMS, "days to end"),
    ("already-ended", dict(end_date=NOW - timedelta(days=1)), None, PARAMS, "days to end"),
    ("no-end-date-passes", dict(end_date=None), None, PARAMS, None),
    ("rate-exactly-at-the-minimum", dict(rate_per_day=D(5)), None, RATE_5_100, None),
    ("rate-exactly-at-the-maximum", dict(rate_per_day=D(100)), None, RATE_5_100, None),
    ("rate-just-below-the-minimum", dict(rate_per_day=D("4.99")), None, RATE_5_100, "rate per day"),
    ("rate-just-above-the-maximum", dict(rate_per_day=D("100.01")), None, RATE_5_100, "rate per day"),
    # ratio = (10 × 1 × 2 × 2) / (50 + 50 + 50 + 50) × 50 = 10 for the standard books
    ("reward-ratio-exactly-at-the-minimum", {}, None, replace(PARAMS, min_reward_ratio=D(10)), None),
    ("reward-ratio-just-below-the-minimum", {}, None, replace(PARAMS, min_reward_ratio=D("10.01")), "reward ratio"),
    ("no-quotable-token-fails-safety", {}, ladder("0.49", "0.51", depth=1), PARAMS, "safety"),
]


@pytest.mark.parametrize(
    ("overrides", "levels", "params", "expected_rule"),
    [pytest.param(*case[1:], id=case[0]) for case in RULE_CASES],
)
def test_each_rule_keeps_a_market_exactly_at_its_bound_and_rejects_one_just_outside(
    overrides, levels, params, expected_rule
) -> None:
    m = market("m1", **overrides)
    books = standard(m) if levels is None else books_for(m, *levels)

    sel = select([m], books, params)

    assert rule_of(sel, "m1") == expected_rule
    if expected_rule is not None:
        assert sel.rejected["m1"].detail  # every rejection says why, not only which rule


@pytest.mark.parametrize("missing", [0, 1], ids=["first-token", "second-token"])
def test_a_market_missing_either_order_book_is_rejected_at_the_order_books_step(missing: int) -> None:
    m = market("m1")
    books = standard(m)
    del books[m.token_ids[missing]]

    sel = select([m], books)

    assert sel.rejected["m1"].rule == "order books"
    assert sel.rejected["m1"].detail == "order book unavailable"


def test_unknown_volume_is_reported_as_unknown_not_as_out_of_range() -> None:
    sel = select([market("m1", volume_24hr=None)], params=VOLUME_100_1000)

    assert sel.rejected["m1"].detail == "24h volume unknown (range [100, 1000])"


def test_volatile_tokens_fail_safety_with_the_volatility_reason() -> None:
    m = market("m1")

    sel = select([m], volatility={m.token_ids[0]: 0.04, m.token_ids[1]: 0.05})

    assert sel.rejected["m1"].rule == "safety"
    assert "volatility" in sel.rejected["m1"].detail


def test_volatility_exactly_at_the_threshold_does_not_reject() -> None:
    m = market("m1")

    sel = select([m], volatility={m.token_ids[0]: 0.03, m.token_ids[1]: 0.03})

    assert rule_of(sel, "m1") is None
    assert len(sel.selected[0].quotes) == 2


# --- the two-sided rule -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("best_bid", "best_ask", "volatile", "expected_rule", "quoted"),
    [
        pytest.param("0.09", "0.11", 1, "safety", 0, id="midpoint-exactly-0.10-needs-both-tokens"),
        pytest.param("0.08", "0.10", 1, "safety", 0, id="midpoint-0.09-needs-both-tokens"),
        pytest.param("0.89", "0.91", 0, "safety", 0, id="complement-midpoint-exactly-0.10-needs-both-tokens"),
        pytest.param("0.09", "0.11", None, None, 2, id="midpoint-0.10-with-both-tokens-quotable"),
        pytest.param("0.10", "0.12", 1, None, 1, id="midpoint-0.11-one-token-suffices"),
        pytest.param("0.88", "0.90", 0, None, 1, id="complement-midpoint-0.11-one-token-suffices"),
        pytest.param("0.49", "0.51", 1, None, 1, id="midpoint-0.50-one-token-suffices"),
    ],
)
def test_a_token_midpoint_at_or_below_0_10_requires_both_tokens_to_pass(
    best_bid, best_ask, volatile, expected_rule, quoted
) -> None:
    m = market("m1")
    books = books_for(m, *ladder(best_bid, best_ask))
    volatility = {} if volatile is None else {m.token_ids[volatile]: 0.5}

    sel = select([m], books, volatility=volatility)

    assert rule_of(sel, "m1") == expected_rule
    if expected_rule is None:
        assert len(sel.selected[0].quotes) == quoted
    else:
        assert "two-sided rule" in sel.rejected["m1"].detail


# --- first rule, counts -------------------------------------------------------------------


def test_a_market_failing_several_rules_is_rejected_by_the_first_one_only() -> None:
    cases = {
        "blacklisted": market("blacklisted", question="Trump?", volume_24hr=None, rewards_min_size=D(500),
                              rate_per_day=D(1), end_date=NOW),
        "tiny-then-all": market("tiny-then-all", rewards_min_size=D(500), rate_per_day=D(1), end_date=NOW),
        "no-books-then-all": market("no-books-then-all", rate_per_day=D(1), end_date=NOW),
        "wide-then-all": market("wide-then-all", rate_per_day=D(1), end_date=NOW),
        "ending-then-cheap": market("ending-then-cheap", rate_per_day=D(1), end_date=NOW),
        "cheap-then-volatile": market("cheap-then-volatile", rate_per_day=D(1)),
    }
    books: dict[str, Book] = {}
    for cid, m in cases.items():
        if cid == "wide-then-all":
            books.update(books_for(m, *ladder("0.40", "0.60")))
        elif cid != "no-books-then-all":
            books.update(standard(m))
    volatile = {t: 0.9 for m in cases.values() for t in m.token_ids}

    sel = select(list(cases.values()), books, params=VOLUME_100_1000, volatility=volatile)

    assert {cid: r.rule for cid, r in sel.rejected.items()} == {
        "blacklisted": "question blacklist",
        "tiny-then-all": "rewards min size",
        "no-books-then-all": "order books",
        "wide-then-all": "spread",
        "ending-then-cheap": "days to end",
        "cheap-then-volatile": "rate per day",
    }


def test_each_step_records_how_many_markets_survive_it_and_each_loss_is_explained() -> None:
    # One market fails each rule in turn; three good ones compete for two places.
    markets = [
        market("blacklisted", question="Will Trump win?"),
        market("no-volume", volume_24hr=None),
        market("big-min-size", rewards_min_size=D(50)),
        market("no-books"),
        market("wide"),
        market("near-resolved"),
        market("ending", end_date=NOW + timedelta(days=2)),
        market("poor", rate_per_day=D(2)),
        market("low-ratio", rate_per_day=D(6)),  # ratio 40/200 × 6 = 1.2 < 2
        market("volatile"),
        market("good-a", rate_per_day=D(90)),
        market("good-b", rate_per_day=D(80)),
        market("good-c", rate_per_day=D(70)),
    ]
    books: dict[str, Book] = {}
    for m in markets:
        if m.condition_id == "wide":
            books.update(books_for(m, *ladder("0.45", "0.55")))
        elif m.condition_id == "near-resolved":  # midpoint 0.025, under filters.midpoint_range's 0.05
            books.update(books_for(m, *ladder("0.02", "0.03", depth=2)))
        elif m.condition_id != "no-books":
            books.update(standard(m))
    params = replace(PARAMS, volume_24hr_range=ValueRange(min=D(0)), min_reward_ratio=D(2), max_markets=2)
    volatility = {t: 0.5 for t in markets[9].token_ids}

    sel = select(markets, books, params, volatility)

    assert sel.steps == tuple(zip(STEP_NAMES, (13, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 3, 2)))
    assert [ev.market.condition_id for ev in sel.selected] == ["good-a", "good-b"]
    assert {cid: r.rule for cid, r in sel.rejected.items()} == {
        "blacklisted": "question blacklist", "no-volume": "24h volume", "big-min-size": "rewards min size",
        "no-books": "order books", "wide": "spread", "near-resolved": "midpoint", "ending": "days to end", "poor": "rate per day",
        "low-ratio": "reward ratio", "volatile": "safety", "good-c": "top N",
    }
    assert sel.rejected["good-c"].detail == "ranked below the top 2"
    assert sel.rejected["near-resolved"].detail.startswith("midpoint 0.025 outside")


def test_prefilter_applies_rules_one_to_five_exactly_as_the_full_funnel_does() -> None:
    markets = [market("a", question="TRUMP?"), market("b", volume_24hr=None), market("c", rewards_min_size=D(21)),
               market("d")]
    params = replace(PARAMS, volume_24hr_range=ValueRange(max=D(10_000)))

    survivors, rejected, steps = prefilter(markets, params)
    full = select(markets, params=params)

    assert [m.condition_id for m in survivors] == ["d"]
    assert steps == list(full.steps[:5])
    assert rejected == {cid: r for cid, r in full.rejected.items() if cid in ("a", "b", "c")}


def test_top_n_keeps_the_best_max_markets_and_rejects_the_rest_with_a_reason() -> None:
    markets = [market(f"m{i}", rate_per_day=D(10 + i)) for i in range(5)]

    sel = select(markets, params=replace(PARAMS, max_markets=3))

    assert [ev.market.condition_id for ev in sel.selected] == ["m4", "m3", "m2"]
    assert [ev.market.condition_id for ev in sel.ranked] == ["m4", "m3", "m2", "m1", "m0"]
    assert {cid: r.rule for cid, r in sel.rejected.items()} == {"m1": "top N", "m0": "top N"}
    assert sel.steps[-2:] == (("ranked", 5), ("top N", 3))


# --- ranking ------------------------------------------------------------------------------

# Two markets at v = 4.5¢ that the two rankings order differently. "thick-front" has 100 shares at
# each of the best two levels and 30 behind; "thin-front" has 10 in front and 1000 behind. The seed's
# ratio counts only the best two levels (400 vs 40 shares), so it prefers thin-front; the expected
# reward also counts the deep levels that score within 4.5¢, so it prefers thick-front.
THICK = market("thick-front", rewards_max_spread=D("4.5"))
THIN = market("thin-front", rewards_max_spread=D("4.5"))
RANKING_BOOKS = {**books_for(THICK, *ladder("0.49", "0.51", front="100", deep="30")),
                 **books_for(THIN, *ladder("0.49", "0.51", front="10", deep="1000"))}


def test_expected_reward_ranking_orders_by_expected_dollars_per_dollar_at_risk() -> None:
    sel = select([THIN, THICK], RANKING_BOOKS)

    ranked = [ev.market.condition_id for ev in sel.ranked]
    assert ranked == ["thick-front", "thin-front"]
    per_dollar = [ev.expected_per_dollar for ev in sel.ranked]
    assert per_dollar == sorted(per_dollar, reverse=True) and per_dollar[0] > per_dollar[1] > 0


def test_original_ratio_ranking_orders_by_the_seed_ratio() -> None:
    sel = select([THICK, THIN], RANKING_BOOKS, params=replace(PARAMS, ranking="original_ratio"))

    assert [ev.market.condition_id for ev in sel.ranked] == ["thin-front", "thick-front"]
    assert [ev.original_ratio for ev in sel.ranked] == [D(50), D(5)]  # 40/40 × 50 and 40/400 × 50


@pytest.mark.parametrize("ranking", ["expected_reward", "original_ratio"])
def test_equal_markets_rank_by_condition_id(ranking: str) -> None:
    markets = [market("c"), market("a"), market("b")]

    sel = select(markets, params=replace(PARAMS, ranking=ranking))

    assert [ev.market.condition_id for ev in sel.ranked] == ["a", "b", "c"]


def test_the_expected_reward_estimate_is_share_of_q_min_times_the_pool() -> None:
    # Standard books, v = 3: the book as one maker scores (2/3)²·50 + (1/3)²·50 = 250/9 on each side.
    # Our buys at 0.48 on both tokens are 2¢ from their midpoints: (1/3)²·10 = 10/9 on each side.
    sel = select([market("m1")])
    ev = the_evaluation(sel, "m1")

    assert [(q.outcome, q.price, q.size) for q in ev.quotes] == [("Yes", D("0.48"), D(10)), ("No", D("0.48"), D(10))]
    assert ev.q_others == pytest.approx(250 / 9)
    assert ev.q_ours == pytest.approx(10 / 9)
    assert ev.share == pytest.approx((10 / 9) / (10 / 9 + 250 / 9))
    assert ev.expected_per_day == pytest.approx(ev.share * 50)
    assert ev.capital_usdc == D("9.60")
    assert ev.expected_per_dollar == pytest.approx(ev.expected_per_day / 9.6)
    assert ev.original_ratio == D(10)


def test_our_own_resting_orders_are_not_counted_as_competition() -> None:
    m = market("m1")
    with_us = books_for(m, [("0.49", "50"), ("0.48", "60"), ("0.47", "100"), ("0.46", "100")], ladder("0.49", "0.51")[1])

    ours_removed = the_evaluation(select_markets([m], with_us, PARAMS, NOW, None,
                                                 {m.token_ids[0]: {("BUY", D("0.48")): D(10)}}), "m1")
    never_there = the_evaluation(select([m]), "m1")

    assert ours_removed.q_others == pytest.approx(never_there.q_others)
    assert ours_removed.original_ratio == never_there.original_ratio


# --- the reward formula inside the ranking ------------------------------------------------


def test_a_quote_below_the_rewards_min_size_contributes_nothing_to_our_share() -> None:
    # multiplier 0.5: size max(10 × 0.5, 5) = 5 shares < rewards_min_size 10, so the quotes score 0.
    small = replace(PARAMS, order_size_multiplier=D("0.5"))
    sel = select([market("small")], params=small)
    ev = the_evaluation(sel, "small")

    assert [q.size for q in ev.quotes] == [D(5), D(5)]
    assert (ev.q_ours, ev.share, ev.expected_per_day, ev.expected_per_dollar) == (0.0, 0.0, 0.0, 0.0)


def test_a_quote_at_or_beyond_max_spread_from_the_adjusted_midpoint_contributes_nothing() -> None:
    # Raw midpoint 0.50, but the only ask of ≥ 10 shares is at 0.56: the adjusted midpoint is 0.525.
    # Our Yes buy at 0.48 is then 4.5¢ away (≥ v = 3: scores 0); our No buy at 0.48 is 0.5¢ from
    # 1 − 0.525 and scores (5/6)²·10. With only one side scoring, Q_min is a third of it.
    m = market("m1")
    books = books_for(m, [("0.49", "100"), ("0.48", "100"), ("0.47", "100"), ("0.46", "100")],
                      [("0.51", "1"), ("0.56", "100"), ("0.57", "100"), ("0.58", "100")])

    ev = the_evaluation(select([m], books), "m1")

    assert [(q.outcome, q.price) for q in ev.quotes] == [("Yes", D("0.48")), ("No", D("0.48"))]
    assert ev.q_ours == pytest.approx((5 / 6) ** 2 * 10 / 3)
    no_only = [rewards.RestingOrder("BUY", 1, 0.48, 10.0)]
    assert ev.q_ours == pytest.approx(rewards.maker_q_min(no_only, 0.525, 3.0, 10.0))


def test_one_sided_quotes_score_a_third_inside_the_band_and_rank_below_two_sided_ones() -> None:
    one, two = market("one-sided"), market("two-sided")
    volatility = {one.token_ids[1]: 0.5}  # the No token of "one-sided" is refused

    sel = select([one, two], volatility=volatility)

    one_ev, two_ev = the_evaluation(sel, "one-sided"), the_evaluation(sel, "two-sided")
    assert len(one_ev.quotes) == 1 and len(two_ev.quotes) == 2
    assert one_ev.q_ours == pytest.approx((10 / 9) / 3)  # a third of the one side's (1/3)²·10
    assert two_ev.q_ours == pytest.approx(10 / 9)
    assert [ev.market.condition_id for ev in sel.ranked] == ["two-sided", "one-sided"]


def test_one_sided_quotes_score_nothing_when_the_adjusted_midpoint_is_outside_0_10_to_0_90() -> None:
    # Raw midpoints 0.125 / 0.875 (so the two-sided quoting rule does not apply), but the only bid of
    # ≥ 10 shares is at 0.05: the adjusted midpoint 0.09 is outside [0.10, 0.90], so one-sided
    # liquidity scores nothing. With a sized best bid the same quote scores a third.
    m = market("m1")
    asks = [("0.13", "100"), ("0.14", "100"), ("0.15", "100"), ("0.16", "100")]
    thin = books_for(m, [("0.12", "1"), ("0.11", "1"), ("0.10", "1"), ("0.09", "1"), ("0.05", "100")], asks)
    sized = books_for(m, [("0.12", "100"), ("0.11", "1"), ("0.10", "1"), ("0.09", "1"), ("0.05", "100")], asks)
    volatility = {m.token_ids[1]: 0.5}  # quote the Yes token only

    outside = the_evaluation(select([m], thin, LENIENT, volatility), "m1")
    inside = the_evaluation(select([m], sized, LENIENT, volatility), "m1")

    assert [(q.outcome, q.price) for q in outside.quotes] == [("Yes", D("0.11"))]
    assert (outside.q_ours, outside.expected_per_day) == (0.0, 0.0)
    assert [(q.outcome, q.price) for q in inside.quotes] == [("Yes", D("0.11"))]
    assert inside.q_ours == pytest.approx((1.5 / 3) ** 2 * 10 / 3)  # 1.5¢ from 0.125


def test_sizing_at_the_reward_minimum_ignores_the_multiplier() -> None:
    """strategy.sizing: multiplier (the seed's) scales the quote; reward_minimum quotes exactly rewards_min_size."""
    doubled = replace(PARAMS, order_size_multiplier=D(2))
    m = market("m1")
    seed = the_evaluation(select_markets([m], standard(m), doubled, NOW, {}), "m1")
    at_min = the_evaluation(select_markets([m], standard(m), replace(doubled, sizing="reward_minimum"), NOW, {}), "m1")
    assert {q.size for q in seed.quotes} == {D(20)}
    assert {q.size for q in at_min.quotes} == {D(10)}


def test_where_we_rest_orders_the_venues_measured_share_sets_the_expected_reward() -> None:
    """GET /rewards/user/percentages is the share the venue pays our resting orders: it replaces the book model for
    a market we rest in, and is ignored for one we do not (nothing of ours there to measure)."""
    m = market("m1")
    books = standard(m)
    yes = m.token_ids[0]
    resting = {yes: {("BUY", D("0.48")): D(10)}}
    measured = the_evaluation(select_markets([m], books, PARAMS, NOW, {}, resting, {"m1": 0.25}), "m1")
    assert (measured.share, measured.share_source) == (0.25, "venue")
    assert measured.expected_per_day == pytest.approx(0.25 * 50)
    not_resting = the_evaluation(select_markets([m], books, PARAMS, NOW, {}, {}, {"m1": 0.25}), "m1")
    assert not_resting.share_source == "book" and not_resting.share < 0.25


def test_a_measured_share_does_not_rank_the_market_we_quote_by_another_yardstick() -> None:
    """Markets are ranked on the book model alone: the venue measures a share only where we rest orders, and a
    measured share below the model's made the market we quote rank below one we do not, then — once we moved —
    the other way round, so the selection flipped every tick and every quote was cancelled and re-placed."""
    a, b = market("a"), market("b", rate_per_day=D(45))  # alike, but b's pool is a little smaller: a ranks first
    books = {**standard(a), **standard(b)}
    one = replace(PARAMS, max_markets=1)
    assert [ev.market.condition_id for ev in select_markets([a, b], books, one, NOW, {}).selected] == ["a"]
    resting_in_a = {a.token_ids[0]: {("BUY", D("0.48")): D(10)}}
    sel = select_markets([a, b], books, one, NOW, {}, resting_in_a, {"a": 0.01})  # the venue pays us 1 % in a
    assert [ev.market.condition_id for ev in sel.selected] == ["a"]  # still a: ranked on the same model as b
    assert the_evaluation(sel, "a").expected_per_day == pytest.approx(0.01 * 50)  # reported as the venue pays
    assert the_evaluation(sel, "a").model_per_day > the_evaluation(sel, "b").model_per_day
