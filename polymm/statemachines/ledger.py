"""The SQLite ledger: every order we signed, every fill we took part in, positions, cursors, ticks.

Invariants (every method keeps them):
- one transaction per change: an order's state change and its `order_events` history row, a
  fill row and its position change, a FAILED reversal and its position change, commit together
  or not at all (BEGIN IMMEDIATE ... COMMIT, rolled back on any exception);
- an intent is durable before `record_intent` returns: the connection runs with
  `PRAGMA synchronous=FULL` always (not only for intents), so the caller may send right after;
- order states move only through the table in `orders.py`; an illegal move raises
  `IllegalTransition` and writes nothing; `size_matched` never decreases;
- every fill is counted once: fills are keyed by (trade_id, order_id); seeing the same key again
  changes nothing; a fill first seen FAILED is recorded but never touches a position; a fill that
  later turns FAILED is reversed exactly once (`reversed` flips once, in the same transaction);
- a position always equals the fold of its effective fills (applied and not reversed) in the
  order they were first seen: BUY adds size and cost; SELL realises PnL against the average
  cost and removes cost at that average; nothing is clamped (a SELL beyond the held size leaves
  the size negative, as reported). A reversal replays the token's remaining effective fills, so
  the position is exactly what it would be had the failed trade never been seen;
- exact values: Decimals are stored as TEXT and read back equal; payloads and summaries as JSON;
- nothing unknown is trusted: on open, every stored order state and trade status is checked
  against the state machines, and a stored value that cannot be parsed raises LedgerError
  naming the table, the key, the value and what is allowed;
- a tick reads what is live, never the closed history (`tick_snapshot`: indexed by order id and by
  settlement status) and applies what it observed in ONE transaction (`apply_changes`);
- WAL journal: another process (`polymm status`) can read a consistent snapshot while the
  controller writes; writers wait up to `busy_timeout` for the lock instead of failing;
- the controller's own ledger (`background_checkpoint=True`) never checkpoints inside a commit: SQLite's
  automatic checkpoint copies ~1,000 WAL pages into the database file and syncs it from within the COMMIT
  that crossed the threshold — measured at 40–90 ms of a tick that was hedging a fill. A thread with its
  own connection runs a PASSIVE checkpoint every `CHECKPOINT_EVERY_S` instead (it waits for no lock and
  blocks no writer); the WAL is truncated back to `JOURNAL_SIZE_LIMIT` after a checkpoint.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import sqlite_utils

from polymm.domain.positions import PositionRecord, apply_to_position
from polymm.reconciler.snapshot import LedgerSnapshot
from polymm.statemachines.orders import ACTIVE_STATES, ORDER_STATES, next_state
from polymm.statemachines.trades import TRADE_STATUSES, check_trade_status, next_trade_status

SCHEMA_VERSION = 3  # 2: fills.fee; 3: merges
log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
CHECKPOINT_EVERY_S = 2.0
JOURNAL_SIZE_LIMIT = 16 * 1024 * 1024  # bytes of WAL kept on disk after a checkpoint
SIDES = ("BUY", "SELL")
LIQUIDITY = ("maker", "taker")
ZERO = Decimal(0)
UNSETTLED = ("MATCHED", "MINED", "RETRYING")  # trade statuses that may still change
# A tick reads fills by order id and unsettled fills by status, never the whole table.
TICK_INDEXES = (
    ("idx_fills_order_id", "CREATE INDEX IF NOT EXISTS idx_fills_order_id ON fills (order_id)"),
    ("idx_fills_status", "CREATE INDEX IF NOT EXISTS idx_fills_status ON fills (status)"),
)
SQLITE_ERRORS = (sqlite3.Error,)  # what a failing ledger raises, for callers that must not import sqlite3
SQL_VARS = 500  # ids per IN (...) query, well under SQLite's variable limit


class LedgerError(Exception):
    """The ledger cannot do what was asked, or found stored data it does not recognise."""


# ---------------------------------------------------------------------------------------------
# Records: immutable values with explicit to/from-row conversion.


@dataclass(frozen=True)
class NewOrder:
    order_id: str
    slot_key: str
    condition_id: str
    token_id: str
    side: str
    role: str
    price: Decimal
    size: Decimal
    order_type: str
    post_only: bool
    payload: dict


@dataclass(frozen=True)
class OrderRecord:
    order_id: str
    slot_key: str
    condition_id: str
    token_id: str
    side: str
    role: str
    price: Decimal
    size: Decimal
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


@dataclass(frozen=True)
class ObservedFill:
    trade_id: str
    order_id: str
    condition_id: str
    token_id: str
    side: str  # OUR side of the trade: "BUY" or "SELL"
    size: Decimal
    price: Decimal
    status: str
    liquidity: str  # "maker" or "taker"
    match_time: int
    fee: Decimal = Decimal(0)  # taker fee paid (makers pay none)


@dataclass(frozen=True)
class FillRecord:
    trade_id: str
    order_id: str
    condition_id: str
    token_id: str
    side: str
    size: Decimal
    price: Decimal
    status: str
    liquidity: str
    match_time: int
    applied: bool
    reversed: bool
    first_seen_at: float
    updated_at: float
    fee: Decimal = Decimal(0)  # taker fee paid on this fill (schema 2)


# ---------------------------------------------------------------------------------------------
# Conversions between Python values and stored TEXT/INTEGER columns.


def _exact(value: Any, what: str) -> Decimal:
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


def _stored_decimal(table: str, key: str, column: str, text: Any) -> Decimal:
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError):
        raise LedgerError(
            f"{table} {key}: column {column} holds {text!r}, which is not an exact decimal"
        ) from None
    if not value.is_finite():
        raise LedgerError(f"{table} {key}: column {column} holds {text!r}, which is not a finite decimal")
    return value


def _stored_json(table: str, key: str, column: str, text: Any) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        raise LedgerError(f"{table} {key}: column {column} holds {text!r}, which is not JSON") from None


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # summaries are for people; the exact text is kept
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON serialisable")


ROW_CACHE_MAX = 50_000  # parsed rows kept per table; the cache is emptied when it fills


def _parsed_by_content(parse: Callable[[sqlite3.Row], Any]) -> Callable[[sqlite3.Row], Any]:
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


@_parsed_by_content
def _order_from_row(row: sqlite3.Row) -> OrderRecord:
    key = row["order_id"]
    state = row["state"]
    if state not in ORDER_STATES:
        raise LedgerError(
            f"orders {key}: state {state!r} is not a known order state; allowed: {', '.join(ORDER_STATES)}"
        )
    return OrderRecord(
        order_id=key,
        slot_key=row["slot_key"],
        condition_id=row["condition_id"],
        token_id=row["token_id"],
        side=row["side"],
        role=row["role"],
        price=_stored_decimal("orders", key, "price", row["price"]),
        size=_stored_decimal("orders", key, "size", row["size"]),
        size_matched=_stored_decimal("orders", key, "size_matched", row["size_matched"]),
        order_type=row["order_type"],
        post_only=bool(row["post_only"]),
        payload=_stored_json("orders", key, "payload", row["payload"]),
        state=state,
        venue_status=row["venue_status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        submitted_at=row["submitted_at"],
        last_error=row["last_error"],
    )


@_parsed_by_content
def _fill_from_row(row: sqlite3.Row) -> FillRecord:
    key = f"({row['trade_id']}, {row['order_id']})"
    status = row["status"]
    if status not in TRADE_STATUSES:
        raise LedgerError(
            f"fills {key}: status {status!r} is not a known trade status; allowed: {', '.join(TRADE_STATUSES)}"
        )
    return FillRecord(
        trade_id=row["trade_id"],
        order_id=row["order_id"],
        condition_id=row["condition_id"],
        token_id=row["token_id"],
        side=row["side"],
        size=_stored_decimal("fills", key, "size", row["size"]),
        price=_stored_decimal("fills", key, "price", row["price"]),
        status=status,
        liquidity=row["liquidity"],
        match_time=row["match_time"],
        applied=bool(row["applied"]),
        reversed=bool(row["reversed"]),
        first_seen_at=row["first_seen_at"],
        updated_at=row["updated_at"],
        fee=_stored_decimal("fills", key, "fee", row["fee"]),
    )


@_parsed_by_content
def _position_from_row(row: sqlite3.Row) -> PositionRecord:
    key = row["token_id"]
    return PositionRecord(
        token_id=key,
        condition_id=row["condition_id"],
        size=_stored_decimal("positions", key, "size", row["size"]),
        cost=_stored_decimal("positions", key, "cost", row["cost"]),
        realized_pnl=_stored_decimal("positions", key, "realized_pnl", row["realized_pnl"]),
    )


def _position_row(position: PositionRecord) -> dict:
    return {
        "token_id": position.token_id,
        "condition_id": position.condition_id,
        "size": str(position.size),
        "cost": str(position.cost),
        "realized_pnl": str(position.realized_pnl),
    }


# ---------------------------------------------------------------------------------------------
# Schema.


def _create_schema(db: sqlite_utils.Database) -> None:
    db["orders"].create(
        {
            "order_id": str,
            "slot_key": str,
            "condition_id": str,
            "token_id": str,
            "side": str,
            "role": str,
            "price": str,
            "size": str,
            "size_matched": str,
            "order_type": str,
            "post_only": int,
            "payload": str,
            "state": str,
            "venue_status": str,
            "created_at": float,
            "updated_at": float,
            "submitted_at": float,
            "last_error": str,
        },
        pk="order_id",
        not_null={
            "slot_key", "condition_id", "token_id", "side", "role", "price", "size", "size_matched",
            "order_type", "post_only", "payload", "state", "created_at", "updated_at",
        },
    )
    db["orders"].create_index(["state"])
    db["orders"].create_index(["slot_key"])
    db["order_events"].create(
        {
            "id": int,
            "order_id": str,
            "at": float,
            "from_state": str,
            "to_state": str,
            "trigger": str,
            "reason": str,
        },
        pk="id",
        not_null={"order_id", "at", "to_state", "trigger", "reason"},
        foreign_keys=[("order_id", "orders", "order_id")],
    )
    db["order_events"].create_index(["order_id", "id"])
    # `seq` is an explicit INTEGER PRIMARY KEY (VACUUM may renumber a plain rowid): it fixes
    # the first-seen order that positions are folded in.
    db["fills"].create(
        {
            "seq": int,
            "trade_id": str,
            "order_id": str,
            "condition_id": str,
            "token_id": str,
            "side": str,
            "size": str,
            "price": str,
            "status": str,
            "liquidity": str,
            "match_time": int,
            "applied": int,
            "reversed": int,
            "first_seen_at": float,
            "updated_at": float,
            "fee": str,
        },
        pk="seq",
        defaults={"fee": "0"},
        not_null={
            "trade_id", "order_id", "condition_id", "token_id", "side", "size", "price", "status",
            "liquidity", "match_time", "applied", "reversed", "first_seen_at", "updated_at",
        },
    )
    db["fills"].create_index(["trade_id", "order_id"], unique=True)
    db["fills"].create_index(["token_id", "seq"])
    db["positions"].create(
        {"token_id": str, "condition_id": str, "size": str, "cost": str, "realized_pnl": str},
        pk="token_id",
        not_null={"condition_id", "size", "cost", "realized_pnl"},
    )
    db["cursors"].create({"name": str, "value": str}, pk="name", not_null={"value"})
    db["ticks"].create(
        {"id": int, "started_at": float, "finished_at": float, "summary": str},
        pk="id",
        not_null={"started_at", "finished_at", "summary"},
    )
    # A single row (id = 1): the market selection in force.
    db["selection"].create(
        {"id": int, "condition_ids": str, "at": float}, pk="id", not_null={"condition_ids", "at"}
    )
    _create_merges(db)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


MERGE_STATES = ("SIGNED", "SUBMITTED", "CONFIRMED", "FAILED")  # SIGNED: durable before it is sent
MERGE_PREFIX = "merge:"  # the trade id of a merge's two fill rows (polymm.controller.merger)


def _create_merges(db: sqlite_utils.Database) -> None:
    """A merge of a YES+NO pair into collateral through the relayer: its signed payload is stored before it is
    sent, so a restart can find out what became of it (and resending it cannot merge twice: its nonce is spent
    by the first that lands)."""
    db["merges"].create(
        {"merge_id": str, "condition_id": str, "token_ids": str, "amount": str, "state": str, "payload": str,
         "transaction_id": str, "transaction_hash": str, "relayer_state": str, "error": str, "pnl": str,
         "created_at": float, "updated_at": float},
        pk="merge_id", not_null={"condition_id", "token_ids", "amount", "state", "payload", "created_at", "updated_at"},
        if_not_exists=True,
    )


# ---------------------------------------------------------------------------------------------


class _Checkpointer(threading.Thread):
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


class Ledger:
    """The controller's durable memory. One writer process; any number of reader processes.

    The connection keeps `PRAGMA synchronous=FULL` for its whole life, so every commit (intents
    included) is on disk before the method returns. Methods are serialised by a lock, so one
    Ledger may be shared by threads.
    """

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time,
                 background_checkpoint: bool = False) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.RLock()
        self._depth = 0  # nesting of _write: inner writes join the outer transaction
        self._writes = 0  # write transactions begun or ended on this connection (_unchanged_since_read)
        self._last_reads: dict[str, tuple[tuple, Any]] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit BEGINs; every transaction is opened explicitly.
        conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
        try:
            conn.isolation_level = None
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
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
            self._ensure_tick_indexes()
            self._validate_stored_values()
        except BaseException:
            conn.close()
            raise
        self._closed = False
        self._checkpointer = _Checkpointer(self.path) if background_checkpoint else None
        if self._checkpointer:
            self._checkpointer.start()

    # -- plumbing ------------------------------------------------------------------------------

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

    def _ensure_schema(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise LedgerError(
                f"{self.path}: schema version {version} is newer than this polymm understands "
                f"({SCHEMA_VERSION}); refusing to open it"
            )
        with self._write():
            # Re-read under the write lock: another process may have created it meanwhile.
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                _create_schema(self._db)
            elif version in (1, 2):
                if version == 1:  # schema 2 adds the fee of each fill; fills recorded before carry 0
                    self._conn.execute("ALTER TABLE fills ADD COLUMN fee TEXT NOT NULL DEFAULT '0'")
                _create_merges(self._db)  # schema 3: merges
                self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version != SCHEMA_VERSION:
                raise LedgerError(f"{self.path}: unsupported schema version {version}")

    def _ensure_tick_indexes(self) -> None:
        """The indexes that keep a tick's reads independent of history (added to older ledgers on open)."""
        have = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        missing = [(name, sql) for name, sql in TICK_INDEXES if name not in have]
        if missing:
            with self._write() as conn:
                for _, sql in missing:
                    conn.execute(sql)

    def _validate_stored_values(self) -> None:
        checks = (
            ("orders", "order_id", "state", ORDER_STATES),
            ("fills", "trade_id || ', ' || order_id", "status", TRADE_STATUSES),
            ("merges", "merge_id", "state", MERGE_STATES),
        )
        with self._read() as conn:
            for table, key_sql, column, allowed in checks:
                marks = ", ".join("?" for _ in allowed)
                bad = conn.execute(
                    f"SELECT {key_sql} AS key, {column} AS value FROM {table} "
                    f"WHERE {column} IS NULL OR {column} NOT IN ({marks}) LIMIT 1",
                    allowed,
                ).fetchone()
                if bad is not None:
                    raise LedgerError(
                        f"{self.path}: table {table}, key {bad['key']}: {column} {bad['value']!r} "
                        f"is not allowed; allowed: {', '.join(allowed)}"
                    )

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

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- orders --------------------------------------------------------------------------------

    def record_intent(self, order: NewOrder) -> OrderRecord:
        """Store a new order in state 'intent', durably, before anything is sent."""
        if order.side not in SIDES:
            raise ValueError(f"order {order.order_id}: side {order.side!r} is not one of {', '.join(SIDES)}")
        price = _exact(order.price, f"order {order.order_id} price")
        size = _exact(order.size, f"order {order.order_id} size")
        try:
            payload = json.dumps(order.payload, sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise LedgerError(f"order {order.order_id}: payload is not JSON serialisable: {exc}") from None
        now = self._clock()
        row = {
            "order_id": order.order_id,
            "slot_key": order.slot_key,
            "condition_id": order.condition_id,
            "token_id": order.token_id,
            "side": order.side,
            "role": order.role,
            "price": str(price),
            "size": str(size),
            "size_matched": "0",
            "order_type": order.order_type,
            "post_only": int(bool(order.post_only)),
            "payload": payload,
            "state": "intent",
            "venue_status": None,
            "created_at": now,
            "updated_at": now,
            "submitted_at": None,
            "last_error": None,
        }
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM orders WHERE order_id = ?", (order.order_id,)).fetchone():
                raise LedgerError(f"order {order.order_id} is already in the ledger; an intent is recorded once")
            self._db["orders"].insert(row)
            self._insert_event(conn, order.order_id, now, None, "intent", "record_intent", "")
            return self._order_in(conn, order.order_id)

    def transition(
        self,
        order_id: str,
        trigger: str,
        *,
        reason: str = "",
        venue_status: str | None = None,
        size_matched: Decimal | None = None,
        error: str | None = None,
    ) -> OrderRecord:
        """Move an order through the state machine and record the move, in one transaction.

        IllegalTransition (from the table) propagates and nothing is written. `size_matched`
        only ever grows: a smaller reported value keeps the stored one. `error` becomes
        `last_error`; without it the previous error is kept.
        """
        matched = None if size_matched is None else _exact(size_matched, f"order {order_id} size_matched")
        with self._write() as conn:
            current = self._order_in(conn, order_id)
            if current is None:
                raise LedgerError(f"order {order_id} is not in the ledger; record its intent first")
            dest = next_state(current.state, trigger, order_id=order_id)
            now = self._clock()
            conn.execute(
                "UPDATE orders SET state = ?, updated_at = ?, venue_status = ?, size_matched = ?, "
                "last_error = ?, submitted_at = ? WHERE order_id = ?",
                (
                    dest,
                    now,
                    venue_status if venue_status is not None else current.venue_status,
                    str(self._grown(current.size_matched, matched)),
                    error if error is not None else current.last_error,
                    now if trigger == "submit" else current.submitted_at,
                    order_id,
                ),
            )
            self._insert_event(conn, order_id, now, current.state, dest, trigger, reason)
            return self._order_in(conn, order_id)

    def update_order(
        self, order_id: str, *, size_matched: Decimal | None = None, venue_status: str | None = None
    ) -> OrderRecord:
        """Update the venue's view of an order without a state change (e.g. size growing while cancelled)."""
        matched = None if size_matched is None else _exact(size_matched, f"order {order_id} size_matched")
        with self._write() as conn:
            current = self._order_in(conn, order_id)
            if current is None:
                raise LedgerError(f"order {order_id} is not in the ledger")
            conn.execute(
                "UPDATE orders SET updated_at = ?, venue_status = ?, size_matched = ? WHERE order_id = ?",
                (
                    self._clock(),
                    venue_status if venue_status is not None else current.venue_status,
                    str(self._grown(current.size_matched, matched)),
                    order_id,
                ),
            )
            return self._order_in(conn, order_id)

    def order(self, order_id: str) -> OrderRecord | None:
        with self._read() as conn:
            return self._order_in(conn, order_id)

    def orders(self, states: Iterable[str] | str | None = None) -> list[OrderRecord]:
        """Orders (optionally only those in `states`), oldest first; ValueError for an unknown state."""
        with self._read() as conn:
            if states is None:
                rows = conn.execute("SELECT * FROM orders ORDER BY created_at, order_id").fetchall()
            else:
                # A bare string is one state, not an iterable of one-letter states.
                wanted = (states,) if isinstance(states, str) else tuple(dict.fromkeys(states))
                for state in wanted:
                    if state not in ORDER_STATES:
                        raise ValueError(f"unknown order state {state!r}; allowed: {', '.join(ORDER_STATES)}")
                if not wanted:
                    return []
                marks = ", ".join("?" for _ in wanted)
                rows = conn.execute(
                    f"SELECT * FROM orders WHERE state IN ({marks}) ORDER BY created_at, order_id", wanted
                ).fetchall()
        return [_order_from_row(r) for r in rows]

    def active_orders(self) -> list[OrderRecord]:
        """Orders that occupy their slot and count toward exposure (intent, in flight, unknown, live)."""
        return list(self._unchanged_since_read("active_orders", lambda: tuple(self.orders(sorted(ACTIVE_STATES)))))

    def history(self, order_id: str) -> list[dict]:
        """The order's state changes, oldest first; the first row is the intent (from_state None)."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT order_id, at, from_state, to_state, trigger, reason FROM order_events "
                "WHERE order_id = ? ORDER BY id",
                (order_id,),
            ).fetchall()
        return [dict(r) for r in rows]

    @staticmethod
    def _grown(stored: Decimal, reported: Decimal | None) -> Decimal:
        # The venue's matched size only grows; a smaller report is a stale read, not news.
        return stored if reported is None or reported <= stored else reported

    @staticmethod
    def _order_in(conn: sqlite3.Connection, order_id: str) -> OrderRecord | None:
        row = conn.execute("SELECT * FROM orders WHERE order_id = ?", (order_id,)).fetchone()
        return None if row is None else _order_from_row(row)

    @staticmethod
    def _insert_event(
        conn: sqlite3.Connection, order_id: str, at: float, from_state: str | None, to_state: str, trigger: str, reason: str
    ) -> None:
        conn.execute(
            "INSERT INTO order_events (order_id, at, from_state, to_state, trigger, reason) VALUES (?, ?, ?, ?, ?, ?)",
            (order_id, at, from_state, to_state, trigger, reason),
        )

    # -- fills and positions -------------------------------------------------------------------

    def apply_fill(self, fill: ObservedFill) -> bool:
        """Record a fill and apply it to its token's position, once; True only the first time.

        A fill seen again is left unchanged (its status moves through `update_fill_status`).
        A fill first seen FAILED is recorded with applied=False and never touches a position.
        """
        key = f"({fill.trade_id}, {fill.order_id})"
        check_trade_status(fill.status)
        if fill.side not in SIDES:
            raise ValueError(f"fill {key}: side {fill.side!r} is not one of {', '.join(SIDES)}")
        if fill.liquidity not in LIQUIDITY:
            raise ValueError(f"fill {key}: liquidity {fill.liquidity!r} is not one of {', '.join(LIQUIDITY)}")
        size = _exact(fill.size, f"fill {key} size")
        price = _exact(fill.price, f"fill {key} price")
        if size <= 0:
            raise ValueError(f"fill {key}: size {size} must be positive")
        applied = fill.status != "FAILED"
        with self._write() as conn:
            seen = conn.execute(
                "SELECT 1 FROM fills WHERE trade_id = ? AND order_id = ?", (fill.trade_id, fill.order_id)
            ).fetchone()
            if seen:
                return False
            now = self._clock()
            conn.execute(
                "INSERT INTO fills (trade_id, order_id, condition_id, token_id, side, size, price, status, "
                "liquidity, match_time, applied, reversed, first_seen_at, updated_at, fee) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
                (
                    fill.trade_id, fill.order_id, fill.condition_id, fill.token_id, fill.side, str(size),
                    str(price), fill.status, fill.liquidity, int(fill.match_time), int(applied), now, now,
                    str(_exact(getattr(fill, "fee", ZERO) or ZERO, f"fill {key} fee")),
                ),
            )
            if applied:
                position = self._position_in(conn, fill.token_id) or PositionRecord(
                    fill.token_id, fill.condition_id, ZERO, ZERO, ZERO
                )
                self._store_position(conn, apply_to_position(position, fill.side, size, price))
            return True

    def update_fill_status(self, trade_id: str, order_id: str, status: str) -> FillRecord | None:
        """Move a fill's settlement status forward; a move to FAILED reverses an applied fill once.

        Returns the fill as stored afterwards (unchanged if `status` is its current status), or
        None if the ledger has no such fill. A regression raises IllegalTransition, writing nothing.
        """
        with self._write() as conn:
            row = conn.execute(
                "SELECT * FROM fills WHERE trade_id = ? AND order_id = ?", (trade_id, order_id)
            ).fetchone()
            if row is None:
                check_trade_status(status)
                return None
            current = _fill_from_row(row)
            new = next_trade_status(current.status, status, trade_id=trade_id)
            if new is None:
                return current
            reverse = new == "FAILED" and current.applied and not current.reversed
            conn.execute(
                "UPDATE fills SET status = ?, reversed = ?, updated_at = ? WHERE seq = ?",
                (new, int(current.reversed or reverse), self._clock(), row["seq"]),
            )
            if reverse:
                self._refold_position(conn, current.token_id, current.condition_id)
            return _fill_from_row(conn.execute("SELECT * FROM fills WHERE seq = ?", (row["seq"],)).fetchone())

    def fill(self, trade_id: str, order_id: str) -> FillRecord | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT * FROM fills WHERE trade_id = ? AND order_id = ?", (trade_id, order_id)
            ).fetchone()
        return None if row is None else _fill_from_row(row)

    def fills(self, *, since: float | None = None) -> list[FillRecord]:
        """Fills in the order first seen; `since` keeps those first seen at or after that time. The rows of
        merges (trade id `merge:…`: they fold into positions, but are no trades) are left out: `merges()`."""
        with self._read() as conn:
            if since is None:
                rows = conn.execute("SELECT * FROM fills WHERE trade_id NOT LIKE 'merge:%' ORDER BY seq").fetchall()
            else:
                rows = conn.execute(
                    "SELECT * FROM fills WHERE first_seen_at >= ? AND trade_id NOT LIKE 'merge:%' ORDER BY seq",
                    (since,)).fetchall()
        return [_fill_from_row(r) for r in rows]

    def position_opened_at(self, token_id: str) -> float | None:
        """When the position now held in `token_id` was opened: when we first saw the fill that last took it from
        flat to long (our applied fills, in the order recorded; the ledger's clock, which is the controller's),
        or None when it is flat. The maker hedge's wait is counted from here, so a restart does not start it
        again."""
        with self._read() as conn:
            rows = conn.execute("SELECT side, size, first_seen_at FROM fills WHERE token_id = ? AND applied = 1 "
                                "AND reversed = 0 ORDER BY seq", (token_id,)).fetchall()
        size, opened = Decimal(0), None
        for row in rows:
            before = size
            size += Decimal(row["size"]) if row["side"] == "BUY" else -Decimal(row["size"])
            if before <= 0 < size:
                opened = float(row["first_seen_at"])
        return opened if size > 0 else None

    def matched_by_fills(self, order_id: str) -> Decimal:
        """The shares of this order that our recorded fills (not FAILED) show matched."""
        with self._read() as conn:
            rows = conn.execute("SELECT size FROM fills WHERE order_id = ? AND status != 'FAILED'", (order_id,)).fetchall()
        return sum((Decimal(r["size"]) for r in rows), Decimal(0))

    def positions(self) -> dict[str, PositionRecord]:
        """Every token we have traded, by token id (flat positions included: they carry realised PnL)."""
        return dict(self._unchanged_since_read("positions", self._read_positions))

    def _read_positions(self) -> dict[str, PositionRecord]:
        with self._read() as conn:
            rows = conn.execute("SELECT * FROM positions ORDER BY token_id").fetchall()
        return {r["token_id"]: _position_from_row(r) for r in rows}

    # -- one tick: a bounded snapshot, and the observation's changes in one transaction --------

    def tick_snapshot(self, open_order_ids: Iterable[str], observed_fills: Iterable, cursor_name: str) -> LedgerSnapshot:
        """What one tick needs, read in one snapshot; its size depends on what is live, not on history:
        the active orders, the orders named by `open_order_ids` or by an observed fill that is new or whose
        status differs from ours, the fills of all those orders, the stored rows of every observed fill, every
        unsettled fill, position rows, the cursor, and the effective fills of a token where an observed fill
        turns FAILED (to refold its position). An observed fill we hold unchanged changes nothing, so its
        order is not read (a busy window of unsettled trades names hundreds of them every tick)."""
        observed_fills = list(observed_fills)
        with self._read() as conn:
            active = [_order_from_row(r) for r in conn.execute(
                f"SELECT * FROM orders WHERE state IN ({', '.join('?' for _ in ACTIVE_STATES)}) "
                "ORDER BY created_at, order_id", sorted(ACTIVE_STATES))]
            observed_keys = {(f.trade_id, f.order_id) for f in observed_fills}
            rows = {r["seq"]: r for r in self._rows_in(conn, "fills", "trade_id",
                                                       list(dict.fromkeys(f.trade_id for f in observed_fills)))
                    if (r["trade_id"], r["order_id"]) in observed_keys}
            stored_status = {(r["trade_id"], r["order_id"]): r["status"] for r in rows.values()}
            changed = [f.order_id for f in observed_fills if stored_status.get((f.trade_id, f.order_id)) != f.status]
            named_ids = list(dict.fromkeys([*open_order_ids, *changed]))
            named = {o.order_id: o for o in map(_order_from_row, self._rows_in(conn, "orders", "order_id", named_ids))}
            order_ids = list(dict.fromkeys([*(o.order_id for o in active), *named]))
            rows.update({r["seq"]: r for r in self._rows_in(conn, "fills", "order_id", order_ids)})
            rows.update({r["seq"]: r for r in self._rows_in(conn, "fills", "status", UNSETTLED)})
            fills = {(f.trade_id, f.order_id): f for f in map(_fill_from_row, (rows[k] for k in sorted(rows)))}
            token_fills = {}
            for f in observed_fills:
                stored = fills.get((f.trade_id, f.order_id))
                if f.status == "FAILED" and stored is not None and stored.applied and not stored.reversed \
                        and stored.token_id not in token_fills:
                    token_fills[stored.token_id] = tuple(_fill_from_row(r) for r in conn.execute(
                        "SELECT * FROM fills WHERE token_id = ? AND applied = 1 AND reversed = 0 ORDER BY seq",
                        (stored.token_id,)))
            positions = {r["token_id"]: _position_from_row(r) for r in conn.execute("SELECT * FROM positions")}
            row = conn.execute("SELECT value FROM cursors WHERE name = ?", (cursor_name,)).fetchone()
        cursor = int(row["value"]) if row is not None else None
        return LedgerSnapshot(tuple(active), named, fills, positions, cursor, token_fills)

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

    def apply_changes(self, changes, cursor_name: str) -> list:
        """Apply one tick's `LedgerChanges` (fills, fill status moves, order moves, cursor) in ONE transaction:
        all of it commits, or none. Returns the fills recorded for the first time."""
        recorded = []
        with self._write():
            for ch in changes.fills:
                if ch.new:
                    if self.apply_fill(ch.fill):
                        recorded.append(ch.fill)
                else:
                    self.update_fill_status(ch.fill.trade_id, ch.fill.order_id, ch.fill.status)
            for up in changes.orders:
                if not up.triggers:
                    self.update_order(up.order_id, size_matched=up.size_matched)
                for trigger in up.triggers:
                    self.transition(up.order_id, trigger, reason=up.reason, size_matched=up.size_matched)
            if changes.cursor is not None:
                self.set_cursor(cursor_name, str(changes.cursor))
        return recorded

    @staticmethod
    def _position_in(conn: sqlite3.Connection, token_id: str) -> PositionRecord | None:
        row = conn.execute("SELECT * FROM positions WHERE token_id = ?", (token_id,)).fetchone()
        return None if row is None else _position_from_row(row)

    @staticmethod
    def _store_position(conn: sqlite3.Connection, position: PositionRecord) -> None:
        conn.execute(
            "INSERT INTO positions (token_id, condition_id, size, cost, realized_pnl) "
            "VALUES (:token_id, :condition_id, :size, :cost, :realized_pnl) "
            "ON CONFLICT(token_id) DO UPDATE SET size = excluded.size, cost = excluded.cost, "
            "realized_pnl = excluded.realized_pnl",
            _position_row(position),
        )

    def _refold_position(self, conn: sqlite3.Connection, token_id: str, condition_id: str) -> None:
        """Rebuild a token's position from its effective fills, in first-seen order."""
        position = PositionRecord(token_id, condition_id, ZERO, ZERO, ZERO)
        rows = conn.execute(
            "SELECT * FROM fills WHERE token_id = ? AND applied = 1 AND reversed = 0 ORDER BY seq", (token_id,)
        ).fetchall()
        for row in rows:
            fill = _fill_from_row(row)
            position = apply_to_position(position, fill.side, fill.size, fill.price)
        self._store_position(conn, position)

    # -- merges (polymm.controller.merger) ------------------------------------------------------

    def record_merge(self, merge_id: str, condition_id: str, token_ids: Sequence[str], amount: Decimal,
                     payload: dict) -> None:
        """The signed merge, durable (state SIGNED) before it is sent."""
        now = self._clock()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO merges (merge_id, condition_id, token_ids, amount, state, payload, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, 'SIGNED', ?, ?, ?)",
                (merge_id, condition_id, json.dumps(list(token_ids)), str(_exact(amount, "merge amount")),
                 json.dumps(payload, sort_keys=True), now, now))

    def update_merge(self, merge_id: str, **fields: Any) -> None:
        """Record what the relayer said (transaction_id, relayer_state, transaction_hash, error) or SUBMITTED."""
        allowed = {"transaction_id", "transaction_hash", "relayer_state", "error", "state"}
        if not set(fields) <= allowed or fields.get("state", "SUBMITTED") not in ("SIGNED", "SUBMITTED"):
            raise ValueError(f"update_merge: {sorted(fields)}")
        with self._write() as conn:
            row = conn.execute("SELECT state FROM merges WHERE merge_id = ?", (merge_id,)).fetchone()
            if row is None or row["state"] == "FAILED" or (
                    row["state"] == "CONFIRMED" and not set(fields) <= {"relayer_state", "transaction_hash"}):
                return
            sets = ", ".join(f"{k} = ?" for k in fields)
            conn.execute(f"UPDATE merges SET {sets}, updated_at = ? WHERE merge_id = ?",
                         (*fields.values(), self._clock(), merge_id))

    def fail_merge(self, merge_id: str, error: str, relayer_state: str | None = None) -> None:
        """The merge did not happen (refused, reverted): nothing moves; the shares stay where they were."""
        with self._write() as conn:
            conn.execute("UPDATE merges SET state = 'FAILED', error = ?, relayer_state = COALESCE(?, relayer_state), "
                         "updated_at = ? WHERE merge_id = ? AND state NOT IN ('CONFIRMED', 'FAILED')",
                         (error[:500], relayer_state, self._clock(), merge_id))

    def confirm_merge(self, merge_id: str, transaction_hash: str | None, at: float,
                      relayer_state: str = "STATE_CONFIRMED") -> Decimal | None:
        """The merge is on chain: in ONE transaction, the row turns CONFIRMED and each outcome's position shrinks
        by the amount — a SELL fill row of trade id `merge:<id>` each, so every refold keeps it — at prices that
        sum to 1 (the collateral a full set returns): each side realises half of 1 − (avg YES + avg NO) per pair.
        Returns the realised P&L, or None if it was already recorded (or is not a pending merge)."""
        with self._write() as conn:
            row = conn.execute("SELECT * FROM merges WHERE merge_id = ?", (merge_id,)).fetchone()
            if row is None or row["state"] in ("CONFIRMED", "FAILED"):
                return None
            amount = _stored_decimal("merges", merge_id, "amount", row["amount"])
            tokens = _stored_json("merges", merge_id, "token_ids", row["token_ids"])
            positions = [self._position_in(conn, t) or PositionRecord(t, row["condition_id"], ZERO, ZERO, ZERO)
                         for t in tokens]
            avgs = [p.avg_cost for p in positions]
            edge = (Decimal(1) - sum(avgs)) / 2
            now = self._clock()
            for index, (position, avg) in enumerate(zip(positions, avgs)):
                conn.execute(
                    "INSERT INTO fills (trade_id, order_id, condition_id, token_id, side, size, price, status, "
                    "liquidity, match_time, applied, reversed, first_seen_at, updated_at, fee) "
                    "VALUES (?, ?, ?, ?, 'SELL', ?, ?, 'CONFIRMED', 'maker', ?, 1, 0, ?, ?, '0')",
                    (MERGE_PREFIX + merge_id, f"{MERGE_PREFIX}{merge_id}:{index}", row["condition_id"], position.token_id,
                     str(amount), str(avg + edge), int(at), now, now))
                self._store_position(conn, apply_to_position(position, "SELL", amount, avg + edge))
            pnl = amount * (Decimal(1) - sum(avgs))
            conn.execute("UPDATE merges SET state = 'CONFIRMED', relayer_state = ?, "
                         "transaction_hash = COALESCE(?, transaction_hash), pnl = ?, updated_at = ? WHERE merge_id = ?",
                         (relayer_state, transaction_hash, str(pnl), now, merge_id))
            return pnl

    def reverse_merge(self, merge_id: str, error: str, relayer_state: str) -> bool:
        """A merge recorded at STATE_MINED that the relayer then reports failed (a reorg): its two fill rows are
        reversed and both positions refolded without them, in one transaction. True if it was reversed now."""
        with self._write() as conn:
            row = conn.execute("SELECT * FROM merges WHERE merge_id = ?", (merge_id,)).fetchone()
            if row is None or row["state"] != "CONFIRMED":
                return False
            conn.execute("UPDATE fills SET reversed = 1, status = 'FAILED', updated_at = ? WHERE trade_id = ?",
                         (self._clock(), MERGE_PREFIX + merge_id))
            for token in _stored_json("merges", merge_id, "token_ids", row["token_ids"]):
                self._refold_position(conn, token, row["condition_id"])
            conn.execute("UPDATE merges SET state = 'FAILED', error = ?, relayer_state = ?, pnl = NULL, updated_at = ? "
                         "WHERE merge_id = ?", (error[:500], relayer_state, self._clock(), merge_id))
            return True

    def merges(self, states: Iterable[str] | None = None) -> list[dict]:
        """Merges, oldest first, as dicts (amount and pnl as Decimals, token_ids and payload parsed)."""
        with self._read() as conn:
            rows = conn.execute("SELECT * FROM merges ORDER BY created_at, merge_id").fetchall()
        out = []
        for r in rows:
            if states is not None and r["state"] not in set(states):
                continue
            d = dict(r)
            d["amount"] = _stored_decimal("merges", r["merge_id"], "amount", r["amount"])
            d["pnl"] = _stored_decimal("merges", r["merge_id"], "pnl", r["pnl"]) if r["pnl"] is not None else None
            d["token_ids"] = _stored_json("merges", r["merge_id"], "token_ids", r["token_ids"])
            d["payload"] = _stored_json("merges", r["merge_id"], "payload", r["payload"])
            out.append(d)
        return out

    def unsettled_tokens(self) -> set[str]:
        """Tokens with a fill that may still change (MATCHED, MINED, RETRYING): never merged (a buy may fail)."""
        with self._read() as conn:
            rows = conn.execute(f"SELECT DISTINCT token_id FROM fills WHERE status IN ({', '.join('?' * len(UNSETTLED))})",
                                UNSETTLED).fetchall()
        return {r["token_id"] for r in rows}

    # -- cursors, tick journal, market selection -----------------------------------------------

    def get_cursor(self, name: str) -> str | None:
        with self._read() as conn:
            row = conn.execute("SELECT value FROM cursors WHERE name = ?", (name,)).fetchone()
        return None if row is None else row["value"]

    def set_cursor(self, name: str, value: str) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO cursors (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (name, str(value)),
            )

    def journal_tick(self, started_at: float, finished_at: float, summary: dict) -> int:
        """Append one tick to the journal; returns its id."""
        text = json.dumps(summary, sort_keys=True, default=_json_default)
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO ticks (started_at, finished_at, summary) VALUES (?, ?, ?)",
                (started_at, finished_at, text),
            )
            return int(cursor.lastrowid)

    def last_tick(self) -> dict | None:
        with self._read() as conn:
            row = conn.execute("SELECT * FROM ticks ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            return None
        return {
            "id": row["id"],
            "started_at": row["started_at"],
            "finished_at": row["finished_at"],
            "summary": _stored_json("ticks", str(row["id"]), "summary", row["summary"]),
        }

    def recent_ticks(self, count: int, every: int = 1) -> list[dict]:
        """Up to `count` of the latest journaled ticks, one per `every` ids, oldest first (the dashboard's
        history: a bounded read however long the journal is)."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM ticks WHERE id % ? = 0 AND id > (SELECT COALESCE(MAX(id), 0) FROM ticks) - ? "
                "ORDER BY id", (every, count * every),
            ).fetchall()
        return [{"id": r["id"], "started_at": r["started_at"], "finished_at": r["finished_at"],
                 "summary": _stored_json("ticks", str(r["id"]), "summary", r["summary"])} for r in rows]

    def tick_count(self) -> int:
        with self._read() as conn:
            return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM ticks").fetchone()[0])

    def set_selection(self, condition_ids: Sequence[str], at: float) -> None:
        text = json.dumps(list(condition_ids))
        with self._write() as conn:
            conn.execute(
                "INSERT INTO selection (id, condition_ids, at) VALUES (1, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET condition_ids = excluded.condition_ids, at = excluded.at",
                (text, at),
            )

    def selection(self) -> tuple[list[str], float] | None:
        with self._read() as conn:
            row = conn.execute("SELECT condition_ids, at FROM selection WHERE id = 1").fetchone()
        if row is None:
            return None
        return list(_stored_json("selection", "1", "condition_ids", row["condition_ids"])), row["at"]
