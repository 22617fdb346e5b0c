"""The gateway reads the real venue's replies right: the documented duplicate wording, every trade-status
form, and a balance refusal of a hedge that is retried on the next tick.

The wordings come from docs.polymarket.com/resources/error-codes; the status forms from the official
`polymarket-client` package (models/clob/account.py).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from polymm.observed.parse import our_fills
from polymm.sim.model import PIPS
from polymm.venue.gateway import VenueEndpoints
from polymm.venue.outcomes import Ok, Refused, Unknown
from polymm.venue.parse import trade_status_from_wire
from polymm.venue.trading import TradingGateway, is_balance_refusal, is_duplicate


@pytest.mark.parametrize("message", [
    "order 0x5f1b2c is invalid. Duplicated.",
    "INVALID_ORDER_DUPLICATED order 0x5f1b2c is invalid. Duplicated.",
    "order is invalid. Duplicated. Same order has already been placed, can't be placed again",
])
def test_the_documented_duplicate_wording_is_recognised(message):
    assert is_duplicate(message)


def test_other_refusals_are_not_taken_for_duplicates():
    assert not is_duplicate("not enough balance / allowance")
    assert not is_duplicate("order 0xab is invalid. Price (0.505) breaks minimum tick size rule: 0.01")
    assert is_balance_refusal("INVALID_ORDER_NOT_ENOUGH_BALANCE not enough balance / allowance")


@pytest.mark.parametrize("wire, plain", [
    ("MATCHED", "MATCHED"), ("mined", "MINED"), ("TRADE_STATUS_CONFIRMED", "CONFIRMED"),
    ("TRADE_STATUS_RETRYING", "RETRYING"), ("TRADE_STATUS_FAILED", "FAILED"), ("TRADE_STATUS_MINED", "MINED"),
    ("MATCHED_NOT_BROADCASTED", "MATCHED"), ("TRADE_STATUS_MATCHED_NOT_BROADCASTED", "MATCHED"),
])
def test_every_trade_status_form_maps_to_the_plain_status(wire, plain):
    assert trade_status_from_wire(wire) == plain


def test_an_unknown_trade_status_passes_through_for_the_caller_to_handle():
    assert trade_status_from_wire("TRADE_STATUS_SOMETHING_NEW") == "SOMETHING_NEW"


def test_a_rest_trade_in_the_prefixed_form_parses_as_our_fill():
    trade = {
        "id": "t1", "taker_order_id": "0xaa", "market": "0xc", "asset_id": "1", "side": "BUY", "size": "10",
        "price": "0.4", "status": "TRADE_STATUS_CONFIRMED", "match_time": "1790000000", "owner": "key",
        "maker_address": "0xme", "maker_orders": [],
    }
    [fill] = our_fills(trade, "key", "0xme")
    assert fill.status == "CONFIRMED"


def _gateway(venue, make_client) -> TradingGateway:
    client = make_client()
    endpoints = VenueEndpoints(venue.url, f"{venue.url}/gamma", f"{venue.url}/dataapi", f"ws://127.0.0.1:{venue.port}/ws")
    return TradingGateway(endpoints, client.signer.private_key, client.creds)


def test_a_resend_of_a_live_order_is_unknown_not_refused_and_the_order_stays_live(venue, make_client, admin, reward_market):
    gw = _gateway(venue, make_client)
    token = reward_market.token_ids[0]
    price = Decimal(reward_market.book.best_bid() - 3 * reward_market.tick_pips) / PIPS
    order_id, payload = gw.sign(token, "BUY", price, Decimal(reward_market.min_order_size), Decimal(reward_market.tick_str),
                                reward_market.neg_risk)
    first = gw.post_batch([payload])
    assert isinstance(first, Ok) and isinstance(first.value[0], Ok)
    again = gw.post_batch([payload])
    assert isinstance(again, Ok)
    [outcome] = again.value
    assert isinstance(outcome, Unknown), outcome
    assert "is invalid. Duplicated." in outcome.reason
    live = [o["id"] for o in admin.state()["accounts"][gw.address]["open_orders"]]
    assert live == [order_id]


def test_a_sell_without_tokens_is_refused_with_the_balance_wording(venue, make_client, reward_market):
    gw = _gateway(venue, make_client)
    token = reward_market.token_ids[0]
    price = Decimal(reward_market.book.best_ask() + reward_market.tick_pips) / PIPS
    _, payload = gw.sign(token, "SELL", price, Decimal(reward_market.min_order_size), Decimal(reward_market.tick_str),
                         reward_market.neg_risk)
    outcome = gw.post_batch([payload])
    assert isinstance(outcome, Ok)
    [refused] = outcome.value
    assert isinstance(refused, Refused) and is_balance_refusal(refused.reason)


def test_a_hedge_refused_for_balance_is_retried_on_every_tick_without_a_cool_down(venue, make_client, reward_market, tmp_path):
    from polymm.config import PolymmConfig
    from polymm.controller.executor import Executor
    from polymm.desired.state import DesiredOrder, slot_key
    from polymm.reconciler.gate import GatedPlan
    from polymm.reconciler.plan import Place
    from polymm.ledger import Ledger

    gw = _gateway(venue, make_client)
    token = reward_market.token_ids[0]
    price = Decimal(reward_market.book.best_ask() + reward_market.tick_pips) / PIPS
    key = slot_key(reward_market.condition_id, token, "SELL", "hedge")
    hedge = DesiredOrder(key, reward_market.condition_id, token, "SELL", "hedge", price,
                         Decimal(reward_market.min_order_size), Decimal(reward_market.min_order_size),
                         Decimal(reward_market.tick_str), reward_market.neg_risk, False, "test hedge")
    cfg = PolymmConfig()
    gated = GatedPlan((), (Place(hedge, "hedge"),), (), (), {}, {})
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        executor = Executor(ledger, gw, cfg)
        reports = [executor.run(gated) for _ in range(cfg.retries.hedge_max_tries + 2)]
        states = [o.state for o in ledger.orders()]
    assert [r.places_sent for r in reports] == [1] * (cfg.retries.hedge_max_tries + 2)  # never skipped for a cool-down
    # an expected wait for the bought tokens, not the venue refusing us: health is not degraded for it
    # (controller.settle_ticks bounds how long a position may stay unhedged)
    assert all(r.place_errors == [] for r in reports)
    assert all(any("balance not caught up" in n for n in r.notes) for r in reports)
    assert set(states) == {"rejected"}


def test_a_taker_fill_carries_the_fee_of_each_maker_fill_at_the_trade_rate():
    trade = {
        "id": "t2", "taker_order_id": "0xaa", "market": "0xc", "asset_id": "1", "side": "SELL", "size": "30",
        "price": "0.4", "status": "MATCHED", "match_time": "1790000000", "owner": "key", "maker_address": "0xme",
        "fee_rate_bps": "400",
        "maker_orders": [
            {"order_id": "0xm1", "owner": "other", "maker_address": "0xo", "matched_amount": "10", "price": "0.5", "asset_id": "1"},
            # a BUY of the complement at 0.6 meets our SELL at 0.4
            {"order_id": "0xm2", "owner": "other", "maker_address": "0xo", "matched_amount": "20", "price": "0.6", "asset_id": "2"},
        ],
    }
    [fill] = our_fills(trade, "key", "0xme")
    assert fill.fee == Decimal("0.1") + Decimal("0.192")  # 10×0.04×0.5×0.5 + 20×0.04×0.4×0.6


def test_the_ledger_keeps_the_fee_of_a_fill_and_opens_a_ledger_of_the_previous_schema(tmp_path):
    import sqlite3

    from polymm.domain.terms import FillTerms
    from polymm.domain.types import Fill
    from polymm.ledger import Ledger

    path = tmp_path / "old.sqlite"
    with Ledger(path) as ledger:
        ledger.apply_fill(Fill(FillTerms("t1", "o1", "c", "tok", "BUY", Decimal(10), Decimal("0.5"), "taker", 1,
                                         Decimal("0.1")), "MATCHED"))
        [fill] = ledger.fills()
        assert fill.fee == Decimal("0.1")
    conn = sqlite3.connect(path)  # make it a schema-1 file: no fee column
    conn.execute("ALTER TABLE fills DROP COLUMN fee")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with Ledger(path) as ledger:
        [fill] = ledger.fills()
        assert fill.fee == 0
        ledger.apply_fill(Fill(FillTerms("t2", "o2", "c", "tok", "SELL", Decimal(5), Decimal("0.5"), "taker", 2,
                                         Decimal("0.05")), "MATCHED"))
        assert [f.fee for f in ledger.fills()] == [0, Decimal("0.05")]


def test_a_post_only_quote_the_book_moved_onto_is_refused_without_degrading_health(venue, make_client, reward_market,
                                                                                   tmp_path):
    """The venue refuses a post-only bid at or above the best ask ('order crosses book'): at speed the book moves
    between our read and the venue's match. It is a race, not the venue refusing our orders — no place error
    (health stays as it is) — while any other refusal of a quote still is one."""
    from polymm.config import PolymmConfig
    from polymm.controller.executor import Executor
    from polymm.desired.state import DesiredOrder, slot_key
    from polymm.reconciler.gate import GatedPlan
    from polymm.reconciler.plan import Place
    from polymm.ledger import Ledger

    gw = _gateway(venue, make_client)
    token = reward_market.token_ids[0]
    size, tick = Decimal(reward_market.min_order_size), Decimal(reward_market.tick_str)

    def quote(price: Decimal, size: Decimal = size) -> GatedPlan:
        key = slot_key(reward_market.condition_id, token, "BUY", "quote")
        order = DesiredOrder(key, reward_market.condition_id, token, "BUY", "quote", price, size, size, tick,
                             reward_market.neg_risk, True, "test quote")
        return GatedPlan((), (Place(order, "new"),), (), (), {}, {})

    at_the_ask = Decimal(reward_market.book.best_ask()) / PIPS
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        executor = Executor(ledger, gw, PolymmConfig())
        crossed = executor.run(quote(at_the_ask))
        # below the minimum size at the best bid: the venue refuses it for another reason
        too_small = executor.run(quote(Decimal(reward_market.book.best_bid()) / PIPS, Decimal(1)))
    assert crossed.places_refused == 1 and any("crosses book" in n for n in crossed.notes), crossed.notes
    assert crossed.place_errors == []
    assert too_small.places_refused == 1 and too_small.place_errors, too_small.notes
