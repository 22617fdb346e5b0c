"""One section of the venue's replies failing while the others succeed, end to end: a trade row with a status
polymm does not know (`PENDING`) makes only its market's fills Unknown — the ticks go on, other
positions are hedged, health says why — and a quote that vanishes from the open orders while the
trades read fails is neither filled nor cancelled, so the exposure cap holds at the venue and no new
buy goes into its market. `polymm reconcile --loop` is a real process; `/_sim/state` judges.
"""

from __future__ import annotations

import time
from decimal import Decimal

from controller_support import h, wait_until

HEDGE_RESTS = {"POLYMM_HEDGE_SELL__MAX_BID_GAP": "0.001", "POLYMM_RISK__MIN_PROTECTION_SIZE_MULTIPLIER_HEDGE": "0"}


def buys(state, ctl) -> list[dict]:
    return [o for o in h.live_orders(state, ctl.address) if o["side"] == "BUY"]


def mid(quotes: list[dict]) -> list[dict]:
    return [q for q in quotes if Decimal("0.2") <= Decimal(q["price"]) <= Decimal("0.8")]


def test_a_trade_row_with_an_unknown_status_holds_only_its_market_and_the_ticks_go_on(venue, truth, controllers):
    ctl = controllers("pending-row", HEDGE_RESTS)
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    truth.faults({"seed": 1, "rules": [{"match": "GET /data/trades", "kind": "malformed_row", "field": "status",
                                        "value": "PENDING"}]})
    by_market: dict[str, dict] = {}
    for q in mid(buys(truth.state(), ctl)):
        by_market.setdefault(q["market"], q)
    assert len(by_market) >= 2, ctl.log_tail()
    first_tick = ctl.tick_id()
    for q in list(by_market.values())[:2]:
        h.take_through(truth, q, Decimal("0.5"))
    ctl.wait_ticks(10, timeout=30)
    state = truth.state()
    held = {t for t, s in h.account(state, ctl.address)["positions"].items() if Decimal(str(s)) > 0}
    offered = {o["asset_id"] for o in h.live_orders(state, ctl.address) if o["side"] == "SELL"}
    assert len(held) == 2
    assert len(held & offered) >= 1, "the position whose trade row parses is hedged"
    with ctl.ledger() as ledger:
        ticks = [ledger.last_tick()]
    assert ticks[0]["id"] - first_tick >= 10 and not ticks[0]["summary"].get("final")
    assert "tick failed" not in ctl.log_tail(20000)
    status = ctl.status()
    assert status["health"] == "degraded", status
    assert "PENDING" in status["why"] and "fills unknown in 1 market(s)" in status["why"], status["why"]
    audit = h.Audit()
    h.check_continuous(state, ctl.address, Decimal(25), audit)
    assert audit.duplicates == 0 and audit.exposure_breaches == 0

    truth.faults({"rules": []})  # the row parses again: everything is settled within K ticks
    ctl.wait_ticks(4)
    audit = h.Audit()
    h.check_settled(truth.state(), ctl.address, ctl.ledger_path, truth, audit)
    assert audit.unhedged == 0, audit.unhedged_tokens
    assert audit.fills_missing == 0 and not audit.position_mismatches, audit.position_mismatches
    wait_until(lambda: ctl.status()["health"] == "ok", 15, "health back to ok once the row parses", ctl, poll=0.25)


def test_a_quote_filled_while_the_trades_read_fails_keeps_counting_against_the_cap(venue, truth, controllers):
    cap = Decimal(10)
    ctl = controllers("trades-fail", {**HEDGE_RESTS, "POLYMM_STRATEGY__MAX_EXPOSURE_PER_MARKET_USDC": str(cap),
                                      "POLYMM_CONTROLLER__OPEN_ORDERS_GRACE_SECONDS": "1"})
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    quote = max(mid(buys(truth.state(), ctl)), key=lambda q: Decimal(q["price"]) * h.remaining(q))
    market = quote["market"]
    truth.faults({"seed": 2, "rules": [{"match": "GET /data/trades", "kind": "error_before", "status": 500}]})
    ctl.wait_ticks(1)
    h.take_through(truth, quote, Decimal(1))  # fully filled: it vanishes from the open orders
    audit = h.Audit()
    new_buys: set[str] = set()
    before = {o["id"] for o in buys(truth.state(), ctl)}
    deadline = time.monotonic() + 6  # well past the grace window, many ticks
    while time.monotonic() < deadline:
        state = truth.state()
        h.check_continuous(state, ctl.address, cap, audit)
        new_buys |= {o["id"] for o in buys(state, ctl) if o["market"] == market and o["id"] not in before}
        time.sleep(0.05)
    with ctl.ledger() as ledger:
        assert ledger.order(quote["id"]).state in ("open", "partially_filled")  # neither filled nor cancelled yet
    assert audit.exposure_breaches == 0, f"max exposure {audit.max_exposure_ratio:.2f} of the cap"
    assert new_buys == set(), "a new buy went into the market whose fill is unknown"
    assert ctl.status()["health"] == "degraded"

    truth.faults({"rules": []})  # the trades read works again: the fill is counted and hedged
    ctl.wait_ticks(4)
    with ctl.ledger() as ledger:
        assert ledger.order(quote["id"]).state == "filled"
    audit = h.Audit()
    h.check_settled(truth.state(), ctl.address, ctl.ledger_path, truth, audit)
    assert audit.unhedged == 0 and not audit.position_mismatches, (audit.unhedged_tokens, audit.position_mismatches)


def test_a_partial_fill_the_open_orders_show_before_the_trades_read_does_still_counts_against_the_cap(
        venue, truth, controllers):
    """The open-order row reports a match (size_matched) while the trades read fails: the shares matched are in
    no fill yet, so the ledger's position does not hold them either. Counting the order by the row's remaining
    size would leave them nowhere and free room in the market for another buy; the buy counts what our fills do
    not show matched, so the cap holds at the venue through many ticks."""
    cap = Decimal(10)
    ctl = controllers("row-match", {**HEDGE_RESTS, "POLYMM_STRATEGY__MAX_EXPOSURE_PER_MARKET_USDC": str(cap)})
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    quote = max(mid(buys(truth.state(), ctl)), key=lambda q: Decimal(q["price"]) * h.remaining(q))
    truth.faults({"seed": 3, "rules": [{"match": "GET /data/trades", "kind": "error_before", "status": 500}]})
    ctl.wait_ticks(1)
    h.take_through(truth, quote, Decimal("0.6"))  # partly filled: it stays open, its row showing the match
    audit = h.Audit()
    first = ctl.tick_id()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        h.check_continuous(truth.state(), ctl.address, cap, audit)
        time.sleep(0.05)
    assert ctl.tick_id() - first >= 5, "the ticks went on"
    assert audit.exposure_breaches == 0, f"max exposure {audit.max_exposure_ratio:.2f} of the cap: {audit.breaches[:3]}"

    truth.faults({"rules": []})  # the trades read works again: the fill is recorded and hedged
    ctl.wait_ticks(4)
    audit = h.Audit()
    h.check_settled(truth.state(), ctl.address, ctl.ledger_path, truth, audit)
    assert audit.unhedged == 0 and audit.fills_missing == 0, (audit.unhedged_tokens, audit.fills_missing)
