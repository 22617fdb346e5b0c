"""The ledger's tables: the schema, its version, the in-place migrations of older files, and the check on open
that every stored state and status is one the state machines know.

Versions: 1 the first; 2 adds `fills.fee` (fills recorded before carry 0); 3 adds `merges`. A file of an older
version is migrated in place, in one transaction, when it is opened; a newer one is refused.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from polymm.ledger.records import LedgerError
from polymm.statemachines.orders import ORDER_STATES
from polymm.statemachines.trades import TRADE_STATUSES

SCHEMA_VERSION = 3  # 2: fills.fee; 3: merges
MERGE_STATES = ("SIGNED", "SUBMITTED", "CONFIRMED", "FAILED")  # SIGNED: durable before it is sent
# A tick reads fills by order id and unsettled fills by status, never the whole table.
TICK_INDEXES = (
    ("idx_fills_order_id", "CREATE INDEX IF NOT EXISTS idx_fills_order_id ON fills (order_id)"),
    ("idx_fills_status", "CREATE INDEX IF NOT EXISTS idx_fills_status ON fills (status)"),
)


def create_schema(db: sqlite_utils.Database) -> None:
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
    create_merges(db)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def create_merges(db: sqlite_utils.Database) -> None:
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


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def refuse_newer(path: Path, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise LedgerError(
            f"{path}: schema version {version} is newer than this polymm understands "
            f"({SCHEMA_VERSION}); refusing to open it"
        )


def migrate(db: sqlite_utils.Database, conn: sqlite3.Connection, path: Path) -> None:
    """Bring the file to SCHEMA_VERSION; the caller holds the write transaction (re-read under it: another
    process may have done it meanwhile)."""
    version = schema_version(conn)
    refuse_newer(path, version)
    if version == 0:
        create_schema(db)
    elif version in (1, 2):
        if version == 1:  # schema 2 adds the fee of each fill; fills recorded before carry 0
            conn.execute("ALTER TABLE fills ADD COLUMN fee TEXT NOT NULL DEFAULT '0'")
        create_merges(db)  # schema 3: merges
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    elif version != SCHEMA_VERSION:
        raise LedgerError(f"{path}: unsupported schema version {version}")


def missing_tick_indexes(conn: sqlite3.Connection) -> list[str]:
    """The CREATE INDEX statements of the tick's indexes an older file lacks."""
    have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    return [sql for name, sql in TICK_INDEXES if name not in have]


def check_stored_values(conn: sqlite3.Connection, path: Path) -> None:
    """LedgerError naming the first stored order state, trade status or merge state nothing here knows."""
    checks = (
        ("orders", "order_id", "state", ORDER_STATES),
        ("fills", "trade_id || ', ' || order_id", "status", TRADE_STATUSES),
        ("merges", "merge_id", "state", MERGE_STATES),
    )
    for table, key_sql, column, allowed in checks:
        marks = ", ".join("?" for _ in allowed)
        bad = conn.execute(
            f"SELECT {key_sql} AS key, {column} AS value FROM {table} "
            f"WHERE {column} IS NULL OR {column} NOT IN ({marks}) LIMIT 1",
            allowed,
        ).fetchone()
        if bad is not None:
            raise LedgerError(
                f"{path}: table {table}, key {bad['key']}: {column} {bad['value']!r} "
                f"is not allowed; allowed: {', '.join(allowed)}"
            )
