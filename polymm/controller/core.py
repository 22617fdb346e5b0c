"""One controller tick: observe → decide (pure) → apply the ledger changes → execute.

`polymm plan` and `polymm reconcile` both call `Controller.decide`, which reads a bounded ledger
snapshot and runs the one pure function `reconciler.tick.decide`; `reconcile` then applies the
decision's ledger changes in one transaction and executes its gated plan, `plan` prints it and
writes nothing. Observation is I/O through the gateways; the ledger is written only here and in the
executor, and always before the venue is asked to act.

What the tick remembers between ticks is one frozen value, `self.memory` (reconciler.memory), moved on by
the pure tick and stored in the ledger (cursor `tick_memory`) whenever a tick changed it; a new controller —
a restart, `polymm reload`, `polymm plan` — starts from the stored one. The running loop's switches and
heartbeat health are recorded beside it (cursor `operator_state`) for `polymm plan`.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import Callable

from polymm.config import PolymmConfig
from polymm.controller.executor import ExecutionReport, Executor
from polymm.desired.funnel import SelectionParams, prefilter, select_markets
from polymm.desired.hedge import HedgeParams
from polymm.desired.toxicity import ToxicityParams, trend_known
from polymm.domain.types import Fill, LiveOrder, RewardMarket
from polymm.text.format import fill_text
from polymm.marketdata.scope import EARLY_RESCAN_SPACING_S, WATCH_INTERVAL_S, BackgroundRescan, Rescanned, Scope
from polymm.marketdata.source import VenueMarketData
from polymm.observed.parse import live_order_from_wire, our_fills
from polymm.observed.state import ObservedState, Unknown, known
from polymm.reconciler.gate import OperatorState, RiskLimits
from polymm.reconciler.memory import TickMemory
from polymm.reconciler.plan import PlanPolicy
from polymm.reconciler.snapshot import LedgerSnapshot
from polymm.reconciler.sync import OrderUpdate
from polymm.reconciler.tick import (Decision, LedgerChanges, ProjectedOrder, TickParams, decide, own_book_sizes,
                                   sync)
from polymm.ledger import Ledger
from polymm.venue.gateway import VenueGateway, VenueUnavailable
from polymm.venue.outcomes import Ok
from polymm.venue.parse import MalformedReply, positions_from_wire
from polymm.venue.trading import TradingGateway

__all__ = ["Controller", "Decision", "ProjectedOrder"]

log = logging.getLogger("polymm.controller")
TRADE_CURSOR = "trades_after"
MEMORY_CURSOR = "tick_memory"  # the tick's memory (reconciler.memory), stored whenever a tick changed it
OPERATOR_CURSOR = "operator_state"  # the running loop's switches and heartbeat health, for `polymm plan`
CURSOR_OVERLAP_S = 60
INITIAL_LOOKBACK_S = 300
# The trades read: the venue lists every trade of ours since `after` (unix seconds, against `match_time`:
# GET /data/trades, VENUE.md; docs.polymarket.com/api-reference/trade/get-trades), so reading from the oldest
# unsettled fill (the cursor) costs a tick in proportion to the fills still settling — measured: observe 9 ms
# with a few, 27 ms with 200 (MINED ≈ 26 s and CONFIRMED ≈ 180 s after the match: VENUE.md, settlement timing).
# Most ticks read only the recent window (the newest match seen, less RECENT_TRADES_OVERLAP_S), which holds
# every new fill; every FULL_TRADES_EVERY_S one reads the whole unsettled window, which carries the status
# moves of older fills (MINED, CONFIRMED, FAILED) and anything the venue listed late.
RECENT_TRADES_OVERLAP_S = 10
FULL_TRADES_EVERY_S = 10.0
# refusals that name the market's state (docs.polymarket.com/resources/error-codes): MARKET_NOT_READY
# ("the market is not yet ready to process new orders") and INVALID_ORDER_MIN_TICK_SIZE
LIFECYCLE_REFUSAL = "not yet ready to process new orders"
TICK_REFUSAL = "minimum tick size"
REWARD_SHARES_EVERY_S = 60.0  # the venue samples the book for rewards once a minute (docs: liquidity rewards)


class Controller:
    def __init__(self, cfg: PolymmConfig, public: VenueGateway, trading: TradingGateway, ledger: Ledger,
                 clock: Callable[[], float] = time.time, market_data=None) -> None:
        self.cfg = cfg
        self.public = public
        self.trading = trading
        self.ledger = ledger
        self.clock = clock
        self.params = SelectionParams.from_config(cfg)
        self.hedge_params = HedgeParams(cfg.hedge_sell.max_bid_gap, cfg.hedge_sell.stop_loss_pct,
                                        cfg.hedge_sell.take_profit_pct, cfg.strategy.min_profit_margin_bps,
                                        mode=cfg.hedge_sell.mode, maker_wait_s=cfg.hedge_sell.maker_wait_seconds,
                                        maker_step_s=cfg.hedge_sell.maker_step_seconds,
                                        stop_loss_depth=cfg.hedge_sell.stop_loss_depth,
                                        maker_take_at_cost=cfg.hedge_sell.maker_take_at_cost,
                                        stop_loss_on=cfg.hedge_sell.stop_loss_on,
                                        stop_loss_maker_s=cfg.hedge_sell.stop_loss_maker_seconds)
        self.toxicity_params = ToxicityParams(cfg.strategy.toxic_pause_seconds, cfg.strategy.toxic_jump,
                                              cfg.strategy.jump_memory_seconds, cfg.strategy.jump_size,
                                              cfg.strategy.jump_scope, float(cfg.strategy.max_jump_rate),
                                              cfg.strategy.trend_window_seconds, cfg.strategy.trend_move)
        self._scan_watchable: tuple[RewardMarket, ...] = ()  # the last inline full scan's markets to watch
        self._watched_at = float("-inf")  # when the watched markets' books were last read
        # what the tick remembers between ticks (reconciler.memory: toxicity, position ages, stop-loss timers,
        # settling buys, positions checks), as stored in the ledger by the last tick that changed it
        self.memory = self.stored_memory()
        self.limits = RiskLimits(cfg.strategy.max_exposure_per_market_usdc, cfg.strategy.max_total_exposure_usdc,
                                 market_caps={cid: o.max_exposure_usdc for cid, o in cfg.markets.overrides.items()
                                              if o.max_exposure_usdc is not None})
        self.policy = PlanPolicy(cfg.loop.price_deviation_threshold_bps, cfg.controller.cancel_foreign_orders)
        self.market_data = market_data or VenueMarketData(public, cfg.loop.update_interval_seconds,
                                                          cfg.orderbook_service.volatility_check.window_samples)
        self.scope = Scope(cfg.loop.update_interval_seconds, cfg.strategy.max_markets)
        self.executor = Executor(ledger, trading, cfg, clock)
        self._details: dict[str, tuple[RewardMarket, float]] = {}  # markets we hold, off the reward list
        self._reads = ThreadPoolExecutor(2, thread_name_prefix="polymm-read")  # observe's parallel reads
        self.rescans = BackgroundRescan()  # rescans after the first run off the tick (polymm.marketdata.scope)
        self._rescan_wanted = False  # a new reward list was seen while a rescan could not start
        self._rescan_failed: tuple[str, float] | None = None  # the last background rescan's failure, and when
        self.market_names: dict[str, dict] = {}  # catalog entries (polymm/text/catalog.py), for readable log lines
        self.trades_read_at = float("inf")  # time.monotonic() when the last trades read was sent
        self._newest_match: int | None = None  # the newest match time of ours seen (the recent window's base)
        self._full_trades_at = float("-inf")  # the controller's clock at the last whole-window trades read
        self.ticks_since_check: int | None = None  # ticks decided since the last positions check (None: never)
        # lifecycle of the markets we hold orders or positions in (accepting orders, closed, resolution, tick),
        # read from Gamma with every positions check and right after a refusal that names the market's state
        self.market_states: dict[str, tuple[bool, bool, tuple | None, Decimal]] = {}
        self._states_ticks: int | None = None  # ticks since the last lifecycle read (None: never)
        self._states_due = False
        self._shares: tuple[float, dict[str, float]] = (float("-inf"), {})  # (read at, our measured reward shares)

    # ------------------------------------------------------------------ observe
    def observe(self, rescan: bool | None = None) -> ObservedState:
        now = self.clock()
        # after the first scan a due rescan runs in the background (polymm.marketdata.scope): this tick
        # reads no reward list and ranks only the markets in force, adopting a rescan that has finished
        background = rescan is None and self.scope.scanned_at is not None
        read = self.market_data.reward_markets(now, False if background else rescan)
        problems: list[str] = list(read.problems)
        if background:
            full_scan = False
            self._background_rescan(now, read.fresh, problems)
        else:
            full_scan = self.scope.full_scan_due(now, read.fresh, rescan)
        # before the trades: a fill the venue's positions include is then in this tick's trades too
        venue_positions = self._venue_positions(problems)

        other_markets = self._other_markets(read.markets, now, problems)
        reward_markets, tokens = self._tokens_of_interest(read.markets, full_scan)
        self._read_market_states(problems)
        if self.market_states:
            other_markets = self._with_states(other_markets)
            if known(reward_markets):
                reward_markets = self._with_states(reward_markets)
        # independent reads run side by side (a tick's latency is its slowest read, not their sum); open
        # orders stay before trades, so an order that leaves the list because it filled has its fill read after
        orders_and_fills = self._reads.submit(self._orders_and_fills, now)
        collateral_read = self._reads.submit(self.trading.collateral)
        shares_read = self._reads.submit(self._reward_shares, now)
        books, book_problems = self.market_data.books(tokens, now)
        if any(t not in books for t in self._held_tokens()):
            self._states_due = True  # a book of ours went missing (a closed market has none): read the lifecycle
        open_orders, fills, bad_rows, fills_complete = orders_and_fills.result()
        fills_unknown_markets: set[str] = set()
        for market, reason in bad_rows:  # one bad row makes its market's fills Unknown, not the whole tick
            log.warning("trade row not understood, fills in its market Unknown: %s", reason)
            problems.append(f"fills unknown in {market[:12] if market else 'an unknown market'}…: {reason}")
            if market is None:
                fills = Unknown(f"malformed trade: {reason}")
            else:
                fills_unknown_markets.add(market)
        collateral_outcome = collateral_read.result()
        reward_shares = shares_read.result()
        problems.extend(book_problems)
        volatility = self.market_data.volatility(tokens, now)
        price_history = self._price_history(books, now)
        listed = {t for ms in (reward_markets, other_markets) if known(ms) for m in ms for t in m.token_ids}
        watched = {t: cid for t in books if t not in listed and (cid := self.scope.condition_of(t)) is not None}
        collateral = collateral_outcome.value if isinstance(collateral_outcome, Ok) else Unknown(collateral_outcome.reason)
        return ObservedState(at=now, open_orders=open_orders, fills=fills, books=books, reward_markets=reward_markets,
                             other_markets=other_markets, venue_positions=venue_positions,
                             venue_overrides={t: v for t, (_, v) in self.memory.position_mismatches.items()},
                             collateral=collateral, volatility=volatility, problems=tuple(problems),
                             full_scan=full_scan, fills_unknown_markets=frozenset(fills_unknown_markets),
                             fills_complete=fills_complete,
                             reward_shares=reward_shares, price_history=price_history, watched_markets=watched)

    def _price_history(self, books, now: float) -> dict[str, tuple]:
        """The venue's recent prices of the tokens with a midpoint the trend rule has not watched yet, so it judges them
        from the path before now instead of waiting a window (read two at a time, on observe's read threads; a failed
        read leaves the token to be watched from now, and is logged)."""
        window = self.toxicity_params.trend_window_s
        if window <= 0:
            return {}
        wanted = sorted(t for t, b in books.items() if b.midpoint is not None and not trend_known(self.memory.toxicity, t, now))

        def one(token: str):
            try:
                return self.public.prices_history(token, int(now - window - 120), int(now))
            except VenueUnavailable as exc:
                log.info("price history of %s… not read, its trend is watched from now: %s", token[:12], exc)
                return None

        return {t: h for t, h in zip(wanted, self._reads.map(one, wanted)) if h is not None}

    def _background_rescan(self, now: float, new_list: bool, problems: list[str]) -> None:
        """Adopt a finished background rescan; start one when due. A failed one leaves the markets in force
        as they were, is reported every tick until a rescan succeeds, and is retried after a spacing."""
        self._rescan_wanted = self._rescan_wanted or new_list
        done = self.rescans.take()
        if done is not None:
            if done.failed is None:
                self.scope.scanned(done.ranked, done.at, done.watchable)
                self._rescan_failed = None
            else:
                log.warning("rescan failed, the markets in force stay: %s", done.failed)
                self._rescan_failed = (done.failed, now)
        if self._rescan_failed is not None:
            problems.append(f"rescan failed, markets in force kept: {self._rescan_failed[0]}")
            if now - self._rescan_failed[1] < EARLY_RESCAN_SPACING_S:
                return
        if self.scope.full_scan_due(now, self._rescan_wanted, None) and not self.rescans.running:
            orders = self.ledger.active_orders()  # read here: the ledger stays on the loop's thread
            if self.rescans.start(lambda: self._rescan(now, orders), now):
                self._rescan_wanted = False

    def _rescan(self, now: float, orders) -> Rescanned:
        """A full scan off the tick (worker thread): the reward list, the books of the markets passing rules
        1–4, the pure funnel over all of them; its ranking becomes the markets in force. A failed read is
        Unknown: the rescan fails as a whole, never as an empty ranking."""
        read = self.market_data.reward_markets(now, True)
        if not known(read.markets):
            return Rescanned(now, failed=f"reward markets unknown: {read.markets.reason}")
        if read.problems and not read.fresh:  # the read failed; what we got is the previous list
            return Rescanned(now, failed="; ".join(read.problems))
        universe = list(read.markets)
        survivors, _, _ = prefilter(universe, self.params)
        tokens = list(dict.fromkeys(t for m in survivors for t in m.token_ids))
        books, book_problems = self.market_data.books(tokens, now)
        if book_problems:
            return Rescanned(now, failed="books: " + "; ".join(book_problems))
        volatility = self.market_data.volatility(tokens, now)
        own = own_book_sizes(orders, {t: m.token_ids for m in universe for t in m.token_ids})
        selection = select_markets(universe, books, self.params, datetime.fromtimestamp(now, timezone.utc),
                                   volatility, own)
        return Rescanned(now, tuple(ev.market.condition_id for ev in selection.ranked),
                         watchable=self._watchable(universe, now))

    def _orders_and_fills(self, now: float):
        open_orders: tuple[LiveOrder, ...] | Unknown
        outcome = self.trading.open_orders()
        if isinstance(outcome, Ok):
            try:
                open_orders = tuple(live_order_from_wire(r) for r in outcome.value)
            except MalformedReply as exc:
                open_orders = Unknown(f"malformed open order: {exc}")
        else:
            open_orders = Unknown(outcome.reason)

        fills: tuple[Fill, ...] | Unknown
        after, complete = self._trades_window(now)
        self.trades_read_at = time.monotonic()  # a fill reported after this may be missing from the reply
        outcome = self.trading.trades(after)
        bad: list[tuple[str | None, str]] = []
        if isinstance(outcome, Ok):
            fills, bad = _parse_fills(outcome.value, self.trading.api_key, self.trading.address)
            if fills:
                newest = max(f.match_time for f in fills)
                self._newest_match = newest if self._newest_match is None else max(self._newest_match, newest)
            if complete:
                self._full_trades_at = now
        else:
            fills = Unknown(outcome.reason)
        return open_orders, fills, bad, complete

    def _trades_window(self, now: float) -> tuple[int, bool]:
        """Where this tick's trades read starts, and whether it covers every unsettled fill (see
        FULL_TRADES_EVERY_S). The first read of a process is always whole."""
        cursor = self._trade_cursor(now)
        if self._newest_match is None or now - self._full_trades_at >= FULL_TRADES_EVERY_S:
            return cursor, True
        recent = self._newest_match - RECENT_TRADES_OVERLAP_S
        return (recent, False) if recent > cursor else (cursor, True)

    def _reward_shares(self, now: float) -> dict[str, float]:
        """Our measured share of each market's pool (GET /rewards/user/percentages), read at most once per
        REWARD_SHARES_EVERY_S (the venue samples the book once a minute); unreadable: the last one read is kept for
        a sampling period more, then nothing (the estimate falls back to the book model)."""
        at, shares = self._shares
        if now - at < REWARD_SHARES_EVERY_S:
            return shares
        outcome = self.trading.reward_shares()
        if isinstance(outcome, Ok):
            self._shares = (now, outcome.value)
            return outcome.value
        return shares if now - at < 2 * REWARD_SHARES_EVERY_S else {}

    def _venue_positions(self, problems: list[str]):
        """The venue's positions (Data API) until a tick has checked them, then every `positions_check_ticks`."""
        since = self.ticks_since_check
        if since is not None and since < self.cfg.controller.positions_check_ticks:
            return Unknown("not read this tick")
        outcome = self.trading.positions()
        if not isinstance(outcome, Ok):
            problems.append(f"venue positions: {outcome.reason}")
            return Unknown(outcome.reason)
        try:
            return positions_from_wire(outcome.value)
        except MalformedReply as exc:
            problems.append(str(exc))
            return Unknown(str(exc))

    def _read_market_states(self, problems: list[str]) -> None:
        """The lifecycle of the markets we hold orders or positions in, from Gamma (`acceptingOrders`, `closed`,
        `outcomePrices`, `orderPriceMinTickSize`): at start, every `positions_check_ticks` ticks, and on the tick
        after a refusal that names the market's state. The reward list is read only every rescan (20 minutes
        by default): without this a market that stops accepting orders or resolves would be quoted on."""
        due = self._states_due or self._states_ticks is None or self._states_ticks >= self.cfg.controller.positions_check_ticks
        if not due:
            return
        wanted = {p.condition_id for p in self.ledger.positions().values() if p.size > 0}
        wanted |= {o.condition_id for o in self.ledger.active_orders()}
        # a market seen not accepting orders is read again until it does (we hold nothing there once our orders
        # are cancelled, and the reward list would say it trades); a closed one never reopens and is kept as is;
        # the state of a market that trades and that we no longer hold is dropped
        wanted |= {cid for cid, (accepting, closed, _, _) in self.market_states.items() if not accepting and not closed}
        self.market_states = {cid: st for cid, st in self.market_states.items() if cid in wanted or st[1]}
        self._states_ticks, self._states_due = 0, False
        if not wanted:
            return
        try:
            found, skipped = self.public.markets(sorted(wanted))
        except VenueUnavailable as exc:
            problems.append(f"market states: {exc}")
            self._states_due = True
            return
        problems.extend(skipped)
        for m in found:
            self.market_states[m.condition_id] = (m.accepting_orders, m.closed, m.payouts, m.tick_size)

    def _held_tokens(self) -> set[str]:
        held = {p.token_id for p in self.ledger.positions().values() if p.size > 0}
        return held | {o.token_id for o in self.ledger.active_orders()}

    def _with_states(self, markets):
        out = []
        for m in markets:
            state = self.market_states.get(m.condition_id)
            if state is not None:
                accepting, closed, payouts, tick = state
                m = replace(m, accepting_orders=accepting, closed=closed, payouts=payouts, tick_size=tick)
            out.append(m)
        return tuple(out)

    def note_refusals(self, reasons: list[str]) -> None:
        """A place refused because of the market's state (not accepting orders, closed, a tick it no longer
        takes): read the lifecycle of our markets on the next tick instead of waiting for the next check."""
        if any(LIFECYCLE_REFUSAL in r.lower() or TICK_REFUSAL in r.lower() for r in reasons):
            self._states_due = True

    def _trade_cursor(self, now: float) -> int:
        stored = self.ledger.get_cursor(TRADE_CURSOR)
        return int(stored) if stored is not None else int(now) - INITIAL_LOOKBACK_S

    def _other_markets(self, reward_markets, now: float, problems: list[str]) -> tuple[RewardMarket, ...]:
        """Details of every market we hold a position or an active order in that the reward list lacks, read by
        condition id (cached for a rescan interval). One that cannot be read is left out: its orders and
        hedge are then held by the pure core, never dropped."""
        listed = {m.condition_id for m in reward_markets} if known(reward_markets) else set()
        wanted = {p.condition_id for p in self.ledger.positions().values() if p.size > 0}
        wanted |= {o.condition_id for o in self.ledger.active_orders()}
        wanted -= listed
        stale = sorted(c for c in wanted if now - self._details.get(c, (None, -1e18))[1] >= self.cfg.loop.update_interval_seconds)
        if stale:
            try:
                found, skipped = self.public.markets(stale)
            except VenueUnavailable as exc:
                problems.append(f"details of markets we hold: {exc}")
            else:
                problems.extend(skipped)
                for m in found:
                    self._details[m.condition_id] = (m, now)
        return tuple(self._details[c][0] for c in sorted(wanted) if c in self._details)

    def _watchable(self, universe, now: float) -> tuple[RewardMarket, ...]:
        """The reward markets whose books may be watched for the jump rate (polymm.marketdata.scope): open,
        accepting orders and not about to end (a market resolving jumps to 0 or 1, which says nothing of the
        others) — whatever the strategy's filters, which are about where to quote, not what the venue does."""
        soon = now + self.params.min_days_until_end * 86400
        return tuple(m for m in universe if not m.closed and m.accepting_orders
                     and (m.end_date is None or m.end_date.timestamp() >= soon))

    def _tokens_of_interest(self, universe, full_scan: bool):
        """The reward markets this tick looks at and the tokens whose books it reads: on a full scan every
        reward market and the books of those passing rules 1–4; else the markets in force and those we
        hold orders or positions in (polymm.marketdata.scope). Our own tokens' books are read either way."""
        held = [p.token_id for p in self.ledger.positions().values() if p.size > 0]
        held.extend(o.token_id for o in self.ledger.active_orders())
        if not known(universe):
            return universe, list(dict.fromkeys(held))
        if full_scan:
            markets = universe
            survivors, _, _ = prefilter(list(universe), self.params)
            self._scan_watchable = self._watchable(universe, self.clock())
            read = survivors
        else:
            markets = survivors = self.scope.narrow(universe, held)
            read = list(survivors)
            now = self.clock()
            if now - self._watched_at >= WATCH_INTERVAL_S:  # watched: books only (toxicity), not on every tick
                read.extend(self.scope.watched(universe))
                self._watched_at = now
        tokens = [t for m in read for t in m.token_ids]
        tokens.extend(held)
        return markets, list(dict.fromkeys(tokens))

    # ------------------------------------------------------------------ decide and apply
    def tick_params(self, operator: OperatorState = OperatorState()) -> TickParams:
        """The tick's parameters: the configuration's, the executor's post-only mode, the operator's switches."""
        hedge = replace(self.hedge_params, post_only=True) if self.executor.post_only_mode() else self.hedge_params
        return TickParams(self.params, hedge, self.cfg.hedge_sell.dynamic_follow_enabled, self.policy,
                          self.limits, self.cfg.controller.open_orders_grace_seconds, INITIAL_LOOKBACK_S,
                          CURSOR_OVERLAP_S, self.toxicity_params, operator)

    # ------------------------------------------------------------------ the memory and the switches, stored
    def stored_memory(self) -> TickMemory:
        """The memory the last tick stored in the ledger; empty when none was (or it cannot be read: logged)."""
        text = self.ledger.get_cursor(MEMORY_CURSOR)
        if text is None:
            return TickMemory()
        try:
            return TickMemory.from_json(text)
        except ValueError as exc:
            log.warning("the stored tick memory is not used, the tick starts from empty memory: %s", exc)
            return TickMemory()

    def _remember(self, memory: TickMemory) -> None:
        """Keep the memory for the next tick, and store it when it changed (a restart or a reload loads it)."""
        if memory != self.memory:
            self.ledger.set_cursor(MEMORY_CURSOR, memory.to_json())
        self.memory = memory

    def record_operator(self, operator: OperatorState) -> None:
        """Store the running loop's switches and heartbeat health, when they changed, for `polymm plan`."""
        if operator != getattr(self, "_operator_stored", None):
            self.ledger.set_cursor(OPERATOR_CURSOR, operator.to_json())
            self._operator_stored = operator

    def recorded_operator(self) -> OperatorState:
        """The switches the running loop last recorded (the defaults if it has recorded none)."""
        text = self.ledger.get_cursor(OPERATOR_CURSOR)
        try:
            return OperatorState.from_json(text) if text is not None else OperatorState()
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("the running loop's recorded switches are unreadable, the defaults are used: %s", exc)
            return OperatorState()

    def _memory_for(self, snapshot: LedgerSnapshot, now: float) -> TickMemory:
        """The memory this tick starts from: the kept one, with the buys whose cancel the executor confirmed since,
        and the ages of positions it lacks from the ledger's fills (a ledger older than the memory)."""
        memory = self.memory.with_cancelled_buys(self.executor.cancelled_buys)
        missing = [t for t, p in snapshot.positions.items() if p.size > 0 and t not in memory.position_since]
        return memory.with_positions_opened({t: min(self.ledger.position_opened_at(t) or now, now) for t in missing})

    def snapshot(self, observed: ObservedState) -> LedgerSnapshot:
        """The ledger rows this observation concerns (bounded by what is live, not by history)."""
        open_ids = [o.order_id for o in observed.open_orders] if known(observed.open_orders) else []
        fills = list(observed.fills) if known(observed.fills) else []
        return self.ledger.tick_snapshot(open_ids, fills, TRADE_CURSOR)

    def decide(self, observed: ObservedState, dry_run: bool = False,
               operator: OperatorState = OperatorState()) -> Decision:
        """From observation to a gated plan through the one pure function. Unless dry_run, the decision's
        ledger changes are applied (one transaction) before it is returned, ready to execute, and the memory
        the tick leaves is kept (and stored when it changed)."""
        snapshot = self.snapshot(observed)
        decision, memory = decide(snapshot, observed, self._memory_for(snapshot, observed.at),
                                  self.tick_params(operator), observed.at)
        if known(observed.reward_markets):  # what the next ticks look at (polymm.marketdata.scope)
            if observed.full_scan:
                self.scope.scanned([ev.market.condition_id for ev in decision.selection.ranked], observed.at,
                                   self._scan_watchable)
            else:
                self.scope.narrow_result(len(decision.selection.selected), observed.at)
        if not dry_run:
            self.apply(decision.changes)
            self.executor.cancelled_buys.clear()
            self._track(decision, memory)
            self._remember(memory)
        return decision

    def _track(self, decision: Decision, memory: TickMemory) -> None:
        """When the venue's positions and the markets' lifecycle are read next, and the differences newly confirmed."""
        if decision.position_check is not None:
            for token, (ours, theirs) in memory.position_mismatches.items():
                if token not in self.memory.position_mismatches:
                    log.warning("position of %s… differs from the venue's: ledger %s, venue %s shares",
                                token[:12], ours, theirs)
            # a first sighting is checked again on the next tick
            self.ticks_since_check = self.cfg.controller.positions_check_ticks - 1 if memory.position_suspects else 0
        if self.ticks_since_check is not None:
            self.ticks_since_check += 1
        if self._states_ticks is not None:
            self._states_ticks += 1

    def health_problems(self) -> list[str]:
        """Why health is degraded beyond this tick's reads: positions unlike the venue's, hedges missing too long."""
        out = [f"position of {t[:12]}… differs from the venue's: ledger {ours}, venue {theirs} shares "
               "(the exposure cap counts the venue's)" for t, (ours, theirs) in sorted(self.memory.position_mismatches.items())]
        k = self.cfg.controller.settle_ticks
        out += [f"position in {t[:12]}… unhedged for {n} ticks (more than controller.settle_ticks = {k})"
                for t, n in sorted(self.memory.unhedged_for.items()) if n > k]
        return out

    def record_observation(self, observed: ObservedState) -> list[OrderUpdate]:
        """Apply new fills and status changes, then resolve order states; advance the trade cursor."""
        synced = sync(self.snapshot(observed), observed, self.tick_params(), observed.at)
        self.apply(synced.changes)
        return list(synced.changes.orders)

    def apply(self, changes: LedgerChanges) -> None:
        if changes.empty:
            return
        for fill in self.ledger.apply_changes(changes, TRADE_CURSOR):
            log.info("fill %s", fill_text(fill, self.market_names.get(fill.condition_id)))

    # ------------------------------------------------------------------ execute
    def execute(self, decision: Decision) -> ExecutionReport:
        report = self.executor.run(decision.gated)
        self.note_refusals(report.place_errors)
        return report


def _parse_fills(rows, api_key: str, address: str) -> tuple[tuple[Fill, ...], list[tuple[str | None, str]]]:
    """Our fills from the rows that parse; each row that does not, with its market (None if unreadable)."""
    fills: list[Fill] = []
    bad: list[tuple[str | None, str]] = []
    for row in rows:
        try:
            fills.extend(our_fills(row, api_key, address))
        except MalformedReply as exc:
            market = row.get("market") if isinstance(row, dict) else None
            bad.append((market if isinstance(market, str) and market else None, str(exc)))
    return tuple(fills), bad
