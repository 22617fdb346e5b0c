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


# ---- jump memory: a market that repriced at once is left for jump_memory_s, longer than the pause
J = ToxicityParams(pause_s=600.0, jump=D("0.02"), jump_memory_s=7200.0, jump_size=D("0.03"))


def test_a_sudden_move_of_jump_size_leaves_the_market_for_the_jump_memory():
    s = step(ToxicityState(), 0.0, {"A": ("M", D("0.500")), "B": ("N", D("0.300"))}, [], J)
    s = step(s, 5.0, {"A": ("M", D("0.470")), "B": ("N", D("0.280"))}, [], J)  # M: 3 cents at once; N: 2
    assert set(paused(s, 5.0, J)) == {"M", "N"}  # both toxic for the pause ...
    assert set(paused(s, 700.0, J)) == {"M"}  # ... only the jump is remembered past it
    assert "jump: midpoint moved 0.500 → 0.470 at once" in paused(s, 700.0, J)["M"]
    assert paused(s, 7204.0, J) and not paused(s, 7205.0, J)
    # without the memory (0, the rule before) the market is back after the pause
    P0 = ToxicityParams(pause_s=600.0, jump=D("0.02"))
    s0 = step(step(ToxicityState(), 0.0, {"A": ("M", D("0.500"))}, [], P0), 5.0, {"A": ("M", D("0.470"))}, [], P0)
    assert not paused(s0, 700.0, P0)


def test_the_same_move_spread_over_observations_or_seen_after_a_gap_is_not_a_jump():
    s = ToxicityState()
    for t, mid in ((0.0, "0.500"), (5.0, "0.490"), (10.0, "0.480"), (15.0, "0.470")):  # a cent a tick
        s = step(s, t, {"A": ("M", D(mid))}, [], J)
    assert set(paused(s, 15.0, J)) == {"M"} and not paused(s, 700.0, J)  # the pause's trend rule, not a jump
    gap = step(step(ToxicityState(), 0.0, {"A": ("M", D("0.50"))}, [], J), 120.0, {"A": ("M", D("0.46"))}, [], J)
    assert not paused(gap, 800.0, J)  # not observed for two minutes: the move is not known to be sudden


def test_jump_memory_works_without_the_pause():
    only = ToxicityParams(pause_s=0.0, jump=D("0.02"), jump_memory_s=3600.0, jump_size=D("0.03"))
    s = step(step(ToxicityState(), 0.0, {"A": ("M", D("0.50"))}, [], only), 5.0, {"A": ("M", D("0.54"))}, [], only)
    assert set(paused(s, 3000.0, only)) == {"M"}


def test_with_venue_scope_a_jump_in_one_market_leaves_every_market_watched():
    venue = ToxicityParams(pause_s=600.0, jump=D("0.02"), jump_memory_s=7200.0, jump_size=D("0.05"),
                           jump_scope="venue")
    market = ToxicityParams(pause_s=600.0, jump=D("0.02"), jump_memory_s=7200.0, jump_size=D("0.05"))
    quiet = {"A": ("M", D("0.500")), "B": ("N", D("0.300")), "C": ("O", D("0.700"))}
    moved = {"A": ("M", D("0.440")), "B": ("N", D("0.300")), "C": ("O", D("0.700"))}  # 6 cents at once in M
    for params, expect in ((venue, {"M", "N", "O"}), (market, {"M"})):
        s = step(step(ToxicityState(), 0.0, quiet, [], params), 5.0, moved, [], params)
        assert set(paused(s, 700.0, params)) == expect
        assert not paused(s, 7206.0, params)
    s = step(step(ToxicityState(), 0.0, quiet, [], venue), 5.0, moved, [], venue)
    assert "jump: midpoint moved 0.500 → 0.440 at once in M" in paused(s, 700.0, venue)["N"]
    # a smaller move (4 cents) is no jump at this jump_size, anywhere
    small = {"A": ("M", D("0.460")), "B": ("N", D("0.300")), "C": ("O", D("0.700"))}
    assert not paused(step(step(ToxicityState(), 0.0, quiet, [], venue), 5.0, small, [], venue), 700.0, venue)
