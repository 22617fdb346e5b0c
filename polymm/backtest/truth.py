"""The venue's truth about one account during a backtest: fills, markouts, inventory, rewards and equity,
read from the simulator's engine state (the same state `/_sim/state` serialises), never from polymm's ledger.

Runs on the simulator's thread (through `SimVenue.call`), so the engine is read between steps.
Money is in USDC as floats: these are reported figures, not amounts sent to the venue.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from polymm.sim.engine import Engine
from polymm.sim.model import MICRO, PIPS, SimMarket
from polymm.sim.payouts import utc_date

MARKOUT_HORIZONS_S = (60, 300)


@dataclass
class FillRecord:
    at: float
    condition_id: str
    token_id: str
    side: str  # our side, in the token's own terms
    price: float
    size: float
    liquidity: str  # MAKER | TAKER
    fee: float = 0.0
    mid_at_fill: float | None = None
    markouts: dict[int, float] = field(default_factory=dict)  # horizon s -> $ (positive: in our favour)


def token_mid(market: SimMarket, token_index: int) -> float | None:
    """The token's book midpoint (best bid and best ask of the YES-space book, mirrored for NO)."""
    bid, ask = market.book.best_bid(), market.book.best_ask()
    if bid is None or ask is None:
        return None
    mid = (bid + ask) / 2 / PIPS
    return mid if token_index == 0 else 1 - mid


def trade_fee(trade, address: str) -> float:
    """Taker fees the account paid on this trade: only takers pay (docs.polymarket.com/trading/fees); a
    venue without fees has no `taker_fee` on its trades."""
    if trade.taker_order.maker_address != address:
        return 0.0
    return getattr(trade, "taker_fee", 0) / MICRO


