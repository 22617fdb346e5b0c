"""Commands that run the controller: `plan`, `reconcile` and the optional `data-service`."""

from __future__ import annotations

import json
import signal
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

from polymm.cli.app import (
    CommandFailed,
    ConfigOption,
    command_config,
    command_secrets,
    setup_command_logging,
    app,
)
from polymm.cli.control import running_loop
from polymm.text.format import make_console


@app.command("plan")
def plan_cmd(
    config: Optional[Path] = ConfigOption,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Dry run: observe the venue, compute the desired state, plan and gate — list what the next tick would
    do and why. Sends nothing to the venue and writes nothing to the ledger. It decides with the tick's memory
    the ledger holds and, while a loop runs, with that loop's switches and heartbeat health as it recorded them
    (polymm.controller.loop); with no loop running, with the defaults a starting loop has."""
    from polymm.controller.session import open_session
    from polymm.reconciler.gate import OperatorState

    cfg = command_config(config)
    secrets = command_secrets()
    setup_command_logging(cfg, secrets, console=False)
    owner = running_loop(cfg)
    attach = owner if owner is not None and owner.embedded else None  # its venue, not a second simulator
    with open_session(cfg, secrets, dry_run=True, attach=attach) as session:
        operator = session.controller.recorded_operator() if owner is not None else OperatorState()
        observed = session.controller.observe(rescan=True)
        decision = session.controller.decide(observed, dry_run=True, operator=operator)
    from polymm.views.plan import plan_json, print_plan

    if as_json:
        typer.echo(json.dumps(plan_json(decision), indent=2))
    else:
        print_plan(make_console(), decision)


@app.command("reconcile")
def reconcile_cmd(
    config: Optional[Path] = ConfigOption,
    loop: bool = typer.Option(False, "--loop", help="Run as a service: tick until SIGTERM/SIGINT."),
    max_ticks: Optional[int] = typer.Option(None, callback=lambda v: _tick_count(v),
                                            help="Stop after this many ticks, at least 1 (demos and tests)."),
    wait_for_lock: bool = typer.Option(False, "--wait-for-lock", help="While another controller holds this ledger's "
                                       "or account's lock, wait for it (checking every 5 s) instead of exiting 2; "
                                       "deploy/polymm.service uses it, since systemd does not restart an exit 2."),
) -> None:
    """Reconcile the venue with the desired state: one tick, or with --loop the service (systemd runs this)."""
    import threading

    from polymm.controller.loop import Service
    from polymm.controller.session import open_session

    cfg = command_config(config)
    secrets = command_secrets()
    setup_command_logging(cfg, secrets)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    looping = loop or max_ticks is not None
    # lock.AlreadyRunning (exit 2) if another controller holds a lock, unless told to wait for it
    opened = _session_when_unlocked(cfg, secrets, stop) if wait_for_lock else open_session(cfg, secrets)
    with opened as session:
        service = Service(session, stop, config_path=config, control=looping)
        if max_ticks is not None:
            _stop_after(service, max_ticks, stop)
        code = service.run(loop=looping)
    raise typer.Exit(code)


@contextmanager
def _session_when_unlocked(cfg, secrets, stop):
    """open_session once no other controller holds its locks; exit 0 if `stop` comes first. Nothing is sent while
    waiting: the other controller is the one quoting (the journal says who it is every 5 minutes)."""
    import logging
    import time
    from contextlib import ExitStack

    from polymm.controller.lock import AlreadyRunning
    from polymm.controller.session import open_session

    said_at = None
    while True:
        stack = ExitStack()
        try:
            session = stack.enter_context(open_session(cfg, secrets))
            break
        except AlreadyRunning as exc:
            if said_at is None or time.monotonic() - said_at >= 300:
                logging.getLogger("polymm.cli").warning("waiting to start: %s (checking every 5 s)", exc)
                said_at = time.monotonic()
            if stop.wait(5):
                raise typer.Exit(0) from None
    with stack:
        yield session


def _tick_count(value: Optional[int]) -> Optional[int]:
    # a count below 1 used to run one tick anyway: refused rather than read as "at least one"
    if value is not None and value < 1:
        raise typer.BadParameter(f"{value} is not a number of ticks: must be 1 or more")
    return value


def _stop_after(service, max_ticks: int, stop) -> None:
    original = service.tick

    def counted():
        result = original()
        if service.ticks >= max_ticks:
            stop.set()
        return result

    service.tick = counted



@app.command("data-service")
def data_service_cmd(config: Optional[Path] = ConfigOption) -> None:
    """Keep reward markets, order books and volatility fresh in Redis for one or many controllers."""
    import threading

    from polymm.controller.endpoints import venue_endpoints
    from polymm.controller.session import redis_url
    from polymm.marketdata.service import DataService
    from polymm.marketdata.store import RedisStore
    from polymm.venue.gateway import VenueGateway

    cfg = command_config(config)
    setup_command_logging(cfg)
    svc = cfg.orderbook_service
    store = RedisStore.from_url(redis_url(cfg), svc.redis_key_prefix)
    try:
        store.r.ping()
    except Exception as exc:
        raise CommandFailed(f"cannot reach Redis at {redis_url(cfg)}: {exc}") from None
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with venue_endpoints(cfg) as endpoints:
        public = VenueGateway(endpoints, cfg.venue.request_timeout_seconds)
        service = DataService(public, store, svc.market_scan_interval, svc.orderbook_update_interval, endpoints.ws_url,
                              svc.volatility_check.window_samples)
        typer.echo(f"data service writing to {redis_url(cfg)} (prefix {svc.redis_key_prefix!r}); venue {endpoints.clob_url}")
        service.run(stop)
        public.close()
