"""The pure core after sync: `plan` (desired vs live → cancels and places) and `gate` (risk limits).

plan: a fixed point when live matches desired; keep within tolerance; cancel what is unwanted;
place what is missing (a replacement only after its predecessor's cancel); unresolved orders and
Unknown sections are held. gate: exposure caps per market and in total, collateral, holdings for
sells, the rate budget — and every action it drops, shrinks or defers says why.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polymm.desired.funnel import Evaluation, Selection, TokenQuote
from polymm.desired.hedge import HedgeParams
from polymm.desired.quotes import RewardBand
from polymm.desired.state import DesiredOrder, DesiredState, desire, slot_key
from polymm.domain.exposure import BuyExposure, InventoryExposure
from polymm.domain.terms import HasOrderTerms, OrderTerms
from polymm.domain.types import LiveOrder, RewardMarket, Token
from polymm.domain.unknown import Unknown
from polymm.reconciler.gate import RiskLimits, gate
from polymm.reconciler.plan import Cancel, Place, Plan, PlanPolicy, plan

POLICY = PlanPolicy(price_tolerance=D("0.01"))
A, B = "0xaaa", "0xbbb"  # condition ids
A_YES, A_NO, B_YES, B_NO = "a-yes", "a-no", "b-yes", "b-no"
MARKET_OF = {A_YES: A, A_NO: A, B_YES: B, B_NO: B}


@dataclass(frozen=True)
class Order(HasOrderTerms):
    """One of our active ledger orders, as plan and gate read it."""

    terms: OrderTerms
    size_matched: D
    state: str


def want(token: str, side: str = "BUY", price: str = "0.40", size: str = "20", min_keep: str | None = None,
         keep_any_price: bool = False) -> DesiredOrder:
    role = "quote" if side == "BUY" else "hedge"
    cond = MARKET_OF[token]
    return DesiredOrder(slot_key(cond, token, side, role), cond, token, side, role, D(price), D(size),
                        D(min_keep if min_keep is not None else size), D("0.01"), False, side == "BUY",
                        f"{role} for {token}", keep_any_price)


def ours(oid: str, token: str, side: str = "BUY", price: str = "0.40", size: str = "20", matched: str = "0",
         state: str = "open") -> Order:
    role = "quote" if side == "BUY" else "hedge"
    cond = MARKET_OF[token]
    return Order(OrderTerms(oid, slot_key(cond, token, side, role), cond, token, side, role, D(price), D(size)),
                 D(matched), state)


def listing(*orders: Order, foreign: tuple[LiveOrder, ...] = ()) -> dict[str, LiveOrder]:
    """The venue's open-orders list holding our resting orders (and any foreign ones)."""
    rows = {o.order_id: LiveOrder(o.order_id, o.condition_id, o.token_id, o.side, o.price, o.size, o.size_matched,
                                  "our-key", 0)
            for o in orders if o.state in ("open", "partially_filled", "cancel_requested")}
    rows.update({f.order_id: f for f in foreign})
    return rows


def desired(*orders: DesiredOrder, held_slots: frozenset[str] = frozenset(),
            held_markets: frozenset[str] = frozenset()) -> DesiredState:
    return DesiredState(tuple(orders), held_slots, held_markets)


def run(wanted: DesiredState, live: list[Order], open_orders="listed", policy: PlanPolicy = POLICY) -> Plan:
    return plan(wanted, listing(*live) if open_orders == "listed" else open_orders, live, policy)


# ============================================================================= plan
def test_live_orders_matching_the_desired_ones_give_an_empty_plan():
    live = [ours("q1", A_YES), ours("q2", A_NO, price="0.55"), ours("h1", B_YES, side="SELL", price="0.61", size="7")]
    wanted = desired(want(A_YES), want(A_NO, price="0.55"), want(B_YES, side="SELL", price="0.61", size="7"))
    result = run(wanted, live)
    assert result.empty and result.cancels == () and result.places == ()
    assert sorted(result.kept) == ["h1", "q1", "q2"]