class AccountTruth:
    """Accumulates what the venue did for one account; `sample()` snapshots it on the simulated clock."""

    def __init__(self, engine: Engine, address: str) -> None:
        self.engine = engine
        self.address = address
        self._seen_trades = 0
        self.fills: list[FillRecord] = []
        self._pending_markouts: list[tuple[float, int, FillRecord]] = []
        self.cash_by_market: dict[str, float] = defaultdict(float)  # trading cash flows, fees excluded
        self.fees_by_market: dict[str, float] = defaultdict(float)
        # YES+NO pairs merged into collateral through the relayer (polymm.sim.relayer), once mined: the collateral
        # is trading cash; P&L = 1 − the pair's cost a pair
        self.merges: list[dict] = []
        self._seen_merges: set[int] = set()
        self.start_equity = self.equity()

    # ------------------------------------------------------------------ trades
    def absorb(self) -> int:
        """Take in the trades since the last call; returns how many involved this account."""
        engine, addr = self.engine, self.address
        new = 0
        trades = engine.trades
        for trade in trades[self._seen_trades:]:
            ours = [m for m in trade.settlement if m[0] == addr]
            if not ours:
                continue
            new += 1
            market = trade.taker_order.market
            taker = trade.taker_order.maker_address == addr
            fee = trade_fee(trade, addr)
            self.fees_by_market[market.condition_id] += fee
            # the settlement's cash already carries the taker fee (less received, more paid): add it back,
            # trading P&L is counted before fees and the fee apart
            self.cash_by_market[market.condition_id] += fee
            for _, token_id, d_tokens, d_cash in ours:
                if d_tokens == 0:
                    continue
                self.cash_by_market[market.condition_id] += d_cash / MICRO
                size = abs(d_tokens) / MICRO
                idx = market.token_index(token_id)
                rec = FillRecord(at=engine.now, condition_id=market.condition_id, token_id=token_id,
                                 side="BUY" if d_tokens > 0 else "SELL", price=round(abs(d_cash) / abs(d_tokens), 6),
                                 size=size, liquidity="TAKER" if taker else "MAKER", fee=fee,
                                 mid_at_fill=token_mid(market, idx))
                self.fills.append(rec)
                for horizon in MARKOUT_HORIZONS_S:
                    self._pending_markouts.append((engine.now + horizon, horizon, rec))
                fee = 0.0  # one trade's fee is booked once
        self._seen_trades = len(trades)
        relayer = getattr(engine, "relayer", None)
        for tx in (relayer.transactions.values() if relayer is not None else ()):
            if tx.wallet != addr:
                continue
            for m in tx.merges:
                if m.mined_at is None or id(m) in self._seen_merges:
                    continue
                self._seen_merges.add(id(m))
                self.cash_by_market[m.condition_id] += m.amount / MICRO
                self.merges.append({"at": m.mined_at, "condition_id": m.condition_id, "pairs": m.amount / MICRO,
                                    "pnl": (m.amount - m.cost) / MICRO})
        return new

    def merges_by_market(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for m in self.merges:
            row = out.setdefault(m["condition_id"], {"merges": 0, "pairs": 0.0, "pnl": 0.0})
            row["merges"] += 1
            row["pairs"] += m["pairs"]
            row["pnl"] += m["pnl"]
        return out

    def settle_markouts(self) -> None:
        now = self.engine.now
        still = []
        for due, horizon, rec in self._pending_markouts:
            if now < due:
                still.append((due, horizon, rec))
                continue
            market = self.engine.market_by_token[rec.token_id]
            mid = token_mid(market, market.token_index(rec.token_id))
            if mid is not None:
                sign = 1 if rec.side == "BUY" else -1
                rec.markouts[horizon] = round(sign * (mid - rec.price) * rec.size, 6)
        self._pending_markouts = still

    # ------------------------------------------------------------------ marks
    def account(self):
        return self.engine.accounts.get(self.address)

    def mark(self, token_id: str) -> float:
        market = self.engine.market_by_token[token_id]
        mid = token_mid(market, market.token_index(token_id))
        if mid is None:  # an empty side: the last trade price is the best mark left
            last = market.last_trade_pips / PIPS
            mid = last if market.token_index(token_id) == 0 else 1 - last
        return mid

    def equity(self) -> float:
        """Collateral plus every held token marked to its midpoint."""
        acct = self.account()
        if acct is None:
            return 0.0
        return acct.collateral / MICRO + sum(s / MICRO * self.mark(t) for t, s in acct.tokens.items())

    def rewards_by_market(self) -> dict[str, float]:
        """Rewards the venue accrued to this account (its per-minute sampling), per market."""
        out: dict[str, float] = defaultdict(float)
        for (_, maker, market), amount in self.engine.rewards.earnings.items():
            if maker == self.address:
                out[market] += amount
        return out

    def rewards_paid(self) -> float:
        """Rewards credited to the collateral by the venue's daily payouts (≥ $1 a day)."""
        return sum(v for (_, maker, _), v in self.engine.rewards.paid.items() if maker == self.address)

    def rebates_by_market(self, sampler=None) -> dict[str, float]:
        """Maker rebates per market: those the daily payouts worked out, plus (with the venue's `sampler`)
        today's, worked out the same way as the coming payout will (docs.polymarket.com/market-makers/maker-rebates)."""
        ledger = self.engine.rewards
        found = dict(ledger.rebates)
        if sampler is not None:
            day = utc_date(self.engine.now)
            if day not in ledger.paid_days:
                found.update(sampler._rebates(day))
        out: dict[str, float] = defaultdict(float)
        for (_, maker, market), amount in found.items():
            if maker == self.address:
                out[market] += amount
        return out

    def rebates_paid(self) -> float:
        return sum(v for (_, maker, _), v in self.engine.rewards.rebates_paid.items() if maker == self.address)

    def holdings_by_market(self) -> dict[str, dict]:
        """Per market: shares held of each token, their value at mid and their cost."""
        acct = self.account()
        out: dict[str, dict] = {}
        if acct is None:
            return out
        for token_id, micro in acct.tokens.items():
            if micro <= 0:
                continue
            market = self.engine.market_by_token[token_id]
            row = out.setdefault(market.condition_id, {"value": 0.0, "cost": 0.0, "shares": {}})
            row["value"] += micro / MICRO * self.mark(token_id)
            row["cost"] += acct.cost_basis.get(token_id, 0) / MICRO
            row["shares"][token_id] = micro / MICRO
        return out

    def open_buy_notional_by_market(self) -> dict[str, float]:
        acct = self.account()
        out: dict[str, float] = defaultdict(float)
        if acct is None:
            return out
        for o in acct.open_orders.values():
            if o.side == "BUY":
                out[o.market.condition_id] += o.remaining / MICRO * o.price_pips / PIPS
        return out
