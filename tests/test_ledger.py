"""The SQLite ledger: orders through the state machine, fills counted once, positions, restore."""

from __future__ import annotations

import dataclasses
import sqlite3
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polymm.domain.positions import PositionRecord
from polymm.domain.terms import FillTerms, OrderTerms
from polymm.domain.types import Fill
from polymm.ledger import (
    Ledger,
    LedgerError,
    NewOrder,
)
from polymm.statemachines.orders import IllegalTransition

D = Decimal
COND = "0xcond"
YES, NO = "111", "222"


class FakeClock:
    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "ledger.db"


@pytest.fixture
def ledger(db_path: Path, clock: FakeClock):
    with Ledger(db_path, clock=clock) as led:
        yield led


def new_order(order_id: str = "0xa1", *, token_id: str = YES, side: str = "BUY", size: str = "100", price: str = "0.48") -> NewOrder:
    return NewOrder(
        terms=OrderTerms(
            order_id=order_id,
            slot_key=f"{COND}|{token_id}|{side}|quote",
            condition_id=COND,
            token_id=token_id,
            side=side,
            role="quote",
            price=D(price),
            size=D(size),
        ),
        order_type="GTC",
        post_only=True,
        payload={"salt": 12345, "maker": "0xabc", "makerAmount": "48000000", "signature": "0xsig"},
    )


def observed_fill(trade_id: str, order_id: str = "0xa1", *, token_id: str = YES, side: str = "BUY",
                  size: str = "10", price: str = "0.48", status: str = "MATCHED", liquidity: str = "maker") -> Fill:
    return Fill(FillTerms(trade_id, order_id, COND, token_id, side, D(size), D(price), liquidity, 1_700_000_000),
                status)


def fold(fills) -> dict[str, PositionRecord]:
    """The average-cost rule, written out independently: fold effective fills in first-seen order."""
    out: dict[str, list[Decimal]] = {}
    for f in fills:
        if not f.applied or f.reversed:
            continue
        size, cost, pnl = out.setdefault(f.token_id, [D(0), D(0), D(0)])
        if f.side == "BUY":
            size, cost = size + f.size, cost + f.size * f.price
        else:
            avg = cost / size if size else D(0)
            pnl += f.size * (f.price - avg)
            cost -= f.size * avg
            size -= f.size
        out[f.token_id] = [size, cost, pnl]
    return {t: PositionRecord(t, COND, *v) for t, v in out.items()}


def position_values(ledger: Ledger) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    return {t: (p.size, p.cost, p.realized_pnl) for t, p in ledger.positions().items()}


# -- orders ----------------------------------------------------------------------------------------


def test_an_intent_is_stored_exactly_with_its_payload_and_counts_as_active(ledger):
    order = new_order()
    record = ledger.record_intent(order)
    assert record.state == "intent" and record.active
    assert (record.price, record.size, record.size_matched, record.remaining) == (D("0.48"), D("100"), D(0), D("100"))
    assert record.payload == order.payload and record.post_only is True
    assert record.submitted_at is None and record.venue_status is None
    assert ledger.order("0xa1") == record
    assert ledger.active_orders() == [record]


def test_an_order_walks_intent_submitting_open_partially_filled_filled_with_a_history_row_per_step(ledger, clock):
    ledger.record_intent(new_order())
    ledger.transition("0xa1", "submit", reason="tick 1")
    submitted_at = clock.now
    ledger.transition("0xa1", "accept", venue_status="LIVE")
    ledger.transition("0xa1", "partial_fill", size_matched=D("40"), venue_status="LIVE")
    final = ledger.transition("0xa1", "fill", size_matched=D("100"), venue_status="MATCHED")

    assert final.state == "filled" and not final.active
    assert (final.size_matched, final.remaining, final.venue_status) == (D("100"), D(0), "MATCHED")
    assert final.submitted_at == submitted_at
    history = ledger.history("0xa1")
    assert [(h["from_state"], h["to_state"], h["trigger"]) for h in history] == [
        (None, "intent", "record_intent"),
        ("intent", "submitting", "submit"),
        ("submitting", "open", "accept"),
        ("open", "partially_filled", "partial_fill"),
        ("partially_filled", "filled", "fill"),
    ]
    assert history[1]["reason"] == "tick 1"
    assert [h["at"] for h in history] == sorted(h["at"] for h in history)
    assert ledger.active_orders() == []