def test_nothing_desired_and_nothing_live_is_an_empty_plan():
    assert run(desired(), []).empty


@pytest.mark.parametrize("live_price", ["0.39", "0.41", "0.40"])
def test_an_order_within_the_price_tolerance_is_kept_including_exactly_at_it(live_price):
    result = run(desired(want(A_YES, price="0.40")), [ours("q1", A_YES, price=live_price)])
    assert result.empty and result.kept == ("q1",)


@pytest.mark.parametrize("keep_any_price", [False, True])
def test_an_order_at_a_price_the_new_tick_does_not_divide_is_replaced_whatever_the_tolerance(keep_any_price):
    """The venue widened the tick (0.001 → 0.01): an order resting at 0.395 is within tolerance of 0.40, but the
    venue would not take that price now; it is replaced (its cancel first), hedges kept at any price too."""
    side = "SELL" if keep_any_price else "BUY"
    result = run(desired(want(A_YES, side=side, price="0.40", keep_any_price=keep_any_price)),
                 [ours("q1", A_YES, side=side, price="0.395")])
    assert [c.order_id for c in result.cancels] == ["q1"]
    assert [(p.order.price, p.after_cancel) for p in result.places] == [(D("0.40"), "q1")]


@pytest.mark.parametrize("live_price", ["0.38", "0.42", "0.4101", "0.3899"])
def test_an_order_beyond_the_price_tolerance_is_replaced_after_its_cancel(live_price):
    result = run(desired(want(A_YES, price="0.40")), [ours("q1", A_YES, price=live_price)])
    assert [(c.order_id, c.slot_key) for c in result.cancels] == [("q1", want(A_YES).slot_key)]
    assert [(p.order.price, p.after_cancel) for p in result.places] == [(D("0.40"), "q1")]
    assert result.kept == ()


def test_a_hedge_that_keeps_any_price_is_not_replaced_when_the_book_moves():
    hedge = want(B_YES, side="SELL", price="0.70", size="7", keep_any_price=True)
    result = run(desired(hedge), [ours("h1", B_YES, side="SELL", price="0.61", size="7")])
    assert result.empty and result.kept == ("h1",)


@pytest.mark.parametrize(("matched", "kept"), [
    ("0", True),  # the desired size exactly
    ("5", True),  # 15 left: at least min_keep_size (10), not more than desired
    ("10", True),  # 10 left: exactly min_keep_size
    ("10.01", False),  # 9.99 left: below min_keep_size
])
def test_a_partly_filled_order_is_kept_while_its_remainder_is_at_least_min_keep_size(matched, kept):
    wanted = desired(want(A_YES, size="20", min_keep="10"))
    result = run(wanted, [ours("q1", A_YES, size="20", matched=matched, state="open" if matched == "0" else "partially_filled")])
    assert result.empty is kept
    if not kept:
        assert [c.order_id for c in result.cancels] == ["q1"]
        assert [(p.order.size, p.after_cancel) for p in result.places] == [(D(20), "q1")]


def test_an_order_bigger_than_desired_is_replaced():
    result = run(desired(want(A_YES, size="20", min_keep="10")), [ours("q1", A_YES, size="30")])
    assert [c.order_id for c in result.cancels] == ["q1"] and result.places[0].after_cancel == "q1"


def test_an_order_no_longer_desired_is_cancelled_and_nothing_is_placed():
    result = run(desired(want(A_YES)), [ours("q1", A_YES), ours("q9", B_YES)])
    assert [(c.order_id, c.reason) for c in result.cancels] == [("q9", "no longer desired")]
    assert result.places == () and result.kept == ("q1",)


def test_a_missing_desired_order_is_placed_without_waiting_for_any_cancel():
    result = run(desired(want(A_YES), want(A_NO, price="0.55")), [ours("q1", A_YES)])
    assert [(p.slot_key, p.order.price, p.after_cancel) for p in result.places] == [
        (want(A_NO).slot_key, D("0.55"), None)]
    assert result.cancels == () and result.kept == ("q1",)


