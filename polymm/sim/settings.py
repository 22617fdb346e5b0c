"""The simulated venue's switches: the real venue's behaviour by default, each one off where a test needs the old."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone


@dataclass
class EngineSettings:
    """The defaults are the real venue's behaviour; each can be switched off where a test needs the old one."""

    seed: int = 42
    chain_id: int = 137
    start_time: float = 1_790_000_000.0
    initial_collateral_usdc: float = 1000.0
    # settlement as in the captured user trades (ws_user_trade_matched/mined.json, clob_data_trade.json):
    # MINED about 26 s after the match, CONFIRMED about 180 s after it
    mined_delay_s: float = 26.0
    confirmed_delay_s: float = 180.0
    fail_rate: float = 0.0  # fraction of trades that end FAILED and are reversed
    heartbeat_timeout_s: float = 10.0
    step_s: float = 1.0  # the clock's quantum: background activity happens on these steps
    # taker fees by market category and maker rebates (polymm.sim.fees)
    taker_fees: bool = True
    maker_rebates: bool = True
    # "CLOB blocks self-trading: a bid and ask from the same address will never match"
    # (py-clob-client-v2 examples/orders/match_orders.py): a taker skips resting orders of its own address
    self_trade_prevention: bool = True
    # tokens bought are not sellable at once: a sell right after a fill is refused "not enough balance /
    # allowance" until the balance catches up (py-clob-client issues #287, #290, #342). The lag is our
    # choice (the sources say "a few seconds"); 0 = sellable at once
    balance_delay_s: float = 5.0
    # the heartbeat id rotates on each beat; a stale id is refused with the expected one (VENUE.md)
    heartbeat_rotation: bool = True
    weekly_restart: bool = True  # the scheduled restart, Tuesdays 07:00 ET (docs: trading/matching-engine)
    # accounts whose API key is created now are deposit-wallet accounts: orders of types 0/1/2 are refused
    # "maker address not allowed, please use the deposit wallet flow" (py-clob-client-v2 issues #51, #56, #71, #83;
    # docs trading/deposit-wallets: "deposit wallets are the wallet path for new API users")
    deposit_wallet_accounts: bool = False

    @classmethod
    def instant(cls, **overrides) -> "EngineSettings":
        """The kind venue of old: no fees, self-trades allowed, settlement in 2 s / 6 s, no balance lag."""
        base = dict(mined_delay_s=2.0, confirmed_delay_s=6.0, taker_fees=False, maker_rebates=False,
                    self_trade_prevention=False, balance_delay_s=0.0, heartbeat_rotation=False,
                    weekly_restart=False)
        return cls(**{**base, **overrides})


def next_weekly_restart(after: float) -> float:
    """The next Tuesday 07:00 America/New_York at or after `after` (unix seconds)
    (docs.polymarket.com/trading/matching-engine: the weekly restart)."""
    try:
        from zoneinfo import ZoneInfo
        tz = ZoneInfo("America/New_York")
    except Exception:  # no tz database: Eastern Standard Time
        tz = timezone(timedelta(hours=-5))
    local = datetime.fromtimestamp(after, tz=tz)
    candidate = local.replace(hour=7, minute=0, second=0, microsecond=0) + timedelta(days=(1 - local.weekday()) % 7)
    if candidate.timestamp() < after:
        candidate += timedelta(days=7)
    return candidate.timestamp()
