"""The ledger's merges: a YES+NO pair merged into collateral through the relayer (polymm/controller/merger.py).

Invariants:
- a merge is durable (state SIGNED, with its signed payload) before it is sent, so a restart can find out what
  became of it; resending it cannot merge twice (its nonce is spent by the first that lands);
- a confirmed merge shrinks each outcome's position by the amount, once, in one transaction with the row turning
  CONFIRMED: as a SELL fill row of trade id `merge:<id>` per outcome, folded by the one position rule
  (`reconciler/fills.py`), so every later refold keeps it;
- a merge reported failed after it was recorded (a reorg) has its fill rows reversed and both positions refolded
  without them, once; a merge that failed before moves nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from polymm.domain.terms import FillTerms
from polymm.ledger.records import UNSETTLED, FillRecord, exact, stored_decimal, stored_json
from polymm.reconciler.fills import fold_in

MERGE_PREFIX = "merge:"  # the trade id of a merge's fill rows (polymm.controller.merger)


class Merges:
    """The merge methods of the `Ledger` (polymm/ledger/store.py supplies the connection and the fill rules)."""

    def record_merge(self, merge_id: str, condition_id: str, token_ids: Sequence[str], amount: Decimal,
                     payload: dict) -> None:
        """The signed merge, durable (state SIGNED) before it is sent."""
        now = self._clock()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO merges (merge_id, condition_id, token_ids, amount, state, payload, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, 'SIGNED', ?, ?, ?)",
                (merge_id, condition_id, json.dumps(list(token_ids)), str(exact(amount, "merge amount")),
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
            amount = stored_decimal("merges", merge_id, "amount", row["amount"])
            tokens = stored_json("merges", merge_id, "token_ids", row["token_ids"])
            positions = [self._position_in(conn, t) for t in tokens]
            avgs = [p.avg_cost if p is not None else Decimal(0) for p in positions]
            edge = (Decimal(1) - sum(avgs)) / 2
            now = self._clock()
            for index, (token, position, avg) in enumerate(zip(tokens, positions, avgs)):
                sold = FillRecord(FillTerms(MERGE_PREFIX + merge_id, f"{MERGE_PREFIX}{merge_id}:{index}",
                                            row["condition_id"], token, "SELL", amount, avg + edge, "maker", int(at),
                                            Decimal(0)),
                                  "CONFIRMED", True, False, now, now)
                conn.execute(
                    "INSERT INTO fills (trade_id, order_id, condition_id, token_id, side, size, price, status, "
                    "liquidity, match_time, applied, reversed, first_seen_at, updated_at, fee) "
                    "VALUES (?, ?, ?, ?, 'SELL', ?, ?, 'CONFIRMED', 'maker', ?, 1, 0, ?, ?, '0')",
                    (sold.trade_id, sold.order_id, sold.condition_id, token, str(amount), str(sold.price),
                     sold.match_time, now, now))
                self._store_position(conn, fold_in(position, sold))
            pnl = amount * (Decimal(1) - sum(avgs))
            conn.execute("UPDATE merges SET state = 'CONFIRMED', relayer_state = ?, "
                         "transaction_hash = COALESCE(?, transaction_hash), pnl = ?, updated_at = ? WHERE merge_id = ?",
                         (relayer_state, transaction_hash, str(pnl), now, merge_id))
            return pnl

    def reverse_merge(self, merge_id: str, error: str, relayer_state: str) -> bool:
        """A merge recorded at STATE_MINED that the relayer then reports failed (a reorg): its fill rows are
        reversed and both positions refolded without them, in one transaction. True if it was reversed now."""
        with self._write() as conn:
            row = conn.execute("SELECT * FROM merges WHERE merge_id = ?", (merge_id,)).fetchone()
            if row is None or row["state"] != "CONFIRMED":
                return False
            conn.execute("UPDATE fills SET reversed = 1, status = 'FAILED', updated_at = ? WHERE trade_id = ?",
                         (self._clock(), MERGE_PREFIX + merge_id))
            for token in stored_json("merges", merge_id, "token_ids", row["token_ids"]):
                self._store_position(conn, self._refolded(conn, token, row["condition_id"]))
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
            d["amount"] = stored_decimal("merges", r["merge_id"], "amount", r["amount"])
            d["pnl"] = stored_decimal("merges", r["merge_id"], "pnl", r["pnl"]) if r["pnl"] is not None else None
            d["token_ids"] = stored_json("merges", r["merge_id"], "token_ids", r["token_ids"])
            d["payload"] = stored_json("merges", r["merge_id"], "payload", r["payload"])
            out.append(d)
        return out

    def unsettled_tokens(self) -> set[str]:
        """Tokens with a fill that may still change (MATCHED, MINED, RETRYING): never merged (a buy may fail)."""
        with self._read() as conn:
            rows = conn.execute(f"SELECT DISTINCT token_id FROM fills WHERE status IN ({', '.join('?' * len(UNSETTLED))})",
                                UNSETTLED).fetchall()
        return {r["token_id"] for r in rows}
