"""End to end: `polymm reconcile --loop` as a real process, the real SDK, the simulated venue over loopback.

The venue's truth (`/_sim/state`, `/_sim/requests`) is the judge; polymm's ledger is only compared
against it. The venue runs in-process at speed 0 (the `venue` fixture): simulated time moves only
when a test advances it, so "the books are unchanged" is exact.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from py_clob_client_v2.clob_types import OrderArgsV2, PartialCreateOrderOptions

ROOT = Path(__file__).resolve().parents[1]


from controller_support import h

# A hedge that rests instead of selling into the bids at once (no bid is within 0.001 of its cost, and
# the selection no longer asks for hedge depth there), so a test can see it live and then fill it.
HEDGE_RESTS = {"POLYMM_HEDGE_SELL__MAX_BID_GAP": "0.001", "POLYMM_RISK__MIN_PROTECTION_SIZE_MULTIPLIER_HEDGE": "0"}




def writes_between(before: dict, after: dict) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in h.WRITES if after.get(k, 0) != before.get(k, 0)}


def our_quotes(admin, address: str) -> list[dict]:
    return [o for o in h.live_orders(admin.state(), address) if o["side"] == "BUY"]


def mid_range(quotes: list[dict]) -> list[dict]:
    """Quotes priced 0.2–0.8: on cheap tokens one tick is past the stop-loss, and the hedge sells at once."""
    return [q for q in quotes if Decimal("0.2") <= Decimal(q["price"]) <= Decimal("0.8")]


def inventory_cost(state: dict, address: str, token_id: str) -> Decimal:
    """Venue truth: the cost of what we hold of one token (its part of the market's exposure)."""
    pos = h.venue_positions(state, address).get(token_id)
    return pos.cost if pos is not None else Decimal(0)


def order_key(token: str, side: str, price, size) -> tuple:
    return (token, side, Decimal(str(price)), Decimal(str(size)))


def test_fresh_ledger_quotes_the_planned_prices_then_steady_state_makes_no_writes(venue, truth, controllers, make_client):
    ctl = controllers("quotes")
    make_client(ctl.key)  # the wallet's API key exists, as after any earlier run (a dry run only derives it)
    planned = ctl.plan()
    places = [a for a in planned["actions"] if a["action"] == "place"]
    assert places, planned
    assert all(a["role"] == "quote" and a["side"] == "BUY" for a in places)
    assert not [a for a in planned["actions"] if a["action"] == "cancel"]
    assert len(planned["selected_markets"]) == 3

    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    live = h.live_orders(truth.state(), ctl.address)
    assert sorted(order_key(o["asset_id"], o["side"], o["price"], o["original_size"]) for o in live) == \
        sorted(order_key(a["token_id"], a["side"], a["price"], a["size"]) for a in places)

    before, first = truth.requests(), ctl.tick_id()
    last = ctl.wait_ticks(12)
    after = truth.requests()
    ticks = last["id"] - first
    delta = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    heartbeats = delta.get("POST /v1/heartbeats", 0)
    reads = sum(v for k, v in delta.items() if k.startswith("GET ") and not k.startswith("GET /_sim") or k == "POST /books")
    print(f"\nsteady state: {ticks} ticks, venue writes {writes_between(before, after)}, "
          f"heartbeats {heartbeats}, reads {reads} ({reads / ticks:.1f}/tick)")
    assert writes_between(before, after) == {}
    # the only other POSTs are book reads (POST /books) and the heartbeats, counted apart above
    assert {k for k in delta if k.startswith(("POST", "DELETE"))} <= {"POST /books", "POST /v1/heartbeats"}, delta
    with ctl.ledger() as ledger:
        assert ledger.last_tick()["summary"]["writes"] == 0
    assert {o["id"] for o in h.live_orders(truth.state(), ctl.address)} == {o["id"] for o in live}


def agreed_exposure(ctl, truth, market: str, tries: int = 8) -> tuple[dict, Decimal, Decimal]:
    """(status, the market's exposure in status, the venue's) at a moment the venue did not change around the
    status read. Status shows the exposure of the last journaled tick after its actions; a tick that runs
    between our venue read and our status read (a quote re-priced: cancelled, then placed) makes the two
    reads describe different moments. A real disagreement persists over every try and fails the caller."""
    for _ in range(tries):
        before = h.exposure_by_market(truth.state(), ctl.address).get(market, Decimal(0))
        status = ctl.status()
        after = h.exposure_by_market(truth.state(), ctl.address).get(market, Decimal(0))
        ours = Decimal(status["exposure"].get(market, "0"))
        if before == after == ours:
            break
        ctl.wait_tick_started_after(time.time())
    return status, ours, after


def test_fills_are_hedged_within_one_tick_and_each_trade_is_counted_once(venue, truth, controllers):
    ctl = controllers("fills", HEDGE_RESTS, max_markets=6)
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    by_market: dict[str, dict] = {}
    for q in mid_range(our_quotes(truth, ctl.address)):
        by_market.setdefault(q["market"], q)
    # the partly filled quote must keep a hedgeable position: 40 % of it at least the minimum order size (5)
    partial, full = sorted(by_market.values(), key=lambda q: -Decimal(q["original_size"]))[:2]
    assert Decimal(partial["original_size"]) * Decimal("0.4") >= 5, by_market
    exposure_before = h.exposure_by_market(truth.state(), ctl.address)[full["market"]]
    assert inventory_cost(truth.state(), ctl.address, full["asset_id"]) == 0

    h.take_through(truth, full, Decimal(1))
    h.take_through(truth, partial, Decimal("0.4"))
    visible = time.time()  # the trades are in the venue's /data/trades from now on
    state = truth.state()
    still = {o["id"]: o for o in h.live_orders(state, ctl.address)}
    assert full["id"] not in still
    filled_partial = Decimal(still[partial["id"]]["size_matched"])
    assert Decimal(0) < filled_partial < Decimal(partial["original_size"])
    filled = {full["asset_id"]: Decimal(full["original_size"]), partial["asset_id"]: filled_partial}
    assert {t: p.size for t, p in h.venue_positions(state, ctl.address).items() if p.size} == filled

    ctl.wait_tick_started_after(visible)  # one tick after the fills became visible
    state = truth.state()
    hedges = {o["asset_id"]: o for o in h.live_orders(state, ctl.address) if o["side"] == "SELL"}
    assert {t: Decimal(o["original_size"]) for t, o in hedges.items()} == filled
    assert all(Decimal(o["size_matched"]) == 0 for o in hedges.values())

    # exposure: the inventory appears at cost on the fill, and goes when the hedge fills (the room it frees
    # goes back to the quote on that token, which the cap held back meanwhile)
    market = full["market"]
    assert inventory_cost(state, ctl.address, full["asset_id"]) == filled[full["asset_id"]] * Decimal(full["price"])
    status_filled, exposure_filled, venue_filled = agreed_exposure(ctl, truth, market)
    assert exposure_filled == venue_filled
    assert exposure_filled <= Decimal(status_filled["exposure_cap_per_market"])

    h.take_through(truth, hedges[full["asset_id"]], Decimal(1))
    sold = time.time()
    ctl.wait_tick_started_after(sold)
    state = truth.state()
    assert full["asset_id"] not in h.venue_positions(state, ctl.address)  # the venue lists no empty positions
    assert full["asset_id"] not in {o["asset_id"] for o in h.live_orders(state, ctl.address) if o["side"] == "SELL"}
    assert inventory_cost(state, ctl.address, full["asset_id"]) == 0
    status_sold, exposure_sold, venue_sold = agreed_exposure(ctl, truth, market)
    assert full["asset_id"] not in {p["token_id"] for p in status_sold["positions"] if Decimal(p["size"])}
    assert exposure_sold == venue_sold
    print(f"\nexposure of market {market[:10]}…: {exposure_before} before, {exposure_filled} with the fill "
          f"(inventory {filled[full['asset_id']] * Decimal(full['price'])}), {exposure_sold} once hedged "
          f"(cap {status_sold['exposure_cap_per_market']})")

    # every venue trade of ours is in the ledger exactly once, and the positions agree
    ctl.wait_ticks(1)
    truth_fills = {(f.trade_id, f.order_id) for f in h.venue_fills(state, ctl.address)}
    with ctl.ledger() as ledger:
        keys = Counter((f.trade_id, f.order_id) for f in ledger.fills())
        positions = {t: p.size for t, p in ledger.positions().items() if p.size}
    assert len(truth_fills) >= 3  # two quote fills, the hedge fill (the last take may also reach our other quotes)
    assert set(keys) == truth_fills and set(keys.values()) == {1}
    assert positions == {t: p.size for t, p in h.venue_positions(state, ctl.address).items() if p.size}
    assert h.self_trades(state, ctl.address) == []


def test_plan_against_the_running_loop_shows_nothing_then_the_replacement_after_a_book_move(
        venue, truth, controllers, make_client):
    ctl = controllers("plan-live")
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    assert ctl.plan()["actions"] == []

    # Freeze the loop (SIGSTOP) so that the book move below cannot be acted on before `polymm plan` sees
    # it; the venue's clock is frozen too, so no heartbeat deadline passes meanwhile. The move: another
    # maker improves the best bid by a tick, which moves the midpoint and so the reward band.
    other = make_client()
    quotes = our_quotes(truth, ctl.address)
    ctl.signal(signal.SIGSTOP)
    try:
        replaced = {}
        for q in sorted(quotes, key=lambda q: abs(Decimal(q["price"]) - Decimal("0.5"))):
            market = truth.market(q["market"])
            tick = Decimal(str(market["minimum_tick_size"]))
            book = truth.book(q["asset_id"])
            bid, ask = Decimal(book["bids"][-1]["price"]), Decimal(book["asks"][-1]["price"])
            if bid + tick >= ask:
                # a one-tick spread (the calibrated norm): the move is a taker clearing the best bid level,
                # which our quote rests below, so the midpoint drops
                if Decimal(q["price"]) >= bid:
                    continue
                taken = truth.take(q["asset_id"], "SELL", bid, Decimal(book["bids"][-1]["size"]))
                assert taken["filled"] > 0, taken
            else:
                reply = other.post_order(other.create_order(
                    OrderArgsV2(token_id=q["asset_id"], price=float(bid + tick), size=20, side="BUY"),
                    PartialCreateOrderOptions(tick_size=str(tick), neg_risk=market["neg_risk"])))
                assert reply["success"] and reply["status"] == "live", reply
            planned = ctl.plan()
            replaced = replacements(planned)
            if replaced:
                break
        assert replaced, "no book move changed a quote"
        live_ids = {o["id"] for o in our_quotes(truth, ctl.address)}
        for slot, (cancel, place) in replaced.items():
            assert cancel["order_id"] in live_ids
            # the place is in the same plan, or (when the per-market cap still counts the order being cancelled)
            # it follows the cancel: the cancel's reason names the replacement either way
            assert place is None or "after cancel" in place["reason"]
        assert live_ids == {q["id"] for q in quotes}  # `polymm plan` sent nothing
    finally:
        ctl.signal(signal.SIGCONT)
    ctl.wait_ticks(4)
    now = {(o["asset_id"], Decimal(o["price"])) for o in our_quotes(truth, ctl.address)}
    wanted = {(cancel["token_id"], replacement_price(cancel)) for cancel, _ in replaced.values()}
    assert wanted <= now
    assert ctl.plan()["actions"] == []


def replacements(planned: dict) -> dict[str, tuple[dict, dict | None]]:
    """Slots the plan replaces: (cancel, place or None when the place waits for the cancel) by slot."""
    places = {a["slot"]: a for a in planned["actions"] if a["action"] == "place"}
    return {a["slot"]: (a, places.get(a["slot"])) for a in planned["actions"]
            if a["action"] == "cancel" and (a["slot"] in places or a["reason"].startswith("replace "))}


def replacement_price(cancel: dict) -> Decimal:
    """The price a replacing cancel names: "replace BUY 20.0@0.5 by 20.0@0.51" → 0.51."""
    return Decimal(cancel["reason"].rsplit("@", 1)[1].split()[0])


@pytest.mark.parametrize("command", [["reconcile", "--loop"], ["plan"], ["status"]])
def test_a_bad_config_value_exits_2_naming_key_value_and_what_is_allowed(tmp_path, command):
    env = h.controller_env("http://127.0.0.1:9", h.wallet_key("bad-config"), tmp_path,
                           extra={"POLYMM_STRATEGY__MAX_MARKETS": "0"})
    done = subprocess.run([h.POLYMM, *command], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "strategy.max_markets: 0 — must be ≥ 1" in done.stderr


def test_a_book_change_in_a_quoted_market_wakes_the_loop_long_before_its_interval(venue, truth, controllers, make_client):
    """With a 60 s interval, only the channels can start a tick: a better bid from another maker in a
    market we quote must lead to our replacement within seconds (the market channel woke the loop)."""
    ctl = controllers("book-wake", {"POLYMM_LOOP__ORDER_CHECK_INTERVAL_SECONDS": "60"})
    ctl.start()
    ctl.wait_ticks(1, timeout=60)
    time.sleep(1.0)  # let the start-up ticks (woken by our own placements) settle
    other = make_client()
    quotes = our_quotes(truth, ctl.address)
    assert quotes
    reacted = None
    for q in sorted(quotes, key=lambda q: abs(Decimal(q["price"]) - Decimal("0.5"))):
        market = truth.market(q["market"])
        tick = Decimal(str(market["minimum_tick_size"]))
        book = truth.book(q["asset_id"])
        bid, ask = Decimal(book["bids"][-1]["price"]), Decimal(book["asks"][-1]["price"])
        if bid + tick >= ask:
            continue
        before = {o["id"] for o in our_quotes(truth, ctl.address)}
        moved_at = time.monotonic()
        reply = other.post_order(other.create_order(
            OrderArgsV2(token_id=q["asset_id"], price=float(bid + tick), size=20, side="BUY"),
            PartialCreateOrderOptions(tick_size=str(tick), neg_risk=market["neg_risk"])))
        assert reply["success"], reply
        while time.monotonic() - moved_at < 8:
            if {o["id"] for o in our_quotes(truth, ctl.address)} != before:
                reacted = time.monotonic() - moved_at
                break
            time.sleep(0.05)
        if reacted is not None:
            break
    assert reacted is not None, "no book move changed a quote within 8 s"
    assert reacted < 8  # the 60 s interval would not have ticked yet
