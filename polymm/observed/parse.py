"""Reading our side of venue orders and trades: open orders, and our fills as taker or as maker.

A trade's top-level fields belong to the taker. When we were a maker, our fill is each
`maker_orders[]` entry whose `owner` is our API key (or whose `maker_address` is ours); its side is
derived, not read: on the taker's token a maker trades the opposite side, on the complement token
(our BUY NO matched against a BUY YES) the same side.

A row that does not parse raises MalformedReply naming the field: a missing key, a number that is
not a finite decimal, a side that is neither BUY nor SELL, an entry that is not an object.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from polymm.domain.fees import rate_from_bps, taker_fee
from polymm.domain.terms import FillTerms
from polymm.domain.types import Fill, LiveOrder
from polymm.statemachines.trades import TRADE_STATUSES
from polymm.venue.parse import MalformedReply, trade_status_from_wire

OPPOSITE = {"BUY": "SELL", "SELL": "BUY"}


def _dec(value, what: str) -> Decimal:
    try:
        out = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise MalformedReply(f"{what}: {value!r} is not a number") from exc
    if not out.is_finite():  # NaN would make every later comparison raise; Infinity is no size
        raise MalformedReply(f"{what}: {value!r} is not a finite number")
    return out


def _int(value, what: str) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError) as exc:
        raise MalformedReply(f"{what}: {value!r} is not an integer") from exc


def _side(value, what: str) -> str:
    side = str(value).upper()
    if side not in OPPOSITE:
        raise MalformedReply(f"{what}: {value!r} is not BUY or SELL")
    return side


def live_order_from_wire(row: dict) -> LiveOrder:
    if not isinstance(row, dict):
        raise MalformedReply(f"open order: expected an object, got {type(row).__name__}")
    try:
        return LiveOrder(
            order_id=str(row["id"]),
            condition_id=str(row["market"]),
            token_id=str(row["asset_id"]),
            side=_side(row["side"], "side"),
            price=_dec(row["price"], "price"),
            original_size=_dec(row["original_size"], "original_size"),
            size_matched=_dec(row.get("size_matched", "0"), "size_matched"),
            owner=str(row.get("owner", "")),
            created_at=_int(row.get("created_at"), "created_at"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, MalformedReply):
            raise
        raise MalformedReply(f"open order: missing or wrong field {exc}") from exc


def _taker_fee(trade: dict, taker_asset: str) -> Decimal:
    """The taker's fee: the fee formula on each maker fill at the taker's price for it (the maker's price on
    the same token, its complement on the other), at the trade's `fee_rate_bps`."""
    rate = rate_from_bps(trade.get("fee_rate_bps"))
    if rate <= 0:
        return Decimal(0)
    total = Decimal(0)
    for i, maker in enumerate(trade.get("maker_orders") or []):
        if not isinstance(maker, dict):
            raise MalformedReply(f"maker_orders[{i}]: expected an object, got {type(maker).__name__}")
        price = _dec(maker["price"], "maker price")
        if str(maker.get("asset_id")) != taker_asset:
            price = 1 - price
        total += taker_fee(_dec(maker["matched_amount"], "matched_amount"), price, rate)
    return total


def our_fills(trade: dict, api_key: str, address: str) -> list[Fill]:
    """Our fills in one trade (none if we took no part)."""
    if not isinstance(trade, dict):
        raise MalformedReply(f"trade: expected an object, got {type(trade).__name__}")
    try:
        trade_id = str(trade["id"])
        status = trade_status_from_wire(trade["status"])
        if status not in TRADE_STATUSES:  # unknown ≠ MATCHED: a status we cannot place is no fill we can count
            raise MalformedReply(f"status {trade['status']!r} is not a trade status polymm knows "
                                 f"({', '.join(TRADE_STATUSES)})")
        condition_id = str(trade["market"])
        match_time = _int(trade.get("match_time"), "match_time")
        fills: list[Fill] = []
        address = address.lower()
        taker_side = _side(trade["side"], "side")
        taker_asset = str(trade["asset_id"])
        if trade.get("owner") == api_key or (not trade.get("owner") and str(trade.get("maker_address", "")).lower() == address):
            fills.append(Fill(FillTerms(
                trade_id, str(trade["taker_order_id"]), condition_id, taker_asset,
                taker_side, _dec(trade["size"], "size"), _dec(trade["price"], "price"),
                "taker", match_time, _taker_fee(trade, taker_asset),
            ), status))
        for i, maker in enumerate(trade.get("maker_orders") or []):
            if not isinstance(maker, dict):
                raise MalformedReply(f"maker_orders[{i}]: expected an object, got {type(maker).__name__}")
            if maker.get("owner") != api_key and str(maker.get("maker_address", "")).lower() != address:
                continue
            asset = str(maker["asset_id"])
            side = OPPOSITE[taker_side] if asset == taker_asset else taker_side
            fills.append(Fill(FillTerms(
                trade_id, str(maker["order_id"]), condition_id, asset, side,
                _dec(maker["matched_amount"], "matched_amount"), _dec(maker["price"], "maker price"),
                "maker", match_time,
            ), status))
        return fills
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, MalformedReply):
            raise MalformedReply(f"trade {trade.get('id')!r}: {exc}") from exc
        raise MalformedReply(f"trade {trade.get('id')!r}: missing or wrong field {exc}") from exc
