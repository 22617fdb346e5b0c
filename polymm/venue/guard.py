"""The guarded venue call: a back-off per kind of call, the call, and its outcome typed (Ok, Refused, Unknown).

Every venue call of polymm goes through `Guard.call`. A 429 starts the back-off of that call's kind: until
`Retry-After` passes (the reply's header or `retry_after_seconds`, as polymarket-client reads them:
clients/_transport.py `_extract_retry_after`), else 1 s doubling per 429 in a row, never longer than MAX_BACKOFF_S,
calls of that kind are refused locally without a request. The venue refuses a rate-limited request whole, a batch
included, before processing any of it (docs.polymarket.com/api-reference/trading-rate-limits), so a back-off never
leaves an order half-sent. A 425 (the matching engine restarting, ~90 s: docs.polymarket.com/trading/matching-engine;
polymarket-client names it the "restarting" restriction) backs off 2 s doubling to 30 s instead of resending every
tick. A kind of None sends always (calls polymm never held back).
"""

from __future__ import annotations

import time
from typing import Any, Callable, TypeVar

from polymarket.errors import (
    PolymarketError,
    RateLimitError,
    RequestRejectedError,
    TransportError,
)

from polymm.venue.outcomes import Ok, Outcome, Refused, Unknown, no_reply_cause

T = TypeVar("T")
MAX_BACKOFF_S = 60.0  # the longest a 429 stops calls of one kind, whatever the venue asks
RESTART_BACKOFF_S = (2.0, 30.0)  # a 425's first and longest back-off
# A duplicate-order refusal means the first post landed: the order is live (or was matched).
# The venue's wording is "order {id} is invalid. Duplicated." with code INVALID_ORDER_DUPLICATED
# (docs.polymarket.com/resources/error-codes, "Order Processing Errors"); matched case-insensitively.
DUPLICATE_MARKERS = ("is invalid. duplicated", "invalid_order_duplicated", "duplicate", "already placed",
                     "already exists")


def is_duplicate(message: str) -> bool:
    text = message.lower()
    return any(marker in text for marker in DUPLICATE_MARKERS)


def classify(exc: Exception) -> Refused | Unknown:
    """A failed call: 4xx (but 429 and duplicates) is a definite refusal; everything else is Unknown. Exceptions
    that are not the venue's (programming errors) are raised again."""
    if isinstance(exc, RateLimitError):
        return Refused(f"rate limited: {exc}", 429, exc.retry_after)
    if isinstance(exc, RequestRejectedError):
        message = f"{exc.code} {exc}" if exc.code and exc.code not in str(exc) else str(exc)
        if exc.status >= 500:
            return Unknown(f"{exc.status}: {message}")
        if is_duplicate(message):
            return Unknown(f"duplicate: the order is already at the venue ({message})")
        return Refused(message, exc.status)
    if isinstance(exc, TransportError):
        cause = no_reply_cause(exc)
        return Unknown(f"no reply from {cause}" if cause else f"no reply: {exc}")
    if isinstance(exc, (PolymarketError, ValueError, KeyError, TypeError, ArithmeticError)):
        return Unknown(f"{type(exc).__name__}: {exc}")
    raise exc


class Guard:
    """The back-off state of one client (per kind of call) and the one way its calls are made."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._until: dict[str, float] = {}
        self._status: dict[str, int] = {}
        self._rate_step: dict[str, float] = {}  # kind -> the last back-off after a 429
        self._restart_step: dict[str, float] = {}  # kind -> the last back-off after a 425

    def blocked_for(self, kind: str) -> float:
        """Seconds until calls of `kind` are sent again (0: not backing off)."""
        return max(self._until.get(kind, 0.0) - self.clock(), 0.0)

    def call(self, kind: str | None, send: Callable[[], T], read: Callable[[T], Any] | None = None) -> Outcome:
        """Ok(read(send())) — or the refusal while `kind` backs off, or the failure classified. `read` turns the
        reply into the value and may raise ValueError/KeyError/TypeError for a reply it cannot use (Unknown)."""
        if kind is not None:
            wait = self.blocked_for(kind)
            if wait > 0:
                status = self._status.get(kind, 429)
                return Refused(f"backing off after {status} for {wait:.1f} s", status, wait)
        try:
            reply = send()
        except Exception as exc:
            outcome = classify(exc)
            if kind is not None:
                self._note(kind, outcome)
            return outcome
        if kind is not None:
            self._rate_step.pop(kind, None)
            self._restart_step.pop(kind, None)
        if read is None:
            return Ok(reply)
        try:
            return Ok(read(reply))
        except (ValueError, KeyError, TypeError, ArithmeticError, AttributeError) as exc:
            return Unknown(f"unusable reply: {type(exc).__name__}: {exc}"[:300])

    def _note(self, kind: str, outcome: Refused | Unknown) -> None:
        if isinstance(outcome, Refused) and outcome.status == 429:
            step = outcome.retry_after_s or min(max(self._rate_step.get(kind, 0.5) * 2, 1.0), MAX_BACKOFF_S)
            self._rate_step[kind] = step
            self._until[kind] = self.clock() + min(step, MAX_BACKOFF_S)
            self._status[kind] = 429
        elif isinstance(outcome, Refused) and outcome.status == 425:
            first, longest = RESTART_BACKOFF_S
            step = min(max(self._restart_step.get(kind, first / 2) * 2, first), longest)
            self._restart_step[kind] = step
            self._until[kind] = self.clock() + step
            self._status[kind] = 425
        else:
            self._restart_step.pop(kind, None)
