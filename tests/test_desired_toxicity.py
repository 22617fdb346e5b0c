"""Stepping back from a toxic market (polymm.desired.toxicity): a fill of our bid, a midpoint jump, the pause's end."""

from __future__ import annotations

from decimal import Decimal as D

from polymm.desired.toxicity import ToxicityParams, ToxicityState, paused, step

P = ToxicityParams(pause_s=600.0, jump=D("0.02"))


def test_a_fill_of_our_bid_pauses_its_market_from_the_fill_time():
    s = step(ToxicityState(), 1000.0, {}, [("M", 990.0, D("20"), D("0.49"))], P)
    assert set(paused(s, 1000.0, P)) == {"M"}
    assert "filled" in paused(s, 1000.0, P)["M"]
    assert paused(s, 1589.0, P) and not paused(s, 1590.0, P)  # 600 s from the fill, not from the tick
    # seen again (the trade cursor overlaps): the pause still runs from the fill
    s2 = step(s, 1300.0, {}, [("M", 990.0, D("20"), D("0.49"))], P)
    assert not paused(s2, 1590.0, P)


def test_a_midpoint_jump_pauses_and_a_smaller_move_does_not():
    s = step(ToxicityState(), 0.0, {"A": ("M", D("0.500")), "B": ("N", D("0.300"))}, [], P)
    assert not paused(s, 0.0, P)
    s = step(s, 5.0, {"A": ("M", D("0.520")), "B": ("N", D("0.315"))}, [], P)
    assert set(paused(s, 5.0, P)) == {"M"}
    assert "moved 0.500 → 0.520 in 5 s" in paused(s, 5.0, P)["M"]
    assert not paused(s, 605.0, P)


def test_a_trend_that_moves_the_jump_within_the_window_pauses_and_a_slower_one_does_not():
    s = ToxicityState()
    for t, mid in ((0.0, "0.500"), (300.0, "0.507"), (590.0, "0.5199")):
        s = step(s, t, {"A": ("M", D(mid))}, [], P)
    assert not paused(s, 590.0, P)
    s = step(s, 599.0, {"A": ("M", D("0.520"))}, [], P)  # 2 cents within one 600 s window
    assert set(paused(s, 599.0, P)) == {"M"}
    slow = ToxicityState()
    for t, mid in ((0.0, "0.500"), (600.0, "0.515"), (1200.0, "0.530")):  # 1.5 cents a window: never 2 in one
        slow = step(slow, t, {"A": ("M", D(mid))}, [], P)
    assert not paused(slow, 1200.0, P)


def test_pause_zero_is_the_seeds_behaviour():
    off = ToxicityParams(0.0, D("0.02"))
    s = step(ToxicityState(), 0.0, {"A": ("M", D("0.5"))}, [("M", 0.0, D("20"), D("0.49"))], off)
    s = step(s, 5.0, {"A": ("M", D("0.9"))}, [], off)
    assert paused(s, 5.0, off) == {}
