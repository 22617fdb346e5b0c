"""A ledger file written by the previous code (schema 3, polymm/statemachines/ledger.py at ce0ddee: the fixture
tests/fixtures/ledger_schema3.sqlite, made by tests/fixtures/ledger_schema3.py) opens with polymm/ledger in place:
every order, fill, position, merge, cursor, journal row and the selection reads back as the raw file holds it,
and the ledger goes on from there by the same rules."""

from __future__ import annotations

import json
import shutil
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from polymm.ledger import SCHEMA_VERSION, Ledger
from polymm.reconciler.fills import refold

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "ledger_schema3.sqlite"


def raw(path: Path, sql: str) -> list[dict]:
    conn = sqlite3.connect(str(path))
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql)]
    finally:
        conn.close()


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.sqlite"
    shutil.copyfile(FIXTURE, path)
    return path


def test_the_fixture_covers_what_it_should():
    """Orders in several states, fills in every settlement status (one reversed, one never applied), merges
    confirmed, failed, pending and reversed: what the migration test below must carry over."""
    assert raw(FIXTURE, "PRAGMA user_version")[0]["user_version"] == 3
    states = {r["state"] for r in raw(FIXTURE, "SELECT state FROM orders")}
    assert {"intent", "unknown", "partially_filled", "filled", "cancelled", "rejected"} <= states
    fills = raw(FIXTURE, "SELECT * FROM fills")
    assert {"MATCHED", "MINED", "CONFIRMED", "RETRYING", "FAILED"} <= {f["status"] for f in fills}
    assert any(f["reversed"] for f in fills) and any(not f["applied"] for f in fills)
    assert {"CONFIRMED", "FAILED", "SUBMITTED"} <= {m["state"] for m in raw(FIXTURE, "SELECT state FROM merges")}


