"""A token position and the average-cost rule: the one fold every position (ledger or projection) uses."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True)
class PositionRecord:
    token_id: str
    condition_id: str
    size: Decimal
    cost: Decimal  # total cost basis of the shares held
    realized_pnl: Decimal

    @property
    def avg_cost(self) -> Decimal:
        return self.cost / self.size if self.size else ZERO


def apply_to_position(position: PositionRecord, side: str, size: Decimal, price: Decimal) -> PositionRecord:
    """The position after one fill (pure; the one implementation of the average-cost rule)."""
    if side == "BUY":
        return PositionRecord(
            position.token_id,
            position.condition_id,
            position.size + size,
            position.cost + size * price,
            position.realized_pnl,
        )
    avg = position.avg_cost
    return PositionRecord(
        position.token_id,
        position.condition_id,
        position.size - size,
        position.cost - size * avg,
        position.realized_pnl + size * (price - avg),
    )