@pytest.mark.parametrize("state", ["intent", "submitting", "unknown"])
def test_a_pending_order_occupies_its_slot_so_nothing_is_placed_or_cancelled_there(state):
    # Even at the wrong price: nothing is placed or cancelled until observation resolves it.
    result = run(desired(want(A_YES, price="0.45")), [ours("q1", A_YES, price="0.40", state=state)])
    assert result.empty
    assert any(want(A_YES).slot_key in line and "unresolved" in line for line in result.held)


def test_an_order_being_cancelled_occupies_its_slot_and_its_cancel_is_asked_again():
    result = run(desired(want(A_YES, price="0.45")), [ours("q1", A_YES, price="0.40", state="cancel_requested")])
    assert result.places == ()
    assert [c.order_id for c in result.cancels] == ["q1"]
    assert any(want(A_YES).slot_key in line and "unresolved" in line for line in result.held)


@pytest.mark.parametrize("state", ["intent", "submitting", "unknown", "cancel_requested"])
def test_a_resting_order_beside_an_unresolved_one_is_cancelled_and_nothing_placed(state):
    live = [ours("q1", A_YES, state=state), ours("q2", A_YES)]
    result = run(desired(want(A_YES)), live)
    again = ["q1"] if state == "cancel_requested" else []
    assert [c.order_id for c in result.cancels] == again + ["q2"] and result.places == ()


def test_two_resting_orders_in_one_slot_keep_one_and_cancel_the_other():
    result = run(desired(want(A_YES)), [ours("q1", A_YES), ours("q2", A_YES, price="0.405")])
    assert result.kept == ("q1",) and [c.order_id for c in result.cancels] == ["q2"] and result.places == ()


def test_two_stale_orders_in_one_slot_are_both_cancelled_before_anything_is_placed():
    result = run(desired(want(A_YES)), [ours("q1", A_YES, price="0.30"), ours("q2", A_YES, price="0.31")])
    assert sorted(c.order_id for c in result.cancels) == ["q1", "q2"]
    assert result.places == ()
    assert any("to cancel before placing" in line for line in result.held)


def test_with_open_orders_unknown_nothing_is_placed_but_unwanted_orders_are_still_cancelled():
    live = [ours("q1", A_YES), ours("q9", B_YES), ours("q3", A_NO, price="0.20")]
    result = run(desired(want(A_YES), want(A_NO, price="0.55"), want(B_NO)), live, open_orders=Unknown("read failed"))
    assert result.places == ()
    assert sorted(c.order_id for c in result.cancels) == ["q3", "q9"]  # unwanted, and mispriced
    assert result.kept == ("q1",)
    assert any("open orders unknown" in line for line in result.held)


def test_with_open_orders_unknown_foreign_orders_are_never_cancelled():
    policy = PlanPolicy(D("0.01"), cancel_foreign=True)
    assert run(desired(), [], open_orders=Unknown("read failed"), policy=policy).empty


@pytest.mark.parametrize("how", ["slot", "market"])
def test_a_held_slot_keeps_its_orders_as_they_are(how):
    live = [ours("q1", A_YES, price="0.30"), ours("q2", A_NO)]
    held_slots = frozenset({live[0].slot_key}) if how == "slot" else frozenset()
    held_markets = frozenset({A}) if how == "market" else frozenset()
    wanted = desired(want(A_YES, price="0.40"), held_slots=held_slots, held_markets=held_markets)
    result = run(wanted, live)
    assert "q1" in result.kept and "q1" not in {c.order_id for c in result.cancels}
    assert not any(p.slot_key == live[0].slot_key for p in result.places)
    if how == "market":  # the whole market is held: its unwanted order stays too
        assert result.empty and sorted(result.kept) == ["q1", "q2"]
    else:
        assert [c.order_id for c in result.cancels] == ["q2"]