def test_an_illegal_transition_raises_and_writes_nothing(ledger):
    ledger.record_intent(new_order())
    before = (ledger.order("0xa1"), ledger.history("0xa1"))
    with pytest.raises(IllegalTransition, match="0xa1.*'fill'.*'intent'.*submit, reject"):
        ledger.transition("0xa1", "fill", size_matched=D("100"), venue_status="MATCHED", error="boom")
    assert (ledger.order("0xa1"), ledger.history("0xa1")) == before


def test_recording_the_same_intent_twice_is_refused(ledger):
    ledger.record_intent(new_order())
    with pytest.raises(LedgerError, match="0xa1"):
        ledger.record_intent(new_order(size="5"))
    assert ledger.order("0xa1").size == D("100")
    assert len(ledger.history("0xa1")) == 1


def test_a_transition_of_an_order_not_in_the_ledger_is_refused(ledger):
    with pytest.raises(LedgerError, match="0xnope"):
        ledger.transition("0xnope", "submit")


def test_size_matched_never_decreases(ledger):
    ledger.record_intent(new_order())
    ledger.transition("0xa1", "submit")
    ledger.transition("0xa1", "partial_fill", size_matched=D("30"))
    assert ledger.transition("0xa1", "partial_fill", size_matched=D("20")).size_matched == D("30")
    assert ledger.update_order("0xa1", size_matched=D("10")).size_matched == D("30")
    assert ledger.update_order("0xa1", size_matched=D("35")).size_matched == D("35")


def test_a_late_partial_fill_grows_a_cancelled_order_without_a_state_change(ledger):
    ledger.record_intent(new_order())
    for trigger in ("submit", "accept", "request_cancel", "confirm_cancel"):
        ledger.transition("0xa1", trigger)
    grown = ledger.update_order("0xa1", size_matched=D("12"), venue_status="CANCELED")
    assert (grown.state, grown.size_matched, grown.venue_status) == ("cancelled", D("12"), "CANCELED")
    assert ledger.transition("0xa1", "partial_fill", size_matched=D("15")).state == "cancelled"
    assert ledger.transition("0xa1", "fill", size_matched=D("100")).state == "filled"


def test_an_error_is_kept_as_last_error(ledger):
    ledger.record_intent(new_order())
    ledger.transition("0xa1", "submit")
    assert ledger.transition("0xa1", "lose_reply", error="timeout after 10s").last_error == "timeout after 10s"
    assert ledger.transition("0xa1", "accept").last_error == "timeout after 10s"


def test_orders_filter_by_state_in_creation_order(ledger):
    for oid in ("0x3", "0x1", "0x2"):
        ledger.record_intent(new_order(oid))
    ledger.transition("0x1", "reject", reason="gate: exposure cap")
    assert [o.order_id for o in ledger.orders()] == ["0x3", "0x1", "0x2"]
    assert [o.order_id for o in ledger.orders(["rejected"])] == ["0x1"]
    assert [o.order_id for o in ledger.active_orders()] == ["0x3", "0x2"]
    assert ledger.orders([]) == []
    assert [o.order_id for o in ledger.orders("rejected")] == ["0x1"]
    with pytest.raises(ValueError, match="'live'"):
        ledger.orders(["live"])


def test_prices_and_sizes_refuse_binary_floats(ledger):
    with pytest.raises(TypeError, match="float"):
        order = new_order()
        ledger.record_intent(dataclasses.replace(order, terms=dataclasses.replace(order.terms, price=0.48)))
    assert ledger.orders() == []


# -- fills and positions ---------------------------------------------------------------------------


