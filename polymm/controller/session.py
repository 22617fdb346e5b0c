"""Wiring one controller session from the validated config: venue endpoints, account, gateways, ledger.

Embedded mode (the default) starts a simulated venue in-process, uses POLYMARKET_PRIVATE_KEY if set
or else a fresh random test key (the simulator funds it), and keeps its ledger beside the configured
one with an `-embedded` suffix — reset at each start, since the embedded venue starts empty too.

One controller per ledger and account (controller/lock.py): a session that may write takes the
ledger lock before anything else (before the embedded ledger is reset) and the account lock
before the first request. A session `attach`ed to a running embedded loop uses that loop's venue
(its URLs and, when the loop generated it, its test key from the 0600 key file) and its ledger
as it is, instead of starting a second simulator.
"""

from __future__ import annotations

import os
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


from polymm.config import ConfigError, PolymmConfig, Secrets, under_install_dir
from polymm.controller.core import Controller
from polymm.controller.endpoints import venue_endpoints
from polymm.controller.lock import InstanceLock, Owner
from polymm.ledger import Ledger
from polymm.venue.gateway import VenueEndpoints, VenueGateway
from polymm.venue.outcomes import Ok
from polymm.venue.trading import ApiCreds, TradingGateway


class LedgerUnusable(Exception):
    """The ledger cannot be opened for writing, or is corrupt: nothing may be sent (exit 2, no restart loop)."""


def open_ledger(path: Path, write: bool = True) -> Ledger:
    """The ledger, opened for writing and checked whole (`PRAGMA quick_check`) before anything is sent: a
    corrupt, truncated or unwritable file is refused with one line, never run on and never overwritten."""
    from polymm.ledger import SQLITE_ERRORS, LedgerError  # only ledger/ touches SQLite

    try:
        ledger = Ledger(path, clock=time.time, background_checkpoint=write)  # no checkpoint inside a tick's commit
    except (*SQLITE_ERRORS, LedgerError) as exc:
        raise LedgerUnusable(f"ledger {path} cannot be used: {exc} — move it aside and restore a backup (polymm "
                             "never overwrites a ledger), or point ledger.path elsewhere to start empty") from None
    problem = ledger.integrity_problem(write_probe=write)
    if problem:
        ledger.close()
        raise LedgerUnusable(f"ledger {path} is corrupt ({problem}) — move it aside and restore a backup, or point "
                             "ledger.path elsewhere to start empty")
    return ledger


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
    lock: InstanceLock | None = None
    merger: object | None = None  # polymm.controller.merger.Merger: YES+NO pairs into collateral (None: off)