def test_hedges_are_placed_and_cancelled_before_quotes():
    live = [ours("q1", A_YES, price="0.30"), ours("h1", A_YES, side="SELL", price="0.90", size="7")]
    wanted = desired(want(A_YES), want(B_YES), want(A_YES, side="SELL", price="0.60", size="7"),
                     want(B_NO, side="SELL", price="0.65", size="9"))
    result = run(wanted, live)
    roles = [p.order.role for p in result.places]
    assert roles == ["hedge", "hedge", "quote", "quote"]
    assert [c.role for c in result.cancels] == ["hedge", "quote"]


def foreign(oid: str, token: str = A_YES, side: str = "BUY") -> LiveOrder:
    return LiveOrder(oid, MARKET_OF[token], token, side, D("0.33"), D(12), D(2), "someone", 0)


def test_foreign_orders_are_left_alone_by_default():
    live = [ours("q1", A_YES)]
    result = plan(desired(want(A_YES)), listing(*live, foreign=(foreign("f1"), foreign("f2", B_NO))), live, POLICY)
    assert result.empty


def test_foreign_orders_are_cancelled_when_configured_and_ours_are_not_touched():
    live = [ours("q1", A_YES)]
    policy = PlanPolicy(D("0.01"), cancel_foreign=True)
    result = plan(desired(want(A_YES)), listing(*live, foreign=(foreign("f1"), foreign("f2", B_NO, "SELL"))),
                  live, policy)
    assert sorted((c.order_id, c.foreign, c.size) for c in result.cancels) == [("f1", True, D(10)), ("f2", True, D(10))]
    assert result.places == () and result.kept == ("q1",)


# ----------------------------------------------------------------------------- plan properties
SLOTS = [(A_YES, "BUY"), (A_NO, "BUY"), (B_YES, "BUY"), (B_YES, "SELL")]
prices = st.sampled_from(["0.30", "0.39", "0.40", "0.41", "0.45"])
live_orders = st.lists(st.tuples(st.sampled_from(SLOTS), prices, st.sampled_from(["10", "20"]),
                                 st.sampled_from(["open", "partially_filled"])), max_size=6)
wanted_orders = st.dictionaries(st.sampled_from(SLOTS), st.tuples(prices, st.sampled_from(["10", "20"])))


def converge(wanted: DesiredState, live: list[Order], rounds: int) -> tuple[list[Order], list[Plan]]:
    """Apply plans as an ideal venue would (cancels confirm, places rest) and re-plan."""
    plans = []
    for r in range(rounds):
        result = run(wanted, live)
        plans.append(result)
        gone = {c.order_id for c in result.cancels}
        live = [o for o in live if o.order_id not in gone]
        for i, p in enumerate(result.places):
            assert p.after_cancel is None or p.after_cancel in gone
            o = p.order
            live.append(Order(OrderTerms(f"new{r}-{i}", o.slot_key, o.condition_id, o.token_id, o.side, o.role, o.price,
                                         o.size), D(0), "open"))
    return live, plans


@settings(max_examples=200, deadline=None)
@given(live_spec=live_orders, wanted_spec=wanted_orders)
def test_applying_the_plan_reaches_the_fixed_point_within_two_rounds(live_spec, wanted_spec):
    live = [ours(f"o{i}", token, side, price, size, matched="0" if state == "open" else "1", state=state)
            for i, ((token, side), price, size, state) in enumerate(live_spec)]
    wanted = desired(*(want(token, side, price, size, min_keep="10") for (token, side), (price, size) in wanted_spec.items()))
    first = run(wanted, live)
    per_slot: dict[str, int] = {}
    for p in first.places:
        per_slot[p.slot_key] = per_slot.get(p.slot_key, 0) + 1
        resting = [o for o in live if o.slot_key == p.slot_key]
        assert len(resting) <= 1 and p.after_cancel == (resting[0].order_id if resting else None)
    assert all(n == 1 for n in per_slot.values())
    final, plans = converge(wanted, live, 3)
    assert plans[2].empty
    by_slot: dict[str, list[Order]] = {}
    for o in final:
        by_slot.setdefault(o.slot_key, []).append(o)
    assert set(by_slot) == {o.slot_key for o in wanted.orders}
    assert all(len(v) == 1 for v in by_slot.values())