def test_the_same_trade_seen_twice_is_applied_once(ledger):
    assert ledger.apply_fill(observed_fill("T1", size="10", price="0.48")) is True
    assert ledger.apply_fill(observed_fill("T1", size="10", price="0.48")) is False
    assert ledger.apply_fill(observed_fill("T1", size="10", price="0.48", status="CONFIRMED")) is False
    assert len(ledger.fills()) == 1
    assert ledger.fill("T1", "0xa1").status == "MATCHED"
    assert position_values(ledger) == {YES: (D("10"), D("4.80"), D(0))}


def test_two_of_our_orders_in_one_trade_are_two_fills(ledger):
    assert ledger.apply_fill(observed_fill("T1", "0xa1", size="10", price="0.48"))
    assert ledger.apply_fill(observed_fill("T1", "0xa2", size="5", price="0.47"))
    assert [(f.trade_id, f.order_id) for f in ledger.fills()] == [("T1", "0xa1"), ("T1", "0xa2")]
    assert position_values(ledger) == {YES: (D("15"), D("7.15"), D(0))}


def test_a_maker_fill_on_the_complement_token_updates_that_tokens_position(ledger):
    ledger.apply_fill(observed_fill("T1", size="10", price="0.48", token_id=YES))
    ledger.apply_fill(observed_fill("T2", "0xb1", size="20", price="0.51", token_id=NO, liquidity="maker"))
    assert position_values(ledger) == {YES: (D("10"), D("4.80"), D(0)), NO: (D("20"), D("10.20"), D(0))}
    assert ledger.positions()[NO].condition_id == COND


def test_matched_then_failed_restores_the_position_exactly_once(ledger):
    ledger.apply_fill(observed_fill("T0", size="5", price="0.40"))
    ledger.apply_fill(observed_fill("T1", size="10", price="0.48"))
    assert position_values(ledger) == {YES: (D("15"), D("6.80"), D(0))}

    failed = ledger.update_fill_status("T1", "0xa1", "FAILED")
    assert (failed.status, failed.applied, failed.reversed) == ("FAILED", True, True)
    assert position_values(ledger) == {YES: (D("5"), D("2.00"), D(0))}

    again = ledger.update_fill_status("T1", "0xa1", "FAILED")
    assert again == failed
    assert position_values(ledger) == {YES: (D("5"), D("2.00"), D(0))}
    assert ledger.apply_fill(observed_fill("T1", size="10", price="0.48")) is False
    assert position_values(ledger) == {YES: (D("5"), D("2.00"), D(0))}


def test_a_status_regression_after_failed_raises_and_keeps_the_reversal(ledger):
    ledger.apply_fill(observed_fill("T1"))
    ledger.update_fill_status("T1", "0xa1", "FAILED")
    with pytest.raises(IllegalTransition):
        ledger.update_fill_status("T1", "0xa1", "CONFIRMED")
    assert ledger.fill("T1", "0xa1").status == "FAILED"
    assert position_values(ledger) == {YES: (D(0), D(0), D(0))}


def test_a_fill_first_seen_failed_never_touches_the_position(ledger):
    assert ledger.apply_fill(observed_fill("T1", status="FAILED")) is True
    record = ledger.fill("T1", "0xa1")
    assert (record.status, record.applied, record.reversed) == ("FAILED", False, False)
    assert ledger.positions() == {}
    assert ledger.update_fill_status("T1", "0xa1", "FAILED") == record
    assert ledger.positions() == {}


def test_settlement_progress_keeps_the_position(ledger):
    ledger.apply_fill(observed_fill("T1", size="10", price="0.48"))
    for status in ("MINED", "RETRYING", "MINED", "CONFIRMED"):
        assert ledger.update_fill_status("T1", "0xa1", status).status == status
    assert position_values(ledger) == {YES: (D("10"), D("4.80"), D(0))}


def test_update_fill_status_of_an_unseen_fill_is_none(ledger):
    assert ledger.update_fill_status("T404", "0xa1", "CONFIRMED") is None
    with pytest.raises(ValueError, match="'SETTLED'"):
        ledger.update_fill_status("T404", "0xa1", "SETTLED")


