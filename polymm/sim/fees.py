"""Taker fees and maker rebates of the simulated venue: the rate by market category and the fee of one fill.

Facts modelled (docs.polymarket.com/trading/fees and /market-makers/maker-rebates, late 2026):
- only takers pay; makers are never charged: fee = C × feeRate × p × (1 − p), C the shares of the fill,
  p its price; fees are rounded to 5 decimals (the smallest fee is 0.00001 USDC, less rounds to 0);
- the fee is paid in collateral: a taker BUY pays the notional plus the fee, a taker SELL receives the
  notional less the fee;
- the rate depends on the market's category; the captured market info `fd.r` is 0.04
  (../shared/fixtures/polymarket/clob_clob_markets_compact.json), and the category table below follows
  the fees page (crypto highest, geopolitics free);
- a share of each market's taker fees is rebated to its makers, pro rata to the fee-equivalent
  (the same formula) of their maker fills, paid daily.
The rates have changed more than once since fees were introduced; the sim exposes each market's rate
on `/clob-markets/{id}` (`fd.r`), `/fee-rate` and Gamma's `feeSchedule`, which is what clients read.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

from polymm.domain.fees import taker_fee
from polymm.sim.model import SimMarket

# category -> (taker fee rate, share of taker fees rebated to makers)
CATEGORY_RATES: dict[str, tuple[float, float]] = {
    "crypto": (0.07, 0.20),
    "sports": (0.03, 0.25),
    "politics": (0.04, 0.25),
    "finance": (0.04, 0.25),
    "tech": (0.04, 0.25),
    "economics": (0.05, 0.25),
    "culture": (0.05, 0.25),
    "geopolitics": (0.0, 0.0),
}
# generated markets get a category from their id, weighted toward the 0.04 of the captured market info
_CATEGORY_MIX = ("politics", "politics", "politics", "finance", "sports", "crypto", "economics", "geopolitics")


def category_of(condition_id: str, tags: tuple[str, ...]) -> str:
    for tag in tags:
        if tag.lower() in CATEGORY_RATES:
            return tag.lower()
    digest = hashlib.sha256(condition_id.encode()).digest()
    return _CATEGORY_MIX[digest[0] % len(_CATEGORY_MIX)]


def fee_micro(size_micro: int, price_pips: int, rate: float) -> int:
    """The fee (micro-USDC) of a fill of `size_micro` shares at `price_pips` (polymm.domain.fees, the one formula)."""
    fee = taker_fee(Decimal(size_micro) / 1_000_000, Decimal(price_pips) / 10_000, Decimal(str(rate)))
    return int(fee * 1_000_000)


def price_market(market: SimMarket, taker_fees: bool, maker_rebates: bool) -> None:
    """Give a market its category, taker fee rate and rebate share, unless set; `taker_fees` /
    `maker_rebates` off: none."""
    if not market.category:
        market.category = category_of(market.condition_id, market.tags)
    rate, share = CATEGORY_RATES.get(market.category, (0.04, 0.25))
    if market.fee_rate is None:
        market.fee_rate = rate
        market.rebate_share = share
    if not taker_fees:
        market.fee_rate = 0.0
    if not maker_rebates:
        market.rebate_share = 0.0