# ============================================================================= gate
LIMITS = RiskLimits(max_exposure_per_market=D(25), max_total_exposure=D(40))


def places(*orders: DesiredOrder, after: dict[str, str] | None = None) -> Plan:
    after = after or {}
    return Plan((), tuple(Place(o, o.reason, after.get(o.slot_key)) for o in orders), (), ())


def gated(the_plan: Plan, orders=(), foreign_buys=(), inventory=(), holdings=None, collateral=D(1000), limits=LIMITS):
    return gate(the_plan, list(orders), list(foreign_buys), list(inventory), holdings or {}, collateral, limits)


def test_a_buy_within_every_limit_passes_unchanged():
    result = gated(places(want(A_YES, price="0.50", size="20")))
    assert [p.order.size for p in result.places] == [D(20)] and not result.dropped and not result.shrunk
    assert result.exposure_after == {A: D(10)}


def test_a_buy_over_the_market_cap_is_shrunk_to_fit_with_a_reason():
    existing = [ours("q1", A_NO, price="0.50", size="30")]  # 15 at risk in market A
    result = gated(places(want(A_YES, price="0.50", size="30", min_keep="10")), existing)
    (sent,) = result.places
    assert sent.order.size == D(20)  # 10 USDC of room at 0.50
    ((shrunk, original, why),) = result.shrunk
    assert shrunk is sent and original == D(30) and "market" in why
    assert result.exposure_after[A] == D(25)


def test_a_buy_that_would_shrink_below_min_keep_size_is_dropped_with_a_reason():
    existing = [ours("q1", A_NO, price="0.50", size="30")]
    result = gated(places(want(A_YES, price="0.50", size="30", min_keep="25")), existing)
    assert result.places == ()
    ((dropped, why),) = result.dropped
    assert dropped.order.size == D(30) and "exposure cap" in why
    assert result.exposure_after == result.exposure_before


def test_a_buy_that_fills_the_total_cap_exactly_is_allowed():
    existing = [ours("q1", B_YES, price="0.50", size="40"), ours("q2", B_NO, price="0.50", size="20")]  # 30 in B
    result = gated(places(want(A_YES, price="0.50", size="20")), existing)  # +10 → total 40 == cap
    assert [p.order.size for p in result.places] == [D(20)] and not result.shrunk
    assert sum(result.exposure_after.values()) == LIMITS.max_total_exposure


def test_a_buy_one_share_past_the_total_cap_is_shrunk_by_that_share():
    existing = [ours("q1", B_YES, price="0.50", size="40"), ours("q2", B_NO, price="0.50", size="20")]
    result = gated(places(want(A_YES, price="0.50", size="22", min_keep="10")), existing)
    assert [p.order.size for p in result.places] == [D(20)]
    assert "total" in result.shrunk[0][2]


def test_a_buy_that_fills_the_market_cap_exactly_is_allowed():
    result = gated(places(want(A_YES, price="0.50", size="50")))
    assert [p.order.size for p in result.places] == [D(50)] and result.exposure_after[A] == D(25)


def test_unknown_orders_inventory_and_foreign_buys_all_count_toward_the_cap():
    existing = [ours("u1", A_YES, price="0.50", size="10", state="unknown"),  # 5
                ours("i1", A_NO, price="0.50", size="4", state="intent")]  # 2
    inventory = [InventoryExposure(A, D(10), D("0.50"))]  # 5
    foreign_buys = [BuyExposure(A, D("0.50"), D(6))]  # 3
    result = gated(places(want(B_YES, price="0.50", size="40"), want(A_NO, side="BUY", price="0.50", size="40", min_keep="5")),
                   existing, foreign_buys, inventory, limits=RiskLimits(D(25), D(100)))
    assert result.exposure_before == {A: D(15)}
    sizes = {p.order.token_id: p.order.size for p in result.places}
    assert sizes[A_NO] == D(20)  # 10 USDC of market room left at 0.50
    assert result.exposure_after[A] == D(25)


