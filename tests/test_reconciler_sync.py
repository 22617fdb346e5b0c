"""Resolving our orders from observation: what each active ledger order becomes, by table.

Rows: the six active states. Columns: what the venue showed this tick. Each cell is the trigger
sequence `observation_updates` must produce, the matched size it reports, and the state the order
lands in once those triggers run through the order state machine (which must accept them all).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polymm.domain.terms import FillTerms
from polymm.domain.types import Fill, LiveOrder
from polymm.domain.unknown import Unknown
from polymm.reconciler.sync import matched_by_order, observation_updates
from polymm.statemachines.orders import ACTIVE_STATES, next_state

NOW = 10_000.0
GRACE = 5.0
SIZE = D(10)
STATES = ("intent", "submitting", "unknown", "open", "partially_filled", "cancel_requested")
ALREADY = {"partially_filled": D(3)}  # size_matched the ledger already holds, per state (else 0)


@dataclass(frozen=True)
class Rec:
    """An active ledger order as sync reads it (the OrderView protocol)."""

    order_id: str
    state: str
    size: D
    size_matched: D
    created_at: float
    submitted_at: float | None


def record(state: str, age: float) -> Rec:
    placed = NOW - age
    return Rec("0xours", state, SIZE, ALREADY.get(state, D(0)), placed, None if state == "intent" else placed)


def live(matched: D) -> LiveOrder:
    return LiveOrder("0xours", "0xcond", "111", "BUY", D("0.40"), SIZE, matched, "key", int(NOW - 100))


def scenario(name: str, state: str) -> tuple[Rec, dict[str, LiveOrder], dict[str, D]]:
    """(record, open orders by id, our matched size by order id from fills) for one column."""
    had = ALREADY.get(state, D(0))
    if name == "seen open":
        return record(state, 60), {"0xours": live(had)}, {}
    if name == "seen open, partly matched":
        return record(state, 60), {"0xours": live(had + 4)}, {}
    if name == "missing within grace":
        return record(state, 1), {}, {}
    if name == "missing within grace, with fills":
        return record(state, 1), {}, {"0xours": had + 4}
    if name == "missing after grace":
        return record(state, 60), {}, {}
    if name == "missing after grace, with fills":
        return record(state, 60), {}, {"0xours": had + 4}
    if name == "fully matched":
        return record(state, 60), {}, {"0xours": SIZE}
    if name == "fully matched, still listed":
        return record(state, 60), {"0xours": live(SIZE)}, {}
    raise AssertionError(name)


NO_CHANGE = None  # no update at all
# (state, scenario) -> (triggers, reported size_matched, final state) or NO_CHANGE
TABLE: dict[tuple[str, str], tuple[tuple[str, ...], D, str] | None] = {
    # seen open: unresolved orders are accepted; resting ones stay as they are
    ("intent", "seen open"): (("submit", "accept"), D(0), "open"),
    ("submitting", "seen open"): (("accept",), D(0), "open"),
    ("unknown", "seen open"): (("accept",), D(0), "open"),
    ("open", "seen open"): NO_CHANGE,
    ("partially_filled", "seen open"): NO_CHANGE,
    ("cancel_requested", "seen open"): NO_CHANGE,
    # seen open with more matched than we knew
    ("intent", "seen open, partly matched"): (("submit", "accept", "partial_fill"), D(4), "partially_filled"),
    ("submitting", "seen open, partly matched"): (("accept", "partial_fill"), D(4), "partially_filled"),
    ("unknown", "seen open, partly matched"): (("accept", "partial_fill"), D(4), "partially_filled"),
    ("open", "seen open, partly matched"): (("partial_fill",), D(4), "partially_filled"),
    ("partially_filled", "seen open, partly matched"): (("partial_fill",), D(7), "partially_filled"),
    # a cancel is in flight: record the size, keep waiting for the cancel's outcome
    ("cancel_requested", "seen open, partly matched"): ((), D(4), "cancel_requested"),
    # missing, but the venue's read side may lag our write: nothing is concluded
    **{(s, "missing within grace"): NO_CHANGE for s in STATES},
    ("intent", "missing within grace, with fills"): ((), D(4), "intent"),
    ("submitting", "missing within grace, with fills"): ((), D(4), "submitting"),
    ("unknown", "missing within grace, with fills"): ((), D(4), "unknown"),
    ("open", "missing within grace, with fills"): (("partial_fill",), D(4), "partially_filled"),
    ("partially_filled", "missing within grace, with fills"): (("partial_fill",), D(7), "partially_filled"),
    ("cancel_requested", "missing within grace, with fills"): ((), D(4), "cancel_requested"),
    # missing after the grace window: never landed, or cancelled
    ("intent", "missing after grace"): (("reject",), D(0), "rejected"),
    ("submitting", "missing after grace"): (("lose_reply", "vanish"), D(0), "gone"),
    ("unknown", "missing after grace"): (("vanish",), D(0), "gone"),
    ("open", "missing after grace"): (("confirm_cancel",), D(0), "cancelled"),
    ("partially_filled", "missing after grace"): (("confirm_cancel",), D(3), "cancelled"),
    ("cancel_requested", "missing after grace"): (("confirm_cancel",), D(0), "cancelled"),
    # missing after grace but our fills prove it traded: it landed, matched partly, then went
    ("intent", "missing after grace, with fills"): (("submit", "partial_fill", "confirm_cancel"), D(4), "cancelled"),
    ("submitting", "missing after grace, with fills"): (("partial_fill", "confirm_cancel"), D(4), "cancelled"),
    ("unknown", "missing after grace, with fills"): (("partial_fill", "confirm_cancel"), D(4), "cancelled"),
    ("open", "missing after grace, with fills"): (("partial_fill", "confirm_cancel"), D(4), "cancelled"),
    ("partially_filled", "missing after grace, with fills"): (("partial_fill", "confirm_cancel"), D(7), "cancelled"),
    ("cancel_requested", "missing after grace, with fills"): (("confirm_cancel",), D(4), "cancelled"),
    # fully matched, listed or not
    ("intent", "fully matched"): (("submit", "fill"), SIZE, "filled"),
    **{(s, "fully matched"): (("fill",), SIZE, "filled") for s in STATES[1:]},
    ("intent", "fully matched, still listed"): (("submit", "fill"), SIZE, "filled"),
    **{(s, "fully matched, still listed"): (("fill",), SIZE, "filled") for s in STATES[1:]},
}
SCENARIOS = tuple(dict.fromkeys(name for _, name in TABLE))


def apply(state: str, triggers: tuple[str, ...]) -> str:
    """Run triggers through the order table; IllegalTransition fails the test."""
    for trigger in triggers:
        state = next_state(state, trigger)
    return state


def test_the_table_covers_every_active_state_in_every_scenario():
    assert set(STATES) == ACTIVE_STATES
    assert set(TABLE) == {(s, n) for s in STATES for n in SCENARIOS}


@pytest.mark.parametrize(("state", "name"), sorted(TABLE), ids=lambda v: str(v).replace(" ", "_"))
def test_each_state_resolves_as_the_table_says(state, name):
    rec, open_orders, matched = scenario(name, state)
    updates = observation_updates([rec], open_orders, matched, NOW, GRACE)
    expected = TABLE[(state, name)]
    if expected is NO_CHANGE:
        assert updates == []
        return
    triggers, size_matched, final = expected
    (update,) = updates
    assert (update.order_id, update.triggers, update.size_matched) == ("0xours", triggers, size_matched)
    assert update.reason
    assert apply(state, update.triggers) == final


@pytest.mark.parametrize("name", SCENARIOS)
@pytest.mark.parametrize("state", STATES)
def test_with_open_orders_unknown_nothing_is_resolved_by_absence(state, name):
    rec, _, matched = scenario(name, state)
    updates = observation_updates([rec], Unknown("open orders not read"), matched, NOW, GRACE)
    filled = max([rec.size_matched, *matched.values()])
    if filled >= SIZE:  # the fills alone prove it filled; that is not a conclusion from absence
        assert [u.triggers for u in updates] == [("submit", "fill") if state == "intent" else ("fill",)]
    elif filled > rec.size_matched:
        assert [(u.triggers, u.size_matched) for u in updates] == [((), filled)]
    else:
        assert updates == []


def test_every_record_gets_its_own_update_in_one_call():
    recs = [Rec("a", "submitting", SIZE, D(0), NOW - 60, NOW - 60),
            Rec("b", "open", SIZE, D(0), NOW - 60, NOW - 60),
            Rec("c", "open", SIZE, D(0), NOW - 60, NOW - 60),
            Rec("d", "unknown", SIZE, D(0), NOW - 1, NOW - 1)]
    open_orders = {"a": LiveOrder("a", "0xc", "1", "BUY", D("0.4"), SIZE, D(0), "k", 0),
                   "c": LiveOrder("c", "0xc", "1", "BUY", D("0.4"), SIZE, D(0), "k", 0)}
    updates = observation_updates(recs, open_orders, {"b": D(2)}, NOW, GRACE)
    assert {u.order_id: u.triggers for u in updates} == {"a": ("accept",), "b": ("partial_fill", "confirm_cancel")}


def test_a_stale_open_order_row_showing_less_matched_than_we_know_changes_nothing():
    rec = Rec("0xours", "partially_filled", SIZE, D(6), NOW - 60, NOW - 60)
    assert observation_updates([rec], {"0xours": live(D(2))}, {"0xours": D(5)}, NOW, GRACE) == []


def test_the_reported_matched_size_is_the_largest_of_ledger_row_and_fills():
    rec = Rec("0xours", "open", SIZE, D(1), NOW - 60, NOW - 60)
    (update,) = observation_updates([rec], {"0xours": live(D(2))}, {"0xours": D(5)}, NOW, GRACE)
    assert (update.triggers, update.size_matched) == (("partial_fill",), D(5))


def test_the_grace_window_counts_from_the_send_not_from_the_intent():
    # Written long ago, sent a moment ago (a retry after a crash): still within grace.
    rec = Rec("0xours", "submitting", SIZE, D(0), NOW - 600, NOW - 1)
    assert observation_updates([rec], {}, {}, NOW, GRACE) == []
    assert observation_updates([rec], {}, {}, NOW + GRACE, GRACE)[0].triggers == ("lose_reply", "vanish")


def test_an_intent_never_sent_is_judged_from_when_it_was_written():
    rec = Rec("0xours", "intent", SIZE, D(0), NOW - 1, None)
    assert observation_updates([rec], {}, {}, NOW, GRACE) == []
    assert observation_updates([rec], {}, {}, NOW + GRACE, GRACE)[0].triggers == ("reject",)


# ----------------------------------------------------------------------------- matched_by_order
def fill(trade: str, order: str, size: str, status: str = "MATCHED") -> Fill:
    return Fill(FillTerms(trade, order, "0xc", "1", "BUY", D(size), D("0.4"), "maker", 0), status)


def test_matched_size_sums_our_fills_per_order_and_ignores_failed_ones():
    fills = [fill("t1", "a", "2"), fill("t2", "a", "3.5", "CONFIRMED"), fill("t3", "a", "4", "FAILED"),
             fill("t1", "b", "1", "MINED")]
    assert matched_by_order(fills) == {"a": D("5.5"), "b": D(1)}


# ----------------------------------------------------------------------------- properties
sizes = st.integers(min_value=0, max_value=12).map(D)


@settings(max_examples=300, deadline=None)
@given(state=st.sampled_from(STATES), had=sizes, listed=st.one_of(st.none(), sizes), filled=sizes,
       age=st.sampled_from((0.0, 1.0, GRACE - 0.01, GRACE, 60.0)), known=st.booleans())
def test_any_observation_produces_a_legal_trigger_sequence_that_never_shrinks_matched_size(
        state, had, listed, filled, age, known):
    had = D(0) if state in ("intent", "submitting") else min(had, SIZE - 1)
    rec = Rec("0xours", state, SIZE, had, NOW - age, None if state == "intent" else NOW - age)
    open_orders = ({"0xours": live(listed)} if listed is not None else {}) if known else Unknown("open orders not read")
    updates = observation_updates([rec], open_orders, {"0xours": filled}, NOW, GRACE)
    assert len(updates) <= 1
    for update in updates:
        final = apply(state, update.triggers)
        assert update.size_matched >= had
        assert update.size_matched == max(had, filled, listed if (known and listed is not None) else D(0))
        if not known:
            assert not {"confirm_cancel", "vanish", "reject", "lose_reply"} & set(update.triggers)
        if update.size_matched >= SIZE:
            assert final == "filled"
        if known and listed is not None and update.size_matched < SIZE:
            assert final not in ("cancelled", "gone", "rejected")  # listed means it is still there



@dataclass(frozen=True)
class MarketRec(Rec):
    condition_id: str = "0xcond"


@pytest.mark.parametrize("state", STATES)
def test_an_order_gone_from_the_list_while_fills_are_unknown_is_neither_filled_nor_cancelled(state):
    from polymm.reconciler.sync import vanished_while_fills_unknown

    rec = MarketRec("0xours", state, SIZE, ALREADY.get(state, D(0)), NOW - 60, None if state == "intent" else NOW - 60)
    assert observation_updates([rec], {}, {}, NOW, GRACE, fills_unknown=True) == []
    assert observation_updates([rec], {}, {}, NOW, GRACE, fills_unknown=frozenset({"0xcond"})) == []
    assert vanished_while_fills_unknown([rec], {}, True) == {"0xcond"}
    # fills unknown only in another market: absence resolves the order as before
    resolved = observation_updates([rec], {}, {}, NOW, GRACE, fills_unknown=frozenset({"0xother"}))
    assert resolved == observation_updates([rec], {}, {}, NOW, GRACE)
    assert vanished_while_fills_unknown([rec], {}, frozenset({"0xother"})) == frozenset()
    # fully matched by the fills the ledger already holds: that is known, and it is filled
    full = observation_updates([rec], {}, {"0xours": SIZE}, NOW, GRACE, fills_unknown=True)
    assert full and "fill" in full[0].triggers
