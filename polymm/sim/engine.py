"""The simulated venue's engine: accounts, order checks, price-time matching on the books, balances and settlement.

Single-threaded and deterministic: all randomness comes from one seeded RNG and all time from
the simulated clock, which moves only through `advance`. The HTTP surfaces call these methods
from one event loop; the engine itself does no I/O. Market participants come from a MarketSource
(polymm.sim.participants), which the composition (polymm.sim.runner) steps on the engine's clock.
"""

from __future__ import annotations

import random
import re
import uuid
from decimal import Decimal
from collections import defaultdict
from typing import Callable

from eth_hash.auto import keccak

from polymm.sim import auth, fees, lifecycle, wire
from polymm.sim.model import (MICRO, PIPS, Account, Event, HeartbeatSession, MakerFill, RewardsLedger, SimMarket,
                              SimOrder, SimTrade, format_micro, format_pips, notional_micro, taker_price)
from polymm.sim.orders import (HeartbeatMismatch, SignedOrder, VenueError, check_signer, order_refusal,  # noqa: F401
                               price_and_size_refusal, size_and_price)  # (the errors re-exported: the engine raises them)
from polymm.sim.settings import EngineSettings, next_weekly_restart

class Engine:
    """The venue's state and rules: accounts and keys, order checks, matching on the books, settlement, clock duties."""

    def __init__(self, markets: list[SimMarket], settings: EngineSettings | None = None) -> None:
        self.settings = settings or EngineSettings()
        self.rng = random.Random(self.settings.seed)
        self.now = self.settings.start_time
        self.venue_secret = self.rng.getrandbits(256).to_bytes(32, "big")
        self.markets: dict[str, SimMarket] = {m.condition_id: m for m in markets}
        self.market_by_token: dict[str, SimMarket] = {t: m for m in markets for t in m.token_ids}
        self.accounts: dict[str, Account] = {}  # checksum address -> account
        self.credentials: dict[str, auth.ApiCredentials] = {}  # api key -> creds
        self.owner_address: dict[str, str] = {}  # api key (or internal owner) -> address
        # deployed contract wallets: address -> (owner EOA, signature type 1 proxy | 2 safe | 3 deposit wallet)
        self.wallets: dict[str, tuple[str, int]] = {}
        self.deposit_wallet_only: set[str] = set()  # EOAs whose API key was made under deposit_wallet_accounts
        self.orders: dict[str, SimOrder] = {}
        self.trades: list[SimTrade] = []
        # api key -> the trades it took part in, in match order: GET /data/trades reads one account's trades, and
        # scanning every simulated trader's trades made each call (and a day's backtest) slower by the hour
        self.trades_by_owner: dict[str, list[SimTrade]] = defaultdict(list)
        self.trade_by_id: dict[str, SimTrade] = {}
        self.heartbeats: dict[str, HeartbeatSession] = {}
        self.mode = "normal"  # normal | trading-disabled | cancel-only
        self.listeners: list[Callable[[Event], None]] = []
        self.rewards = RewardsLedger()
        self._pending: list[SimTrade] = []  # trades not yet final
        self._changed_levels: dict[str, set[tuple[bool, int]]] = defaultdict(set)
        self._step_hooks: list[Callable[[float], None]] = []
        self._clock_remainder = 0.0
        self._locks: dict[str, list[tuple[float, str, int]]] = defaultdict(list)  # address -> (until, token, micro)
        self.down_until = self.post_only_until = 0.0
        self.restarts = 0
        self._next_weekly = next_weekly_restart(self.now)
        self._resolutions: list[tuple[float, str, int | None]] = []  # (at, condition_id, winner): polymm.sim.lifecycle
        for market in markets:
            fees.price_market(market, self.settings.taker_fees, self.settings.maker_rebates)

    # ----------------------------------------------------------------- ids and time
    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def new_hash(self) -> str:
        return "0x" + self.rng.getrandbits(256).to_bytes(32, "big").hex()

    def on_step(self, hook: Callable[[float], None], during_restart: bool = False) -> None:
        """Register background activity (simulated traders, reward sampling) run on every clock step.
        Unless `during_restart`, it pauses while the matching engine is down (nothing trades then)."""
        self._step_hooks.append((hook, during_restart))

    # ----------------------------------------------------------------- matching-engine restarts
    # docs.polymarket.com/trading/matching-engine: weekly on Tuesdays at 7:00 AM ET (and unscheduled
    # ones); about 90 s of HTTP 425 on every order endpoint, then 2 minutes of post-only mode in which
    # cancels and postOnly orders are accepted and other orders refused.
    def restart(self, down_s: float = 90.0, post_only_s: float = 120.0) -> None:
        """Start a matching-engine restart now (the admin's `POST /_sim/restart` or the weekly schedule)."""
        self.down_until = self.now + down_s
        self.post_only_until = self.down_until + post_only_s
        self.restarts += 1

    # ----------------------------------------------------------------- market lifecycle (polymm.sim.lifecycle)
    def schedule_resolution(self, condition_id: str, at: float, winner: int | None) -> None:
        """Close the market (resolved to `winner` when given) once the clock reaches `at`."""
        if condition_id not in self.markets:
            raise ValueError(f"unknown market {condition_id}")
        self._resolutions.append((at, condition_id, winner))

    def _due_resolutions(self) -> None:
        if not self._resolutions:
            return
        due = [r for r in self._resolutions if r[0] <= self.now]
        self._resolutions = [r for r in self._resolutions if r[0] > self.now]
        for _, condition_id, winner in due:
            lifecycle.close(self, self.markets[condition_id], winner)

    @property
    def engine_down(self) -> bool:
        return self.now < self.down_until

    @property
    def post_only_mode(self) -> bool:
        return self.down_until <= self.now < self.post_only_until

    def _scheduled_restart(self) -> None:
        if self.settings.weekly_restart and self.now >= self._next_weekly:
            self.restart()
            self._next_weekly = next_weekly_restart(self.now + 1)

    def advance(self, seconds: float) -> int:
        """Move the simulated clock forward in whole steps; returns the number of steps run."""
        if seconds < 0:
            raise ValueError("cannot move the clock backwards")
        self._clock_remainder += seconds
        steps = 0
        step = self.settings.step_s
        while self._clock_remainder + 1e-9 >= step:
            self._clock_remainder -= step
            self.now += step
            steps += 1
            self._settle_due_trades()
            self._expire_heartbeats()
            self._expire_gtd()
            self._scheduled_restart()
            self._due_resolutions()
            down = self.engine_down
            for hook, during_restart in self._step_hooks:
                if during_restart or not down:
                    hook(self.now)
            self.flush_book_events()
        return steps

    # ----------------------------------------------------------------- accounts and keys
    def account(self, address: str, unlimited: bool = False) -> Account:
        address = auth.checksum_address(address)
        acct = self.accounts.get(address)
        if acct is None:
            acct = self.accounts[address] = Account(address=address, unlimited=unlimited)
        return acct

    def deploy_wallet(self, owner: str, signature_type: int, address: str | None = None,
                      collateral_usdc: float | None = None) -> str:
        """A contract wallet of `owner` (the admin `/_sim/wallet`; on chain: a proxy, safe or deposit wallet at
        its CREATE2 address). Without `address` the sim picks a deterministic one of its own — not the chain's
        address; pass the real one (e.g. what polymarket-client derives) to use an official client's default.
        A new wallet is funded like a new account (`initial_collateral_usdc`) unless `collateral_usdc` says."""
        if signature_type not in (1, 2, 3):
            raise VenueError(400, f"signature_type {signature_type} — a contract wallet is 1 (POLY_PROXY), "
                                  "2 (POLY_GNOSIS_SAFE) or 3 (POLY_1271 deposit wallet)")
        for what, value in (("owner", owner), ("address", address)):
            if value is not None and not re.fullmatch(r"0x[0-9a-fA-F]{40}", str(value)):
                raise VenueError(400, f"{what} {value!r} is not an address (0x and 40 hex digits)")
        owner = auth.checksum_address(owner)
        if address is None:
            address = "0x" + keccak(b"polymm-sim-wallet" + bytes([signature_type]) + bytes.fromhex(owner[2:]))[12:].hex()
        address = auth.checksum_address(address)
        known = self.wallets.get(address)
        if known is not None and known != (owner, signature_type):
            raise VenueError(400, f"{address} is already a wallet of {known[0]} (signature type {known[1]})")
        if known is None:
            self.wallets[address] = (owner, signature_type)
            acct = self.account(address)
            amount = self.settings.initial_collateral_usdc if collateral_usdc is None else collateral_usdc
            acct.collateral += int(round(amount * MICRO))
        return address

    def wallet_of(self, owner: str, signature_type: int) -> str | None:
        """The address trading for `owner` under a signature type (0: the EOA itself), None if none is deployed."""
        owner = auth.checksum_address(owner)
        if signature_type == 0:
            return owner
        return next((w for w, (o, t) in self.wallets.items() if o == owner and t == signature_type), None)

    def create_api_key(self, address: str, nonce: int) -> auth.ApiCredentials:
        creds = auth.derive_credentials(self.venue_secret, address, nonce)
        if creds.api_key in self.credentials:
            raise VenueError(400, "Could not create api key")
        if self.settings.deposit_wallet_accounts and not any(c.address == creds.address for c in self.credentials.values()):
            self.deposit_wallet_only.add(creds.address)
        self._register(creds)
        return creds

    def derive_api_key(self, address: str, nonce: int) -> auth.ApiCredentials:
        creds = auth.derive_credentials(self.venue_secret, address, nonce)
        if creds.api_key not in self.credentials:
            raise VenueError(400, "Could not derive api key!")
        return creds

    def _register(self, creds: auth.ApiCredentials) -> None:
        self.credentials[creds.api_key] = creds
        self.owner_address[creds.api_key] = creds.address
        fresh = creds.address not in self.accounts
        acct = self.account(creds.address)
        if fresh:
            acct.collateral = int(self.settings.initial_collateral_usdc * MICRO)

    def fund(self, address: str, collateral_usdc: float) -> Account:
        acct = self.account(address)
        acct.collateral += round(Decimal(str(collateral_usdc)) * MICRO)
        return acct

    # ----------------------------------------------------------------- orders
    def post_order(self, api_key: str, body: dict) -> dict:
        """Validate, then execute one signed order; returns the venue's per-order reply or raises VenueError."""
        if self.mode != "normal":
            raise VenueError(503, f"Trading is currently {'disabled' if self.mode == 'trading-disabled' else 'cancel-only'}")
        creds = self.credentials[api_key]
        signed = SignedOrder.read(body, api_key)
        if self.post_only_mode and not signed.post_only:
            # the docs say non-post-only orders are refused for 2 minutes after a restart; the exact
            # wording is not documented, this one names the mode
            raise VenueError(400, "the matching engine is in post-only mode: only post-only orders and cancels are accepted")
        order_fields, token_id, side = signed.fields, signed.token_id, signed.side
        market = self.market_by_token.get(token_id)
        if market is None:
            raise VenueError(400, f"market not found for token id {token_id}")
        if not all(k in order_fields for k in ("timestamp", "metadata", "builder")):
            raise VenueError(400, "order_version_mismatch")  # a V1-shaped order (VENUE.md)
        try:
            digest = auth.order_digest(order_fields, self.settings.chain_id, market.neg_risk)
        except auth.SignatureError as exc:
            raise VenueError(400, f"invalid order: {exc}") from exc
        order_id = "0x" + digest.hex()
        check_signer(order_fields, signed.signature_type, digest, market.neg_risk, creds, self.wallets, self.deposit_wallet_only,
                     self.settings.chain_id)
        # refusal wordings: docs.polymarket.com/resources/error-codes ("Order Processing Errors")
        if order_id in self.orders:
            return order_refusal(order_id, "INVALID_ORDER_DUPLICATED", f"order {order_id} is invalid. Duplicated.")
        if not market.accepting_orders:
            return order_refusal(order_id, "MARKET_NOT_READY", "the market is not yet ready to process new orders")

        size_micro, price_pips = size_and_price(side, signed.maker_amount, signed.taker_amount, signed.order_type,
                                                market.tick_pips)
        refused = price_and_size_refusal(signed, order_id, market, size_micro, price_pips, self.now)
        if refused:
            return refused

        acct = self.account(str(order_fields["maker"]))
        if not acct.unlimited:
            if side == "BUY":
                # a marketable buy also pays the taker fee (docs: trading/fees); resting buys pay none
                need = notional_micro(size_micro, price_pips) + fees.fee_micro(size_micro, price_pips, market.fee_rate or 0.0)
                if acct.collateral - acct.reserved_collateral() < need:
                    return order_refusal(order_id, "INVALID_ORDER_NOT_ENOUGH_BALANCE", "not enough balance / allowance")
            elif acct.tokens.get(token_id, 0) - acct.reserved_tokens(token_id) - self.locked_tokens(acct.address, token_id) < size_micro:
                return order_refusal(order_id, "INVALID_ORDER_NOT_ENOUGH_BALANCE", "not enough balance / allowance")

        order = SimOrder(
            id=order_id, owner=api_key, maker_address=acct.address, market=market, token_id=token_id,
            side=side, price_pips=price_pips, original_size=size_micro, order_type=signed.order_type,
            expiration=signed.expiration if signed.order_type == "GTD" else 0, created_at=self.now,
            builder="" if int(str(order_fields["builder"]), 16) == 0 else str(order_fields["builder"]).lower(),
        )
        if signed.post_only and self._crossable(order, 1, own_too=True) > 0:
            return order_refusal(order_id, "INVALID_POST_ONLY_ORDER", "invalid post-only order: order crosses book")
        return self.execute(order)

    def _crossable(self, order: SimOrder, limit: int | None = None, own_too: bool = False) -> int:
        """Micro-shares available to `order` as a taker at its limit price (complement orders included).
        Under self-trade prevention the orders of the taker's own address do not count, unless `own_too`
        (a post-only order that meets even its own resting order crosses the book)."""
        book = order.market.book
        yes_px = order.yes_pips
        skip = order.maker_address if self.settings.self_trade_prevention and not own_too else None
        total = 0
        if order.is_yes_bid:
            for px, level in book.asks.items():
                if px > yes_px:
                    break
                total += sum(o.remaining for o in level if o.maker_address != skip)
                if limit is not None and total >= limit:
                    break
        else:
            for px, level in reversed(book.bids.items()):
                if px < yes_px:
                    break
                total += sum(o.remaining for o in level if o.maker_address != skip)
                if limit is not None and total >= limit:
                    break
        return total

    def execute(self, order: SimOrder, admin: bool = False) -> dict:
        """Match a validated order against the book; rest the remainder of GTC/GTD orders. `admin` (the
        `/_sim/take` test tool) trades even in post-only mode; while the engine is down nothing trades."""
        if order.internal and (self.engine_down or (self.internal_blocked(order) and not admin)):
            return order_refusal(order.id, "ENGINE_RESTARTING", "the matching engine is restarting")
        if order.order_type == "FOK" and self._crossable(order, order.original_size) < order.original_size:
            return order_refusal(order.id, "FOK_ORDER_NOT_FILLED_ERROR", "order couldn't be fully filled. FOK orders are fully filled or killed.")
        if order.order_type == "FAK" and not order.internal and self._crossable(order, 1) == 0:
            return order_refusal(order.id, "FAK_ORDER_NOT_FILLED_ERROR",
                                     "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found.")
        self.orders[order.id] = order
        trade = self._match(order)
        acct = self.accounts[order.maker_address]
        if order.remaining > 0 and order.order_type in ("GTC", "GTD"):
            order.market.book.add(order)
            acct.open_orders[order.id] = order
            self._changed_levels[order.market.condition_id].add((order.is_yes_bid, order.yes_pips))
            status = "live"
        else:
            if order.remaining > 0:
                order.status = "CANCELED"
                order.closed_at = self.now
            else:
                order.status = "MATCHED"
                order.closed_at = self.now
            status = "matched" if trade else "unmatched"
        self._emit_order(order, "PLACEMENT")
        making = taking = "0"
        if trade:
            shares = trade.size
            paid = sum(notional_micro(f.matched, taker_price(order, f)) for f in trade.maker_fills)
            making, taking = (paid, shares) if order.side == "BUY" else (shares, paid)
            making, taking = format_micro(making), format_micro(taking)
        self.flush_book_events()
        return {
            "success": True, "orderID": order.id, "status": status,
            "makingAmount": making, "takingAmount": taking,
            "transactionsHashes": [trade.transaction_hash] if trade else [],
            "tradeIDs": [trade.id] if trade else [], "errorMsg": "",
        }

    def _match(self, order: SimOrder) -> SimTrade | None:
        book = order.market.book
        fills: list[MakerFill] = []
        if order.is_yes_bid:
            opposite, crosses = book.asks, (lambda px: px <= order.yes_pips)
            prices = list(book.asks.keys())
        else:
            opposite, crosses = book.bids, (lambda px: px >= order.yes_pips)
            prices = list(reversed(book.bids.keys()))
        last_px = None
        for px in prices:
            if order.remaining <= 0 or not crosses(px):
                break
            level = opposite[px]
            for maker in list(level):
                if order.remaining <= 0:
                    break
                if self.settings.self_trade_prevention and maker.maker_address == order.maker_address:
                    continue  # self-trade prevention: the resting order stays, the taker goes on past it
                qty = min(order.remaining, maker.remaining)
                maker.size_matched += qty
                order.size_matched += qty
                fills.append(MakerFill(order=maker, matched=qty, price_pips=maker.price_pips))
                last_px = px
                if maker.remaining == 0:
                    maker.status = "MATCHED"
                    maker.closed_at = self.now
                    level.remove(maker)
                    self.accounts[maker.maker_address].open_orders.pop(maker.id, None)
            if not level:
                del opposite[px]
            self._changed_levels[order.market.condition_id].add((not order.is_yes_bid, px))
        if not fills:
            return None
        taker_px = last_px if order.outcome_index == 0 else PIPS - last_px
        trade = SimTrade(
            id=self.new_uuid(), taker_order=order, maker_fills=fills, size=sum(f.matched for f in fills),
            price_pips=taker_px, match_time=int(self.now), transaction_hash=self.new_hash(),
            last_update=int(self.now), fails=self.rng.random() < self.settings.fail_rate,
            fee_rate=order.market.fee_rate or 0.0,
        )
        self._settle(trade)
        self.trades.append(trade)
        for owner in trade.participant_owners():
            self.trades_by_owner[owner].append(trade)
        self.trade_by_id[trade.id] = trade
        self._pending.append(trade)
        order.associate_trades.append(trade.id)
        for f in fills:
            f.order.associate_trades.append(trade.id)
            self._emit_order(f.order, "UPDATE")
        order.market.last_trade_pips = taker_px if order.outcome_index == 0 else PIPS - taker_px
        order.market.volume_24hr += trade.size / MICRO * taker_px / PIPS
        self._emit_trade(trade)
        self.emit_market(order.token_id, {
            "event_type": "last_trade_price", "asset_id": order.token_id, "market": order.market.condition_id,
            "price": format_pips(taker_px), "side": order.side, "size": format_micro(trade.size),
            "fee_rate_bps": str(round(trade.fee_rate * 10_000)), "timestamp": str(int(self.now * 1000)),
        })
        return trade

    def _settle(self, trade: SimTrade) -> None:
        """Move collateral and tokens for every participant at its own price (covers transfer, mint and merge).
        The taker pays the fee of each fill in collateral (more for a BUY, less received for a SELL); tokens
        bought stay locked for `balance_delay_s`."""
        moves: list[tuple[str, str, int, int]] = []
        taker = trade.taker_order
        for fill in trade.maker_fills:
            taker_px = taker_price(taker, fill)
            fill.taker_fee = fees.fee_micro(fill.matched, taker_px, trade.fee_rate)
            fill.maker_fee_equivalent = fees.fee_micro(fill.matched, fill.price_pips, trade.fee_rate)
            for order, px, fee in ((fill.order, fill.price_pips, 0), (taker, taker_px, fill.taker_fee)):
                cash = notional_micro(fill.matched, px)
                if order.side == "BUY":
                    moves.append((order.maker_address, order.token_id, fill.matched, -cash - fee))
                else:
                    moves.append((order.maker_address, order.token_id, -fill.matched, cash - fee))
        delay = self.settings.balance_delay_s
        for address, token_id, d_tokens, d_cash in moves:
            self.apply_move(address, token_id, d_tokens, d_cash)
            if d_tokens > 0 and delay > 0 and not self.accounts[address].unlimited:
                self._locks[address].append((self.now + delay, token_id, d_tokens))
        trade.settlement = moves

    def locked_tokens(self, address: str, token_id: str) -> int:
        """Micro-shares of `token_id` bought too recently to be sold (the venue's balance has not caught up)."""
        locks = self._locks.get(address)
        if not locks:
            return 0
        live = [lock for lock in locks if lock[0] > self.now]
        if len(live) != len(locks):
            self._locks[address] = live
        return sum(amount for _, token, amount in live if token == token_id)

    def locked_by_token(self, address: str) -> dict[str, float]:
        """Shares per token still locked after a buy (for `/_sim/state`), with none left at zero."""
        out: dict[str, int] = {}
        for until, token, amount in self._locks.get(address, ()):
            if until > self.now:
                out[token] = out.get(token, 0) + amount
        return {t: a / MICRO for t, a in out.items()}

    def unmined_tokens(self, address: str, token_id: str) -> int:
        """Micro-shares of `token_id` the account bought in trades not mined yet (not on chain so far)."""
        return sum(d for trade in self._pending if trade.status in ("MATCHED", "RETRYING")
                   for a, t, d, _ in trade.settlement if a == address and t == token_id and d > 0)

    def apply_move(self, address: str, token_id: str, d_tokens: int, d_cash: int) -> None:
        acct = self.accounts[address]
        acct.tokens[token_id] = acct.tokens.get(token_id, 0) + d_tokens
        acct.collateral += d_cash
        if d_tokens > 0:
            acct.cost_basis[token_id] = acct.cost_basis.get(token_id, 0) - d_cash
        elif d_tokens < 0:
            held_before = acct.tokens[token_id] - d_tokens
            if held_before > 0:
                basis = acct.cost_basis.get(token_id, 0)
                acct.cost_basis[token_id] = basis - basis * (-d_tokens) // held_before
        if acct.tokens[token_id] == 0:
            acct.tokens.pop(token_id)
            acct.cost_basis.pop(token_id, None)

    def _settle_due_trades(self) -> None:
        still: list[SimTrade] = []
        for trade in self._pending:
            age = self.now - trade.match_time
            if trade.status == "MATCHED" and age >= self.settings.mined_delay_s:
                self._set_trade_status(trade, "RETRYING" if trade.fails else "MINED")
            if trade.status in ("MINED", "RETRYING") and age >= self.settings.confirmed_delay_s:
                if trade.fails:
                    for address, token_id, d_tokens, d_cash in trade.settlement:
                        self.apply_move(address, token_id, -d_tokens, -d_cash)
                    self._set_trade_status(trade, "FAILED")
                else:
                    self._set_trade_status(trade, "CONFIRMED")
            if trade.status not in ("CONFIRMED", "FAILED"):
                still.append(trade)
        self._pending = still

    def _set_trade_status(self, trade: SimTrade, status: str) -> None:
        trade.status = status
        trade.last_update = int(self.now)
        self._emit_trade(trade)

    # ----------------------------------------------------------------- cancels
    def cancel(self, api_key: str, order_ids: list[str]) -> dict:
        canceled: list[str] = []
        not_canceled: dict[str, str] = {}
        for oid in order_ids:
            order = self.orders.get(oid)
            if order is None or order.owner != api_key:
                not_canceled[oid] = "order not found" if order is None else "order can't be found"
            elif order.status != "LIVE":
                not_canceled[oid] = "order already canceled" if order.status == "CANCELED" else "order can't be found - already canceled or matched"
            else:
                self.cancel_order(order)
                canceled.append(oid)
        self.flush_book_events()
        return {"canceled": canceled, "not_canceled": not_canceled}

    def cancel_where(self, api_key: str, market: str | None = None, asset_id: str | None = None) -> dict:
        ids = [
            o.id for o in self.active_orders(api_key)
            if (not market or o.market.condition_id == market)
            and (not asset_id or o.token_id == asset_id)
        ]
        return self.cancel(api_key, ids)

    def cancel_order(self, order: SimOrder, status: str = "CANCELED") -> None:
        """Take a resting order off the book with `status` (CANCELED, or a lifecycle's own) and announce it."""
        order.market.book.remove(order)
        order.status = status
        order.closed_at = self.now
        self.accounts[order.maker_address].open_orders.pop(order.id, None)
        self._changed_levels[order.market.condition_id].add((order.is_yes_bid, order.yes_pips))
        self._emit_order(order, "CANCELLATION")

    def _expire_gtd(self) -> None:
        for acct in self.accounts.values():
            # a GTD order lives until one minute before its stated expiration (Polymarket's safety margin)
            for order in [o for o in acct.open_orders.values() if o.expiration and o.expiration - 60 <= self.now]:
                self.cancel_order(order)

    def internal_blocked(self, order: SimOrder) -> bool:
        """Simulated traders obey a restart too: nothing while down, no takers in post-only mode."""
        return self.engine_down or (self.post_only_mode and order.order_type in ("FOK", "FAK"))

    # ----------------------------------------------------------------- heartbeats
    def heartbeat(self, api_key: str, heartbeat_id: str) -> dict:
        session = self.heartbeats.get(api_key)
        if not heartbeat_id:
            session = self.heartbeats[api_key] = HeartbeatSession(self.new_uuid(), self.now)
            return {"heartbeat_id": session.heartbeat_id}
        if session is None:
            raise VenueError(400, "Invalid Heartbeat ID")
        if session.heartbeat_id != heartbeat_id:
            # a stale id (a lost reply, a second client): refused, with the id the venue expects
            raise HeartbeatMismatch(session.heartbeat_id)
        session.last_seen = self.now
        if self.settings.heartbeat_rotation:
            session.heartbeat_id = self.new_uuid()  # the id rotates on each beat
        return {"heartbeat_id": session.heartbeat_id}

    def _expire_heartbeats(self) -> None:
        for api_key, session in list(self.heartbeats.items()):
            if self.now - session.last_seen > self.settings.heartbeat_timeout_s:
                del self.heartbeats[api_key]
                self.cancel_where(api_key)

    # ----------------------------------------------------------------- reads
    def addresses_of(self, api_key: str) -> list[str]:
        """The addresses an API key trades for: its owner EOA and the contract wallets deployed for it."""
        owner = self.owner_address[api_key]
        return [owner] + [w for w, (o, _) in self.wallets.items() if o == owner]

    def active_orders(self, api_key: str) -> list[SimOrder]:
        return [o for a in self.addresses_of(api_key) if a in self.accounts
                for o in self.accounts[a].open_orders.values() if o.owner == api_key]

    def trades_for(self, api_key: str) -> list[SimTrade]:
        return list(self.trades_by_owner.get(api_key, ()))

    # ----------------------------------------------------------------- events
    def _emit(self, event: Event) -> None:
        for listener in self.listeners:
            listener(event)

    def _emit_order(self, order: SimOrder, kind: str) -> None:
        if order.internal or not self.listeners:
            return
        self._emit(Event("user", order.owner, wire.ws_order_event(order, kind, self.now)))

    def _emit_trade(self, trade: SimTrade) -> None:
        if not self.listeners:
            return
        for owner in trade.participant_owners():
            if owner in self.credentials:
                self._emit(Event("user", owner, wire.ws_trade_event(trade, owner, self.now)))

    def emit_market(self, token_id: str, payload: dict) -> None:
        """Announce `payload` on the market channel to the subscribers of `token_id`."""
        if self.listeners:
            self._emit(Event("market", token_id, payload))

    def flush_book_events(self) -> None:
        """Turn the levels touched since the last flush into one price_change event per market."""
        if not self._changed_levels:
            return
        changed, self._changed_levels = self._changed_levels, defaultdict(set)
        if not self.listeners:
            return
        for condition_id, levels in changed.items():
            market = self.markets[condition_id]
            for payload in wire.ws_price_changes(market, sorted(levels), self.now):
                self._emit(Event("market", payload["price_changes"][0]["asset_id"], payload))

