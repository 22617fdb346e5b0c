"""Parsing venue JSON into domain values. A reply that does not parse raises MalformedReply naming the field."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from polymm.domain.ticks import parse_tick
from polymm.domain.types import Book, RewardMarket, Token


class MalformedReply(ValueError):
    """The venue answered, but not in the shape polymm relies on."""


# Trade statuses arrive in more than one wire form: the user channel sends the plain value
# ("CONFIRMED"), REST may send the prefixed constant ("TRADE_STATUS_CONFIRMED"), and account trade
# listings may show MATCHED_NOT_BROADCASTED, a match not yet sent to the chain — still MATCHED for
# settlement purposes (source: the official `polymarket-client` package, models/clob/account.py,
# `TradeStatus` and `_normalize_trade_status`). A value outside these passes through unchanged for
# the caller's unknown-status handling.
_TRADE_STATUS_ALIASES = {"MATCHED_NOT_BROADCASTED": "MATCHED"}


def trade_status_from_wire(value: Any) -> str:
    """The plain trade status (MATCHED, MINED, CONFIRMED, RETRYING, FAILED) of any wire form."""
    status = str(value).strip().upper()
    status = status.removeprefix("TRADE_STATUS_")
    return _TRADE_STATUS_ALIASES.get(status, status)


def _dec(value: Any, what: str) -> Decimal:
    try:
        out = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise MalformedReply(f"{what}: {value!r} is not a number") from exc
    if not out.is_finite():
        raise MalformedReply(f"{what}: {value!r} is not finite")
    return out


def book_from_wire(raw: Any) -> Book:
    """GET /book or a POST /books element; levels are sorted here (the venue lists them worst first)."""
    if not isinstance(raw, dict):
        raise MalformedReply(f"book: expected an object, got {type(raw).__name__}")
    try:
        token_id = str(raw["asset_id"])
        bids = [(_dec(lv["price"], "bid price"), _dec(lv["size"], "bid size")) for lv in raw["bids"] or []]
        asks = [(_dec(lv["price"], "ask price"), _dec(lv["size"], "ask size")) for lv in raw["asks"] or []]
        tick = parse_tick(str(raw["tick_size"]))
        min_size = _dec(raw.get("min_order_size", "5"), "min_order_size")
        ts = int(raw.get("timestamp") or 0)
    except (KeyError, TypeError) as exc:
        raise MalformedReply(f"book: missing or wrong field {exc}") from exc
    except ValueError as exc:
        raise MalformedReply(f"book: {exc}") from exc
    return Book.from_levels(token_id, bids, asks, tick, min_size, ts)


def _parse_end(value: Any) -> datetime | None:
    if not value:
        return None
    text = str(value).replace("Z", "+00:00")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _fee_rate(gamma_row: dict) -> Decimal:
    """The taker fee rate from Gamma's `feeSchedule` (as in the capture gamma_market_with_rewards.json:
    {"exponent": 1, "rate": 0.04, "takerOnly": true, "rebateRate": 0.25}); 0 when fees are off or absent."""
    schedule = gamma_row.get("feeSchedule")
    if gamma_row.get("feesEnabled") is False or not isinstance(schedule, dict):
        return Decimal(0)
    rate = _dec(schedule.get("rate", 0) or 0, "feeSchedule.rate")
    if rate < 0 or rate >= 1:
        raise MalformedReply(f"feeSchedule.rate: {rate} is not a rate in [0, 1)")
    return rate


def payouts_from_gamma(gamma_row: dict) -> tuple[Decimal, Decimal] | None:
    """A closed market's resolution: Gamma's `outcomePrices` once each is 0 or 1 and they sum to 1 (as in the
    captures gamma_market_closed_binary_accepting_*.json: '["0", "1"]'); None while open, or when a closed
    market's prices say nothing (the legacy '["0", "0"]' of gamma_market_closed_zero_zero_legacy.json)."""
    if not gamma_row.get("closed"):
        return None
    prices = gamma_row.get("outcomePrices")
    try:
        if isinstance(prices, str):
            prices = json.loads(prices)
        values = tuple(Decimal(str(p)) for p in prices)
    except (TypeError, ValueError, ArithmeticError):
        return None
    if len(values) != 2 or any(v not in (0, 1) for v in values) or sum(values) != 1:
        return None
    return Decimal(int(values[0])), Decimal(int(values[1]))


