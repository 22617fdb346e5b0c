"""The order state machine: a table of allowed transitions as plain data, and the named state sets.

Invariants:
- the table `ORDER_TRANSITIONS` is the whole truth: a (state, trigger) pair that is not in it is
  refused with `IllegalTransition`, whose message names the order, the state, the trigger and
  the triggers that *are* allowed from that state;
- `next_state` is pure: one lookup in `NEXT_STATE`, the table as a mapping
  (state, trigger) -> state; it never writes, logs or sleeps;
- states split into ACTIVE (occupy their slot and count toward exposure, including `intent`,
  `submitting` and `unknown`, whose venue outcome is not yet known) and TERMINAL; every state is
  exactly one of the two;
- venue oddities are legal on purpose: a fill may arrive after a cancel (`cancelled -> filled`),
  and a late partial fill after a cancel leaves the order `cancelled`;
- `unknown` is resolved only by observation (`accept`, a fill, `request_cancel`, or `vanish` after
  the grace window), never by guessing; a failed cancel stays `cancel_requested` and is retried.
"""

from __future__ import annotations

from collections.abc import Iterable

ORDER_STATES: tuple[str, ...] = (
    "intent",
    "submitting",
    "open",
    "partially_filled",
    "filled",
    "cancel_requested",
    "cancelled",
    "rejected",
    "unknown",
    "gone",
)
ACTIVE_STATES: frozenset[str] = frozenset(
    {"intent", "submitting", "open", "partially_filled", "cancel_requested", "unknown"}
)
TERMINAL_STATES: frozenset[str] = frozenset({"filled", "cancelled", "rejected", "gone"})
# Named subsets of ACTIVE_STATES, used everywhere instead of spelled-out tuples:
RESTING_STATES: frozenset[str] = frozenset({"open", "partially_filled"})  # live at the venue, ours to keep
# sent, outcome not yet known: they occupy their slot until observation resolves them
PENDING_STATES: frozenset[str] = frozenset({"intent", "submitting", "unknown"})
# what `request_cancel` accepts: an order that may be resting at the venue
CANCELLABLE_STATES: frozenset[str] = frozenset({"open", "partially_filled", "unknown"})
# may be resting at the venue and trade with anything crossing it (a cancel not yet confirmed included)
MAYBE_RESTING_STATES: frozenset[str] = RESTING_STATES | {"cancel_requested"}

# The table, as data. Sources are tuples so nobody can widen an edge by mutating a list.
ORDER_TRANSITIONS: tuple[dict, ...] = (
    {"trigger": "submit", "source": ("intent",), "dest": "submitting"},
    # The venue confirmed the order rests (a reply, or an unknown order seen in open orders).
    {"trigger": "accept", "source": ("submitting", "unknown"), "dest": "open"},
    # A definite venue refusal, or the local gate denied it before sending.
    {"trigger": "reject", "source": ("intent", "submitting"), "dest": "rejected"},
    # Timeout, 5xx or an unparseable reply: the venue may or may not hold the order.
    {"trigger": "lose_reply", "source": ("submitting",), "dest": "unknown"},
    {
        "trigger": "partial_fill",
        "source": ("submitting", "unknown", "open", "partially_filled", "cancel_requested"),
        "dest": "partially_filled",
    },
    # A partial fill reported after the cancel landed: the rest is gone, the order stays cancelled.
    {"trigger": "partial_fill", "source": ("cancelled",), "dest": "cancelled"},
    {
        "trigger": "fill",
        "source": ("submitting", "unknown", "open", "partially_filled", "cancel_requested", "cancelled"),
        "dest": "filled",
    },
    {"trigger": "request_cancel", "source": ("open", "partially_filled", "unknown"), "dest": "cancel_requested"},
    # Our cancel acknowledged, or the venue cancelled the order itself (e.g. heartbeat loss).
    {"trigger": "confirm_cancel", "source": ("cancel_requested", "open", "partially_filled"), "dest": "cancelled"},
    # Never appeared within the grace window and no trades: the send did not land.
    {"trigger": "vanish", "source": ("unknown",), "dest": "gone"},
)

ORDER_TRIGGERS: tuple[str, ...] = tuple(dict.fromkeys(t["trigger"] for t in ORDER_TRANSITIONS))


class IllegalTransition(Exception):
    """A move the table does not allow; shared by the order and trade state machines."""

    def __init__(
        self,
        state: str,
        trigger: str,
        allowed: Iterable[str],
        *,
        entity: str = "order",
        key: str | None = None,
    ) -> None:
        self.entity = entity
        self.key = key
        self.state = state
        self.trigger = trigger
        self.allowed = tuple(allowed)
        allowed_text = ", ".join(self.allowed) if self.allowed else "none (final state)"
        subject = f"{entity} {key}" if key is not None else entity
        super().__init__(
            f"{subject}: {trigger!r} is not allowed from state {state!r}; "
            f"allowed from {state!r}: {allowed_text}"
        )

    @property
    def order_id(self) -> str | None:
        return self.key if self.entity == "order" else None


# The table as a mapping: (state, trigger) -> state. Built once; every lookup is one dict read.
NEXT_STATE: dict[tuple[str, str], str] = {
    (source, t["trigger"]): t["dest"] for t in ORDER_TRANSITIONS for source in t["source"]
}
_ALLOWED: dict[str, tuple[str, ...]] = {
    state: tuple(trig for trig in ORDER_TRIGGERS if (state, trig) in NEXT_STATE) for state in ORDER_STATES
}


def _check_state(state: str) -> None:
    if state not in ORDER_STATES:
        raise ValueError(f"unknown order state {state!r}; allowed: {', '.join(ORDER_STATES)}")


def allowed_triggers(state: str) -> tuple[str, ...]:
    """The triggers the table allows from `state`, in table order; ValueError for an unknown state."""
    _check_state(state)
    return _ALLOWED[state]


def next_state(state: str, trigger: str, *, order_id: str | None = None) -> str:
    """The state `trigger` moves an order in `state` to.

    Raises IllegalTransition when the table has no such edge, and ValueError for a state or a
    trigger the table does not know (those are programming errors, not venue events).
    """
    _check_state(state)
    if trigger not in ORDER_TRIGGERS:
        raise ValueError(f"unknown order trigger {trigger!r}; allowed: {', '.join(ORDER_TRIGGERS)}")
    dest = NEXT_STATE.get((state, trigger))
    if dest is None:
        raise IllegalTransition(state, trigger, allowed_triggers(state), key=order_id)
    return dest
