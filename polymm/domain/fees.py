"""The venue's taker fee of one fill — the one formula the simulator charges and the ledger records.

fee = C × feeRate × p × (1 − p), C the shares of the fill and p its price, rounded to 5 decimals: the
smallest fee is 0.00001 USDC and anything smaller is 0. Only takers pay; makers are never charged
(docs.polymarket.com/trading/fees). Pure: no I/O.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

FEE_QUANTUM = Decimal("0.00001")


def taker_fee(shares: Decimal, price: Decimal, rate: Decimal) -> Decimal:
    if rate <= 0 or shares <= 0:
        return Decimal(0)
    return (shares * rate * price * (1 - price)).quantize(FEE_QUANTUM, rounding=ROUND_HALF_EVEN)


def rate_from_bps(bps) -> Decimal:
    """`fee_rate_bps` as the venue sends it ("400", 400 or "") as a rate (0.04)."""
    try:
        return Decimal(str(bps or 0)) / 10_000
    except ArithmeticError:
        return Decimal(0)
