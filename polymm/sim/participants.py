"""The one interface behind which the market's participants sit: which markets exist, how their books are seeded
and re-quoted, and what flow arrives each step.

The engine (polymm.sim.engine) matches whatever orders arrive and the HTTP surfaces serve whatever markets the
engine holds; neither knows who trades. The composition (polymm.sim.runner.build_server) asks a source for its
markets, builds the engine over them, lets the source seed the books (`open`), steps it on the engine's clock
(`step`, registered with `Engine.on_step` right after `open`, before any other step hook) and fills the price
history's past with the source's own (`past_midpoints`).

The first implementation is the generated universe (polymm.sim.universe.GeneratedUniverse: seeded markets plus the
simulated makers, takers and news of polymm.sim.traders). Another source — a universe drawn from real data —
replaces it without touching the engine or the surfaces. What a source must keep for the backtests to stay
reproducible: the same seed gives the same markets and the same flow; its draws come from its own seeded
generators (the engine draws ids and trade failures from its own as orders execute); its participants trade only
through `Engine.execute` with `internal=True` orders from unlimited accounts (`Engine.account(..., unlimited=True)`),
which the venue keeps out of the user channel and the Data API's anonymous listings.
"""

from __future__ import annotations

from typing import Protocol

from polymm.sim.engine import Engine
from polymm.sim.model import SimMarket


class MarketSource(Protocol):
    """Where the simulated markets and their flow come from."""

    def markets(self) -> list[SimMarket]:
        """The markets that exist at the start, with their settings (ids, tokens, tick, minimum size, neg-risk,
        reward program, end date, fair value, last trade). Called once, before the engine exists; the engine owns
        them from then on (fees are priced onto them by the engine)."""
        ...

    def open(self, engine: Engine) -> None:
        """Seed the books: create the participants' accounts and rest their first quotes. Called once, right after
        the engine is built and before the clock moves."""
        ...

    def step(self, now: float) -> None:
        """One step of the engine's clock (`EngineSettings.step_s`): move fair values, re-quote the books, send the
        takers' and news flow. Not called while the matching engine is down."""
        ...

    def past_midpoints(self, minutes: int) -> dict[str, list[int]]:
        """A made-up past for GET /prices-history of a venue that has just started: per market (condition id),
        bid + ask in YES pips for each of the `minutes` minutes before now, oldest first. {} for none."""
        ...
