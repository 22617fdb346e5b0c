"""The order and trade state machines: the tables, and everything outside them refused."""

from __future__ import annotations

import itertools

import pytest

from polymm.statemachines.orders import (
    ACTIVE_STATES,
    ORDER_STATES,
    ORDER_TRANSITIONS,
    TERMINAL_STATES,
    IllegalTransition,
    allowed_triggers,
    next_state,
)
from polymm.statemachines.trades import FINAL_STATUSES, TRADE_STATUSES, next_trade_status

# The edges as the design states them, written out independently of the module's table.
EXPECTED_ORDER_EDGES: dict[tuple[str, str], str] = {
    ("intent", "submit"): "submitting",
    ("submitting", "accept"): "open",
    ("unknown", "accept"): "open",
    ("intent", "reject"): "rejected",
    ("submitting", "reject"): "rejected",
    ("submitting", "lose_reply"): "unknown",
    **{(s, "partial_fill"): "partially_filled" for s in ("submitting", "unknown", "open", "partially_filled", "cancel_requested")},
    ("cancelled", "partial_fill"): "cancelled",
    **{(s, "fill"): "filled" for s in ("submitting", "unknown", "open", "partially_filled", "cancel_requested", "cancelled")},
    **{(s, "request_cancel"): "cancel_requested" for s in ("open", "partially_filled", "unknown")},
    **{(s, "confirm_cancel"): "cancelled" for s in ("cancel_requested", "open", "partially_filled")},
    ("unknown", "vanish"): "gone",
}
ORDER_TRIGGERS = sorted({t["trigger"] for t in ORDER_TRANSITIONS})

EXPECTED_TRADE_MOVES: dict[tuple[str, str], str] = {
    **{("MATCHED", s): s for s in ("MINED", "CONFIRMED", "RETRYING", "FAILED")},
    **{("MINED", s): s for s in ("CONFIRMED", "RETRYING", "FAILED")},
    **{("RETRYING", s): s for s in ("MINED", "CONFIRMED", "FAILED")},
}


def test_the_table_is_exactly_the_designed_edges():
    table = {(src, t["trigger"]): t["dest"] for t in ORDER_TRANSITIONS for src in t["source"]}
    assert table == EXPECTED_ORDER_EDGES


def test_every_state_is_either_active_or_terminal_never_both():
    assert ACTIVE_STATES | TERMINAL_STATES == set(ORDER_STATES)
    assert not ACTIVE_STATES & TERMINAL_STATES


@pytest.mark.parametrize(("state", "trigger"), sorted(EXPECTED_ORDER_EDGES))
def test_every_allowed_transition_lands_where_the_table_says(state, trigger):
    assert next_state(state, trigger) == EXPECTED_ORDER_EDGES[(state, trigger)]


REFUSED_PAIRS = sorted(set(itertools.product(ORDER_STATES, ORDER_TRIGGERS)) - set(EXPECTED_ORDER_EDGES))


def test_the_cross_product_of_states_and_triggers_is_fully_covered():
    assert len(REFUSED_PAIRS) + len(EXPECTED_ORDER_EDGES) == len(ORDER_STATES) * len(ORDER_TRIGGERS)


@pytest.mark.parametrize(("state", "trigger"), REFUSED_PAIRS)
def test_every_pair_not_in_the_table_is_refused(state, trigger):
    with pytest.raises(IllegalTransition) as caught:
        next_state(state, trigger, order_id="0xfeed")
    refused = caught.value
    assert (refused.order_id, refused.state, refused.trigger) == ("0xfeed", state, trigger)
    assert refused.allowed == allowed_triggers(state)


def test_an_illegal_transition_message_names_order_state_trigger_and_allowed_triggers():
    with pytest.raises(IllegalTransition, match=r"order 0xabc: 'submit' is not allowed from state 'open'; "
                                                r"allowed from 'open': partial_fill, fill, request_cancel, confirm_cancel"):
        next_state("open", "submit", order_id="0xabc")


def test_a_terminal_state_with_no_exits_says_so():
    with pytest.raises(IllegalTransition, match="none"):
        next_state("rejected", "fill", order_id="0x1")


def test_a_late_fill_after_cancel_moves_cancelled_to_filled():
    assert next_state("cancelled", "fill") == "filled"


def test_a_late_partial_fill_after_cancel_keeps_the_order_cancelled():
    assert next_state("cancelled", "partial_fill") == "cancelled"


def test_a_failed_cancel_has_no_way_back_to_open():
    with pytest.raises(IllegalTransition):
        next_state("cancel_requested", "accept")
    assert "accept" not in allowed_triggers("cancel_requested")


def test_an_unknown_order_resolves_only_by_observation():
    assert {next_state("unknown", t) for t in allowed_triggers("unknown")} == {
        "open", "partially_filled", "filled", "cancel_requested", "gone"
    }


def test_an_unknown_state_is_refused_with_a_value_error_naming_it():
    with pytest.raises(ValueError, match="'pending'.*allowed: intent, submitting"):
        next_state("pending", "submit")


def test_an_unknown_trigger_is_refused_with_a_value_error_naming_it():
    with pytest.raises(ValueError, match="'explode'.*allowed: submit"):
        next_state("open", "explode")


# -- trades --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("current", "observed"), sorted(EXPECTED_TRADE_MOVES))
def test_every_allowed_trade_status_move_is_taken(current, observed):
    assert next_trade_status(current, observed) == EXPECTED_TRADE_MOVES[(current, observed)]


@pytest.mark.parametrize("status", TRADE_STATUSES)
def test_observing_the_current_trade_status_is_no_change(status):
    assert next_trade_status(status, status) is None


TRADE_REGRESSIONS = sorted(
    (a, b) for a, b in itertools.product(TRADE_STATUSES, TRADE_STATUSES) if a != b and (a, b) not in EXPECTED_TRADE_MOVES
)


@pytest.mark.parametrize(("current", "observed"), TRADE_REGRESSIONS)
def test_trade_status_regressions_are_refused(current, observed):
    with pytest.raises(IllegalTransition) as caught:
        next_trade_status(current, observed, trade_id="T1")
    assert (caught.value.state, caught.value.trigger, caught.value.key) == (current, observed, "T1")


def test_confirmed_to_mined_is_a_regression():
    with pytest.raises(IllegalTransition, match="trade T9: 'MINED' is not allowed from state 'CONFIRMED'"):
        next_trade_status("CONFIRMED", "MINED", trade_id="T9")


@pytest.mark.parametrize("final", sorted(FINAL_STATUSES))
def test_nothing_moves_a_trade_out_of_a_final_status(final):
    for observed in TRADE_STATUSES:
        if observed != final:
            with pytest.raises(IllegalTransition):
                next_trade_status(final, observed)


def test_matched_to_failed_is_allowed():
    assert next_trade_status("MATCHED", "FAILED") == "FAILED"


@pytest.mark.parametrize(("current", "observed"), [("SETTLED", "MINED"), ("MATCHED", "mined"), ("MATCHED", "")])
def test_an_unknown_trade_status_is_a_value_error_naming_it_and_the_allowed_ones(current, observed):
    bad = current if current not in TRADE_STATUSES else observed
    with pytest.raises(ValueError, match=rf"{bad!r}.*allowed: MATCHED, MINED, CONFIRMED, RETRYING, FAILED"):
        next_trade_status(current, observed)
