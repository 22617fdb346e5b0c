"""The trade settlement state machine: which venue trade-status moves are progress, which are regressions.

Invariants:
- statuses only move forward: MATCHED -> MINED | CONFIRMED | RETRYING | FAILED;
  MINED -> CONFIRMED | RETRYING | FAILED; RETRYING -> MINED | CONFIRMED | FAILED;
- CONFIRMED and FAILED are final: any other status observed after them is a regression;
- observing the status a trade already has is not a move (`None`), so re-reads are harmless;
- a regression raises `IllegalTransition` (the same exception as the order machine), an
  unknown status string raises ValueError naming it and the allowed ones;
- `next_trade_status` is pure: one lookup in the table as a mapping (`NEXT_STATUS`).
"""

from __future__ import annotations

from polymm.statemachines.orders import IllegalTransition

TRADE_STATUSES: tuple[str, ...] = ("MATCHED", "MINED", "CONFIRMED", "RETRYING", "FAILED")
FINAL_STATUSES: frozenset[str] = frozenset({"CONFIRMED", "FAILED"})

# The table, as data: one trigger per observed status, named after it.
TRADE_TRANSITIONS: tuple[dict, ...] = (
    {"trigger": "observe_MINED", "source": ("MATCHED", "RETRYING"), "dest": "MINED"},
    {"trigger": "observe_CONFIRMED", "source": ("MATCHED", "MINED", "RETRYING"), "dest": "CONFIRMED"},
    {"trigger": "observe_RETRYING", "source": ("MATCHED", "MINED"), "dest": "RETRYING"},
    {"trigger": "observe_FAILED", "source": ("MATCHED", "MINED", "RETRYING"), "dest": "FAILED"},
)


# The table as a mapping: (current status, observed status) -> recorded status.
NEXT_STATUS: dict[tuple[str, str], str] = {
    (source, t["dest"]): t["dest"] for t in TRADE_TRANSITIONS for source in t["source"]
}


def check_trade_status(status: str) -> str:
    """Return `status` if it is a known trade status; ValueError naming it and the allowed ones."""
    if status not in TRADE_STATUSES:
        raise ValueError(f"unknown trade status {status!r}; allowed: {', '.join(TRADE_STATUSES)}")
    return status


def allowed_trade_statuses(current: str) -> tuple[str, ...]:
    """The statuses a trade in `current` may move to, in TRADE_STATUSES order."""
    check_trade_status(current)
    return tuple(s for s in TRADE_STATUSES if (current, s) in NEXT_STATUS)


def next_trade_status(current: str, observed: str, *, trade_id: str | None = None) -> str | None:
    """The status to record after observing `observed` on a trade in `current`; None if unchanged."""
    check_trade_status(current)
    check_trade_status(observed)
    if observed == current:
        return None
    dest = NEXT_STATUS.get((current, observed))
    if dest is None:  # MATCHED is never a destination: nothing moves back to it
        raise IllegalTransition(current, observed, allowed_trade_statuses(current), entity="trade", key=trade_id)
    return dest
