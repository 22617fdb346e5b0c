"""The ledger survives `kill -9` at random moments: what was reported committed is there, once.

A real child process (tests/helpers/ledger_writer.py) writes intents, transitions, fills and
status changes in a loop and prints each one after the ledger call returns. The test kills it
with SIGKILL after a random delay, reopens the same file and checks the ledger against what the
child reported; then starts the next child on the same file, which continues from the restored
state and re-reports old fills (which must not count again).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from polymm.ledger import Ledger
from polymm.statemachines.orders import next_state

WRITER = Path(__file__).parent / "helpers" / "ledger_writer.py"
KILLS = 10
SEED = int(os.environ.get("POLYMM_CRASH_SEED", "20240607"))


class Reported:
    """What the children said they committed, and the one call each may have been killed inside."""

    def __init__(self) -> None:
        self.order_state: dict[str, str] = {}
        self.order_pending: dict[str, str | None] = {}  # oid -> trigger in flight ("" = intent in flight)
        self.fill_status: dict[tuple[str, str], str] = {}
        self.fill_pending: dict[tuple[str, str], str | None] = {}  # key -> status in flight ("" = new fill)
        self.duplicates_reapplied: list[str] = []
        self.committed = 0

    def read(self, lines: list[str]) -> None:
        for line in lines:
            kind, *args = line.split()
            if kind == "try-intent":
                self.order_pending[args[0]] = ""
            elif kind == "intent":
                self.order_state[args[0]], self.order_pending[args[0]] = "intent", None
            elif kind == "try":
                self.order_pending[args[0]] = args[1]
            elif kind == "state":
                self.order_state[args[0]], self.order_pending[args[0]] = args[1], None
            elif kind == "try-fill":
                self.fill_pending[(args[0], args[1])] = ""
            elif kind == "fill":
                key = (args[0], args[1])
                assert args[2] == "True", f"a brand-new trade was not applied: {line}"
                self.fill_status[key], self.fill_pending[key] = args[3], None
            elif kind == "try-status":
                self.fill_pending[(args[0], args[1])] = args[2]
            elif kind == "status":
                key = (args[0], args[1])
                self.fill_status[key], self.fill_pending[key] = args[2], None
            elif kind == "dup" and args[2] != "False":
                self.duplicates_reapplied.append(line)
            if kind in ("intent", "state", "fill", "status"):
                self.committed += 1

    def check_and_sync(self, ledger: Ledger) -> None:
        """Every reported commit is in the ledger; an in-flight call landed wholly or not at all."""
        for oid, pending in self.order_pending.items():
            stored = ledger.order(oid)
            if pending == "":  # killed inside record_intent
                assert stored is None or stored.state == "intent", oid
            else:
                assert stored is not None, f"order {oid} reported committed is missing"
                last = self.order_state[oid]
                allowed = {last} if pending is None else {last, next_state(last, pending)}
                assert stored.state in allowed, f"order {oid}: ledger has {stored.state}, reported {last} (+{pending})"
            if stored is not None:
                self.order_state[oid], self.order_pending[oid] = stored.state, None
        for key, pending in self.fill_pending.items():
            stored = ledger.fill(*key)
            if pending == "":
                pass  # killed inside apply_fill: either recorded with its position change, or not at all
            else:
                assert stored is not None, f"fill {key} reported committed is missing"
                last = self.fill_status[key]
                allowed = {last} if pending is None else {last, pending}
                assert stored.status in allowed, f"fill {key}: ledger has {stored.status}, reported {last} (+{pending})"
            if stored is not None:
                self.fill_status[key], self.fill_pending[key] = stored.status, None


def folded_positions(ledger: Ledger) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    """Average-cost fold of the effective fills in first-seen order, written out independently."""
    out: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
    for f in ledger.fills():
        if not f.applied or f.reversed:
            continue
        size, cost, pnl = out.get(f.token_id, (Decimal(0), Decimal(0), Decimal(0)))
        if f.side == "BUY":
            size, cost = size + f.size, cost + f.size * f.price
        else:
            avg = cost / size if size else Decimal(0)
            size, cost, pnl = size - f.size, cost - f.size * avg, pnl + f.size * (f.price - avg)
        out[f.token_id] = (size, cost, pnl)
    return out


def check_ledger_file(path: Path, reported: Reported) -> None:
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert raw.execute(
            "SELECT trade_id, order_id, COUNT(*) FROM fills GROUP BY trade_id, order_id HAVING COUNT(*) > 1"
        ).fetchall() == []
    finally:
        raw.close()
    with Ledger(path) as ledger:
        reported.check_and_sync(ledger)
        assert reported.duplicates_reapplied == []
        # No fill counted twice, none lost: positions are exactly the fold of the effective fills.
        positions = {t: (p.size, p.cost, p.realized_pnl) for t, p in ledger.positions().items()}
        expected = folded_positions(ledger)
        assert {t: v for t, v in positions.items() if t in expected} == expected
        assert all(v == (0, 0, 0) for t, v in positions.items() if t not in expected)
        # Every order's history is an unbroken chain ending in its state.
        for order in ledger.orders():
            history = ledger.history(order.order_id)
            assert history[0]["from_state"] is None and history[0]["to_state"] == "intent"
            for before, after in zip(history, history[1:]):
                assert after["from_state"] == before["to_state"]
                assert next_state(before["to_state"], after["trigger"]) == after["to_state"]
            assert history[-1]["to_state"] == order.state


def wait_for_ready(out: Path, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "ready" in out.read_text():
            return
        if proc.poll() is not None:
            raise AssertionError(f"writer exited early with {proc.returncode}: {out.read_text()[-2000:]}")
        time.sleep(0.005)
    raise AssertionError("writer never became ready")


def wait_for_lines(out: Path, proc: subprocess.Popen, count: int, timeout: float = 120.0) -> None:
    """Until the writer has reported `count` lines (the bound is only against a hung writer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(complete_lines(out.read_text())) >= count:
            return
        if proc.poll() is not None:
            raise AssertionError(f"writer exited early with {proc.returncode}: {out.read_text()[-2000:]}")
        time.sleep(0.002)
    raise AssertionError(f"writer reported fewer than {count} lines in {timeout} s")


def complete_lines(text: str) -> list[str]:
    lines = text.split("\n")
    return [line for line in lines[:-1] if line.strip()]  # the last piece has no newline: not reported


@pytest.mark.slow
def test_kill_minus_9_at_random_moments_loses_no_committed_record_and_counts_no_fill_twice(tmp_path):
    rng = random.Random(SEED)
    db = tmp_path / "ledger.db"
    reported = Reported()
    for run in range(1, KILLS + 1):
        out = tmp_path / f"run{run}.out"
        err = tmp_path / f"run{run}.err"
        with out.open("w") as stdout, err.open("w") as stderr:
            proc = subprocess.Popen([sys.executable, str(WRITER), str(db), str(run)], stdout=stdout, stderr=stderr)
            try:
                wait_for_ready(out, proc)
                # kill at a random moment of a busy writer: after a random number of its reported writes, not after
                # a wall-clock sleep (on a loaded machine a sleep can end before the writer has written anything)
                wait_for_lines(out, proc, rng.randint(25, 120))
                time.sleep(rng.uniform(0, 0.05))
                assert proc.poll() is None, f"writer died on its own: {err.read_text()[-2000:]}"
                os.kill(proc.pid, signal.SIGKILL)
            finally:
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        assert proc.returncode == -signal.SIGKILL, err.read_text()[-2000:]
        reported.read(complete_lines(out.read_text()))
        check_ledger_file(db, reported)
    # The kills landed on a busy writer, not an idle one.
    assert reported.committed > 20 * KILLS, reported.committed
    assert len(reported.order_state) > 10 and len(reported.fill_status) > 10
