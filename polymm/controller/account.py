"""The wallet's balance and allowance and the rewards the venue paid today, for `polymm status`.

A background thread reads them once a minute (a slow or unreachable venue never stalls a tick), and
the loop's thread writes the latest reading to the ledger (a cursor) on its next tick, so that
`polymm status` shows them beside the estimate without a venue connection of its own.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from decimal import Decimal
from typing import Callable

from polymm.ledger.journal import ACCOUNT_CURSOR
from polymm.text.format import money_json
from polymm.venue.outcomes import Ok

CURSOR = ACCOUNT_CURSOR  # the ledger cursor this writes (polymm.ledger.journal)
EVERY_S = 60.0
UNLIMITED_USDC = Decimal(10) ** 15  # more than all USDC in existence
MIN_PAYOUT_USDC = Decimal(1)  # a day's rewards under $1 are not paid


def reading(trading, now: float) -> dict:
    """One reading: balance and allowance (USDC, to the cent), rewards paid today, and what failed."""
    record: dict = {"at": round(now, 3)}
    problems = []
    funds = trading.balance_allowance()
    if isinstance(funds, Ok):
        balance, allowance = funds.value
        record["balance"] = money_json(balance)
        # an approval of the maximum amount (2^256 - 1 base units, what wallets grant) is "unlimited"
        record["allowance"] = (None if allowance is None else "unlimited" if allowance >= UNLIMITED_USDC
                               else money_json(allowance))
    else:
        problems.append(f"balance: {funds.reason}")
    paid = trading.rewards_paid(datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y-%m-%d"))
    if isinstance(paid, Ok):
        record["rewards_paid_today"] = money_json(paid.value)
    else:
        problems.append(f"rewards paid: {paid.reason}")
    yesterday = datetime.fromtimestamp(now - 86_400, tz=timezone.utc).strftime("%Y-%m-%d")
    earned = trading.rewards_paid(yesterday)
    if isinstance(earned, Ok):
        # the venue pays a day's rewards once, around midnight UTC, and nothing when they come to under $1
        # (docs.polymarket.com "Market Makers → Liquidity Rewards"; REWARDS.md)
        record["rewards_earned_yesterday"] = money_json(earned.value)
        record["rewards_paid_yesterday"] = money_json(earned.value if earned.value >= MIN_PAYOUT_USDC else Decimal(0))
    else:
        problems.append(f"rewards yesterday: {earned.reason}")
    rebates = trading.rebates_paid(yesterday) if hasattr(trading, "rebates_paid") else None
    if isinstance(rebates, Ok):
        record["rebates_paid_yesterday"] = money_json(rebates.value)  # paid once a day, for the day before
    elif rebates is not None:
        problems.append(f"rebates paid: {rebates.reason}")
    if problems:
        record["problem"] = "; ".join(problems)
    return record


class AccountRecorder:
    def __init__(self, trading, ledger, stop: threading.Event, every_s: float = EVERY_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.trading = trading
        self.ledger = ledger
        self.stop = stop
        self.every_s = every_s
        self.clock = clock
        self._latest: dict | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        def run() -> None:
            while not self.stop.is_set():
                try:
                    record = reading(self.trading, self.clock())
                except Exception as exc:  # noqa: BLE001 - a display aid must never take the loop down
                    record = {"at": round(self.clock(), 3), "problem": f"{type(exc).__name__}: {exc}"}
                with self._lock:
                    self._latest = record
                self.stop.wait(self.every_s)

        self._thread = threading.Thread(target=run, name="polymm-account", daemon=True)
        self._thread.start()

    def flush(self) -> None:
        """Write the newest reading, if any, to the ledger (called from the loop's thread)."""
        if self._thread is None:
            self.start()
        with self._lock:
            record, self._latest = self._latest, None
        if record is not None:
            self.ledger.set_cursor(CURSOR, json.dumps(record, sort_keys=True))
