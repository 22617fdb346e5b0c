"""The controller under the venue's 429s (polymm.venue.trading: a bounded back-off per kind of call), end to end:
`polymm reconcile --loop` as a real process against the simulated venue, judged from `/_sim/state` and
`/_sim/requests`."""

from __future__ import annotations

import time

from controller_support import h
from test_controller_faults import CAP, wait_until


def order_posts(truth) -> int:
    counts = truth.requests()
    return counts.get("POST /orders", 0) + counts.get("POST /order", 0)


def test_a_rate_limited_venue_is_backed_off_and_every_quote_is_placed_once_when_it_lets_up(venue, truth, controllers):
    """First every order post answers 429 with Retry-After 2 for 4 s: the loop keeps ticking (every 0.5 s) but
    posts once per back-off; then every open-order read answers 429 with Retry-After 1 for 2 s: it reads again on
    a later tick, at most once a second. Once the venue lets up, each planned quote is live exactly once and
    nothing is orphaned. Then book reads are limited the same way. About 20 s: the back-offs are wall-clock
    seconds (Retry-After), so the test waits them (three phases in one controller run, to start it once)."""
    ctl = controllers("rate-limited")
    truth.faults({"seed": 3, "rules": [{"match": "POST /orders", "kind": "rate_limit", "probability": 1, "retry_after": 2}]})
    ctl.start()
    wait_until(lambda: truth.fired(), 60, "a 429 on an order post", ctl)
    posts_before, first_tick, started = order_posts(truth), ctl.tick_id(), time.monotonic()
    time.sleep(4)
    posts_during, ticks_during = order_posts(truth) - posts_before, ctl.tick_id() - first_tick
    elapsed = time.monotonic() - started
    assert h.live_orders(truth.state(), ctl.address) == []  # nothing got through while every post was refused
    assert ticks_during >= 6, "the loop stopped ticking"
    assert 1 <= posts_during <= elapsed / 2 + 1, f"{posts_during} posts in {elapsed:.1f} s: not once per 2 s back-off"

    truth.faults({"seed": 4, "rules": [{"match": "GET /data/orders", "kind": "rate_limit", "probability": 1,
                                        "retry_after": 1}]})
    reads_before, read_tick, read_started = truth.requests().get("GET /data/orders", 0), ctl.tick_id(), time.monotonic()
    time.sleep(2)
    reads = truth.requests().get("GET /data/orders", 0) - reads_before
    read_elapsed, read_ticks = time.monotonic() - read_started, ctl.tick_id() - read_tick
    truth.faults({"rules": []})
    print(f"\norder posts limited {elapsed:.1f} s: {ticks_during} ticks, {posts_during} posts; "
          f"open-order reads limited {read_elapsed:.1f} s: {read_ticks} ticks, {reads} reads")
    assert read_ticks >= 2, "the loop stopped ticking while reads were limited"
    assert 1 <= reads <= read_elapsed + 1, f"{reads} reads in {read_elapsed:.1f} s: not once per 1 s back-off"

    wait_until(lambda: h.live_orders(truth.state(), ctl.address), 20, "quotes after the venue lets up", ctl)
    ctl.wait_ticks(3)
    state = truth.state()
    live = h.live_orders(state, ctl.address)
    slots = [(o["asset_id"], o["side"]) for o in live]
    assert len(slots) == len(set(slots)), f"two live orders for one slot: {slots}"
    result = h.ChaosResult(seed=3)
    h.check_continuous(state, ctl.address, CAP, result.audit)
    h.check_settled(state, ctl.address, ctl.ledger_path, truth, result.audit)
    assert result.audit.duplicates == 0 and result.audit.orphans == 0, (result.audit.duplicate_slots, result.audit.orphan_ids)

    # last, every book read (POST /books) answers 429 with Retry-After 2 for 3 s: read at most once per back-off
    truth.faults({"seed": 5, "rules": [{"match": "POST /books", "kind": "rate_limit", "probability": 1, "retry_after": 2}]})
    wait_until(lambda: truth.fired(), 20, "a 429 on a book read", ctl)
    before, tick, started = truth.requests().get("POST /books", 0), ctl.tick_id(), time.monotonic()
    time.sleep(3)
    books, book_ticks = truth.requests().get("POST /books", 0) - before, ctl.tick_id() - tick
    book_elapsed = time.monotonic() - started
    truth.faults({"rules": []})
    print(f"book reads limited {book_elapsed:.1f} s: {book_ticks} ticks, {books} POST /books")
    assert book_ticks >= 4, "the loop stopped ticking while book reads were limited"
    assert books <= book_elapsed / 2 + 1, f"{books} book reads in {book_elapsed:.1f} s: not once per 2 s back-off"
    ctl.wait_ticks(4, timeout=30)
    live = h.live_orders(truth.state(), ctl.address)
    slots = [(o["asset_id"], o["side"]) for o in live]
    assert live and len(slots) == len(set(slots)), slots
    assert ctl.alive