def test_a_sell_realises_pnl_against_the_average_cost(ledger):
    ledger.apply_fill(observed_fill("T1", size="10", price="0.40"))
    ledger.apply_fill(observed_fill("T2", size="10", price="0.50"))
    assert ledger.positions()[YES].avg_cost == D("0.45")
    ledger.apply_fill(observed_fill("T3", "0xh1", side="SELL", size="5", price="0.55"))
    pos = ledger.positions()[YES]
    assert (pos.size, pos.cost, pos.realized_pnl, pos.avg_cost) == (D("15"), D("6.75"), D("0.50"), D("0.45"))


def test_a_sell_beyond_the_held_size_is_recorded_as_reported(ledger):
    ledger.apply_fill(observed_fill("T1", size="5", price="0.40"))
    ledger.apply_fill(observed_fill("T2", "0xh1", side="SELL", size="8", price="0.50"))
    pos = ledger.positions()[YES]
    assert pos.size == D("-3") and pos.realized_pnl == D("0.80")


def test_reversing_an_earlier_buy_leaves_the_position_as_if_it_was_never_seen(ledger):
    ledger.apply_fill(observed_fill("T1", size="10", price="0.50"))
    ledger.apply_fill(observed_fill("T2", size="10", price="0.70"))
    ledger.apply_fill(observed_fill("T3", "0xh1", side="SELL", size="10", price="0.80"))
    ledger.update_fill_status("T1", "0xa1", "FAILED")
    assert position_values(ledger) == {YES: (D(0), D(0), D("1.00"))}


def test_fills_since_keeps_those_first_seen_at_or_after(ledger, clock):
    ledger.apply_fill(observed_fill("T1"))
    cut = clock.now + 1
    ledger.apply_fill(observed_fill("T2"))
    assert [f.trade_id for f in ledger.fills(since=cut)] == ["T2"]


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [("status", "SETTLED", ValueError), ("side", "buy", ValueError), ("liquidity", "MAKER", ValueError),
     ("size", D(0), ValueError), ("price", 0.5, TypeError)],
)
def test_a_malformed_fill_is_refused_and_nothing_is_written(ledger, field, value, error):
    fill = observed_fill("T1")
    if field == "status":
        fill = dataclasses.replace(fill, status=value)
    else:
        fill = dataclasses.replace(fill, terms=dataclasses.replace(fill.terms, **{field: value}))
    with pytest.raises(error):
        ledger.apply_fill(fill)
    assert ledger.fills() == [] and ledger.positions() == {}


fill_events = st.lists(
    st.tuples(
        st.integers(0, 7),  # trade id: few, so duplicates are common
        st.sampled_from(["0xa1", "0xa2"]),
        st.sampled_from([YES, NO]),
        st.sampled_from(["BUY", "BUY", "SELL"]),
        st.integers(1, 50),
        st.integers(1, 99),
        st.sampled_from(["MATCHED", "MINED", "CONFIRMED", "FAILED"]),
        st.booleans(),  # afterwards, report FAILED
    ),
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fill_events)
def test_every_fill_is_counted_once_and_positions_are_the_fold_of_effective_fills(events):
    with tempfile.TemporaryDirectory() as tmp, Ledger(Path(tmp) / "l.db", clock=FakeClock()) as ledger:
        first_seen: set[tuple[str, str]] = set()
        for n, oid, token, side, size, cents, status, fail_later in events:
            tid = f"T{n}"
            new = ledger.apply_fill(observed_fill(tid, oid, token_id=token, side=side, size=str(size),
                                                  price=f"0.{cents:02d}", status=status))
            assert new == ((tid, oid) not in first_seen)
            first_seen.add((tid, oid))
            if fail_later:
                current = ledger.fill(tid, oid).status
                if current == "CONFIRMED":  # final: a later FAILED is a regression, refused
                    with pytest.raises(IllegalTransition):
                        ledger.update_fill_status(tid, oid, "FAILED")
                else:
                    assert ledger.update_fill_status(tid, oid, "FAILED").status == "FAILED"
        fills = ledger.fills()
        assert {(f.trade_id, f.order_id) for f in fills} == first_seen and len(fills) == len(first_seen)
        expected = fold(fills)
        got = ledger.positions()
        assert {t: (p.size, p.cost, p.realized_pnl) for t, p in got.items() if t in expected} == {
            t: (p.size, p.cost, p.realized_pnl) for t, p in expected.items()
        }
        # A token whose every fill failed is flat.
        for token in set(got) - set(expected):
            assert (got[token].size, got[token].cost, got[token].realized_pnl) == (0, 0, 0)


