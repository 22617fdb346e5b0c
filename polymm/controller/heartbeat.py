"""The venue's dead-man switch: keep heartbeats flowing while quoting, and say when they are not healthy.

If heartbeats stop, the venue cancels every order of the account. The controller reads `healthy`
before placing anything; after a lapse the session is restarted (empty id) and placing resumes only
once a heartbeat has been acknowledged again.

Another client heartbeating the same account (a second controller elsewhere on the same key)
shows as the venue refusing the id it handed us with our last acknowledged beat ("Invalid
Heartbeat ID": the id rotates on each beat, so someone else beat in between; the gateway then
echoes the expected id, or a new session replaces the other's). Two such refusals within
`conflict_window_s`, each right after an acknowledged beat (so a lost reply or our own lapse
does not count), make the heartbeat `conflicted`: not healthy, and the health says why, until
the window passes quietly.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from polymm.venue.outcomes import Ok, Refused
from polymm.venue.trading import TradingGateway

log = logging.getLogger("polymm.heartbeat")
RETRY_AFTER_FAILURE_S = 1.0
CONFLICT_WINDOW_S = 60.0
CONFLICTS_TO_REPORT = 2


class Heartbeat:
    def __init__(self, trading: TradingGateway, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.trading = trading
        self.interval_s = interval_s
        self.clock = clock
        self.heartbeat_id = ""
        self.last_ok: float | None = None
        self.last_error: str | None = None
        self.lapses = 0
        self.conflict_window_s = CONFLICT_WINDOW_S
        self.conflicts: list[float] = []
        self.last_conflict: str | None = None
        self._last_beat_ok = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def healthy(self) -> bool:
        # the last beat must have succeeded: after a failed one we cannot know how long the venue's
        # session has left (it cancels everything 10 s after the last beat it saw), so placing stops
        # until a beat is acknowledged again
        return (self.last_ok is not None and self.last_error is None and not self.conflicted
                and self.clock() - self.last_ok <= 2 * self.interval_s)

    def recent_conflicts(self) -> int:
        now = self.clock()
        return sum(1 for t in self.conflicts if now - t <= self.conflict_window_s)

    @property
    def conflicted(self) -> bool:
        """Another client is (recently was) heartbeating this account."""
        return self.recent_conflicts() >= CONFLICTS_TO_REPORT

    def beat(self) -> bool:
        outcome = self.trading.heartbeat(self.heartbeat_id)
        acknowledged_before, self._last_beat_ok = self._last_beat_ok, isinstance(outcome, Ok)
        mismatch = getattr(self.trading, "heartbeat_mismatch", None)
        if not mismatch and isinstance(outcome, Refused) and "heartbeat" in outcome.reason.lower():
            mismatch = outcome.reason
        if mismatch and acknowledged_before and self.heartbeat_id:
            now = self.clock()
            self.conflicts = [t for t in self.conflicts if now - t <= self.conflict_window_s] + [now]
            self.last_conflict = mismatch
            if self.conflicted:
                log.warning("another client is heartbeating this account: %s", outcome.reason)
        if isinstance(outcome, Ok):
            if self.last_ok is None or not self.healthy:
                log.info("heartbeat healthy (id %s…)", outcome.value[:8])
            self.heartbeat_id = outcome.value
            self.last_ok = self.clock()
            self.last_error = None
            return True
        if self.healthy or self.last_error is None:
            log.warning("heartbeat failed: %s", outcome.reason)
            self.lapses += 1
        self.last_error = outcome.reason
        if isinstance(outcome, Refused):
            # the venue refuses an expired session's id: start a new session on the next beat
            # (an unknown outcome keeps the id: the session may well still be alive)
            self.heartbeat_id = ""
        return False

    def start(self) -> None:
        def run() -> None:
            while not self._stop.is_set():
                ok = self.beat()
                # after a failure, try again soon: placing is stopped until a beat succeeds
                self._stop.wait(self.interval_s if ok else min(self.interval_s, RETRY_AFTER_FAILURE_S))

        self._thread = threading.Thread(target=run, name="polymm-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval_s + 5)
