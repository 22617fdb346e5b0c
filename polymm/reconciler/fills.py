"""The fill rules, pure: which fill moves a position, which status move reverses one, and a position refolded.

The one implementation of them: the tick's projection (`reconciler.tick.sync`) and every path of the ledger that
records a fill or a status outside a tick (a merge, a test helper, a backtest) call these.

Invariants:
- a fill is counted once, keyed by (trade id, order id); a fill first seen FAILED is recorded but never touches
  a position;
- statuses only move forward (`statemachines/trades.py`); a move to FAILED of an applied fill reverses it once;
- a position is the fold of its effective fills (applied and not reversed) in the order first seen, by the one
  average-cost rule (`domain.positions.apply_to_position`); a reversal refolds the token's remaining effective
  fills, so the position is what it would be had the failed trade never been seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable

from polymm.domain.positions import PositionRecord, apply_to_position
from polymm.domain.terms import HasFillTerms
from polymm.statemachines.trades import next_trade_status

ZERO = Decimal(0)


def applies_on_first_sight(status: str) -> bool:
    """Whether a fill first seen with `status` moves its position: any status but FAILED."""
    return status != "FAILED"


@dataclass(frozen=True, slots=True)
class StatusMove:
    status: str  # the status to record
    reverses: bool  # the move takes an applied fill out of its position (it turned FAILED)


def status_move(status: str, applied: bool, reversed: bool, observed: str,
                trade_id: str | None = None) -> StatusMove | None:
    """A stored fill (`status`, `applied`, `reversed`) observed in `observed`: the move to record, or None when the
    status is unchanged. A regression raises IllegalTransition (a stale read: callers in a tick keep theirs)."""
    new = next_trade_status(status, observed, trade_id=trade_id)
    if new is None:
        return None
    return StatusMove(new, new == "FAILED" and applied and not reversed)


def fold_in(position: PositionRecord | None, fill: HasFillTerms) -> PositionRecord:
    """The token's position after one more effective fill (a flat one when it had none)."""
    base = position or PositionRecord(fill.token_id, fill.condition_id, ZERO, ZERO, ZERO)
    return apply_to_position(base, fill.side, fill.size, fill.price)


def refold(token_id: str, condition_id: str, effective: Iterable[HasFillTerms]) -> PositionRecord:
    """The token's position rebuilt from its effective fills, given in first-seen order."""
    position = PositionRecord(token_id, condition_id, ZERO, ZERO, ZERO)
    for fill in effective:
        position = apply_to_position(position, fill.side, fill.size, fill.price)
    return position
