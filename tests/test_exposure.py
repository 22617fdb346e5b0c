"""The exposure sum: buys at price × remaining size, inventory at cost, sells nothing; per market and total."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polymm.domain.exposure import BuyExposure, InventoryExposure, exposure_by_market, total_exposure


@pytest.mark.parametrize(
    ("buys", "inventory", "by_market", "total"),
    [
        pytest.param([], [], {}, "0", id="nothing-at-risk"),
        pytest.param([("A", "0.48", "10")], [], {"A": "4.80"}, "4.80", id="one-resting-buy-at-price-times-size"),
        pytest.param([("A", "0.48", "10"), ("A", "0.51", "20")], [], {"A": "15.00"}, "15.00",
                     id="buys-in-one-market-add-up"),
        pytest.param([], [("A", "10", "0.45")], {"A": "4.50"}, "4.50", id="inventory-counts-at-average-cost"),
        pytest.param([("A", "0.48", "10")], [("A", "10", "0.45")], {"A": "9.30"}, "9.30",
                     id="a-buy-and-inventory-in-one-market"),
        pytest.param([("A", "0.48", "10"), ("B", "0.20", "5")], [("B", "10", "0.30")],
                     {"A": "4.80", "B": "4.00"}, "8.80", id="each-market-separately-and-the-total"),
        pytest.param([], [("A", "0", "0.45")], {}, "0", id="inventory-fully-sold-adds-nothing"),
        pytest.param([("A", "0.4825", "12.34")], [], {"A": "5.954050"}, "5.954050", id="exact-decimal-arithmetic"),
    ],
)
def test_exposure_sums_buys_at_price_and_inventory_at_cost_per_market_and_in_total(
    buys, inventory, by_market, total
) -> None:
    result = exposure_by_market(
        [BuyExposure(cid, D(p), D(s)) for cid, p, s in buys],
        [InventoryExposure(cid, D(s), D(c)) for cid, s, c in inventory],
    )

    assert result == {cid: D(v) for cid, v in by_market.items()}
    assert total_exposure(result) == D(total)


def test_selling_inventory_lowers_exposure_only_by_what_was_sold_at_cost() -> None:
    # A hedge sell adds nothing itself; once 4 of 10 shares sell, 6 remain at cost.
    before = exposure_by_market([], [InventoryExposure("A", D(10), D("0.45"))])
    after = exposure_by_market([], [InventoryExposure("A", D(6), D("0.45"))])

    assert before["A"] - after["A"] == D(4) * D("0.45")


def test_a_partially_filled_buy_moves_its_filled_part_from_buy_exposure_to_inventory() -> None:
    resting = exposure_by_market([BuyExposure("A", D("0.50"), D(10))], [])
    partly_filled = exposure_by_market([BuyExposure("A", D("0.50"), D(6))], [InventoryExposure("A", D(4), D("0.50"))])

    assert resting == partly_filled == {"A": D("5.00")}


money = st.decimals(min_value=0, max_value=1, places=4)
shares = st.decimals(min_value=0, max_value=10_000, places=2)
markets = st.sampled_from(["A", "B", "C"])


@given(
    buys=st.lists(st.builds(BuyExposure, markets, money, shares), max_size=10),
    inventory=st.lists(st.builds(InventoryExposure, markets, shares, money), max_size=10),
)
def test_the_total_is_the_sum_over_markets_and_over_every_input(buys, inventory) -> None:
    by_market = exposure_by_market(buys, inventory)

    expected = sum((b.price * b.size for b in buys), D(0)) + sum((i.avg_cost * i.size for i in inventory), D(0))
    assert total_exposure(by_market) == expected
    for cid, value in by_market.items():
        assert value == sum((b.price * b.size for b in buys if b.condition_id == cid), D(0)) + sum(
            (i.avg_cost * i.size for i in inventory if i.condition_id == cid), D(0)
        )
