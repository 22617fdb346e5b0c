"""Stepping back from a toxic market (polymm.desired.toxicity): a fill of our bid, a midpoint jump, the pause's end."""

from __future__ import annotations

from dataclasses import replace
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
    assert "jump: midpoint moved 0.500 → 0.470 in 5 s" in paused(s, 700.0, J)["M"]
    assert paused(s, 7204.0, J) and not paused(s, 7205.0, J)
    # without the memory (0, the rule before) the market is back after the pause
    P0 = ToxicityParams(pause_s=600.0, jump=D("0.02"))
    s0 = step(step(ToxicityState(), 0.0, {"A": ("M", D("0.500"))}, [], P0), 5.0, {"A": ("M", D("0.470"))}, [], P0)
    assert not paused(s0, 700.0, P0)


def test_a_move_the_book_shows_in_steps_within_a_minute_is_one_jump():
    s = ToxicityState()
    for t, mid in ((0.0, "0.500"), (5.0, "0.490"), (10.0, "0.480"), (15.0, "0.470")):  # a repricing in 3 steps
        s = step(s, t, {"A": ("M", D(mid))}, [], J)
    assert "jump: midpoint moved 0.500 → 0.470 in 15 s" in paused(s, 700.0, J)["M"]
    once = s.jump_count
    assert 0.99 < once <= 1  # counted once (the count decays over jump_memory_s) ...
    s = step(s, 20.0, {"A": ("M", D("0.470"))}, [], J)
    s = step(s, 25.0, {"A": ("M", D("0.465"))}, [], J)
    assert s.jump_count < once  # ... and the window starts again after it: half a cent more is no second jump


def test_the_same_move_spread_over_more_than_a_minute_or_seen_after_a_gap_is_not_a_jump():
    s = ToxicityState()
    for t, mid in ((0.0, "0.500"), (25.0, "0.490"), (50.0, "0.480"), (75.0, "0.470")):  # a cent every 25 s
        s = step(s, t, {"A": ("M", D(mid))}, [], J)
    assert set(paused(s, 75.0, J)) == {"M"} and not paused(s, 700.0, J)  # the pause's trend rule, not a jump
    gap = step(step(ToxicityState(), 0.0, {"A": ("M", D("0.50"))}, [], J), 120.0, {"A": ("M", D("0.46"))}, [], J)
    assert not paused(gap, 800.0, J)  # not observed for two minutes: the move is not known to be sudden
    # an unchanged midpoint keeps its place in the window: 0.50 seen at 0 and 50 s, then 0.46 at 100 s
    still = ToxicityState()
    for t, mid in ((0.0, "0.50"), (50.0, "0.50"), (100.0, "0.46")):
        still = step(still, t, {"A": ("M", D(mid))}, [], J)
    assert "moved 0.50 → 0.46 in 50 s" in paused(still, 800.0, J)["M"]


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
    assert "jump: midpoint moved 0.500 → 0.440 in 5 s in M" in paused(s, 700.0, venue)["N"]
    # a smaller move (4 cents) is no jump at this jump_size, anywhere
    small = {"A": ("M", D("0.460")), "B": ("N", D("0.300")), "C": ("O", D("0.700"))}
    assert not paused(step(step(ToxicityState(), 0.0, quiet, [], venue), 5.0, small, [], venue), 700.0, venue)


# ---- the jump rate: every market is left while the markets watched jump more often than max_jump_rate
R = ToxicityParams(pause_s=600.0, jump=D("0.02"), jump_memory_s=43200.0, jump_size=D("0.05"), max_jump_rate=0.04)
TEN = [f"M{i}" for i in range(10)]