# -- restore, corruption, cursors, journal, selection ----------------------------------------------


def test_reopening_the_same_file_restores_every_record(db_path, clock):
    with Ledger(db_path, clock=clock) as first:
        first.record_intent(new_order("0xa1"))
        first.transition("0xa1", "submit")
        first.transition("0xa1", "lose_reply", error="502")
        first.record_intent(new_order("0xb1", token_id=NO, side="SELL", price="0.52"))
        first.apply_fill(observed_fill("T1", size="3.5", price="0.485"))
        first.apply_fill(observed_fill("T2", status="FAILED"))
        first.set_cursor("trades_after", "1700000000")
        first.journal_tick(10.0, 10.5, {"placed": 2, "exposure_usdc": D("12.34")})
        first.set_selection([COND, "0xother"], at=9.0)
        snapshot = (first.orders(), first.fills(), first.positions(), first.history("0xa1"),
                    first.history("0xb1"), first.last_tick(), first.selection())

    with Ledger(db_path, clock=clock) as second:
        assert (second.orders(), second.fills(), second.positions(), second.history("0xa1"),
                second.history("0xb1"), second.last_tick(), second.selection()) == snapshot
        assert second.get_cursor("trades_after") == "1700000000"
        assert second.order("0xa1").state == "unknown" and second.order("0xa1").last_error == "502"
        assert second.fill("T1", "0xa1").size == D("3.5")
        # Work continues where it stopped.
        assert second.transition("0xa1", "accept").state == "open"


def test_an_order_row_with_an_unknown_state_makes_open_fail_naming_it(db_path):
    Ledger(db_path).close()
    led = Ledger(db_path)
    led.record_intent(new_order("0xbad"))
    led.close()
    with sqlite3.connect(db_path) as raw:
        raw.execute("UPDATE orders SET state = 'half_open' WHERE order_id = '0xbad'")
    raw.close()
    with pytest.raises(LedgerError, match=r"orders.*0xbad.*'half_open'.*allowed: intent, submitting"):
        Ledger(db_path)


def test_a_fill_row_with_an_unknown_status_makes_open_fail_naming_it(db_path):
    with Ledger(db_path) as led:
        led.apply_fill(observed_fill("T7"))
    with sqlite3.connect(db_path) as raw:
        raw.execute("UPDATE fills SET status = 'SETTLED'")
    raw.close()
    with pytest.raises(LedgerError, match=r"fills.*T7, 0xa1.*'SETTLED'.*allowed: MATCHED"):
        Ledger(db_path)


def test_a_stored_decimal_that_does_not_parse_is_a_ledger_error(db_path):
    with Ledger(db_path) as led:
        led.record_intent(new_order("0xa1"))
    with sqlite3.connect(db_path) as raw:
        raw.execute("UPDATE orders SET price = 'abc'")
    raw.close()
    with Ledger(db_path) as led, pytest.raises(LedgerError, match=r"orders 0xa1: column price holds 'abc'"):
        led.order("0xa1")


def test_a_newer_schema_is_refused(db_path):
    Ledger(db_path).close()
    with sqlite3.connect(db_path) as raw:
        raw.execute("PRAGMA user_version = 99")
    raw.close()
    with pytest.raises(LedgerError, match="schema version 99"):
        Ledger(db_path)


