"""Assembles and runs the simulated venue: in-process on a background thread (embedded mode, tests) or in the
foreground for `polymm sim serve`. A clock task moves simulated time with the wall clock times `speed`."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, TypeVar

from aiohttp import web

from polymm.sim.engine import Engine, EngineSettings
from polymm.sim.faults import FaultPlan, FaultPlanSpec
from polymm.sim.participants import MarketSource
from polymm.sim.payouts import RewardSampler
from polymm.sim.realflow import RealUniverse
from polymm.sim.server import SimServer
from polymm.sim.traders import SCENARIOS
from polymm.sim.universe import GeneratedUniverse

T = TypeVar("T")
CLOCK_TICK_S = 0.05
PAST_MINUTES = 1440  # the made-up price history a fresh venue answers GET /prices-history with (a day)
UNIVERSES = ("real", "generated")


@dataclass
class SimOptions:
    seed: int = 42
    scenario: str = "calm"
    speed: float = 1.0  # simulated seconds per wall second; 0 = the clock moves only through /_sim/advance
    markets: int = 300
    depth: int | None = None  # price levels a side in every background book; None: 4–12, drawn per market
    initial_collateral_usdc: float = 1000.0
    fail_rate: float = 0.0
    rate_limits: bool = True  # per-IP throttling per endpoint family and per-signer buckets (polymm.sim.ratelimits)
    ip_window_scale: float = 1.0  # shrinks the per-IP windows (tests see throttling without waiting 10 s)
    # the clock the rate limits count in: None is the machine's monotonic clock, as at the venue (its windows and
    # buckets run in real time); a test passes one it moves itself, so what it sees does not depend on how fast
    # a loaded machine sends its requests
    rate_limit_clock: Callable[[], float] | None = None
    start_time: float | None = None  # simulated unix time at start; default: now (wall clock)
    faults: FaultPlanSpec = field(default_factory=FaultPlanSpec)
    # the real venue's behaviour by default (polymm.sim.engine.EngineSettings); `SimOptions.instant()`
    # is the kind venue of old (no fees, self-trades, 2 s / 6 s settlement, no balance lag)
    mined_delay_s: float = 26.0
    confirmed_delay_s: float = 180.0
    heartbeat_timeout_s: float = 10.0
    taker_fees: bool = True
    maker_rebates: bool = True
    self_trade_prevention: bool = True
    balance_delay_s: float = 5.0
    heartbeat_rotation: bool = True
    weekly_restart: bool = True  # the matching engine's scheduled restart, Tuesdays 07:00 ET
    deposit_wallet_accounts: bool = False  # new accounts must trade through a deposit wallet (type 3)
    reward_sample_random: bool = True  # sample rewards at a random instant in each minute (else at its end)
    daily_payout: bool = True  # pay rewards and rebates at midnight UTC, nothing under $1
    # where the markets and their flow come from: "real", drawn from the real reward universe's snapshot
    # (polymm.sim.realdata; `universe_file` or POLYMM_SIM_UNIVERSE_FILE names another file of the same fields), or
    # "generated", the seeded generator of before (polymm.sim.universe), kept for the tests written against it
    universe: str = "real"
    universe_file: str | None = None

    @classmethod
    def instant(cls, **overrides) -> "SimOptions":
        base = dict(mined_delay_s=2.0, confirmed_delay_s=6.0, taker_fees=False, maker_rebates=False,
                    self_trade_prevention=False, balance_delay_s=0.0, heartbeat_rotation=False,
                    weekly_restart=False)
        return cls(**{**base, **overrides})

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario {self.scenario!r} — allowed: {', '.join(SCENARIOS)}")
        if self.markets < 0:
            raise ValueError(f"markets {self.markets} — must be ≥ 0 (generated markets besides the captured ones)")
        if self.universe not in UNIVERSES:
            raise ValueError(f"universe {self.universe!r} — allowed: {', '.join(UNIVERSES)}")
        if self.depth is not None and not 1 <= self.depth <= 200:
            raise ValueError(f"depth {self.depth} — must be between 1 and 200 levels")
        if self.speed < 0:
            raise ValueError(f"speed {self.speed} — must be ≥ 0")
        if not 0 <= self.fail_rate <= 1:
            raise ValueError(f"fail_rate {self.fail_rate} — must be in [0, 1]")
        if self.balance_delay_s < 0:
            raise ValueError(f"balance_delay {self.balance_delay_s} — must be ≥ 0")
        if not 0 <= self.mined_delay_s <= self.confirmed_delay_s:
            raise ValueError(f"mined_delay {self.mined_delay_s} / confirmed_delay {self.confirmed_delay_s} — "
                             "need 0 ≤ mined ≤ confirmed")


def build_server(options: SimOptions, source: MarketSource | None = None) -> SimServer:
    """The venue of `options`: an engine over the markets of `source` (default: the options' universe, real or
    generated, of their seed, scenario and size), its participants stepped on the engine's clock, reward payouts,
    the HTTP surfaces, a day of made-up price history and the options' fault plan."""
    settings = EngineSettings(
        seed=options.seed,
        start_time=float(int(options.start_time if options.start_time is not None else time.time())),
        initial_collateral_usdc=options.initial_collateral_usdc,
        fail_rate=options.fail_rate,
        mined_delay_s=options.mined_delay_s,
        confirmed_delay_s=options.confirmed_delay_s,
        taker_fees=options.taker_fees,
        maker_rebates=options.maker_rebates,
        self_trade_prevention=options.self_trade_prevention,
        balance_delay_s=options.balance_delay_s,
        heartbeat_rotation=options.heartbeat_rotation,
        weekly_restart=options.weekly_restart,
        deposit_wallet_accounts=options.deposit_wallet_accounts,
        # the dead-man switch is about the client's liveness in real time: at speed X the simulated
        # clock runs X times faster, so the timeout in simulated seconds grows with it
        heartbeat_timeout_s=options.heartbeat_timeout_s * max(options.speed, 1.0),
    )
    # end dates are generated relative to the simulated start, so "days to end" stays meaningful in any year
    start = datetime.fromtimestamp(settings.start_time, tz=timezone.utc)
    if source is None and options.universe == "real":
        source = RealUniverse(options.markets, options.seed, SCENARIOS[options.scenario], now=start,
                              levels=options.depth, snapshot=options.universe_file)
    elif source is None:
        source = GeneratedUniverse(options.markets, options.seed, SCENARIOS[options.scenario], now=start,
                                   levels=options.depth)
    engine = Engine(source.markets(), settings)
    source.open(engine)  # the books seeded ...
    engine.on_step(source.step)  # ... and re-quoted and traded on every step, before the payouts sample them
    sampler = RewardSampler(engine, random_instant=options.reward_sample_random,
                            daily_payout=options.daily_payout, seed=options.seed)
    server = SimServer(engine, sampler, rate_limits=options.rate_limits, ip_window_scale=options.ip_window_scale,
                       rate_limit_clock=options.rate_limit_clock)
    # a day of made-up price history before the start, so GET /prices-history answers as on a venue that has run
    # (polymm's trend rule reads the last hour before it quotes a market: polymm.desired.toxicity)
    server.history.backfill(source.past_midpoints(PAST_MINUTES))
    server.faults = FaultPlan(options.faults)
    return server


