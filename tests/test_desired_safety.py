"""Quoting safety rules, each at its boundary: volatility, position, price cliff, protection, hedge depth."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest

from polymm.desired.safety import (
    SafetyLimits,
    check_hedge_depth,
    check_position,
    check_price_cliff,
    check_protection,
    check_volatility,
    refusals,
)
from polymm.domain.types import Book

LIMITS = SafetyLimits(
    price_cliff_threshold=D("0.05"),
    min_protection_size_multiplier=D("1"),
    min_protection_size_multiplier_hedge=D("5"),
    max_bid_gap=D("0.05"),
    volatility_enabled=True,
    volatility_threshold=0.03,
)


def bids(*levels: tuple[str, str]) -> Book:
    """A book with these bid levels (price, size) and one ask far above."""
    return Book.from_levels("T", [(D(p), D(s)) for p, s in levels], [(D("0.99"), D("100"))], D("0.01"))


# --- volatility ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("enabled", "volatility", "refused"),
    [
        pytest.param(False, 0.50, False, id="disabled-ignores-any-value"),
        pytest.param(True, None, False, id="no-measurement-yet-passes"),
        pytest.param(True, 0.0, False, id="zero"),
        pytest.param(True, 0.03, False, id="exactly-the-threshold-passes"),
        pytest.param(True, 0.0300001, True, id="just-above-the-threshold-is-refused"),
        pytest.param(True, 0.5, True, id="far-above"),
    ],
)
def test_volatility_above_the_threshold_is_refused_unless_the_check_is_off_or_unmeasured(
    enabled: bool, volatility: float | None, refused: bool
) -> None:
    reason = check_volatility(volatility, replace(LIMITS, volatility_enabled=enabled))

    assert (reason is not None) is refused
    if refused:
        assert reason.startswith("volatility:") and "0.03" in reason


# --- position -----------------------------------------------------------------------------

LADDER = bids(("0.50", "10"), ("0.49", "10"), ("0.48", "10"), ("0.47", "10"))


@pytest.mark.parametrize(
    ("price", "at_band_edge", "refused_as"),
    [
        pytest.param("0.51", True, None, id="edge-above-every-bid-is-best-bid"),
        pytest.param("0.50", True, None, id="edge-joining-the-best-bid-is-first"),
        pytest.param("0.495", True, None, id="edge-between-first-and-second-is-bid-2"),
        pytest.param("0.49", True, None, id="edge-joining-the-second-bid-is-bid-2"),
        pytest.param("0.485", True, "#3", id="edge-below-two-levels-is-bid-3"),
        pytest.param("0.48", True, "#3", id="edge-joining-the-third-bid-is-bid-3"),
        pytest.param("0.40", True, "#5", id="edge-below-everything"),
        pytest.param("0.48", False, None, id="not-at-the-edge-is-ignored"),
        pytest.param("0.40", False, None, id="not-at-the-edge-is-ignored-anywhere"),
    ],
)
def test_a_band_edge_quote_must_be_second_best_bid_or_better(
    price: str, at_band_edge: bool, refused_as: str | None
) -> None:
    reason = check_position(LADDER, D(price), at_band_edge)

    if refused_as is None:
        assert reason is None
    else:
        assert reason is not None and reason.startswith("position:") and f"bid {refused_as}" in reason


# --- price cliff --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("levels", "price", "refused", "mentions"),
    [
        pytest.param([], "0.50", True, "only 0", id="nothing-behind"),
        pytest.param([("0.45", "10")], "0.50", True, "only 1", id="one-level-behind"),
        pytest.param([("0.50", "10"), ("0.49", "10")], "0.50", True, "only 1",
                     id="a-level-at-our-price-is-not-behind-us"),
        pytest.param([("0.45", "10"), ("0.40", "10")], "0.50", False, None, id="both-gaps-exactly-at-threshold"),
        pytest.param([("0.49", "10"), ("0.48", "10"), ("0.01", "10")], "0.50", False, None,
                     id="only-the-next-two-levels-count"),
        pytest.param([("0.44", "10"), ("0.43", "10")], "0.50", True, "gaps 0.06", id="first-gap-above"),
        pytest.param([("0.49", "10"), ("0.43", "10")], "0.50", True, "and 0.06", id="second-gap-above"),
        pytest.param([("0.51", "10"), ("0.46", "10"), ("0.41", "10")], "0.50", False, None,
                     id="levels-above-us-are-not-behind-us"),
    ],
)
def test_price_cliff_needs_two_levels_behind_with_gaps_at_most_the_threshold(
    levels, price: str, refused: bool, mentions: str | None
) -> None:
    reason = check_price_cliff(bids(*levels), D(price), LIMITS)

    assert (reason is not None) is refused
    if refused:
        assert reason.startswith("price_cliff:") and mentions in reason


# --- protection ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("levels", "size", "multiplier", "refused"),
    [
        pytest.param([("0.50", "6"), ("0.49", "4")], "10", "1", False, id="exactly-the-need-passes"),
        pytest.param([("0.50", "6"), ("0.49", "3.99")], "10", "1", True, id="a-hundredth-short-is-refused"),
        pytest.param([("0.50", "6"), ("0.49", "4"), ("0.48", "1000")], "10", "2", True,
                     id="the-third-level-does-not-protect"),
        pytest.param([("0.50", "20")], "10", "2", False, id="one-level-can-be-enough"),
        pytest.param([], "10", "0", False, id="multiplier-zero-needs-nothing"),
        pytest.param([], "10", "1", True, id="no-bids-at-all"),
    ],
)
def test_protection_needs_the_best_two_bids_to_hold_our_size_times_the_multiplier(
    levels, size: str, multiplier: str, refused: bool
) -> None:
    limits = replace(LIMITS, min_protection_size_multiplier=D(multiplier))

    reason = check_protection(bids(*levels), D(size), limits)

    assert (reason is not None) is refused
    if refused:
        assert reason.startswith("protection:")


# --- hedge depth --------------------------------------------------------------------------

# Our buy at 0.50 with max_bid_gap 0.05: depth counts bid levels from the third down, at ≥ 0.45.
HEDGE_CASES = [
    ("exactly-the-need-from-the-third-level-down", [("0.51", "1000"), ("0.50", "1000"), ("0.48", "30"), ("0.45", "20")],
     "10", "5", False),
    ("a-hundredth-short-is-refused", [("0.51", "1000"), ("0.50", "1000"), ("0.48", "30"), ("0.45", "19.99")],
     "10", "5", True),
    ("levels-below-price-minus-max-gap-do-not-count", [("0.51", "9"), ("0.50", "9"), ("0.48", "30"), ("0.44", "1000")],
     "10", "5", True),
    ("the-best-two-levels-never-count", [("0.51", "1000"), ("0.50", "1000")], "10", "5", True),
    ("multiplier-zero-needs-nothing", [], "10", "0", False),
    ("bigger-order-needs-more-depth", [("0.51", "9"), ("0.50", "9"), ("0.49", "100")], "20", "5", False),
    ("bigger-order-one-share-short", [("0.51", "9"), ("0.50", "9"), ("0.49", "100")], "20.01", "5", True),
]


@pytest.mark.parametrize(
    ("levels", "size", "multiplier", "refused"),
    [pytest.param(*case[1:], id=case[0]) for case in HEDGE_CASES],
)
def test_hedge_depth_counts_bids_from_the_third_level_within_max_bid_gap(
    levels, size: str, multiplier: str, refused: bool
) -> None:
    limits = replace(LIMITS, min_protection_size_multiplier_hedge=D(multiplier))

    reason = check_hedge_depth(bids(*levels), D("0.50"), D(size), limits)

    assert (reason is not None) is refused
    if refused:
        assert reason.startswith("hedge_depth:") and "0.45" in reason


# --- all together -------------------------------------------------------------------------


def test_a_safe_quote_has_no_refusals() -> None:
    book = bids(("0.50", "10"), ("0.49", "10"), ("0.48", "30"), ("0.47", "30"))

    assert refusals(book, D("0.49"), D("10"), True, 0.01, LIMITS) == ()


def test_refusals_list_every_failing_rule_in_rule_order() -> None:
    # Bid #4 at the edge, a 0.10 cliff behind it, 2 shares in front, nothing to hedge into, volatile.
    book = bids(("0.52", "1"), ("0.51", "1"), ("0.50", "1"), ("0.30", "1"), ("0.20", "1"))

    found = refusals(book, D("0.49"), D("10"), True, 0.9, LIMITS)

    assert [r.split(":")[0] for r in found] == ["volatility", "position", "price_cliff", "protection", "hedge_depth"]
