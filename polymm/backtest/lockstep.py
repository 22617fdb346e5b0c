"""`polymm backtest`: the real controller against the simulated venue in lock-step time.

The simulated clock never runs on its own (speed 0): the loop below moves it forward, then lets the
real `Service.tick` (the production controller: the real SDK over loopback HTTP, a real SQLite
ledger) observe, decide and act while the clock stands still, then moves it again. Nothing depends
on how fast the machine is, so a seed gives the same run every time.

Time steps (measured choice, see docs/SIMULATION.md):
- the controller ticks every `tick_s` simulated seconds (default 5 s; the live loop checks every
  0.5 s, but between two fills or book moves there is nothing to do, and a 0.5 s tick would make a
  simulated day take ~10× longer);
- the clock moves one venue step (1 s) at a time, and a fill of ours ends the wait at once, as the
  user channel wakes the live loop: the tick after a fill comes 1 simulated second after it;
- the venue's dead-man switch is fed through the real heartbeat call whenever `heartbeat_interval_seconds`
  of simulated time have passed (checked before every tick);
- the venue's truth (fills, rewards, equity, exposure) is sampled every `sample_s` (60 s, the venue's
  reward-sampling period) for the report's time series.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import httpx

from polymm.backtest.truth import AccountTruth
from polymm.config import PolymmConfig
from polymm.controller import account
from polymm.controller.core import Controller
from polymm.controller.heartbeat import Heartbeat
from polymm.controller.loop import Service
from polymm.controller.session import Session
from polymm.sim.runner import SimOptions, SimVenue
from polymm.ledger import Ledger
from polymm.venue.gateway import VenueEndpoints, VenueGateway
from polymm.venue.outcomes import Ok
from polymm.venue.trading import TradingGateway

# 2026-09-23T00:00:00Z: a backtest starts at midnight UTC, so its days are the venue's payout days
START_TIME = 1_790_121_600.0
DAY_S = 86_400.0


class BacktestError(Exception):
    """The backtest could not start (e.g. the venue refused the test account's credentials)."""


@dataclass(frozen=True)
class BacktestOptions:
    scenario: str = "calm"
    hours: float = 24.0
    seed: int = 1
    markets: int = 10
    tick_s: float = 5.0
    sample_s: float = 60.0
    initial_collateral_usdc: float = 1000.0
    start_time: float = START_TIME  # simulated unix time of the start (midnight UTC by default: whole payout days)

    def __post_init__(self) -> None:
        if not self.hours > 0:
            raise ValueError(f"hours {self.hours} — must be > 0")
        if not 1 <= self.tick_s <= 9:
            # the venue cancels everything 10 s after the last heartbeat, and beats go out before ticks
            raise ValueError(f"tick {self.tick_s} s — must be between 1 and 9 simulated seconds")
        if self.markets < 0:
            raise ValueError(f"markets {self.markets} — must be ≥ 0 (0: only the captured markets)")


@dataclass
class RunRecord:
    """Everything the report is built from (all figures from the venue's truth unless named `expected`)."""

    options: BacktestOptions
    config: dict
    start: float
    end: float = 0.0
    ticks: int = 0
    fill_ticks: int = 0
    markets: dict[str, dict] = field(default_factory=dict)  # condition_id -> static facts
    series: list[dict] = field(default_factory=list)
    fills: list = field(default_factory=list)
    expected_by_market: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    selected_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    final: dict = field(default_factory=dict)
    venue_state: dict = field(default_factory=dict)


class LockStepHeartbeat(Heartbeat):
    """The real heartbeat call, beaten by the backtest loop on the simulated clock instead of a thread."""

    def start(self) -> None:
        self.beat()

    def stop(self) -> None:
        pass


def test_key(seed: int) -> str:
    """A fixed wallet key per seed, so the account (and every id derived from it) is the same each run."""
    return "0x" + hashlib.sha256(f"polymm-backtest:{seed}".encode()).hexdigest()


def run_backtest(cfg: PolymmConfig, options: BacktestOptions, out_dir: Path,
                 progress: Callable[[float], None] | None = None) -> RunRecord:
    """Run the controller against a fresh simulated venue for `options.hours`; `progress(seconds)` is
    called with the simulated seconds done so far."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sim_options = SimOptions(seed=options.seed, scenario=options.scenario, speed=0.0, markets=options.markets,
                             initial_collateral_usdc=options.initial_collateral_usdc, rate_limits=False,
                             start_time=options.start_time, universe=cfg.venue.sim.universe,
                             universe_file=cfg.venue.sim.universe_file or None)
    venue = SimVenue(sim_options).start()
    try:
        return _run(cfg, options, out_dir, venue, progress)
    finally:
        venue.stop()


def _run(cfg: PolymmConfig, options: BacktestOptions, out_dir: Path, venue: SimVenue,
         progress: Callable[[float], None] | None) -> RunRecord:
    engine = venue.server.engine

    def clock() -> float:
        return engine.now

    urls = venue.urls
    endpoints = VenueEndpoints(urls["clob_url"], urls["gamma_url"], urls["data_url"], urls["ws_url"], cfg.venue.chain_id)
    public = VenueGateway(endpoints, cfg.venue.request_timeout_seconds)
    # the account trades through a deposit wallet (signature type 3, the wallet of accounts made since the 2026
    # migration: docs trading/deposit-wallets), the kind that can merge YES+NO pairs through the relayer
    from eth_account import Account as _Account

    owner = _Account.from_key(test_key(options.seed)).address
    wallet = venue.call(lambda: engine.deploy_wallet(owner, 3))
    trading = TradingGateway(endpoints, test_key(options.seed), None, 3, wallet, cfg.venue.request_timeout_seconds,
                             clock=clock)
    ledger_path = out_dir / "ledger.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{ledger_path}{suffix}").unlink(missing_ok=True)
    ledger = Ledger(ledger_path, clock=clock)
    try:
        outcome = trading.ensure_credentials(allow_create=True)
        if not isinstance(outcome, Ok):
            raise BacktestError(f"API credentials: {outcome.reason}")
        controller = Controller(cfg, public, trading, ledger, clock=clock)
        merger = None
        if cfg.strategy.merge_pairs:  # polymm.controller.merger, with the relayer key the venue issues the owner
            from polymm.controller.merger import Merger
            from polymm.venue.relayer import RelayerClient

            relayer_key = venue.call(lambda: venue.server.relayer.issue_key(owner))
            merger = Merger(ledger, RelayerClient(urls["relayer_url"], test_key(options.seed), wallet,
                                                  relayer_key["key"], relayer_key["address"], cfg.venue.chain_id,
                                                  clock=clock), clock)
        session = Session(cfg, endpoints, public, trading, ledger, controller, ledger_path, embedded=False,
                          merger=merger)
        service = Service(session, use_user_channel=False)
        service.heartbeat = LockStepHeartbeat(trading, cfg.controller.heartbeat_interval_seconds, clock=clock)
        # the balance/rewards display aid polls on its own wall-clock thread in the live loop; nothing may talk
        # to the venue between the lock-step moves but the tick, so here the tick takes the reading itself,
        # once every account.EVERY_S simulated seconds, as the live thread would (polymm status shows it)
        if hasattr(service, "account"):
            service.account.flush = _lockstep_account_flush(trading, ledger, clock)
        address = venue.call(lambda: engine.account(trading.address).address)
        truth = venue.call(lambda: AccountTruth(engine, address))
        record = RunRecord(options, cfg.model_dump(mode="json"), start=engine.now)
        record.markets = venue.call(lambda: {m.condition_id: _market_facts(m) for m in engine.markets.values()})
        _loop(service, venue, truth, record, options, clock, progress)
        service.shutdown()
        # the last reading, at the end time, so the ledger's view (polymm status) is of the moment the run ends
        ledger.set_cursor(account.CURSOR, json.dumps(account.reading(trading, clock()), sort_keys=True))
        record.final = venue.call(lambda: _final(truth, venue.server.sampler))
        record.fills = truth.fills
        record.venue_state = _venue_state(venue.url, address)
        record.end = engine.now
        return record
    finally:
        ledger.close()
        trading.close()
        public.close()


def _lockstep_account_flush(trading: TradingGateway, ledger: Ledger, clock: Callable[[], float]) -> Callable[[], None]:
    last = [float("-inf")]

    def flush() -> None:
        now = clock()
        if now - last[0] >= account.EVERY_S:
            last[0] = now
            ledger.set_cursor(account.CURSOR, json.dumps(account.reading(trading, now), sort_keys=True))

    return flush


def _loop(service: Service, venue: SimVenue, truth: AccountTruth, record: RunRecord, options: BacktestOptions,
          clock: Callable[[], float], progress: Callable[[float], None] | None) -> None:
    engine = venue.server.engine
    start = clock()
    end = start + options.hours * 3600
    heartbeat = service.heartbeat
    interval = service.cfg.controller.heartbeat_interval_seconds
    tick_steps = int(options.tick_s)
    next_sample = start
    rates: dict[str, float] = {}  # expected $/day per selected market, from the last tick
    last_tick_at = start

    def advance() -> bool:
        """Move the clock up to one tick; stop early after a step in which we were filled."""
        filled = truth.absorb() > 0  # a fill during the last tick (a crossing hedge) wakes at once too
        steps = 0
        while not filled and steps < tick_steps and engine.now < end:
            engine.advance(engine.settings.step_s)
            steps += 1
            filled = truth.absorb() > 0
        if filled and steps == 0 and engine.now < end:
            engine.advance(engine.settings.step_s)
            truth.absorb()
        truth.settle_markouts()
        return filled

    service.startup()
    while clock() < end:
        if clock() >= next_sample:
            record.series.append(venue.call(lambda: _sample(truth, service)))
            next_sample += options.sample_s
        filled = venue.call(advance)
        now = clock()
        for cid, per_day in rates.items():
            record.expected_by_market[cid] += per_day * (now - last_tick_at) / DAY_S
            record.selected_seconds[cid] += now - last_tick_at
        last_tick_at = now
        if heartbeat.last_ok is None or now - heartbeat.last_ok >= interval:
            heartbeat.beat()
        try:
            result = service.tick()
        except Exception as exc:  # as in the live loop: a failing tick is recorded, the run goes on
            record.final.setdefault("tick_errors", []).append(f"{now:.0f}: {type(exc).__name__}: {exc}")
            continue
        finally:
            # a rescan the tick started runs on a worker thread (polymm.marketdata.scope): in lock-step time it
            # ends before the clock moves, so the tick that adopts it does not depend on the machine's speed (two
            # 24 h runs of one seed differed in when rescans were adopted before this wait)
            service.controller.rescans.wait()
        record.ticks += 1
        record.fill_ticks += int(filled)
        decision = result.decision
        # the expected reward accrues where we rest orders (as polymm status counts it: polymm.controller.loop): a
        # selected market stepped back from while toxic expects nothing unless its hedge ask rests there
        quoted = {o.condition_id for o in decision.desired.orders} if decision else set()
        rates = {ev.market.condition_id: ev.expected_per_day for ev in decision.selection.selected
                 if ev.market.condition_id in quoted} if decision else {}
        if progress:
            progress(now - start)
    record.series.append(venue.call(lambda: _sample(truth, service)))


def _market_facts(m) -> dict:
    return {"question": m.question, "rate_per_day": m.rate_per_day, "rewards_max_spread": m.rewards_max_spread,
            "rewards_min_size": m.rewards_min_size, "tick": m.tick_pips / 10_000, "token_ids": list(m.token_ids),
            "fee_rate": getattr(m, "fee_rate", 0.0) or 0.0}


def _sample(truth: AccountTruth, service: Service) -> dict:
    """One point of the time series, read from the venue (exposure as the controller's gate computed it)."""
    truth.absorb()
    holdings = truth.holdings_by_market()
    open_buys = truth.open_buy_notional_by_market()
    rewards = truth.rewards_by_market()
    rebates = truth.rebates_by_market()
    markets = set(holdings) | set(open_buys)
    exposure = {cid: round(open_buys.get(cid, 0.0) + holdings.get(cid, {}).get("cost", 0.0), 6) for cid in markets}
    return {
        "t": truth.engine.now,
        "equity": round(truth.equity(), 6),
        "rewards": round(sum(rewards.values()), 6),
        "rebates": round(sum(rebates.values()), 6),
        "fees": round(sum(truth.fees_by_market.values()), 6),
        "trading_pnl": round(_trading_pnl_total(truth, holdings), 6),
        "inventory_value": round(sum(h["value"] for h in holdings.values()), 6),
        "inventory_cost": round(sum(h["cost"] for h in holdings.values()), 6),
        "open_buy_notional": round(sum(open_buys.values()), 6),
        "exposure_by_market": {k: v for k, v in sorted(exposure.items()) if v},
        "fills": len(truth.fills),
    }


def _trading_pnl_total(truth: AccountTruth, holdings: dict) -> float:
    return sum(truth.cash_by_market.values()) + sum(h["value"] for h in holdings.values())


def _final(truth: AccountTruth, sampler) -> dict:
    truth.absorb()
    truth.settle_markouts()
    holdings = truth.holdings_by_market()
    return {
        "equity_start": truth.start_equity,
        "equity_end": truth.equity(),
        "rewards_paid": truth.rewards_paid(),
        "rebates_paid": truth.rebates_paid(),
        "rewards_by_market": dict(truth.rewards_by_market()),
        "rebates_by_market": dict(truth.rebates_by_market(sampler)),
        "fees_by_market": dict(truth.fees_by_market),
        "cash_by_market": dict(truth.cash_by_market),
        "holdings_by_market": holdings,
        "merges_by_market": truth.merges_by_market(),
    }


def _venue_state(url: str, address: str) -> dict:
    """The account as `/_sim/state` reports it (the public admin surface), for the report's cross-check."""
    try:
        state = httpx.get(f"{url}/_sim/state", timeout=30).json()
    except (httpx.HTTPError, ValueError) as exc:
        return {"error": str(exc)}
    acct = state.get("accounts", {}).get(address, {})
    rewards, rebates = acct.get("rewards") or {}, acct.get("rebates") or {}
    return {"collateral": acct.get("collateral"), "positions": acct.get("positions", {}),
            "rewards_accrued": rewards.get("accrued"), "rewards_paid": rewards.get("paid"),
            "rebates_accrued": rebates.get("accrued"), "rebates_paid": rebates.get("paid"),
            "fees_paid": acct.get("fees_paid"), "open_orders": len(acct.get("open_orders", [])),
            "paid_days": state.get("paid_days", [])}


def timed(fn: Callable[[], RunRecord]) -> tuple[RunRecord, float]:
    t0 = time.monotonic()
    record = fn()
    return record, time.monotonic() - t0