def test_an_unknown_collateral_balance_drops_every_buy_but_keeps_sells():
    result = gated(places(want(A_YES, side="SELL", price="0.60", size="10"), want(B_YES)),
                   holdings={A_YES: D(10)}, collateral=Unknown("balance read failed"))
    assert [p.order.side for p in result.places] == ["SELL"]
    ((dropped, why),) = result.dropped
    assert dropped.order.side == "BUY" and "collateral" in why and "unknown" in why


def test_buys_are_limited_by_free_collateral_after_open_buys():
    existing = [ours("q1", B_YES, price="0.50", size="10")]  # 5 locked
    result = gated(places(want(A_YES, price="0.50", size="20", min_keep="5")), existing, collateral=D(12))
    assert [p.order.size for p in result.places] == [D(14)]  # 7 free at 0.50
    assert "collateral" in result.shrunk[0][2]


def test_several_buys_share_the_free_collateral_in_plan_order():
    result = gated(places(want(A_YES, price="0.50", size="10"), want(B_YES, price="0.50", size="10")), collateral=D(6))
    assert [(p.order.token_id, p.order.size) for p in result.places] == [(A_YES, D(10))]
    assert [d.order.token_id for d, _ in result.dropped] == [B_YES]


def test_a_sell_is_limited_to_the_shares_held_less_what_our_other_sells_offer():
    existing = [ours("s1", A_YES, side="SELL", price="0.70", size="20", matched="5", state="partially_filled")]  # 15 offered
    result = gated(places(want(A_NO, side="SELL", price="0.40", size="10"),  # another token: its own holding
                          want(A_YES, side="SELL", price="0.60", size="12", min_keep="5")),
                   existing, holdings={A_YES: D(25), A_NO: D(10)})
    assert sorted((p.order.token_id, p.order.size) for p in result.places) == [(A_NO, D(10)), (A_YES, D(10))]
    assert [(o, why) for _, o, why in result.shrunk] == [(D(12), "holding 10 shares")]


def test_a_hedge_larger_than_the_unoffered_holding_is_dropped_not_shrunk():
    existing = [ours("s1", A_YES, side="SELL", price="0.70", size="8")]
    result = gated(places(want(A_YES, side="SELL", price="0.60", size="7")), existing, holdings={A_YES: D(10)})
    assert result.places == ()
    ((_, why),) = result.dropped
    assert "shares held" in why


def test_a_replacement_buy_gets_no_credit_for_the_order_it_replaces_because_a_fill_may_race_the_cancel():
    old = ours("q1", A_YES, price="0.50", size="40")  # 20 at risk until observation shows it gone
    new = want(A_YES, price="0.55", size="40")  # 22 more would make 42 > 25 if the old one got filled
    result = gated(places(new, after={new.slot_key: "q1"}), [old])
    assert result.places == ()
    ((dropped, why),) = result.dropped
    assert dropped.order.slot_key == new.slot_key and "exposure cap" in why
    assert result.exposure_after[A] == D(20)
    # once the old order is gone from the ledger, the same buy fits
    assert [p.order.size for p in gated(places(new), []).places] == [D(40)]


def test_a_cheaper_replacement_frees_no_room_until_the_old_buy_is_observed_gone():
    # Old buy 24.51 in A; its replacement costs 0.50. Until the old order is gone from the ledger it
    # still counts (its cancel may fail, or a fill may race it): 24.51 + 0.50 = 25.01 > 25.
    old = ours("q1", A_NO, price="0.43", size="57")
    cheaper = want(A_NO, price="0.10", size="5")
    other = want(A_YES, price="0.10", size="5")
    result = gated(places(cheaper, other, after={cheaper.slot_key: "q1"}), [old])
    assert result.places == ()
    assert {d.order.token_id for d, _ in result.dropped} == {A_NO, A_YES}
    assert all("exposure cap" in why for _, why in result.dropped)
    assert result.exposure_after[A] == D("24.51")