def reward_market_from_wire(reward_row: dict, gamma_row: dict) -> RewardMarket:
    """Join a /rewards/markets/current row with its Gamma market row."""
    try:
        cid = str(reward_row["condition_id"])
        configs = reward_row.get("rewards_config") or []
        rate = sum((_dec(c.get("rate_per_day", 0), "rate_per_day") for c in configs), Decimal(0))
        if not configs:
            rate = _dec(reward_row.get("total_daily_rate", 0), "total_daily_rate")
        token_ids = gamma_row["clobTokenIds"]
        if isinstance(token_ids, str):
            token_ids = json.loads(token_ids)
        outcomes = gamma_row.get("outcomes") or '["Yes", "No"]'
        if isinstance(outcomes, str):
            outcomes = json.loads(outcomes)
        if len(token_ids) != 2:
            raise MalformedReply(f"market {cid}: expected 2 tokens, got {len(token_ids)}")
        volume = gamma_row.get("volume24hr")
        return RewardMarket(
            condition_id=cid,
            question=str(gamma_row.get("question") or ""),
            tokens=(Token(str(token_ids[0]), str(outcomes[0])), Token(str(token_ids[1]), str(outcomes[1]))),
            rewards_max_spread=_dec(reward_row["rewards_max_spread"], "rewards_max_spread"),
            rewards_min_size=_dec(reward_row["rewards_min_size"], "rewards_min_size"),
            rate_per_day=rate,
            tick_size=parse_tick(str(gamma_row.get("orderPriceMinTickSize") or "0.01")),
            min_order_size=_dec(gamma_row.get("orderMinSize", 5), "orderMinSize"),
            neg_risk=bool(gamma_row.get("negRisk", False)),
            end_date=_parse_end(gamma_row.get("endDate") or gamma_row.get("endDateIso")),
            volume_24hr=_dec(volume, "volume24hr") if volume is not None else None,
            fee_rate=_fee_rate(gamma_row),
            accepting_orders=gamma_row.get("acceptingOrders") is not False,
            closed=bool(gamma_row.get("closed", False)),
            payouts=payouts_from_gamma(gamma_row),
        )
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise MalformedReply(f"reward market {reward_row.get('condition_id')!r}: missing or wrong field {exc}") from exc
    except ValueError as exc:
        if isinstance(exc, MalformedReply):
            raise
        raise MalformedReply(f"reward market {reward_row.get('condition_id')!r}: {exc}") from exc


def market_from_gamma(gamma_row: dict) -> RewardMarket:
    """A market from its Gamma row alone (one we hold that is not in the reward list): no reward rate;
    the reward spread and size are Gamma's `rewardsMaxSpread` / `rewardsMinSize` when it has them
    (fields of a Gamma market row: ../shared/fixtures/polymarket/gamma_market_with_rewards.json)."""
    row = {"condition_id": gamma_row.get("conditionId"), "rewards_config": [], "total_daily_rate": 0,
           "rewards_max_spread": gamma_row.get("rewardsMaxSpread") or 0,
           "rewards_min_size": gamma_row.get("rewardsMinSize") or 0}
    return reward_market_from_wire(row, gamma_row)


def positions_from_wire(rows: Any) -> dict[str, Decimal]:
    """Data API GET /positions rows -> shares held per token (`asset`, `size`); rows under the request's
    sizeThreshold (default 1 share) are not listed (docs.polymarket.com/developers/open-api/get-positions.json)."""
    if not isinstance(rows, list):
        raise MalformedReply(f"positions: expected a JSON array, got {type(rows).__name__}")
    out: dict[str, Decimal] = {}
    for row in rows:
        if not isinstance(row, dict) or "asset" not in row or "size" not in row:
            raise MalformedReply(f"positions: a row without asset and size: {str(row)[:120]}")
        token = str(row["asset"])
        out[token] = out.get(token, Decimal(0)) + _dec(row["size"], f"position size of {token[:12]}")
    return out
