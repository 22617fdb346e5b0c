"""The exposure sum — the one place it is computed.

Buy exposure is price × remaining size for every buy that is resting or may be (in flight, or of
unknown outcome); filled but unhedged inventory counts at cost until sold; sells add nothing
(they can only reduce inventory). Capped per market (`max_exposure_per_market_usdc`) and in total.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class BuyExposure:
    condition_id: str
    price: Decimal
    size: Decimal  # remaining (unfilled) shares


@dataclass(frozen=True, slots=True)
class InventoryExposure:
    condition_id: str
    size: Decimal  # shares held and not yet sold
    avg_cost: Decimal


def exposure_by_market(buys: Iterable[BuyExposure], inventory: Iterable[InventoryExposure]) -> dict[str, Decimal]:
    """USDC at risk per condition id."""
    out: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for b in buys:
        out[b.condition_id] += b.price * b.size
    for i in inventory:
        if i.size > 0:
            out[i.condition_id] += i.avg_cost * i.size
    return dict(out)


def total_exposure(by_market: dict[str, Decimal]) -> Decimal:
    return sum(by_market.values(), ZERO)
