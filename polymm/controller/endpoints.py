"""Where the venue is: the configured remote URLs, or an embedded simulated venue started in-process."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from polymm.config import PolymmConfig
from polymm.venue.gateway import VenueEndpoints


@contextmanager
def venue_endpoints(cfg: PolymmConfig) -> Iterator[VenueEndpoints]:
    """Yield the endpoints to talk to; in embedded-sim mode a simulated venue runs for the duration."""
    venue = cfg.venue
    if venue.mode == "remote":
        yield VenueEndpoints(str(venue.clob_url), str(venue.gamma_url), str(venue.data_url), str(venue.ws_url), venue.chain_id,
                             relayer_url_for(str(venue.clob_url), venue.relayer_url))
        return
    from polymm.sim.runner import SimOptions, SimVenue

    sim = venue.sim
    options = SimOptions(seed=sim.seed, scenario=sim.scenario, speed=sim.speed, markets=sim.markets,
                         initial_collateral_usdc=float(sim.initial_collateral_usdc), universe=sim.universe,
                         universe_file=sim.universe_file or None)
    with SimVenue(options) as running:
        urls = running.urls
        yield VenueEndpoints(urls["clob_url"], urls["gamma_url"], urls["data_url"], urls["ws_url"], venue.chain_id,
                             urls["relayer_url"])


POLYMARKET_CLOB = "https://clob.polymarket.com"
POLYMARKET_RELAYER = "https://relayer-v2.polymarket.com"  # polymarket-client environments.py (PRODUCTION)


def relayer_url_for(clob_url: str, configured: str) -> str:
    """venue.relayer_url, or when empty the relayer that goes with the CLOB: Polymarket's own for its CLOB, the
    `/relayer` path of any other (a simulated venue); never a public host for a loopback venue."""
    if configured:
        return configured.rstrip("/")
    return POLYMARKET_RELAYER if clob_url.rstrip("/") == POLYMARKET_CLOB else clob_url.rstrip("/") + "/relayer"
