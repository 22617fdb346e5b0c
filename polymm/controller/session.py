"""Wiring one controller session from the validated config: venue endpoints, account, gateways, ledger.

Embedded mode (the default) starts a simulated venue in-process, uses POLYMARKET_PRIVATE_KEY if set
or else a fresh random test key (the simulator funds it), and keeps its ledger beside the configured
one with an `-embedded` suffix — reset at each start, since the embedded venue starts empty too.
"""

from __future__ import annotations

import os
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


from polymm.config import ConfigError, PolymmConfig, Secrets
from polymm.controller.core import Controller
from polymm.controller.endpoints import venue_endpoints
from polymm.statemachines.ledger import Ledger
from polymm.venue.gateway import VenueEndpoints, VenueGateway
from polymm.venue.outcomes import Ok
from polymm.venue.trading import ApiCreds, TradingGateway


class SessionError(Exception):
    """The session cannot start (missing key, credentials refused): the message says what to do."""


@dataclass
class Session:
    cfg: PolymmConfig
    endpoints: VenueEndpoints
    public: VenueGateway
    trading: TradingGateway
    ledger: Ledger
    controller: Controller
    ledger_path: Path
    embedded: bool


def ledger_path_for(cfg: PolymmConfig) -> Path:
    path = Path(cfg.ledger.path)
    if cfg.venue.mode == "embedded-sim":
        path = path.with_name(f"{path.stem}-embedded{path.suffix or '.sqlite'}")
    return path


def writable_directory(folder: Path, key: str, value: object) -> None:
    """Create `folder` if needed and check that files can be written there; ConfigError naming `key`
    if not (an unwritable ledger or log path is a configuration problem: exit 2, no restart loop)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".polymm-write-check-"):
            pass
    except OSError as exc:
        where = exc.filename or folder
        raise ConfigError([f"{key}: '{value}' — cannot write in {where} ({exc.strerror or exc}); "
                           "must be a path in a writable directory"]) from None


def redis_url(cfg: PolymmConfig) -> str:
    svc = cfg.orderbook_service
    return f"redis://{svc.redis_host}:{svc.redis_port}/{svc.redis_db}"


def market_data_for(cfg: PolymmConfig, public: VenueGateway):
    """The in-process backend by default; the Redis backend when the data service is enabled."""
    if not cfg.orderbook_service.enabled:
        return None  # the controller builds its in-process default
    from polymm.marketdata.source import StoreMarketData
    from polymm.marketdata.store import RedisStore

    interval = cfg.orderbook_service.orderbook_update_interval
    store = RedisStore.from_url(redis_url(cfg), cfg.orderbook_service.redis_key_prefix)
    return StoreMarketData(store, max_book_age_s=3 * interval + 1, max_service_age_s=max(10.0, 3 * interval))


@contextmanager
def open_session(cfg: PolymmConfig, secrets: Secrets, *, dry_run: bool = False) -> Iterator[Session]:
    """A ready controller. With dry_run nothing is written: no API key is created (derive only) and
    a ledger that does not exist yet is replaced by an empty temporary one."""
    embedded = cfg.venue.mode == "embedded-sim"
    key = secrets.private_key.get_secret_value() if secrets.private_key else None
    if key is None:
        if not embedded:  # a configuration problem (exit 2), not an outage: restarting cannot fix it
            raise ConfigError(["POLYMARKET_PRIVATE_KEY: not set — venue.mode remote needs the wallet's key in the "
                               "environment (64 hex digits; or venue.mode: embedded-sim for paper trading)"])
        key = "0x" + os.urandom(32).hex()
    creds = None
    if secrets.api_key and secrets.api_secret and secrets.api_passphrase:
        creds = ApiCreds(secrets.api_key.get_secret_value(), secrets.api_secret.get_secret_value(),
                         secrets.api_passphrase.get_secret_value())
    funder = secrets.funder.get_secret_value() if secrets.funder else None
    if not dry_run:
        writable_directory(ledger_path_for(cfg).parent, "ledger.path", cfg.ledger.path)

    with ExitStack() as stack:
        endpoints = stack.enter_context(venue_endpoints(cfg))
        public = VenueGateway(endpoints, cfg.venue.request_timeout_seconds, read_only=dry_run)
        stack.callback(public.close)
        trading = TradingGateway(endpoints, key, creds, cfg.venue.signature_type, funder, cfg.venue.request_timeout_seconds)
        stack.callback(trading.close)
        # a dry run against a real venue only derives; the embedded venue is our own and starts empty
        outcome = trading.ensure_credentials(allow_create=embedded or not dry_run)
        if not isinstance(outcome, Ok):
            if dry_run and "Could not derive api key" in outcome.reason:  # a fresh wallet (polymm/venue/account.py)
                raise SessionError(f"this wallet has no API key at {endpoints.clob_url} yet (the venue answered "
                                   "\"Could not derive api key!\"); run `polymm keys --create` to create it, then "
                                   "`polymm plan` again")
            raise SessionError(f"API credentials: {outcome.reason}")
        path = ledger_path_for(cfg)
        if dry_run and not path.exists():
            path = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="polymm-plan-"))) / "ledger.sqlite"
        elif embedded and not dry_run:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        ledger = Ledger(path, clock=time.time)
        stack.callback(ledger.close)
        controller = Controller(cfg, public, trading, ledger, market_data=market_data_for(cfg, public))
        yield Session(cfg, endpoints, public, trading, ledger, controller, path, embedded)