def ledger_path_for(cfg: PolymmConfig) -> Path:
    path = under_install_dir(Path(cfg.ledger.path))
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
def open_session(cfg: PolymmConfig, secrets: Secrets, *, dry_run: bool = False, lock: bool = True,
                 attach: Owner | None = None) -> Iterator[Session]:
    """A ready controller. With dry_run nothing is written: no API key is created (derive only) and
    a ledger that does not exist yet is replaced by an empty temporary one. With `lock` (and not
    dry_run) the session holds the ledger and account locks (lock.AlreadyRunning if another process
    does). With `attach`, the session talks to that running embedded loop's venue."""
    embedded = cfg.venue.mode == "embedded-sim"
    key = secrets.private_key.get_secret_value() if secrets.private_key else None
    generated = False
    if attach is not None and attach.key_file:
        try:
            key = Path(attach.key_file).read_text().strip()
        except OSError as exc:
            raise SessionError(f"cannot read the running loop's test key {attach.key_file}: {exc.strerror}") from None
    if key is None:
        if not embedded:  # a configuration problem (exit 2), not an outage: restarting cannot fix it
            raise ConfigError(["POLYMARKET_PRIVATE_KEY: not set — venue.mode remote needs the wallet's key in the "
                               "environment (64 hex digits; or venue.mode: embedded-sim for paper trading)"])
        key, generated = "0x" + os.urandom(32).hex(), True
    creds = None
    if secrets.api_key and secrets.api_secret and secrets.api_passphrase:
        creds = ApiCreds(secrets.api_key.get_secret_value(), secrets.api_secret.get_secret_value(),
                         secrets.api_passphrase.get_secret_value())
    funder = secrets.funder.get_secret_value() if secrets.funder else None
    if not dry_run:
        writable_directory(ledger_path_for(cfg).parent, "ledger.path", cfg.ledger.path)

    with ExitStack() as stack:
        path = ledger_path_for(cfg)
        instance = None
        if lock and not dry_run:
            instance = InstanceLock(path)
            instance.acquire_ledger()  # before the embedded ledger is reset under a running loop
            stack.callback(instance.release)
        if attach is not None and attach.embedded:
            u = attach.embedded
            endpoints = VenueEndpoints(u["clob_url"], u["gamma_url"], u["data_url"], u["ws_url"], cfg.venue.chain_id)
        else:
            endpoints = stack.enter_context(venue_endpoints(cfg))
        public = VenueGateway(endpoints, cfg.venue.request_timeout_seconds, read_only=dry_run)
        stack.callback(public.close)
        trading = TradingGateway(endpoints, key, creds, cfg.venue.signature_type, funder, cfg.venue.request_timeout_seconds)
        stack.callback(trading.close)
        if instance is not None:
            instance.acquire_account(trading.address, endpoints.clob_url)
            if embedded and attach is None:
                extra = {"embedded": {"clob_url": endpoints.clob_url, "gamma_url": endpoints.gamma_url,
                                      "data_url": endpoints.data_url, "ws_url": endpoints.ws_url}}
                if generated:
                    extra["key_file"] = str(_write_key_file(path, key))
                    stack.callback(Path(extra["key_file"]).unlink, missing_ok=True)
                instance.update(**extra)
        # a dry run against a real venue only derives; the embedded venue is our own and starts empty
        outcome = trading.ensure_credentials(allow_create=embedded or not dry_run)
        if not isinstance(outcome, Ok):
            if dry_run and "Could not derive api key" in outcome.reason:  # a fresh wallet (polymm/venue/account.py)
                raise SessionError(f"this wallet has no API key at {endpoints.clob_url} yet (the venue answered "
                                   "\"Could not derive api key!\"); run `polymm keys --create` to create it, then "
                                   "`polymm plan` again")
            raise SessionError(f"API credentials: {outcome.reason}")
        if dry_run and not path.exists():
            path = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="polymm-plan-"))) / "ledger.sqlite"
        elif embedded and not dry_run and attach is None:
            _keep_paper_run(path, cfg.ledger.keep_paper_runs)  # the embedded venue starts empty: so does its ledger
        path.parent.mkdir(parents=True, exist_ok=True)
        ledger = open_ledger(path, write=not dry_run)
        stack.callback(ledger.close)
        controller = Controller(cfg, public, trading, ledger, market_data=market_data_for(cfg, public))
        merger = None
        if not dry_run:
            from polymm.controller.merger import merger_for
            merger = merger_for(cfg, ledger, endpoints, key, funder, secrets, controller.clock)
        yield Session(cfg, endpoints, public, trading, ledger, controller, path, embedded, instance, merger)


def _keep_paper_run(path: Path, keep: int) -> None:
    """Move the last paper run's ledger aside as `<stem>-<its end time, UTC><suffix>` (with its WAL, so nothing it
    journaled is lost) and delete all but the newest `keep` of them: `polymm report --ledger` still reads them."""
    from datetime import datetime, timezone

    if keep > 0 and path.exists():
        ended = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        kept = path.with_name(f"{path.stem}-{ended}{path.suffix}")
        # the WAL first: a crash in between is finished by the next start, which gives the main file the same name
        for suffix in ("-wal", "-shm", ""):
            if Path(f"{path}{suffix}").exists():
                os.replace(f"{path}{suffix}", f"{kept}{suffix}")
    runs = sorted(path.parent.glob(f"{path.stem}-[0-9]*T*Z{path.suffix}"))
    for old in runs[:max(0, len(runs) - keep)]:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{old}{suffix}").unlink(missing_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _write_key_file(ledger: Path, key: str) -> Path:
    """The embedded loop's generated test key, readable only by its user, for commands that attach to it."""
    path = Path(f"{ledger}.key")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return path
