"""The SQLite ledger: every order we signed, every fill we took part in, and the positions they leave.

Invariants (every method keeps them):
- one transaction per change: an order's state change and its `order_events` history row, a fill row and its
  position change, a tick's whole set of changes, commit together or not at all (polymm/ledger/connection.py);
- an intent is durable before `record_intent` returns (`synchronous=FULL`), so the caller may send right after;
- order states move only through the table in `statemachines/orders.py`; an illegal move raises
  `IllegalTransition` and writes nothing; `size_matched` never decreases;
- the fill rules are the pure core's (`reconciler/fills.py`), never re-implemented here: a tick's changes are
  written as the tick projected them (`apply_changes`: the fills, their statuses, the order moves and the
  positions they leave); the few paths that record a fill or a status outside a tick (`apply_fill`,
  `update_fill_status`, a merge) call the same pure functions on the rows they read;
- every fill is counted once: fills are keyed by (trade_id, order_id); a fill first seen FAILED is recorded but
  never touches a position; a fill that later turns FAILED is reversed exactly once;
- a position always equals the fold of its effective fills (applied and not reversed) in the order they were
  first seen (`seq`); nothing is clamped (a SELL beyond the held size leaves the size negative, as reported);
- a tick reads what is live, never the closed history (`tick_snapshot`: indexed by order id and by settlement
  status).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from decimal import Decimal

from polymm.domain.positions import PositionRecord
from polymm.domain.types import Fill
from polymm.ledger.connection import LedgerConnection
from polymm.ledger.journal import Journal
from polymm.ledger.merges import Merges
from polymm.ledger.records import (
    UNSETTLED, FillRecord, LedgerError, NewOrder, OrderRecord, exact, fill_row, position_from_row, position_to_row,
)
from polymm.reconciler.fills import applies_on_first_sight, fold_in, refold, status_move
from polymm.reconciler.snapshot import LedgerSnapshot
from polymm.statemachines.orders import ACTIVE_STATES, ORDER_STATES, next_state
from polymm.statemachines.trades import check_trade_status

EFFECTIVE_FILLS_SQL = "SELECT * FROM fills WHERE token_id = ? AND applied = 1 AND reversed = 0 ORDER BY seq"
FILL_COLUMNS = ("trade_id", "order_id", "condition_id", "token_id", "side", "size", "price", "status", "liquidity",
                "match_time", "applied", "reversed", "first_seen_at", "updated_at", "fee")
INSERT_FILL_SQL = (f"INSERT INTO fills ({', '.join(FILL_COLUMNS)}) "
                   f"VALUES ({', '.join(':' + c for c in FILL_COLUMNS)})")


class Ledger(Merges, Journal, LedgerConnection):
    """The controller's durable memory: orders, fills, positions (here), merges (`Merges`), cursors, the tick
    journal and the market selection (`Journal`). One writer process; any number of reader processes."""

    # -- orders --------------------------------------------------------------------------------

    def record_intent(self, order: NewOrder) -> OrderRecord:
        """Store a new order in state 'intent', durably, before anything is sent."""
        row = order.to_row(0.0)  # checked before the clock is read or anything is written
        now = self._clock()
        row.update(created_at=now, updated_at=now)
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
        matched = None if size_matched is None else exact(size_matched, f"order {order_id} size_matched")
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
        matched = None if size_matched is None else exact(size_matched, f"order {order_id} size_matched")
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
        return [OrderRecord.from_row(r) for r in rows]

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
        return None if row is None else OrderRecord.from_row(row)

    @staticmethod
    def _insert_event(
        conn: sqlite3.Connection, order_id: str, at: float, from_state: str | None, to_state: str, trigger: str, reason: str
    ) -> None:
        conn.execute(
            "INSERT INTO order_events (order_id, at, from_state, to_state, trigger, reason) VALUES (?, ?, ?, ?, ?, ?)",
            (order_id, at, from_state, to_state, trigger, reason),
        )

    # -- fills and positions -------------------------------------------------------------------

    def apply_fill(self, fill: Fill) -> bool:
        """Record a fill and apply it to its token's position, once; True only the first time (outside a tick:
        the tick records its fills through `apply_changes`).

        A fill seen again is left unchanged (its status moves through `update_fill_status`).
        A fill first seen FAILED is recorded with applied=False and never touches a position.
        """
        applied = applies_on_first_sight(fill.status)
        fill_row(fill, applied, False, 0.0)  # checked before anything is written
        with self._write() as conn:
            if self._fill_in(conn, fill.trade_id, fill.order_id) is not None:
                return False
            cursor = conn.execute(INSERT_FILL_SQL, fill_row(fill, applied, False, self._clock()))
            if applied:
                stored = FillRecord.from_row(conn.execute("SELECT * FROM fills WHERE seq = ?",
                                                          (cursor.lastrowid,)).fetchone())
                self._store_position(conn, fold_in(self._position_in(conn, fill.token_id), stored))
            return True

    def update_fill_status(self, trade_id: str, order_id: str, status: str) -> FillRecord | None:
        """Move a fill's settlement status forward; a move to FAILED reverses an applied fill once (outside a
        tick: the tick moves statuses through `apply_changes`).

        Returns the fill as stored afterwards (unchanged if `status` is its current status), or
        None if the ledger has no such fill. A regression raises IllegalTransition, writing nothing.
        """
        with self._write() as conn:
            current = self._fill_in(conn, trade_id, order_id)
            if current is None:
                check_trade_status(status)
                return None
            move = status_move(current.status, current.applied, current.reversed, status, trade_id=trade_id)
            if move is None:
                return current
            self._set_fill_status(conn, trade_id, order_id, move.status, current.reversed or move.reverses)
            if move.reverses:
                self._store_position(conn, self._refolded(conn, current.token_id, current.condition_id))
            return self._fill_in(conn, trade_id, order_id)

    def fill(self, trade_id: str, order_id: str) -> FillRecord | None:
        with self._read() as conn:
            return self._fill_in(conn, trade_id, order_id)

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
        return [FillRecord.from_row(r) for r in rows]

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
        return {r["token_id"]: position_from_row(r) for r in rows}

    @staticmethod
    def _fill_in(conn: sqlite3.Connection, trade_id: str, order_id: str) -> FillRecord | None:
        row = conn.execute("SELECT * FROM fills WHERE trade_id = ? AND order_id = ?", (trade_id, order_id)).fetchone()
        return None if row is None else FillRecord.from_row(row)

    def _set_fill_status(self, conn: sqlite3.Connection, trade_id: str, order_id: str, status: str,
                         reversed: bool) -> None:
        conn.execute("UPDATE fills SET status = ?, reversed = ?, updated_at = ? WHERE trade_id = ? AND order_id = ?",
                     (status, int(reversed), self._clock(), trade_id, order_id))

    @staticmethod
    def _position_in(conn: sqlite3.Connection, token_id: str) -> PositionRecord | None:
        row = conn.execute("SELECT * FROM positions WHERE token_id = ?", (token_id,)).fetchone()
        return None if row is None else position_from_row(row)

    @staticmethod
    def _store_position(conn: sqlite3.Connection, position: PositionRecord) -> None:
        conn.execute(
            "INSERT INTO positions (token_id, condition_id, size, cost, realized_pnl) "
            "VALUES (:token_id, :condition_id, :size, :cost, :realized_pnl) "
            "ON CONFLICT(token_id) DO UPDATE SET size = excluded.size, cost = excluded.cost, "
            "realized_pnl = excluded.realized_pnl",
            position_to_row(position),
        )

    @staticmethod
    def _effective_fills(conn: sqlite3.Connection, token_id: str) -> tuple[FillRecord, ...]:
        """The token's fills that count (applied, not reversed), in first-seen order."""
        return tuple(FillRecord.from_row(r) for r in conn.execute(EFFECTIVE_FILLS_SQL, (token_id,)))

    def _refolded(self, conn: sqlite3.Connection, token_id: str, condition_id: str) -> PositionRecord:
        return refold(token_id, condition_id, self._effective_fills(conn, token_id))

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
            active = [OrderRecord.from_row(r) for r in conn.execute(
                f"SELECT * FROM orders WHERE state IN ({', '.join('?' for _ in ACTIVE_STATES)}) "
                "ORDER BY created_at, order_id", sorted(ACTIVE_STATES))]
            observed_keys = {(f.trade_id, f.order_id) for f in observed_fills}
            rows = {r["seq"]: r for r in self._rows_in(conn, "fills", "trade_id",
                                                       list(dict.fromkeys(f.trade_id for f in observed_fills)))
                    if (r["trade_id"], r["order_id"]) in observed_keys}
            stored_status = {(r["trade_id"], r["order_id"]): r["status"] for r in rows.values()}
            changed = [f.order_id for f in observed_fills if stored_status.get((f.trade_id, f.order_id)) != f.status]
            named_ids = list(dict.fromkeys([*open_order_ids, *changed]))
            named = {o.order_id: o for o in map(OrderRecord.from_row, self._rows_in(conn, "orders", "order_id", named_ids))}
            order_ids = list(dict.fromkeys([*(o.order_id for o in active), *named]))
            rows.update({r["seq"]: r for r in self._rows_in(conn, "fills", "order_id", order_ids)})
            rows.update({r["seq"]: r for r in self._rows_in(conn, "fills", "status", UNSETTLED)})
            fills = {(f.trade_id, f.order_id): f for f in map(FillRecord.from_row, (rows[k] for k in sorted(rows)))}
            token_fills = {}
            for f in observed_fills:
                stored = fills.get((f.trade_id, f.order_id))
                if f.status == "FAILED" and stored is not None and stored.applied and not stored.reversed \
                        and stored.token_id not in token_fills:
                    token_fills[stored.token_id] = self._effective_fills(conn, stored.token_id)
            positions = {r["token_id"]: position_from_row(r) for r in conn.execute("SELECT * FROM positions")}
            row = conn.execute("SELECT value FROM cursors WHERE name = ?", (cursor_name,)).fetchone()
        cursor = int(row["value"]) if row is not None else None
        return LedgerSnapshot(tuple(active), named, fills, positions, cursor, token_fills)

    def apply_changes(self, changes, cursor_name: str) -> list:
        """Write one tick's `LedgerChanges` (reconciler/tick.py) in ONE transaction, as the tick projected them:
        the new fill rows, the status moves, the positions they leave, the order moves and the cursor; all of it
        commits, or none. Nothing is recomputed here. A fill the tick took for new that the ledger already holds
        means the snapshot was stale (another writer): LedgerError, nothing written. Returns the new fills."""
        recorded = []
        with self._write() as conn:
            for ch in changes.fills:
                if ch.new:
                    if self._fill_in(conn, ch.fill.trade_id, ch.fill.order_id) is not None:
                        raise LedgerError(f"fill ({ch.fill.trade_id}, {ch.fill.order_id}) is already recorded: "
                                          "the tick's snapshot is stale")
                    conn.execute(INSERT_FILL_SQL, fill_row(ch.fill, ch.applied, ch.reversed, self._clock()))
                    recorded.append(ch.fill)
                else:
                    check_trade_status(ch.fill.status)
                    self._set_fill_status(conn, ch.fill.trade_id, ch.fill.order_id, ch.fill.status, ch.reversed)
            for position in changes.positions:
                self._store_position(conn, position)
            for up in changes.orders:
                if not up.triggers:
                    self.update_order(up.order_id, size_matched=up.size_matched)
                for trigger in up.triggers:
                    self.transition(up.order_id, trigger, reason=up.reason, size_matched=up.size_matched)
            if changes.cursor is not None:
                self.set_cursor(cursor_name, str(changes.cursor))
        return recorded
