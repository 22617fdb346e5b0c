"""LedgerSnapshot: what one tick reads from the ledger — bounded by what is live, never the closed history.

The ledger builds it (`polymm.ledger.Ledger.tick_snapshot`); the pure tick (`reconciler.tick`) reads it. It holds
our active orders; the orders the observation names (by an open order, or by a fill that is new or whose
status changed), in any state; the fills of all those orders, the stored rows of the observed fills and every
unsettled fill; the position rows; the trade cursor; and, for a
token where an observed fill turns FAILED, that token's effective fills in first-seen order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Protocol

from polymm.domain.positions import PositionRecord
from polymm.domain.terms import HasFillTerms
from polymm.reconciler.plan import OrderView


class StoredOrder(OrderView, Protocol):
    """An order as the ledger stores it: what the plan reads (OrderView), and when it was made and sent."""

    created_at: float
    submitted_at: float | None


class StoredFill(HasFillTerms, Protocol):
    """A fill as the ledger stores it: its terms, its trade status, whether it moved its position and was
    reversed."""

    status: str
    applied: bool
    reversed: bool


@dataclass(frozen=True)
class LedgerSnapshot:
    """What a tick reads from the ledger (see the module docstring)."""

    active_orders: tuple[StoredOrder, ...]
    named_orders: Mapping[str, StoredOrder]  # orders named by an open order or a new/changed fill, any state
    fills: Mapping[tuple[str, str], StoredFill]  # by (trade id, order id)
    positions: Mapping[str, PositionRecord]
    cursor: int | None
    token_fills: Mapping[str, tuple[StoredFill, ...]] = field(default_factory=dict)  # effective, first-seen order

    @classmethod
    def empty(cls) -> "LedgerSnapshot":
        return cls((), {}, {}, {}, None)