def _watch(s, t0, t1, jumps_at=(), params=R):
    """Ten markets watched every 5 s from t0 to t1; at each time in jumps_at the next market (in turn) jumps 6 cents
    from where the state last saw it."""
    mids = {f"T{i}": (m, s.recent[f"T{i}"][-1][1] if f"T{i}" in s.recent else D("0.50")) for i, m in enumerate(TEN)}
    pending = sorted(jumps_at)
    k = round(s.jump_count)
    t = t0
    while t <= t1:
        if pending and t >= pending[0]:
            pending.pop(0)
            tok = f"T{k % 10}"
            old = mids[tok][1]
            mids[tok] = (mids[tok][0], old + D("0.06") if old < D("0.7") else old - D("0.06"))
            k += 1
        s = step(s, t, mids, [], params)
        t += 5.0
    return s


def test_one_jump_in_a_quiet_venue_leaves_only_its_market_and_a_second_soon_after_leaves_every_market():
    s = _watch(ToxicityState(), 0.0, 3600.0, jumps_at=[1800.0])
    assert 0.95 < s.jump_count < 1 and 9.5 < s.watched_hours < 10  # an hour of ten markets, decayed over 12 h
    assert set(paused(s, 3600.0, R)) == {"M0"}  # the prior holds the rate at about (1 + 0.25) / (10 + 25) = 0.036
    s = _watch(s, 3605.0, 5400.0, jumps_at=[4000.0])
    left = paused(s, 5400.0, R)
    assert set(left) == set(TEN) and s.jump_rate() > 0.05  # about 2.25 jumps in 40 market-hours
    assert f"jump rate: 1.9 jumps in 14 market-hours watched, {s.jump_rate():.3f} an hour > 0.04" in left["M5"]
    assert set(paused(s, 5400.0, replace(R, max_jump_rate=0.06))) == {"M0", "M1"}  # a higher limit: not yet


def test_the_rate_falls_back_under_the_limit_as_quiet_hours_are_watched():
    s = _watch(ToxicityState(), 0.0, 7200.0, jumps_at=[600.0, 1200.0, 1800.0])
    assert set(paused(s, 7200.0, R)) == set(TEN)
    s = _watch(s, 7205.0, 7200.0 + 8 * 3600, jumps_at=[])  # eight quiet hours of ten markets
    assert s.jump_rate() < 0.04
    assert set(paused(s, s.rate_at, R)) == {"M0", "M1", "M2"}  # the three that jumped, for their 12 hours
    # a calm venue (measured on the simulator: 1–3 jumps a day over ten markets) never reaches the limit
    calm = _watch(ToxicityState(), 0.0, 86_400.0, jumps_at=[20_000.0, 50_000.0, 52_000.0])
    assert calm.jump_rate() < 0.04


def test_hours_not_watched_do_not_count_and_zero_turns_the_rule_off():
    s = _watch(ToxicityState(), 0.0, 600.0, jumps_at=[300.0])
    before = s.watched_hours
    s = _watch(s, 600.0 + 6 * 3600, 600.0 + 6 * 3600, jumps_at=[])  # the controller was down six hours
    assert s.watched_hours < before + 0.02  # at most a minute of the gap is counted
    off = ToxicityParams(pause_s=600.0, jump=D("0.02"), jump_memory_s=43200.0, jump_size=D("0.05"))
    busy = _watch(ToxicityState(), 0.0, 3600.0, jumps_at=[600.0, 900.0, 1200.0, 1500.0], params=off)
    assert set(paused(busy, 3600.0, off)) == {"M0", "M1", "M2", "M3"}  # only the markets that jumped


# ---- the trend rule: a move of trend_move over trend_window_s, and a watch of that long before the first quote
T = ToxicityParams(pause_s=600.0, jump=D("0.02"), trend_window_s=3600.0, trend_move=D("0.03"))


def _walk(state, params, start, end, mid_at, every=5.0, token="A", market="M"):
    t = start
    while t <= end:
        state = step(state, t, {token: (market, mid_at(t))}, [], params)
        t += every
    return state


