"""The ledger's one connection: opening a file (WAL, FULL sync, schema migrated and checked), and the read and
write transactions every method of the `Ledger` runs in.

Invariants:
- one transaction per change: a write runs in BEGIN IMMEDIATE ... COMMIT and is rolled back on any exception; a
  write inside another write joins it (one commit for a tick's changes, or an executor's batch);
- every commit is durable when it returns: `PRAGMA synchronous=FULL` for the connection's whole life, so an
  intent is on disk before the caller sends the order;
- WAL journal: another process (`polymm status`) reads a consistent snapshot while the controller writes;
  writers wait up to `busy_timeout` for the lock instead of failing;
- the controller's own ledger (`background_checkpoint=True`) never checkpoints inside a commit
  (polymm/ledger/checkpoint.py); the WAL is truncated back to `JOURNAL_SIZE_LIMIT` after a checkpoint.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from polymm.ledger.checkpoint import BUSY_TIMEOUT_MS, JOURNAL_SIZE_LIMIT, Checkpointer
from polymm.ledger.records import LedgerError
from polymm.ledger.schema import (
    SCHEMA_VERSION, check_stored_values, migrate, missing_tick_indexes, refuse_newer, schema_version,
)

SQLITE_ERRORS = (sqlite3.Error,)  # what a failing ledger raises, for callers that must not import sqlite3
SQL_VARS = 500  # ids per IN (...) query, well under SQLite's variable limit


def _private_file(path: Path) -> None:
    """The ledger readable by its user only (0600): it holds every order, fill and position of the account.
    SQLite gives the -wal and -shm files the database file's mode (os_unix.c findCreateFileMode), so creating
    the file first with 0600 makes all three private; an existing ledger of ours that others may read is
    made private too."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        return
    except FileExistsError:
        pass
    except OSError:
        return  # a read-only directory or the like: sqlite3 says what is wrong when it opens the file
    for name in (str(path), f"{path}-wal", f"{path}-shm"):
        try:
            info = os.stat(name)
            if info.st_uid == os.getuid() and info.st_mode & 0o077:
                os.chmod(name, 0o600)
        except OSError:
            pass  # absent, or not ours to change


def _journal_mode_wal(conn: sqlite3.Connection) -> str:
    """`PRAGMA journal_mode = WAL`, waiting for the lock as `busy_timeout` does for everything else. Turning a
    file that is not WAL yet (a fresh ledger) into WAL needs it exclusively, and SQLite fails that with "database
    is locked" at once, without calling the busy handler: a second process opening the fresh file at the same
    moment (`polymm status`, a reader polling the ledger while the controller creates it) made the controller's
    start call the ledger unusable. Retried until the busy timeout, then the error is the caller's."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.002
    while True:
        try:
            return conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            busy = (getattr(exc, "sqlite_errorcode", sqlite3.SQLITE_BUSY) & 0xFF) == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


class LedgerConnection:
    """One SQLite connection and its transactions. Methods are serialised by a lock, so one ledger may be shared
    by threads; one writer process, any number of reader processes."""

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time,
                 background_checkpoint: bool = False) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.RLock()
        self._depth = 0  # nesting of _write: inner writes join the outer transaction
        self._writes = 0  # write transactions begun or ended on this connection (_unchanged_since_read)
        self._last_reads: dict[str, tuple[tuple, Any]] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _private_file(self.path)
        # isolation_level=None: no implicit BEGINs; every transaction is opened explicitly.
        conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
        try:
            conn.isolation_level = None
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = _journal_mode_wal(conn)
            if str(mode).lower() != "wal":
                raise LedgerError(f"{self.path}: could not switch the journal to WAL (got {mode!r})")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
            if background_checkpoint:
                conn.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpointer thread does it, off the commit
            self._conn = conn
            self._db = sqlite_utils.Database(conn)
            # sqlite-utils' Database() enables recursive triggers and may reset isolation; restore ours.
            conn.isolation_level = None
            self._ensure_schema()
            with self._read() as reading:
                check_stored_values(reading, self.path)
        except BaseException:
            conn.close()
            raise
        self._closed = False
        self._checkpointer = Checkpointer(self.path) if background_checkpoint else None
        if self._checkpointer:
            self._checkpointer.start()

    def _ensure_schema(self) -> None:
        version = schema_version(self._conn)
        refuse_newer(self.path, version)
        if version != SCHEMA_VERSION:
            with self._write() as conn:
                migrate(self._db, conn, self.path)
        if missing_tick_indexes(self._conn):  # the indexes that keep a tick's reads independent of history
            with self._write() as conn:
                for sql in missing_tick_indexes(conn):
                    conn.execute(sql)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: BEGIN IMMEDIATE (take the write lock up front), COMMIT or ROLLBACK.
        Nested inside another write (`apply_changes`), it joins that one transaction."""
        with self._lock:
            conn = self._conn
            if self._depth:
                self._depth += 1
                try:
                    yield conn
                finally:
                    self._depth -= 1
                return
            conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            self._writes += 1
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")
            finally:
                self._depth = 0
                self._writes += 1

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: every query inside sees the same snapshot (inside a write: that one's)."""
        with self._lock:
            conn = self._conn
            if self._depth:
                yield conn
                return
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

    def _unchanged_since_read(self, name: str, read: Callable[[], Any]) -> Any:
        """`read()`, or what it returned last time when the database has not changed since: no write of ours
        began or ended (`_writes`) and no other connection committed (`PRAGMA data_version`, which SQLite
        changes for exactly that). A tick asks for the active orders and positions several times between two
        writes. Never inside a write, whose own changes are not committed yet."""
        with self._lock:
            if self._depth:
                return read()
            key = (self._writes, self._conn.execute("PRAGMA data_version").fetchone()[0])
            hit = self._last_reads.get(name)
            if hit is not None and hit[0] == key:
                return hit[1]
            value = read()
            self._last_reads[name] = (key, value)
            return value

    @staticmethod
    def _rows_in(conn: sqlite3.Connection, table: str, column: str, values: Sequence[str]) -> list[sqlite3.Row]:
        out: list[sqlite3.Row] = []
        for i in range(0, len(values), SQL_VARS):
            chunk = list(values[i:i + SQL_VARS])
            out.extend(conn.execute(
                f"SELECT * FROM {table} WHERE {column} IN ({', '.join('?' for _ in chunk)})", chunk).fetchall())
        return out

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several changes into one transaction (one commit, one fsync): all of them or none."""
        with self._write():
            yield

    def integrity_problem(self, write_probe: bool = True) -> str | None:
        """None if SQLite finds the file whole (`PRAGMA quick_check`), else its first complaint; also a
        write probe, so a ledger that opened read-only (an immutable or read-only file) is named here."""
        try:
            with self._lock:
                rows = [r[0] for r in self._conn.execute("PRAGMA quick_check").fetchall()]
            if rows != ["ok"]:
                return "; ".join(str(r) for r in rows[:3])
            if not write_probe:
                return None
            with self._write() as conn:
                conn.execute("INSERT INTO cursors (name, value) VALUES ('_write_probe', '1') "
                             "ON CONFLICT(name) DO UPDATE SET value = excluded.value")
        except sqlite3.DatabaseError as exc:
            return str(exc)
        return None

    def close(self) -> None:
        if self._checkpointer:
            self._checkpointer.stop()
        with self._lock:
            if not self._closed:
                self._conn.close()
                self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
