"""The ledger's rows as immutable values: each record converts itself to and from its stored row.

Invariants:
- exact values: Decimals are stored as TEXT and read back equal; a binary float is refused on the way in;
  payloads as JSON;
- nothing unknown is trusted: a stored value that cannot be parsed, or a state or status the state machines do
  not know, raises LedgerError naming the table, the key, the value and what is allowed;
- a row parsed once is not parsed again while its content is unchanged (`parsed_by_content`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from polymm.domain.positions import PositionRecord
from polymm.domain.terms import FillTerms, HasFillTerms, HasOrderTerms, OrderTerms
from polymm.domain.types import Fill
from polymm.statemachines.orders import ACTIVE_STATES, ORDER_STATES
from polymm.statemachines.trades import TRADE_STATUSES, check_trade_status

ZERO = Decimal(0)
SIDES = ("BUY", "SELL")
LIQUIDITY = ("maker", "taker")
UNSETTLED = ("MATCHED", "MINED", "RETRYING")  # trade statuses that may still change
ROW_CACHE_MAX = 50_000  # parsed rows kept per table; the cache is emptied when it fills


class LedgerError(Exception):
    """The ledger cannot do what was asked, or found stored data it does not recognise."""


# ---------------------------------------------------------------------------------------------
# Conversions between Python values and stored TEXT/INTEGER columns.


def exact(value: Any, what: str) -> Decimal:
    """A Decimal from a Decimal, int or numeric string; binary floats are refused."""
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"{what} must be a Decimal (got {type(value).__name__} {value!r}); floats are inexact")
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{what} {value!r} is not a number") from None
    if not result.is_finite():
        raise ValueError(f"{what} {value!r} is not a finite number")
    return result


def stored_decimal(table: str, key: str, column: str, text: Any) -> Decimal:
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError):
        raise LedgerError(
            f"{table} {key}: column {column} holds {text!r}, which is not an exact decimal"
        ) from None
    if not value.is_finite():
        raise LedgerError(f"{table} {key}: column {column} holds {text!r}, which is not a finite decimal")
    return value


def stored_json(table: str, key: str, column: str, text: Any) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        raise LedgerError(f"{table} {key}: column {column} holds {text!r}, which is not JSON") from None


def json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # summaries are for people; the exact text is kept
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON serialisable")


def parsed_by_content(parse: Callable[[sqlite3.Row], Any]) -> Callable[[sqlite3.Row], Any]:
    """Memoise a row parser on the row's whole content (every column of `SELECT *`), so a tick does not parse
    the same unchanged rows again (decimals, the order's signed payload as JSON, the dataclass): a row that
    changed in any column is a new key and is parsed afresh, so nothing stale can come back. The records are
    frozen and shared; their `payload` dict must not be mutated (nothing does). Measured with
    bench/bench_hedge_latency.py: parsing was about half of the ledger read that precedes every hedge."""
    cache: dict[tuple, Any] = {}

    def parsed(row: sqlite3.Row) -> Any:
        key = tuple(row)
        found = cache.get(key)
        if found is None:
            found = parse(row)
            if len(cache) >= ROW_CACHE_MAX:
                cache.clear()
            cache[key] = found
        return found

    parsed.__wrapped__ = parse  # type: ignore[attr-defined]
    parsed.cache = cache  # type: ignore[attr-defined]
    return parsed


# ---------------------------------------------------------------------------------------------
# Orders.


@dataclass(frozen=True)
class NewOrder(HasOrderTerms):
    """An order we signed, as its intent is recorded before it is sent: its terms, and the signed payload."""

    terms: OrderTerms
    order_type: str
    post_only: bool
    payload: dict

    def to_row(self, now: float) -> dict:
        """The `orders` row of this order as an intent (state 'intent', nothing matched, not yet sent)."""
        t = self.terms
        if t.side not in SIDES:
            raise ValueError(f"order {t.order_id}: side {t.side!r} is not one of {', '.join(SIDES)}")
        price = exact(t.price, f"order {t.order_id} price")
        size = exact(t.size, f"order {t.order_id} size")
        try:
            payload = json.dumps(self.payload, sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise LedgerError(f"order {t.order_id}: payload is not JSON serialisable: {exc}") from None
        return {
            "order_id": t.order_id, "slot_key": t.slot_key, "condition_id": t.condition_id,
            "token_id": t.token_id, "side": t.side, "role": t.role, "price": str(price), "size": str(size),
            "size_matched": "0", "order_type": self.order_type, "post_only": int(bool(self.post_only)),
            "payload": payload, "state": "intent", "venue_status": None, "created_at": now, "updated_at": now,
            "submitted_at": None, "last_error": None,
        }


@dataclass(frozen=True)
class OrderRecord(HasOrderTerms):
    """An `orders` row: the order's terms, and where it stands (state, matched size, when made, sent, updated)."""

    terms: OrderTerms
    size_matched: Decimal
    order_type: str
    post_only: bool
    payload: dict
    state: str
    venue_status: str | None
    created_at: float
    updated_at: float
    submitted_at: float | None
    last_error: str | None

    @property
    def remaining(self) -> Decimal:
        return max(self.size - self.size_matched, ZERO)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @staticmethod
    def from_row(row: sqlite3.Row) -> OrderRecord:
        return _order_from_row(row)


@parsed_by_content
def _order_from_row(row: sqlite3.Row) -> OrderRecord:
    key = row["order_id"]
    state = row["state"]
    if state not in ORDER_STATES:
        raise LedgerError(
            f"orders {key}: state {state!r} is not a known order state; allowed: {', '.join(ORDER_STATES)}"
        )
    return OrderRecord(
        terms=OrderTerms(
            order_id=key,
            slot_key=row["slot_key"],
            condition_id=row["condition_id"],
            token_id=row["token_id"],
            side=row["side"],
            role=row["role"],
            price=stored_decimal("orders", key, "price", row["price"]),
            size=stored_decimal("orders", key, "size", row["size"]),
        ),
        size_matched=stored_decimal("orders", key, "size_matched", row["size_matched"]),
        order_type=row["order_type"],
        post_only=bool(row["post_only"]),
        payload=stored_json("orders", key, "payload", row["payload"]),
        state=state,
        venue_status=row["venue_status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        submitted_at=row["submitted_at"],
        last_error=row["last_error"],
    )


# ---------------------------------------------------------------------------------------------
# Fills.


def fill_row(fill: Fill, applied: bool, reversed: bool, now: float) -> dict:
    """The `fills` row of an observed fill, checked: a known status, side and liquidity, a positive exact size,
    exact price and fee."""
    t = fill.terms
    key = f"({t.trade_id}, {t.order_id})"
    check_trade_status(fill.status)
    if t.side not in SIDES:
        raise ValueError(f"fill {key}: side {t.side!r} is not one of {', '.join(SIDES)}")
    if t.liquidity not in LIQUIDITY:
        raise ValueError(f"fill {key}: liquidity {t.liquidity!r} is not one of {', '.join(LIQUIDITY)}")
    size = exact(t.size, f"fill {key} size")
    price = exact(t.price, f"fill {key} price")
    if size <= 0:
        raise ValueError(f"fill {key}: size {size} must be positive")
    return {
        "trade_id": t.trade_id, "order_id": t.order_id, "condition_id": t.condition_id,
        "token_id": t.token_id, "side": t.side, "size": str(size), "price": str(price), "status": fill.status,
        "liquidity": t.liquidity, "match_time": int(t.match_time), "applied": int(applied),
        "reversed": int(reversed), "first_seen_at": now, "updated_at": now,
        "fee": str(exact(t.fee or ZERO, f"fill {key} fee")),
    }


@dataclass(frozen=True)
class FillRecord(HasFillTerms):
    """A `fills` row: the fill's terms, its trade status, whether it moved its position (`applied`) and was
    taken out again (`reversed`, it turned FAILED), and when first seen and last updated. `terms.fee` is the
    column of schema 2."""

    terms: FillTerms
    status: str
    applied: bool
    reversed: bool
    first_seen_at: float
    updated_at: float

    @staticmethod
    def from_row(row: sqlite3.Row) -> FillRecord:
        return _fill_from_row(row)


@parsed_by_content
def _fill_from_row(row: sqlite3.Row) -> FillRecord:
    key = f"({row['trade_id']}, {row['order_id']})"
    status = row["status"]
    if status not in TRADE_STATUSES:
        raise LedgerError(
            f"fills {key}: status {status!r} is not a known trade status; allowed: {', '.join(TRADE_STATUSES)}"
        )
    return FillRecord(
        terms=FillTerms(
            trade_id=row["trade_id"],
            order_id=row["order_id"],
            condition_id=row["condition_id"],
            token_id=row["token_id"],
            side=row["side"],
            size=stored_decimal("fills", key, "size", row["size"]),
            price=stored_decimal("fills", key, "price", row["price"]),
            liquidity=row["liquidity"],
            match_time=row["match_time"],
            fee=stored_decimal("fills", key, "fee", row["fee"]),
        ),
        status=status,
        applied=bool(row["applied"]),
        reversed=bool(row["reversed"]),
        first_seen_at=row["first_seen_at"],
        updated_at=row["updated_at"],
    )


# ---------------------------------------------------------------------------------------------
# Positions (the value is the pure core's `PositionRecord`; only its row lives here).


@parsed_by_content
def position_from_row(row: sqlite3.Row) -> PositionRecord:
    key = row["token_id"]
    return PositionRecord(
        token_id=key,
        condition_id=row["condition_id"],
        size=stored_decimal("positions", key, "size", row["size"]),
        cost=stored_decimal("positions", key, "cost", row["cost"]),
        realized_pnl=stored_decimal("positions", key, "realized_pnl", row["realized_pnl"]),
    )


def position_to_row(position: PositionRecord) -> dict:
    return {
        "token_id": position.token_id,
        "condition_id": position.condition_id,
        "size": str(position.size),
        "cost": str(position.cost),
        "realized_pnl": str(position.realized_pnl),
    }