def test_a_replacement_sell_is_credited_with_the_shares_the_old_sell_offered():
    old = ours("s1", A_YES, side="SELL", price="0.70", size="10")
    new = want(A_YES, side="SELL", price="0.60", size="10")
    result = gated(places(new, after={new.slot_key: "s1"}), [old], holdings={A_YES: D(10)})
    assert [p.order.size for p in result.places] == [D(10)] and not result.dropped


def test_the_rate_budget_defers_places_beyond_it_with_a_reason():
    limits = replace(LIMITS, max_places=2)
    result = gated(places(want(A_YES, price="0.10", size="5"), want(A_NO, price="0.10", size="5"),
                          want(B_YES, price="0.10", size="5")), limits=limits)
    assert len(result.places) == 2
    ((dropped, why),) = result.dropped
    assert dropped.order.token_id == B_YES and "rate budget" in why


def cancel_of(o: Order) -> Cancel:
    return Cancel(OrderTerms(o.order_id, o.slot_key, o.condition_id, o.token_id, o.side, o.role, o.price, o.size),
                  o.size, "stale")


def test_the_rate_budget_defers_cancels_beyond_it_with_a_reason():
    olds = [ours(f"q{i}", tok, price="0.10", size="5") for i, tok in enumerate((A_YES, A_NO, B_YES))]
    the_plan = Plan(tuple(cancel_of(o) for o in olds), (), (), ())
    result = gated(the_plan, olds, limits=replace(LIMITS, max_cancels=2))
    assert [c.order_id for c in result.cancels] == ["q0", "q1"]
    assert [(c.order_id, "rate budget" in why) for c, why in result.deferred] == [("q2", True)]


def test_a_replacement_whose_cancel_is_deferred_is_deferred_too():
    olds = [ours("q0", A_YES, price="0.10", size="5"), ours("q1", B_YES, price="0.10", size="5")]
    news = [want(A_YES, price="0.20", size="5"), want(B_YES, price="0.20", size="5")]
    the_plan = Plan(tuple(cancel_of(o) for o in olds),
                    (Place(news[0], "x", "q0"), Place(news[1], "y", "q1")), (), ())
    result = gated(the_plan, olds, limits=replace(LIMITS, max_cancels=1))
    assert [p.after_cancel for p in result.places] == ["q0"]
    ((dropped, why),) = result.dropped
    assert dropped.after_cancel == "q1" and "q1" in why


# ----------------------------------------------------------------------------- gate properties
cents = st.integers(min_value=1, max_value=99).map(lambda c: D(c) / 100)
shares = st.integers(min_value=1, max_value=60).map(D)
tokens = st.sampled_from([A_YES, A_NO, B_YES, B_NO])


@settings(max_examples=300, deadline=None)
@given(
    existing=st.lists(st.tuples(tokens, cents, shares), max_size=4),
    wanted=st.lists(st.tuples(tokens, st.sampled_from(["BUY", "SELL"]), cents, shares, st.integers(1, 10)), max_size=6),
    held=st.dictionaries(tokens, shares),
    collateral=st.one_of(st.just(Unknown("balance read failed")), st.integers(0, 60).map(D)),
    max_places=st.integers(0, 6),
)
def test_the_gate_never_breaks_a_limit_and_always_says_why(existing, wanted, held, collateral, max_places):
    orders = [ours(f"o{i}", tok, price=str(p), size=str(s)) for i, (tok, p, s) in enumerate(existing)]
    limits = RiskLimits(D(25), D(40), max_places=max_places)
    the_plan = places(*(want(tok, side, str(p), str(s), min_keep=str(min(k, s))) for tok, side, p, s, k in wanted))
    result = gated(the_plan, orders, holdings=held, collateral=collateral, limits=limits)

    assert len(result.places) + len(result.dropped) == len(the_plan.places)
    assert len(result.places) <= max_places
    assert all(why for _, why in result.dropped) and all(why for _, _, why in result.shrunk)
    sent_buys = [p.order for p in result.places if p.order.side == "BUY"]
    for o in (p.order for p in result.places):
        assert o.size >= o.min_keep_size and o.size > 0
    if isinstance(collateral, Unknown):
        assert not sent_buys
    before = result.exposure_before
    for market in (A, B):
        added = sum((o.price * o.size for o in sent_buys if o.condition_id == market), D(0))
        assert result.exposure_after.get(market, D(0)) == before.get(market, D(0)) + added
        if added:
            assert result.exposure_after[market] <= limits.max_exposure_per_market
    if sent_buys:
        assert sum(result.exposure_after.values()) <= limits.max_total_exposure
        locked = sum((o.price * (o.size - o.size_matched) for o in orders if o.side == "BUY"), D(0))
        assert locked + sum((o.price * o.size for o in sent_buys), D(0)) <= collateral
    for token in {p.order.token_id for p in result.places if p.order.side == "SELL"}:
        sold = sum((p.order.size for p in result.places if p.order.side == "SELL" and p.order.token_id == token), D(0))
        assert sold <= held.get(token, D(0))


