"""The WAL checkpointer of the controller's ledger: PASSIVE checkpoints on a thread of their own, off every commit.

SQLite's automatic checkpoint copies ~1,000 WAL pages into the database file and syncs it from within the COMMIT
that crossed the threshold — measured at 40–90 ms of a tick that was hedging a fill. The controller's ledger
(`background_checkpoint=True`) turns it off and runs this thread instead.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
CHECKPOINT_EVERY_S = 2.0
JOURNAL_SIZE_LIMIT = 16 * 1024 * 1024  # bytes of WAL kept on disk after a checkpoint


class Checkpointer(threading.Thread):
    """PASSIVE WAL checkpoints on their own connection, every `CHECKPOINT_EVERY_S`, so that no commit of the
    writer pays for one. PASSIVE copies what no reader still needs and returns; it takes no write lock, so the
    writer's commits go on meanwhile (https://www.sqlite.org/wal.html#checkpointing). A failed checkpoint is
    retried on the next round (the WAL only grows meanwhile); `stop` ends the thread with one last one."""

    def __init__(self, path: Path) -> None:
        super().__init__(name="ledger-checkpoint", daemon=True)
        self.path = path
        self._stop_event = threading.Event()
        self.checkpoints = 0  # rounds that completed (for tests)

    def run(self) -> None:
        try:
            conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
        except sqlite3.Error as exc:
            log.warning("ledger checkpoints off, the WAL grows until the next start: %s", exc)
            return
        try:
            conn.isolation_level = None
            conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
            while True:
                stopping = self._stop_event.wait(CHECKPOINT_EVERY_S)
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                except sqlite3.Error as exc:
                    log.debug("ledger checkpoint skipped: %s", exc)
                if stopping:
                    return
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(10)