def test_a_schema_3_file_opens_in_place_with_everything_intact(copy):
    orders = raw(copy, "SELECT * FROM orders ORDER BY created_at, order_id")
    fills = raw(copy, "SELECT * FROM fills ORDER BY seq")
    positions = raw(copy, "SELECT * FROM positions ORDER BY token_id")
    merges = raw(copy, "SELECT * FROM merges ORDER BY created_at, merge_id")
    events = raw(copy, "SELECT * FROM order_events ORDER BY id")
    ticks = raw(copy, "SELECT * FROM ticks ORDER BY id")
    cursors = {r["name"]: r["value"] for r in raw(copy, "SELECT * FROM cursors")}
    [selection] = raw(copy, "SELECT * FROM selection")

    with Ledger(copy) as ledger:
        got = ledger.orders()
        assert [o.order_id for o in got] == [r["order_id"] for r in orders]
        for o, r in zip(got, orders):
            assert (o.state, o.slot_key, o.condition_id, o.token_id, o.side, o.role) == (
                r["state"], r["slot_key"], r["condition_id"], r["token_id"], r["side"], r["role"])
            assert (o.price, o.size, o.size_matched) == (Decimal(r["price"]), Decimal(r["size"]),
                                                         Decimal(r["size_matched"]))
            assert o.payload == json.loads(r["payload"]) and o.post_only == bool(r["post_only"])
            assert (o.venue_status, o.created_at, o.submitted_at, o.last_error) == (
                r["venue_status"], r["created_at"], r["submitted_at"], r["last_error"])
            assert ledger.history(o.order_id) == [
                {k: e[k] for k in ("order_id", "at", "from_state", "to_state", "trigger", "reason")}
                for e in events if e["order_id"] == o.order_id]

        trades = [r for r in fills if not r["trade_id"].startswith("merge:")]
        assert [(f.trade_id, f.order_id) for f in ledger.fills()] == [(r["trade_id"], r["order_id"]) for r in trades]
        for r in fills:
            f = ledger.fill(r["trade_id"], r["order_id"])
            assert (f.status, f.applied, f.reversed, f.side, f.liquidity, f.match_time) == (
                r["status"], bool(r["applied"]), bool(r["reversed"]), r["side"], r["liquidity"], r["match_time"])
            assert (f.size, f.price, f.fee) == (Decimal(r["size"]), Decimal(r["price"]), Decimal(r["fee"]))
            assert (f.first_seen_at, f.updated_at) == (r["first_seen_at"], r["updated_at"])

        held = ledger.positions()
        assert sorted(held) == [r["token_id"] for r in positions]
        for r in positions:
            p = held[r["token_id"]]
            assert (p.condition_id, p.size, p.cost, p.realized_pnl) == (
                r["condition_id"], Decimal(r["size"]), Decimal(r["cost"]), Decimal(r["realized_pnl"]))
            # and each stored position is the fold of its effective fills, as the rules say
            effective = [ledger.fill(f["trade_id"], f["order_id"]) for f in fills
                         if f["token_id"] == r["token_id"] and f["applied"] and not f["reversed"]]
            assert refold(r["token_id"], r["condition_id"], effective) == p

        got_merges = ledger.merges()
        assert [m["merge_id"] for m in got_merges] == [r["merge_id"] for r in merges]
        for m, r in zip(got_merges, merges):
            assert (m["state"], m["condition_id"], m["transaction_id"], m["transaction_hash"], m["relayer_state"],
                    m["error"]) == (r["state"], r["condition_id"], r["transaction_id"], r["transaction_hash"],
                                    r["relayer_state"], r["error"])
            assert m["amount"] == Decimal(r["amount"]) and m["token_ids"] == json.loads(r["token_ids"])
            assert m["pnl"] == (Decimal(r["pnl"]) if r["pnl"] is not None else None)
            assert m["payload"] == json.loads(r["payload"])

        for name, value in cursors.items():
            assert ledger.get_cursor(name) == value
        assert ledger.tick_count() == len(ticks)
        assert [t["summary"] for t in ledger.recent_ticks(len(ticks))] == [json.loads(t["summary"]) for t in ticks]
        assert ledger.selection() == (json.loads(selection["condition_ids"]), selection["at"])
        assert ledger.integrity_problem() is None
    assert raw(copy, "PRAGMA user_version")[0]["user_version"] == SCHEMA_VERSION


def test_the_migrated_file_goes_on_by_the_same_rules(copy):
    """A fill of the old file that now turns FAILED is reversed and its token refolded from what is left, a pending
    merge confirms against the positions as stored, and reopening reads the same."""
    with Ledger(copy) as ledger:
        mined = next(f for f in ledger.fills() if f.status == "MINED")
        moved = ledger.update_fill_status(mined.trade_id, mined.order_id, "FAILED")
        assert moved.reversed and moved.status == "FAILED"
        effective = [ledger.fill(r["trade_id"], r["order_id"]) for r in raw(copy, "SELECT * FROM fills ORDER BY seq")
                     if r["token_id"] == mined.token_id and r["applied"] and not r["reversed"]]
        assert (mined.trade_id, mined.order_id) not in {(f.trade_id, f.order_id) for f in effective}
        assert ledger.positions()[mined.token_id] == refold(mined.token_id, mined.condition_id, effective)
        [pending] = ledger.merges(states=("SUBMITTED",))
        before = ledger.positions()
        pnl = ledger.confirm_merge(pending["merge_id"], "0xnew", 1_800_000_000.0)
        after = ledger.positions()
        for token in pending["token_ids"]:
            assert after[token].size == before[token].size - pending["amount"]
        avgs = sum(before[t].avg_cost for t in pending["token_ids"])
        assert pnl == pending["amount"] * (1 - avgs)
        snapshot = (ledger.orders(), ledger.fills(), after, ledger.merges())
    with Ledger(copy) as reopened:
        assert (reopened.orders(), reopened.fills(), reopened.positions(), reopened.merges()) == snapshot