# ============================================================================= desire → gate
def market(rewards_min_size: str = "20") -> RewardMarket:
    return RewardMarket(A, "Will it?", (Token(A_YES, "Yes"), Token(A_NO, "No")), D(3), D(rewards_min_size), D(10),
                        D("0.01"), D(5), False, None, None)


def selection_with_quote(m: RewardMarket, size: str) -> Selection:
    band = RewardBand(D("0.50"), D("0.48"), D("0.52"))
    quote = TokenQuote(A_YES, "Yes", 0, D("0.48"), D(size), True, band)
    ev = Evaluation(m, D("0.02"), (quote,), (), D(1), 1.0, 1.0, 0.5, 5.0, D("0.48") * D(size), 1.0)
    return Selection((), (ev,), (ev,))


@pytest.mark.parametrize("size", ["20", "30", "10", "5"])
def test_a_desired_quote_never_asks_to_keep_more_than_it_places(size):
    # order_size_multiplier < 1 makes quotes smaller than rewards_min_size; they must still pass the gate.
    m = market(rewards_min_size="20")
    wanted = desire(selection_with_quote(m, size), {}, {A_YES: m, A_NO: m}, {},
                    HedgeParams(D("0.05"), D("0.10"), D("0.10"), D(5)), follow=True)
    (quote,) = wanted.orders
    assert quote.min_keep_size <= quote.size
    result = gated(plan(wanted, {}, [], POLICY), limits=RiskLimits(D(1000), D(1000)))
    assert [p.order.size for p in result.places] == [D(size)] and not result.dropped


def test_a_hedge_goes_before_the_cancels_only_when_nothing_it_could_trade_with_is_being_cancelled():
    from polymm.reconciler.plan import hedges_first

    def order(role, side, token, price, cid="0xc1"):
        return DesiredOrder(slot_key(cid, token, side, role), cid, token, side, role, D(price), D("20"), D("20"),
                            D("0.01"), False, True, "x")

    def cancel(side, token, price, cid="0xc1"):
        return Cancel(OrderTerms(f"0x{token}{price}", "", cid, token, side, "quote", D(price), D("20")), D("20"),
                      "stale")

    hedge = Place(order("hedge", "SELL", "yes", "0.55"), "hedge")
    # nothing in its way: first
    assert hedges_first([hedge], [cancel("BUY", "yes", "0.50"), cancel("BUY", "no", "0.40")]) == (hedge,)
    assert hedges_first([hedge], [cancel("BUY", "yes", "0.60", cid="0xother")]) == (hedge,)
    # a buy of ours on the same token at or above its price is still being cancelled: after the cancels
    assert hedges_first([hedge], [cancel("BUY", "yes", "0.55")]) == ()
    # a buy on the other outcome at or above 1 − 0.55 would meet it too (complement matching)
    assert hedges_first([hedge], [cancel("BUY", "no", "0.45")]) == ()
    # a replacement waits for its predecessor's cancel; quotes never go first
    assert hedges_first([replace(hedge, after_cancel="0xold")], []) == ()
    assert hedges_first([Place(order("quote", "BUY", "yes", "0.50"), "quote")], []) == ()
