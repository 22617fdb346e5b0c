"""Mutable state of the simulated venue: markets, orders, trades, accounts and the YES-space order book.

Units are integers so that matching never rounds: sizes in micro-shares (1e-6), prices in pips
(1e-4, so 10000 = 1.0) and collateral in micro-USDC. Each market keeps ONE book in terms of its
first token (YES); an order on the second token (NO) sits in it mirrored (BUY NO at q is an ask
YES at 1 − q), which gives Polymarket's complement matching (mint and merge) for free.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sortedcontainers import SortedDict

PIPS = 10_000
MICRO = 1_000_000
# the venue's own taker: the simulated traders' market orders and the admin `/_sim/take` trade from it
TAKER_ADDRESS = "0x" + "7" * 36 + "0001"


def internal_owner(address: str) -> str:
    """A stable pseudo API key for an internal trader, so trades name an owner as real ones do."""
    h = address.lower()[-12:]
    return f"51a0{h[:4]}-0000-4000-8000-{h}"


def notional_micro(size_micro: int, price_pips: int) -> int:
    """Collateral (micro-USDC) for `size_micro` shares at `price_pips`, rounded down as the exchange does."""
    return size_micro * price_pips // PIPS


@dataclass
class SimMarket:
    condition_id: str
    question_id: str
    question: str
    slug: str
    token_ids: tuple[str, str]
    outcomes: tuple[str, str]
    tick_pips: int
    min_order_size: int  # shares
    neg_risk: bool
    end_date: datetime
    volume_24hr: float
    rewards_max_spread: float  # cents
    rewards_min_size: float  # shares
    rate_per_day: float  # collateral per day; 0 = no reward program
    fair_value: float  # probability of the first outcome, driven by the simulated traders
    accepting_orders: bool = True
    description: str = ""
    tags: tuple[str, ...] = ()
    last_trade_pips: int = 0
    book: "YesBook" = field(default_factory=lambda: YesBook())
    # fees (polymm.sim.fees): set by the engine from the category unless given
    category: str = ""
    fee_rate: float | None = None  # taker fee rate; 0 = fee-free
    rebate_share: float = 0.0  # share of the market's taker fees rebated to its makers
    # lifecycle (polymm.sim.lifecycle): closed markets take no orders; a resolved one pays 1 per winning share
    closed: bool = False
    winner: int | None = None  # index of the winning outcome once resolved
    closed_time: float | None = None  # simulated unix time it closed (Gamma `closedTime`)
    listed_tick_pips: int = 0  # the tick at listing (set on creation), to show a changed one in /_sim/state

    def __post_init__(self) -> None:
        self.listed_tick_pips = self.listed_tick_pips or self.tick_pips

    @property
    def tick_str(self) -> str:
        return format_pips(self.tick_pips)

    def token_index(self, token_id: str) -> int:
        return 0 if token_id == self.token_ids[0] else 1


@dataclass
class SimOrder:
    id: str
    owner: str  # API key of the account (or an internal trader's pseudo key)
    maker_address: str
    market: SimMarket
    token_id: str
    side: str  # "BUY" | "SELL" in the order's own token
    price_pips: int  # in the order's own token
    original_size: int  # micro-shares
    order_type: str
    expiration: int
    created_at: float  # simulated unix seconds
    size_matched: int = 0
    status: str = "LIVE"  # LIVE | MATCHED | CANCELED
    associate_trades: list[str] = field(default_factory=list)
    closed_at: float | None = None  # when it stopped being active (for stale-read faults)
    internal: bool = False  # placed by a simulated trader, not through the API
    builder: str = ""  # the signed bytes32 builder code (order attribution), "" for none

    @property
    def remaining(self) -> int:
        return self.original_size - self.size_matched

    @property
    def outcome_index(self) -> int:
        return self.market.token_index(self.token_id)

    @property
    def is_yes_bid(self) -> bool:
        """True when the order rests on the bid side of the YES-space book."""
        return (self.side == "BUY") == (self.outcome_index == 0)

    @property
    def yes_pips(self) -> int:
        return self.price_pips if self.outcome_index == 0 else PIPS - self.price_pips


@dataclass
class MakerFill:
    order: SimOrder
    matched: int  # micro-shares
    price_pips: int  # the maker's own price
    taker_fee: int = 0  # micro-USDC the taker paid on this fill
    maker_fee_equivalent: int = 0  # micro-USDC: the fee formula on the maker's side, the rebate weight


def taker_price(taker: SimOrder, fill: MakerFill) -> int:
    """The price the taker pays or receives per share of its own token for this maker fill."""
    same_token = fill.order.token_id == taker.token_id
    return fill.price_pips if same_token else PIPS - fill.price_pips


@dataclass
class SimTrade:
    id: str
    taker_order: SimOrder
    maker_fills: list[MakerFill]
    size: int  # micro-shares, in the taker's token
    price_pips: int  # taker's token, the last (worst) level matched
    match_time: int
    transaction_hash: str
    status: str = "MATCHED"
    last_update: int = 0
    fails: bool = False  # decided at match time from the seeded RNG
    fee_rate: float = 0.0  # the market's taker fee rate at match time

    @property
    def taker_fee(self) -> int:
        return sum(f.taker_fee for f in self.maker_fills)
    # (account address, token_id, token delta, collateral delta) applied at match, undone on FAILED
    settlement: list[tuple[str, str, int, int]] = field(default_factory=list)

    def participant_owners(self) -> set[str]:
        return {self.taker_order.owner} | {f.order.owner for f in self.maker_fills}


@dataclass
class Account:
    address: str
    collateral: int = 0  # micro-USDC
    tokens: dict[str, int] = field(default_factory=dict)  # token_id -> micro-shares
    open_orders: dict[str, SimOrder] = field(default_factory=dict)
    unlimited: bool = False  # simulated traders are never short of funds
    cost_basis: dict[str, int] = field(default_factory=dict)  # token_id -> micro-USDC paid, for avgPrice

    def reserved_collateral(self) -> int:
        return sum(notional_micro(o.remaining, o.price_pips) for o in self.open_orders.values() if o.side == "BUY")

    def reserved_tokens(self, token_id: str) -> int:
        return sum(o.remaining for o in self.open_orders.values() if o.side == "SELL" and o.token_id == token_id)


@dataclass
class HeartbeatSession:
    heartbeat_id: str
    last_seen: float


@dataclass
class Event:
    """Something a WebSocket subscriber may want: channel 'market' (keyed by token) or 'user' (by API key)."""

    channel: str
    key: str
    payload: dict


@dataclass
class RewardsLedger:
    """Rewards and maker rebates per (UTC day, maker address, market): accrued, then paid once a day."""

    earnings: dict[tuple[str, str, str], float] = field(default_factory=lambda: defaultdict(float))  # accrued
    last_share: dict[str, dict[str, float]] = field(default_factory=dict)  # market -> address -> share
    paid: dict[tuple[str, str, str], float] = field(default_factory=dict)  # rewards credited at the payout
    rebates: dict[tuple[str, str, str], float] = field(default_factory=dict)  # rebates worked out at the payout
    rebates_paid: dict[tuple[str, str, str], float] = field(default_factory=dict)  # ... and credited (≥ $1)
    paid_days: list[str] = field(default_factory=list)  # days whose payout has run, oldest first


class YesBook:
    """Price-time priority book for one market in YES terms; each level is a FIFO list of orders."""

    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict()  # yes pips -> [SimOrder]
        self.asks: SortedDict = SortedDict()

    def add(self, order: SimOrder) -> None:
        side = self.bids if order.is_yes_bid else self.asks
        side.setdefault(order.yes_pips, []).append(order)

    def remove(self, order: SimOrder) -> None:
        side = self.bids if order.is_yes_bid else self.asks
        level = side.get(order.yes_pips)
        if level is None:
            return
        try:
            level.remove(order)
        except ValueError:
            return
        if not level:
            del side[order.yes_pips]

    def best_bid(self) -> int | None:
        return self.bids.peekitem(-1)[0] if self.bids else None

    def best_ask(self) -> int | None:
        return self.asks.peekitem(0)[0] if self.asks else None

    def level_size(self, is_bid: bool, yes_pips: int) -> int:
        level = (self.bids if is_bid else self.asks).get(yes_pips)
        return sum(o.remaining for o in level) if level else 0

    def token_levels(self, outcome_index: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(bids, asks) as (pips, micro-size) in the given token's own prices, best first."""
        yes_bids = [(p, sum(o.remaining for o in lvl)) for p, lvl in reversed(self.bids.items())]
        yes_asks = [(p, sum(o.remaining for o in lvl)) for p, lvl in self.asks.items()]
        if outcome_index == 0:
            return yes_bids, yes_asks
        return [(PIPS - p, s) for p, s in yes_asks], [(PIPS - p, s) for p, s in yes_bids]


def format_pips(pips: int) -> str:
    """A price in pips as the venue prints it: '0.45', '0.001', '1'."""
    text = f"{pips / PIPS:.4f}".rstrip("0").rstrip(".")
    return text or "0"


def format_micro(micro: int) -> str:
    """A size in micro-units as the venue prints it: '5', '10.5', '0.000001'."""
    whole, frac = divmod(micro, MICRO)
    return f"{whole}.{frac:06d}".rstrip("0").rstrip(".") if frac else str(whole)
