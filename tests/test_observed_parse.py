"""Reading our side of venue trades and open orders, on the captured Polymarket replies.

A trade's top-level fields are the taker's; as a maker our fill is a `maker_orders[]` entry whose
side is derived: opposite the taker on the taker's token, the same as the taker on the complement
token. The captures below are real (see fixtures/polymarket/SOURCES.md); the API keys and addresses
used as "ours" are the ones that appear in them.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from decimal import Decimal as D

import pytest

from polymm.domain.terms import FillTerms
from polymm.domain.types import Fill, LiveOrder
from polymm.observed.parse import live_order_from_wire, our_fills
from polymm.sim import wire
from polymm.sim.model import MICRO, MakerFill, SimMarket, SimOrder, SimTrade
from polymm.ledger import Ledger
from polymm.venue.parse import MalformedReply

from conftest import FIXTURES

YES = "21742633143463906290569050155826241533067272736897614950488156847949938836455"
NO = "48331043336612883890938759509493159234755048973500640148014422747788308965732"
MARKET = "0xdd22472e552920b8438158ea7238bfadfa4f736aa4cee91a6b86c39ead110917"
NOBODY_KEY = "00000000-0000-0000-0000-000000000000"
NOBODY_ADDRESS = "0x0000000000000000000000000000000000000001"


def capture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


# ----------------------------------------------------------------------------- the REST trade row
def test_rest_trade_as_the_taker_is_one_taker_fill_with_the_top_level_fields():
    trade = capture("clob_data_trade.json")
    fills = our_fills(trade, api_key=trade["owner"], address=NOBODY_ADDRESS)
    assert fills == [Fill(FillTerms(
        trade_id="0c357886-b9d3-44bb-9aa9-72d8abc90e6e",
        order_id="0x4505aada9831d06078a005c8ec96396a78c8f06035bf763b40fc16d27a250043",
        condition_id=MARKET, token_id=YES, side="BUY", size=D("5"), price=D("0.489"),
        liquidity="taker", match_time=1726043102), status="CONFIRMED")]


def test_rest_trade_as_the_maker_is_one_sell_on_the_same_token_at_the_maker_price():
    trade = capture("clob_data_trade.json")
    maker = trade["maker_orders"][0]
    fills = our_fills(trade, api_key=maker["owner"], address=NOBODY_ADDRESS)
    assert fills == [Fill(FillTerms(
        trade_id="0c357886-b9d3-44bb-9aa9-72d8abc90e6e",
        order_id="0x6dd169f87692751b75b4ed673158721cdbf56ec49f29aa94a6aaa05b93b1b0ab",
        condition_id=MARKET, token_id=YES, side="SELL", size=D("5"), price=D("0.489"),
        liquidity="maker", match_time=1726043102), status="CONFIRMED")]


def test_a_maker_is_recognised_by_its_address_whatever_the_letter_case():
    trade = capture("clob_data_trade.json")
    address = trade["maker_orders"][0]["maker_address"]  # checksummed, mixed case
    for ours in (address, address.lower(), address.upper().replace("0X", "0x")):
        fills = our_fills(trade, api_key=NOBODY_KEY, address=ours)
        assert [(f.order_id, f.side, f.liquidity) for f in fills] == [
            (trade["maker_orders"][0]["order_id"], "SELL", "maker")]


def test_a_trade_we_took_no_part_in_gives_no_fills():
    for name in ("clob_data_trade.json", "ws_user_trade_matched.json", "ws_user_trade_mined.json"):
        assert our_fills(capture(name), api_key=NOBODY_KEY, address=NOBODY_ADDRESS) == []


def test_the_taker_address_alone_does_not_make_us_the_taker_when_the_row_names_an_owner():
    # The top-level maker_address is the taker's wallet; with an owner key present, the key decides.
    trade = capture("clob_data_trade.json")
    assert our_fills(trade, api_key=NOBODY_KEY, address=trade["maker_address"]) == []


def test_a_row_without_an_owner_key_is_ours_as_taker_by_its_address():
    trade = capture("clob_data_trade.json")
    del trade["owner"]
    fills = our_fills(trade, api_key=NOBODY_KEY, address=trade["maker_address"].lower())
    assert [(f.order_id, f.side, f.liquidity) for f in fills] == [(trade["taker_order_id"], "BUY", "taker")]


# ----------------------------------------------------------------------------- the user channel
def test_ws_matched_trade_as_the_taker_is_a_matched_buy():
    trade = capture("ws_user_trade_matched.json")
    assert trade["trader_side"] == "TAKER"
    fills = our_fills(trade, api_key=trade["owner"], address=NOBODY_ADDRESS)
    assert fills == [Fill(FillTerms(
        trade_id="f50e8ab2-652d-4dc8-9c82-8e46197fe98d",
        order_id="0x5b605a0e8e40f3402d3cb3bc19edad6733ed23fbc079d2a09ee399c3487ace81",
        condition_id=MARKET, token_id=YES, side="BUY", size=D("5"), price=D("0.52"),
        liquidity="taker", match_time=1725958681), status="MATCHED")]


def test_ws_mined_trade_in_the_maker_view_is_our_one_sell_of_the_six_maker_orders():
    trade = capture("ws_user_trade_mined.json")
    assert trade["trader_side"] == "MAKER" and len(trade["maker_orders"]) == 6
    ours = "3e2c94ca-8124-c4c1-c7ea-be1ea21b71fe"  # the maker at 0.518 Yes, 5 shares
    fills = our_fills(trade, api_key=ours, address=NOBODY_ADDRESS)
    assert fills == [Fill(FillTerms(
        trade_id="83b5c849-620e-4c23-b63b-2e779c04a6e7",
        order_id="0xab679e56242324e15e59cfd488cd0f12e4fd71b153b9bfb57518898b9983145e",
        condition_id=MARKET, token_id=YES, side="SELL", size=D("5"), price=D("0.518"),
        liquidity="maker", match_time=1725868859), status="MINED")]


def test_a_maker_on_the_complement_token_bought_it_the_same_side_as_the_taker():
    # Taker BUY Yes at 0.518 met a BUY No at 0.482 (a mint): that maker BOUGHT No, at its own price.
    trade = capture("ws_user_trade_mined.json")
    complement = trade["maker_orders"][0]
    assert complement["outcome"] == "No" and D(complement["price"]) + D(trade["price"]) == 1
    fills = our_fills(trade, api_key=complement["owner"], address=NOBODY_ADDRESS)
    assert fills == [Fill(FillTerms(
        trade_id=trade["id"], order_id=complement["order_id"], condition_id=MARKET, token_id=NO,
        side="BUY", size=D("10"), price=D("0.482"), liquidity="maker", match_time=1725868859), status="MINED")]


@pytest.mark.parametrize("index", range(6))
def test_every_maker_of_the_mined_trade_gets_the_derived_side(index):
    trade = capture("ws_user_trade_mined.json")
    maker = trade["maker_orders"][index]
    (fill,) = our_fills(trade, api_key=maker["owner"], address=NOBODY_ADDRESS)
    expected_side = "BUY" if maker["asset_id"] == NO else "SELL"
    assert (fill.order_id, fill.token_id, fill.side, fill.size, fill.price) == (
        maker["order_id"], maker["asset_id"], expected_side, D(maker["matched_amount"]), D(maker["price"]))


def test_a_taker_sell_makes_same_token_makers_buyers_and_complement_makers_sellers():
    trade = capture("ws_user_trade_mined.json")
    trade["side"] = "SELL"  # a merge on the complement, a plain match on the same token
    by_token = {}
    for maker in trade["maker_orders"]:
        (fill,) = our_fills(trade, api_key=maker["owner"], address=NOBODY_ADDRESS)
        by_token.setdefault(fill.token_id, set()).add(fill.side)
    assert by_token == {YES: {"BUY"}, NO: {"SELL"}}


def test_two_of_our_maker_orders_in_one_trade_are_two_fills():
    trade = capture("ws_user_trade_mined.json")
    ours = "3e2c94ca-8124-c4c1-c7ea-be1ea21b71fe"
    trade["maker_orders"][1]["owner"] = ours  # a second level of ours, 247.68 at 0.518
    trade["maker_orders"][0]["owner"] = ours  # and our BUY No on the complement
    fills = our_fills(trade, api_key=ours, address=NOBODY_ADDRESS)
    assert sorted((f.order_id, f.token_id, f.side, f.size) for f in fills) == sorted([
        (trade["maker_orders"][0]["order_id"], NO, "BUY", D("10")),
        (trade["maker_orders"][1]["order_id"], YES, "SELL", D("247.68")),
        (trade["maker_orders"][3]["order_id"], YES, "SELL", D("5")),
    ])
    assert {f.trade_id for f in fills} == {trade["id"]} and len({f.order_id for f in fills}) == 3


def test_taker_and_maker_in_the_same_trade_are_both_counted():
    # A self-cross: the taker order and one maker order are both ours.
    trade = capture("ws_user_trade_mined.json")
    trade["maker_orders"][3]["owner"] = trade["owner"]
    fills = our_fills(trade, api_key=trade["owner"], address=NOBODY_ADDRESS)
    assert [(f.liquidity, f.side) for f in fills] == [("taker", "BUY"), ("maker", "SELL")]


# ----------------------------------------------------------------------------- the simulator's rows
def sim_market() -> SimMarket:
    return SimMarket(
        condition_id="0xc0ffee", question_id="0xq", question="Will it rain?", slug="rain",
        token_ids=("1001", "1002"), outcomes=("Yes", "No"), tick_pips=100, min_order_size=5, neg_risk=False,
        end_date=datetime(2030, 1, 1, tzinfo=timezone.utc), volume_24hr=0.0, rewards_max_spread=3.0,
        rewards_min_size=20.0, rate_per_day=10.0, fair_value=0.5,
    )


def sim_order(market: SimMarket, oid: str, owner: str, token: str, side: str, pips: int, size: float,
              matched: float = 0) -> SimOrder:
    return SimOrder(id=oid, owner=owner, maker_address=f"0x{owner:0>40}", market=market, token_id=token, side=side,
                    price_pips=pips, original_size=int(size * MICRO), order_type="GTC", expiration=0,
                    created_at=1_750_000_000.0, size_matched=int(matched * MICRO))


def test_the_simulator_trade_row_reads_the_same_way_for_taker_and_both_kinds_of_maker():
    m = sim_market()
    taker = sim_order(m, "0xt", "aaaa", "1001", "BUY", 6000, 30)
    same = sim_order(m, "0xs", "bbbb", "1001", "SELL", 6000, 10)
    mint = sim_order(m, "0xm", "cccc", "1002", "BUY", 4000, 20)
    trade = SimTrade("trade-1", taker, [MakerFill(same, 10 * MICRO, 6000), MakerFill(mint, 20 * MICRO, 4000)],
                     30 * MICRO, 6000, 1_750_000_100, "0xtx")
    row = wire.trade_json(trade, viewer="bbbb")
    got = {key: our_fills(row, api_key=key, address=NOBODY_ADDRESS) for key in ("aaaa", "bbbb", "cccc")}
    assert [(f.token_id, f.side, f.size, f.price, f.liquidity) for f in got["aaaa"]] == [
        ("1001", "BUY", D(30), D("0.6"), "taker")]
    assert [(f.token_id, f.side, f.size, f.price, f.liquidity) for f in got["bbbb"]] == [
        ("1001", "SELL", D(10), D("0.6"), "maker")]
    assert [(f.token_id, f.side, f.size, f.price, f.liquidity) for f in got["cccc"]] == [
        ("1002", "BUY", D(20), D("0.4"), "maker")]


def test_an_open_order_row_as_the_venue_renders_it_becomes_a_live_order():
    m = sim_market()
    order = sim_order(m, "0xabc123", "dddd", "1002", "BUY", 4100, 25.5, matched=3.25)
    row = wire.open_order_json(order)
    assert live_order_from_wire(row) == LiveOrder(
        order_id="0xabc123", condition_id="0xc0ffee", token_id="1002", side="BUY", price=D("0.41"),
        original_size=D("25.5"), size_matched=D("3.25"), owner="dddd", created_at=1_750_000_000,
    )
    assert live_order_from_wire(row).remaining == D("22.25")


def test_an_open_order_row_without_size_matched_has_nothing_matched():
    row = wire.open_order_json(sim_order(sim_market(), "0x1", "dddd", "1001", "SELL", 5500, 10))
    del row["size_matched"]
    assert live_order_from_wire(row).size_matched == 0


@pytest.mark.parametrize("field", ["id", "market", "asset_id", "side", "price", "original_size"])
def test_an_open_order_row_missing_a_field_is_malformed_and_names_it(field):
    row = wire.open_order_json(sim_order(sim_market(), "0x1", "dddd", "1001", "SELL", 5500, 10))
    del row[field]
    with pytest.raises(MalformedReply, match=field):
        live_order_from_wire(row)


@pytest.mark.parametrize(("field", "value"), [
    ("price", "abc"), ("original_size", "ten"), ("size_matched", "NaN"), ("price", "Infinity"), ("created_at", "soon"),
])
def test_an_open_order_row_with_a_bad_number_is_malformed_and_names_the_field(field, value):
    row = wire.open_order_json(sim_order(sim_market(), "0x1", "dddd", "1001", "SELL", 5500, 10))
    row[field] = value
    with pytest.raises(MalformedReply, match=field):
        live_order_from_wire(row)


# ----------------------------------------------------------------------------- malformed trade rows
@pytest.mark.parametrize("field", ["id", "status", "market", "side", "size", "price", "taker_order_id", "asset_id"])
def test_a_trade_we_took_missing_a_field_is_malformed_and_names_it(field):
    trade = capture("clob_data_trade.json")
    del trade[field]
    with pytest.raises(MalformedReply, match=field):
        our_fills(trade, api_key=trade.get("owner", "3e2c94ca-8124-c4c1-c7ea-be1ea21b71fe"), address=NOBODY_ADDRESS)


@pytest.mark.parametrize("field", ["order_id", "matched_amount", "price", "asset_id"])
def test_our_maker_entry_missing_a_field_is_malformed_and_names_it(field):
    trade = capture("ws_user_trade_mined.json")
    del trade["maker_orders"][3][field]
    with pytest.raises(MalformedReply, match=field):
        our_fills(trade, api_key="3e2c94ca-8124-c4c1-c7ea-be1ea21b71fe", address=NOBODY_ADDRESS)


def test_a_broken_maker_entry_of_somebody_else_does_not_hide_our_fill():
    trade = capture("ws_user_trade_mined.json")
    del trade["maker_orders"][1]["matched_amount"]  # not ours: we never read it
    fills = our_fills(trade, api_key="3e2c94ca-8124-c4c1-c7ea-be1ea21b71fe", address=NOBODY_ADDRESS)
    assert [f.order_id for f in fills] == [trade["maker_orders"][3]["order_id"]]


@pytest.mark.parametrize(("where", "field", "value"), [
    ("taker", "size", "five"), ("taker", "price", ""), ("taker", "size", "NaN"), ("taker", "price", "-Infinity"),
    ("taker", "match_time", "yesterday"),
    ("maker", "matched_amount", "lots"), ("maker", "price", None), ("maker", "matched_amount", "sNaN"),
])
def test_a_bad_number_in_our_part_of_a_trade_is_malformed_and_names_the_field(where, field, value):
    trade = capture("ws_user_trade_mined.json")
    taker_key, maker_key = trade["owner"], "3e2c94ca-8124-c4c1-c7ea-be1ea21b71fe"
    (trade if where == "taker" else trade["maker_orders"][3])[field] = value
    with pytest.raises(MalformedReply, match=field):
        our_fills(trade, api_key=taker_key if where == "taker" else maker_key, address=NOBODY_ADDRESS)


@pytest.mark.parametrize("entry", ["0xab679e56", 42, None, ["order_id"]])
def test_a_maker_entry_that_is_not_an_object_is_malformed_not_a_crash(entry):
    trade = capture("ws_user_trade_mined.json")
    trade["maker_orders"].insert(2, entry)
    with pytest.raises(MalformedReply, match="maker_orders"):
        our_fills(trade, api_key="3e2c94ca-8124-c4c1-c7ea-be1ea21b71fe", address=NOBODY_ADDRESS)


@pytest.mark.parametrize("row", ["<html>502 Bad Gateway</html>", None, 7, ["id"]])
def test_a_trade_row_that_is_not_an_object_is_malformed_not_a_crash(row):
    with pytest.raises(MalformedReply):
        our_fills(row, api_key=NOBODY_KEY, address=NOBODY_ADDRESS)


def test_an_unknown_taker_side_is_malformed_and_names_the_side():
    trade = capture("ws_user_trade_mined.json")
    trade["side"] = "HOLD"
    with pytest.raises(MalformedReply, match="side"):
        our_fills(trade, api_key="3e2c94ca-8124-c4c1-c7ea-be1ea21b71fe", address=NOBODY_ADDRESS)


# ----------------------------------------------------------------------------- settlement status
@pytest.mark.parametrize("status", ["MATCHED", "mined", "Confirmed", "RETRYING", "FAILED"])
def test_the_trade_status_reaches_every_fill_upper_cased(status):
    trade = capture("ws_user_trade_mined.json")
    trade["status"] = status
    trade["maker_orders"][0]["owner"] = "3e2c94ca-8124-c4c1-c7ea-be1ea21b71fe"
    fills = our_fills(trade, api_key="3e2c94ca-8124-c4c1-c7ea-be1ea21b71fe", address=NOBODY_ADDRESS)
    assert len(fills) == 2 and {f.status for f in fills} == {status.upper()}


def test_status_changes_of_one_trade_keep_its_fill_identity_and_settle_once_in_the_ledger(tmp_path):
    trade = capture("clob_data_trade.json")
    key = trade["owner"]
    ledger = Ledger(tmp_path / "ledger.sqlite")
    try:
        seen = []
        for status in ("MATCHED", "MINED", "CONFIRMED"):
            row = copy.deepcopy(trade)
            row["status"] = status
            (fill,) = our_fills(row, api_key=key, address=NOBODY_ADDRESS)
            seen.append(fill)
            if not ledger.apply_fill(fill):
                ledger.update_fill_status(fill.trade_id, fill.order_id, fill.status)
        assert [f.status for f in seen] == ["MATCHED", "MINED", "CONFIRMED"]
        assert len({(f.trade_id, f.order_id) for f in seen}) == 1
        (stored,) = ledger.fills()
        assert stored.status == "CONFIRMED" and not stored.reversed
        assert ledger.positions()[YES].size == D("5")
    finally:
        ledger.close()


def test_a_matched_trade_that_turns_failed_is_reversed_in_the_ledger(tmp_path):
    trade = capture("ws_user_trade_matched.json")
    key = trade["owner"]
    ledger = Ledger(tmp_path / "ledger.sqlite")
    try:
        (matched,) = our_fills(trade, api_key=key, address=NOBODY_ADDRESS)
        assert ledger.apply_fill(matched)
        assert ledger.positions()[YES].size == D("5")
        failed_row = dict(trade, status="FAILED")
        (failed,) = our_fills(failed_row, api_key=key, address=NOBODY_ADDRESS)
        assert failed.status == "FAILED"
        assert not ledger.apply_fill(failed)  # the same fill, seen again
        ledger.update_fill_status(failed.trade_id, failed.order_id, failed.status)
        assert ledger.positions()[YES].size == 0
        assert ledger.fill(failed.trade_id, failed.order_id).reversed
    finally:
        ledger.close()