async def _clock(server: SimServer, speed: float) -> None:
    """Advance simulated time by wall time × speed; background activity runs inside `advance`."""
    if speed <= 0:
        return
    last = time.monotonic()
    while True:
        await asyncio.sleep(CLOCK_TICK_S)
        now = time.monotonic()
        server.engine.advance((now - last) * speed)
        last = now
        await server.flush_ws()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class SimVenue:
    """A running simulated venue on a background thread; all engine access goes through `call`."""

    def __init__(self, options: SimOptions | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.options = options or SimOptions()
        self.host = host
        self.port = port  # 0: the OS picks a free port at bind time (no race with other processes)
        self.server = build_server(self.options)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="polymm-sim", daemon=True)
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def urls(self) -> dict[str, str]:
        return venue_urls(self.host, self.port)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        except BaseException as exc:  # surfaced to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.server.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=512)
        await site.start()
        if not self.port:
            self.port = site._server.sockets[0].getsockname()[1]  # aiohttp exposes no public accessor
        self._clock_task = asyncio.ensure_future(_clock(self.server, self.options.speed))

    def start(self) -> "SimVenue":
        self._thread.start()
        self._ready.wait(30)
        if self._error:
            raise RuntimeError(f"simulated venue failed to start: {self._error}") from self._error
        return self

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the venue's loop thread (the engine is single-threaded) and return its result."""
        fut: Future = Future()

        def run() -> None:
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return fut.result(30)

    def run_async(self, coro_fn: Callable[[], Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro_fn(), self._loop).result(30)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            self._clock_task.cancel()
            await self.server.drop_websockets()
            if self._runner:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> "SimVenue":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def venue_urls(host: str, port: int) -> dict[str, str]:
    base = f"http://{host}:{port}"
    return {
        "clob_url": base,
        "gamma_url": f"{base}/gamma",
        "data_url": f"{base}/dataapi",
        "ws_url": f"ws://{host}:{port}/ws",
        "relayer_url": f"{base}/relayer",
    }


async def serve_forever(options: SimOptions, host: str, port: int, announce: Callable[[dict[str, str]], None]) -> None:
    """Serve until cancelled (SIGTERM/SIGINT are turned into cancellation by the caller)."""
    server = build_server(options)
    runner = web.AppRunner(server.app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=512)
    await site.start()
    if not port:  # --port 0: announce the port the OS picked, not 0
        port = site._server.sockets[0].getsockname()[1]  # aiohttp exposes no public accessor
    announce(venue_urls(host, port))
    clock = asyncio.ensure_future(_clock(server, options.speed))
    try:
        await asyncio.Event().wait()
    finally:
        clock.cancel()
        await server.drop_websockets()
        await runner.cleanup()
