"""The simulated venue's HTTP + WebSocket app: Polymarket's CLOB, Gamma, Data API, relayer and WebSocket surfaces and
the simulator's admin surface, composed over one engine on one loopback port.

Each surface is its own module adding its routes over the engine (polymm.sim.clob_markets, .clob_account, .gamma,
.dataapi, .relayer_routes, .websockets, .admin); every request passes the front door (polymm.sim.traffic: counts,
per-IP limits, injected faults, error envelopes), and the WebSocket events a request caused are sent once its reply
is ready.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Callable

from aiohttp import web

from polymm.sim.admin import Admin, take  # noqa: F401  (take: re-exported, tests/test_data_service.py imports it here)
from polymm.sim.clob_account import ClobAccount
from polymm.sim.clob_markets import ClobMarkets
from polymm.sim.dataapi import DataApi
from polymm.sim.engine import Engine
from polymm.sim.faults import FaultPlan
from polymm.sim.gamma import Gamma
from polymm.sim.history import PriceHistory
from polymm.sim.payouts import RewardSampler
from polymm.sim.relayer import Relayer
from polymm.sim.relayer_routes import RelayerRoutes
from polymm.sim.rest import Surface
from polymm.sim.traffic import Traffic
from polymm.sim.websockets import WebSockets


class SimServer:
    """Builds the aiohttp application around an engine (and its reward sampler): the surfaces, the front door, the
    price history and the relayer, whose clock hooks it registers in that order (history, then relayer)."""

    def __init__(self, engine: Engine, sampler: RewardSampler | None = None, rate_limits: bool = True,
                 ip_window_scale: float = 1.0, rate_limit_clock: Callable[[], float] | None = None) -> None:
        self.engine = engine
        self.sampler = sampler
        self.history = PriceHistory(engine)  # GET /prices-history (polymm.sim.history)
        self.relayer = Relayer(engine)  # gasless transactions of contract wallets: merges (polymm.sim.relayer)
        self.websockets = WebSockets(engine)
        self.traffic = Traffic(rate_limits, ip_window_scale, after=self.flush_ws, clock=rate_limit_clock)
        self.clob_account = ClobAccount(engine, sampler, rate_limits, rate_limit_clock)
        surfaces: list[Surface] = [
            ClobMarkets(engine, self.history),
            self.clob_account,
            Gamma(engine),
            DataApi(engine),
            self.websockets,
            Admin(engine, self.traffic, self.relayer),
            RelayerRoutes(engine, self.relayer, self.clob_account.builder_secrets),
        ]
        engine.listeners.append(self.websockets.on_event)
        self.app = web.Application(middlewares=[self.traffic.middleware], client_max_size=4 * 1024 * 1024)
        for surface in surfaces:
            self.app.router.add_routes(surface.routes())

    # what tests, the runner and the backtest read of the venue
    @property
    def faults(self) -> FaultPlan:
        return self.traffic.faults

    @faults.setter
    def faults(self, plan: FaultPlan) -> None:
        self.traffic.faults = plan

    @property
    def requests(self) -> Counter[str]:
        return self.traffic.requests

    @property
    def request_log(self) -> deque[tuple[str, str]]:
        return self.traffic.request_log

    @property
    def rate_limits(self) -> bool:
        return self.traffic.rate_limits

    @property
    def market_subs(self) -> dict[web.WebSocketResponse, set[str]]:
        return self.websockets.market_subs

    @property
    def user_subs(self) -> dict[web.WebSocketResponse, tuple[str, frozenset[str]]]:
        return self.websockets.user_subs

    async def flush_ws(self) -> None:
        """Send the WebSocket events waiting to go out (after each reply and each clock tick)."""
        await self.websockets.flush()

    _flush_ws = flush_ws  # the name a test of the data service (tests/test_data_service.py) still calls

    async def drop_websockets(self) -> int:
        """Close every WebSocket connection (for tests of reconnect and resync)."""
        return await self.websockets.drop_websockets()