def test_a_market_is_quoted_only_after_its_midpoint_was_watched_for_the_trend_window():
    s = _walk(ToxicityState(), T, 0.0, 3400.0, lambda t: D("0.500"))
    assert "watched 3400 of 3600 s" in paused(s, 3400.0, T)["M"]
    s = _walk(s, T, 3405.0, 3600.0, lambda t: D("0.500"))
    assert paused(s, 3600.0, T) == {}


def test_a_steady_trend_the_pause_window_never_sees_leaves_the_market_while_it_lasts():
    # 3.2 cents an hour (the trending scenario's drift at 0.85): 1.6 cents per 600 s pause window, under toxic_jump
    def falling(t):
        return (D("0.850") - D("0.032") * D(t) / 3600).quantize(D("0.001"))

    off = replace(T, trend_window_s=0.0)
    assert paused(_walk(ToxicityState(), off, 0.0, 7200.0, falling), 7200.0, off) == {}  # the rules before: quoted
    s = _walk(ToxicityState(), T, 0.0, 7200.0, falling)
    reason = paused(s, 7200.0, T)["M"]
    assert reason.startswith("trend: midpoint moved 0.818 → 0.786 in 3600 s")
    # the trend stops: the market comes back once the move over the last hour falls under trend_move
    s = _walk(s, T, 7205.0, 10_800.0, lambda t: D("0.786"))
    assert paused(s, 10_800.0, T) == {}


def test_a_calm_diffusion_and_a_move_that_reverts_do_not_leave_the_market():
    wobble = [D("0.500"), D("0.510"), D("0.495"), D("0.505"), D("0.490"), D("0.500")]
    s = _walk(ToxicityState(), T, 0.0, 7200.0, lambda t: wobble[int(t // 1200) % len(wobble)], every=30.0)
    assert paused(s, 7200.0, T) == {}


def test_a_token_not_seen_for_the_gap_is_watched_again_and_other_markets_are_untouched():
    s = _walk(ToxicityState(), T, 0.0, 3600.0, lambda t: D("0.500"))
    s = _walk(s, T, 0.0, 3600.0, lambda t: D("0.300"), token="B", market="N")
    assert paused(s, 3600.0, T) == {}
    s = step(s, 4300.0, {"B": ("N", D("0.300"))}, [], T)  # A unobserved for 700 s; B seen again after a gap too
    assert "watched 0 of 3600 s" in paused(s, 4300.0, T)["N"] and "M" not in paused(s, 4300.0, T)
    s = step(s, 4310.0, {"A": ("M", D("0.500"))}, [], T)
    assert "watched 0 of 3600 s" in paused(s, 4310.0, T)["M"]


def test_trend_window_zero_is_the_behaviour_before():
    off = replace(T, trend_window_s=0.0)
    s = step(ToxicityState(), 0.0, {"A": ("M", D("0.5"))}, [], off)
    assert paused(s, 0.0, off) == {} and s.trend == {}


def test_a_token_first_seen_or_seen_again_after_a_gap_starts_from_the_venues_price_history():
    from polymm.desired.toxicity import trend_known

    only_trend = replace(T, pause_s=0.0)  # the trend rule alone (the toxic pause would name the 6 cents first)
    flat = [(t, D("0.500")) for t in range(-3600, 1, 60)]  # the venue's minute prices of the hour before 0
    s = step(ToxicityState(), 0.0, {"A": ("M", D("0.500"))}, [], only_trend, {"A": flat})
    assert paused(s, 0.0, only_trend) == {} and trend_known(s, "A", 0.0)
    assert not trend_known(s, "A", 700.0)  # unobserved for longer than the gap: the next step starts it again
    moved = [(t, D("0.500") + D("0.001") * ((t - 700) // 60 + 60)) for t in range(-2900, 701, 60)]  # up 6 cents
    s = step(s, 700.0, {"A": ("M", D("0.560"))}, [], only_trend, {"A": moved})
    assert paused(s, 700.0, only_trend)["M"].startswith("trend: midpoint moved 0.500 → 0.560")
