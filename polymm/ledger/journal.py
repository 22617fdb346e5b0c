"""The ledger's small memories: named cursors (the trade cursor, the merger's note, what the controller keeps
between ticks), the tick journal, and the market selection in force."""

from __future__ import annotations

import json
from collections.abc import Sequence

from polymm.ledger.records import json_default, stored_json

# the cursor where the loop keeps its last read of the wallet (balance, allowance, rewards), written by
# polymm.controller.account and read by the views and the metrics without a venue call of their own
ACCOUNT_CURSOR = "views.account"


class Journal:
    """The cursor, journal and selection methods of the `Ledger` (polymm/ledger/store.py)."""

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
        text = json.dumps(summary, sort_keys=True, default=json_default)
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
            "summary": stored_json("ticks", str(row["id"]), "summary", row["summary"]),
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
                 "summary": stored_json("ticks", str(r["id"]), "summary", r["summary"])} for r in rows]

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
        return list(stored_json("selection", "1", "condition_ids", row["condition_ids"])), row["at"]
