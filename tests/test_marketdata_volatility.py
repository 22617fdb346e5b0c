"""Volatility: the coefficient of variation of sampled midpoints, its sampling cadence and window, and the
safety rule that refuses a token whose volatility is above `volatility_threshold`.

Expected values are worked out by hand (population standard deviation over the mean):
  [0.50, 0.52, 0.48, 0.50]: mean 0.50, variance (0 + 0.0004 + 0.0004 + 0) / 4 = 0.0002,
                            std 0.0141421…, CV 0.0282843… — just below the default threshold 0.03;
  [0.50, 0.55, 0.45, 0.50]: variance (0.0025 + 0.0025) / 4 = 0.00125, std 0.0353553…, CV 0.0707107… — above it.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import pytest

from polymm.config import PolymmConfig
from polymm.desired.funnel import SelectionParams, select_markets
from polymm.desired.safety import check_volatility
from polymm.domain.types import Book, RewardMarket, Token
from polymm.marketdata.service import DataService
from polymm.marketdata.store import MemoryStore
from polymm.marketdata.volatility import DEFAULT_WINDOW, SAMPLE_EVERY_S, VolatilityTracker, coefficient_of_variation
from polymm.venue.gateway import VenueEndpoints, VenueGateway

CALM = [0.50, 0.52, 0.48, 0.50]
CALM_CV = math.sqrt(0.0002) / 0.50  # 0.0282843
JUMPY = [0.50, 0.55, 0.45, 0.50]
JUMPY_CV = math.sqrt(0.00125) / 0.50  # 0.0707107

PARAMS = SelectionParams.from_config(PolymmConfig())  # volatility check on, threshold 0.03 (the default)
NOW = datetime(2026, 9, 1, 12, tzinfo=timezone.utc)


# --- the measure ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        pytest.param(CALM, CALM_CV, id="calm-0.0283"),
        pytest.param(JUMPY, JUMPY_CV, id="jumpy-0.0707"),
        pytest.param([0.20, 0.40], 0.10 / 0.30, id="two-samples-std-0.1-mean-0.3"),
        pytest.param([0.37, 0.37, 0.37], 0.0, id="flat-is-zero"),
    ],
)
def test_a_known_price_series_gives_its_hand_computed_coefficient_of_variation(series, expected) -> None:
    assert coefficient_of_variation(series) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "series",
    [pytest.param([], id="no-samples"), pytest.param([0.5], id="one-sample"), pytest.param([0.0, 0.0], id="zero-mean")],
)
def test_too_few_samples_or_a_zero_mean_is_no_measurement(series) -> None:
    assert coefficient_of_variation(series) is None


def test_the_default_threshold_passes_the_calm_series_and_refuses_the_jumpy_one() -> None:
    assert PARAMS.limits.volatility_threshold == 0.03
    assert check_volatility(coefficient_of_variation(CALM), PARAMS.limits) is None

    reason = check_volatility(coefficient_of_variation(JUMPY), PARAMS.limits)

    assert reason is not None and reason.startswith("volatility: 0.0707 > threshold 0.03")


# --- the safety rule inside selection ---------------------------------------------------------


def market() -> RewardMarket:
    """A market that passes every default rule (v = 3¢, min size 10, $50/day, 30 days left)."""
    return RewardMarket(
        condition_id="0xvol", question="Will it rain?", tokens=(Token("vol-yes", "Yes"), Token("vol-no", "No")),
        rewards_max_spread=D(3), rewards_min_size=D(10), rate_per_day=D(50), tick_size=D("0.01"),
        min_order_size=D(5), neg_risk=False, end_date=NOW + timedelta(days=30), volume_24hr=D(1000),
    )


def books(m: RewardMarket) -> dict[str, Book]:
    """Mirrored books around 0.50: the best two levels 50 shares, then 100 shares a cent apart."""
    bids = [(D("0.49") - D("0.01") * k, D(50) if k < 2 else D(100)) for k in range(6)]
    asks = [(D("0.51") + D("0.01") * k, D(50) if k < 2 else D(100)) for k in range(6)]
    yes, no = m.token_ids
    return {
        yes: Book.from_levels(yes, bids, asks, m.tick_size),
        no: Book.from_levels(no, [(1 - p, s) for p, s in asks], [(1 - p, s) for p, s in bids], m.tick_size),
    }


def quoted_and_refused(volatility: dict[str, float]) -> tuple[set[str], dict[str, str]]:
    m = market()
    sel = select_markets([m], books(m), PARAMS, NOW, volatility)
    quoted = {q.token_id for ev in sel.selected for q in ev.quotes}
    refused = {t: why for ev in sel.ranked for t, why in ev.refused}
    if m.condition_id in sel.rejected:
        refused["market"] = sel.rejected[m.condition_id].detail
    return quoted, refused


def test_selection_quotes_both_tokens_when_their_volatility_is_below_the_threshold_or_unmeasured() -> None:
    assert quoted_and_refused({}) == ({"vol-yes", "vol-no"}, {})
    assert quoted_and_refused({"vol-yes": CALM_CV, "vol-no": CALM_CV}) == ({"vol-yes", "vol-no"}, {})


def test_selection_refuses_the_token_whose_volatility_is_above_the_threshold_and_keeps_the_other() -> None:
    quoted, refused = quoted_and_refused({"vol-yes": JUMPY_CV, "vol-no": CALM_CV})

    assert quoted == {"vol-no"}
    assert set(refused) == {"vol-yes"} and refused["vol-yes"].startswith("volatility: 0.0707")


def test_a_market_whose_tokens_are_both_too_volatile_is_rejected_by_the_safety_rule() -> None:
    quoted, refused = quoted_and_refused({"vol-yes": JUMPY_CV, "vol-no": JUMPY_CV})

    assert quoted == set()
    assert "volatility: 0.0707" in refused["market"]


# --- the tracker: cadence and window ------------------------------------------------------------


def test_the_tracker_takes_at_most_one_sample_per_30_seconds() -> None:
    tracker = VolatilityTracker()
    # (time, midpoint): samples are due at 0, 30, 60 and 90 s; everything in between is ignored
    for at, mid in [(0, 0.50), (10, 0.90), (29.9, 0.10), (30, 0.52), (59.99, 0.90), (60, 0.48), (75, 0.10),
                    (90, 0.50), (119, 0.90)]:
        tracker.observe("T", mid, 1_000 + at)

    assert SAMPLE_EVERY_S == 30.0
    assert list(tracker.samples["T"]) == CALM
    assert tracker.volatility("T") == pytest.approx(CALM_CV, rel=1e-12)


def test_the_tracker_keeps_the_latest_30_samples() -> None:
    tracker = VolatilityTracker()
    series = [0.40 + 0.005 * i for i in range(45)]  # a steady climb: older samples would lower the CV
    for i, mid in enumerate(series):
        tracker.observe("T", mid, 30.0 * i)

    assert DEFAULT_WINDOW == 30
    assert list(tracker.samples["T"]) == series[-30:]
    assert tracker.volatility("T") == pytest.approx(coefficient_of_variation(series[-30:]), rel=1e-12)


def test_a_missing_midpoint_is_not_a_sample_and_does_not_use_up_the_interval() -> None:
    tracker = VolatilityTracker()
    tracker.observe("T", None, 0)  # one side of the book empty
    tracker.observe("T", 0.50, 1)
    tracker.observe("T", 0.52, 31)

    assert list(tracker.samples["T"]) == [0.50, 0.52]


def test_tokens_are_sampled_independently_and_one_sample_is_no_measurement_yet() -> None:
    tracker = VolatilityTracker()
    tracker.observe("A", 0.50, 0)
    tracker.observe("B", 0.20, 5)
    tracker.observe("A", 0.52, 30)
    tracker.observe("B", 0.40, 20)  # only 15 s after B's first sample

    assert tracker.volatility("B") is None
    assert tracker.all() == {"A": pytest.approx(coefficient_of_variation([0.50, 0.52]))}


def test_the_data_service_refreshing_every_3_seconds_samples_each_token_every_30(venue) -> None:
    """Through the service against the simulated venue: 32 refreshes 3 s apart (93 s) → 4 samples a token."""
    urls = venue.urls
    gateway = VenueGateway(VenueEndpoints(urls["clob_url"], urls["gamma_url"], urls["data_url"], urls["ws_url"]))
    clock = [1_000_000.0]
    service = DataService(gateway, MemoryStore(clock=lambda: clock[0]), 300, 3, None, clock=lambda: clock[0])
    try:
        service.scan()
        for _ in range(32):
            service.refresh_books()
            clock[0] += 3
    finally:
        gateway.close()

    sampled = {t: len(w) for t, w in service.volatility.samples.items()}
    assert service.tokens and set(sampled) <= set(service.tokens)
    two_sided = [t for t, b in service.books.items() if b.midpoint is not None]
    assert set(sampled) == set(two_sided)
    assert set(sampled.values()) == {4}  # at 0, 30, 60 and 90 s
    # the venue's clock is frozen, so every midpoint repeats: the measured volatility is exactly zero
    assert service.store.get_volatility(two_sided) == {t: 0.0 for t in two_sided}