def test_the_file_is_in_wal_mode_and_commits_with_synchronous_full(ledger, db_path):
    raw = sqlite3.connect(db_path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()
    assert ledger._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_second_reader_sees_committed_data_while_a_writer_holds_the_lock(ledger, db_path):
    ledger.record_intent(new_order("0xa1"))
    writer = sqlite3.connect(db_path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE orders SET venue_status = 'uncommitted'")
    try:
        with Ledger(db_path) as reader:
            seen = reader.order("0xa1")
            assert seen is not None and seen.venue_status is None
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_cursors_are_stored_and_overwritten(ledger):
    assert ledger.get_cursor("trades") is None
    ledger.set_cursor("trades", "100")
    ledger.set_cursor("trades", "200")
    ledger.set_cursor("other", "x")
    assert (ledger.get_cursor("trades"), ledger.get_cursor("other")) == ("200", "x")


def test_the_selection_is_replaced_as_a_whole(ledger):
    assert ledger.selection() is None
    ledger.set_selection(["0x1", "0x2"], at=5.0)
    ledger.set_selection(["0x3"], at=6.0)
    assert ledger.selection() == (["0x3"], 6.0)


def test_the_tick_journal_returns_ids_and_the_last_tick(ledger):
    assert ledger.last_tick() is None
    first = ledger.journal_tick(1.0, 1.2, {"placed": 1})
    second = ledger.journal_tick(2.0, 2.5, {"placed": 0, "held": ["orders"], "exposure_usdc": D("3.10")})
    assert second > first
    assert ledger.last_tick() == {
        "id": second, "started_at": 2.0, "finished_at": 2.5,
        "summary": {"placed": 0, "held": ["orders"], "exposure_usdc": "3.10"},
    }


def test_close_is_idempotent(db_path):
    led = Ledger(db_path)
    led.close()
    led.close()


def test_repeated_reads_see_every_write_of_ours_and_of_another_connection(ledger, db_path, clock):
    """active_orders() and positions() are served again while nothing changed: a write of this connection,
    one inside an open transaction and a commit by a second connection (another process) are all seen."""
    assert ledger.active_orders() == []
    ledger.record_intent(new_order("0xa1"))
    assert [o.order_id for o in ledger.active_orders()] == ["0xa1"]
    with ledger.transaction():
        ledger.transition("0xa1", "submit")
        assert [o.state for o in ledger.active_orders()] == ["submitting"]  # our own uncommitted change
    assert [o.state for o in ledger.active_orders()] == ["submitting"]
    with Ledger(db_path, clock=clock) as other:
        other.record_intent(new_order("0xb2"))
        other.apply_fill(observed_fill("t1", "0xb2", size="5"))
    assert [o.order_id for o in ledger.active_orders()] == ["0xa1", "0xb2"]
    assert ledger.positions()[YES].size == Decimal("5")
    ledger.active_orders().clear()  # a caller's list is its own
    assert len(ledger.active_orders()) == 2


def test_the_controllers_ledger_checkpoints_in_the_background_never_inside_a_commit(tmp_path):
    """background_checkpoint=True (the controller's ledger): the writer's own commits never copy the WAL into the
    database file (SQLite's automatic checkpoint, measured at 40–90 ms inside a hedging tick's commit); a thread
    on its own connection does, every CHECKPOINT_EVERY_S, so the database file grows and the WAL stays bounded."""
    import time as _time

    from polymm.ledger.checkpoint import Checkpointer

    path = tmp_path / "ledger.sqlite"
    summary = {"notes": ["x" * 2000]}
    with Ledger(path, background_checkpoint=True) as ledger:
        ledger._checkpointer.stop()  # hold the checkpointer: the writer alone
        base = path.stat().st_size
        for i in range(3000):  # ~6 MB of journal: past SQLite's 1,000-page automatic checkpoint
            ledger.journal_tick(i, i, summary)
        wal = path.with_name(path.name + "-wal").stat().st_size
        assert path.stat().st_size == base, "a commit checkpointed into the database file"
        assert wal > 4_000_000
        ledger._checkpointer = Checkpointer(path)
        ledger._checkpointer.start()
        deadline = _time.monotonic() + 10
        while path.stat().st_size <= base + 4_000_000 and _time.monotonic() < deadline:
            _time.sleep(0.1)
        assert path.stat().st_size > base + 4_000_000, "the background checkpoint did not run"
        assert ledger.tick_count() == 3000
    with Ledger(path) as ledger:  # and everything is there for a reader opening it afresh
        assert ledger.tick_count() == 3000
