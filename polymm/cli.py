"""The `polymm` command line: the simulated venue today; the controller commands land beside it."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.text import Text
from typer import Abort
from typer._click.exceptions import ClickException, UsageError  # typer vendors its click (pinned)
from typer.core import TyperGroup

from polymm.text.format import make_console, visible

EXIT_RUNTIME = 1  # an outage or a fault at run time: worth retrying (systemd restarts it)
EXIT_CONFIG = 2   # bad configuration or usage: retrying cannot help (deploy/polymm.service does not restart it)


class CommandFailed(Exception):
    """A runtime fault a command reports as one line (exit 1): the message says what failed and why."""


def failure_lines(exc: BaseException) -> tuple[int, list[str]] | None:
    """The one place that maps an error type to its stderr lines and exit code; None for a bug (traceback)."""
    from polymm.config import ConfigError
    from polymm.controller.session import SessionError
    from polymm.venue.gateway import VenueUnavailable

    from polymm.controller.control import ControlError
    from polymm.controller.lock import AlreadyRunning, UnsafeRuntimePath

    if isinstance(exc, ConfigError):
        return EXIT_CONFIG, [f"config error: {line}" for line in exc.problems]
    from polymm.controller.session import LedgerUnusable

    if isinstance(exc, LedgerUnusable):  # a restart cannot mend the file: no restart loop
        return EXIT_CONFIG, [f"ledger error: {exc}"]
    if isinstance(exc, AlreadyRunning):  # retrying cannot help while the other one runs
        return EXIT_CONFIG, [f"cannot start: {exc} (stop it with `polymm stop`, or use another ledger)"]
    if isinstance(exc, UnsafeRuntimePath):  # someone else's file or directory: a person must look, not a restart
        return EXIT_CONFIG, [f"unsafe runtime path: {exc}"]
    if isinstance(exc, ControlError):
        return EXIT_RUNTIME, [f"error: {exc}"]
    if isinstance(exc, UsageError):
        command = exc.ctx.command_path if exc.ctx is not None else "polymm"
        return EXIT_CONFIG, [f"usage error: {exc.format_message()} (see {command} --help)"]
    if isinstance(exc, ClickException):
        return exc.exit_code, [f"error: {exc.format_message()}"]
    if isinstance(exc, Abort):
        return 130, ["interrupted"]
    if isinstance(exc, (CommandFailed, SessionError)):
        return EXIT_RUNTIME, [f"error: {exc}"]
    if isinstance(exc, VenueUnavailable):
        return EXIT_RUNTIME, [f"venue unavailable: {exc}"]
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return EXIT_RUNTIME, [f"error: {exc.strerror or exc}{where}"]
    # the storage errors come from their owners (only ledger/ touches SQLite, only marketdata/ Redis)
    from polymm.marketdata.store import STORE_ERRORS
    from polymm.ledger import SQLITE_ERRORS

    if isinstance(exc, SQLITE_ERRORS):
        return EXIT_RUNTIME, [f"ledger error: {exc}"]
    if isinstance(exc, STORE_ERRORS):
        return EXIT_RUNTIME, [f"redis error: {exc}"]
    return None


class PolymmGroup(TyperGroup):
    """Runs a command and turns every expected failure into its lines on stderr and its exit code."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # type: ignore[override]
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except Exception as exc:  # noqa: BLE001 - mapped below; a bug re-raises with its traceback
            mapped = failure_lines(exc)
            if mapped is None:
                raise
            code, lines = mapped
            for line in lines:
                typer.echo(visible(" ".join(line.split())), err=True)  # one line each, whatever the message held
            if not standalone_mode:
                return code
            sys.exit(code)
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


app = typer.Typer(cls=PolymmGroup, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="polymm — a reconciliation market maker for Polymarket liquidity rewards.")
sim_app = typer.Typer(no_args_is_help=True, help="The simulated Polymarket venue (paper trading, demos, tests).")
app.add_typer(sim_app, name="sim")
console = make_console(stderr=True)

ConfigOption = typer.Option(None, "--config", envvar="POLYMM_CONFIG",
                            help="Path of config.yaml (default: the repository's config.yaml; env POLYMM_CONFIG).")


def _version(value: bool) -> None:
    if value:
        from polymm import __version__

        typer.echo(f"polymm {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """polymm — a reconciliation market maker for Polymarket liquidity rewards."""


def _load_config(path: Optional[Path]):
    """Validate the configuration once; a bad value is a ConfigError (exit 2, one line per problem)."""
    from polymm.config import load_config

    return load_config(path)


@app.command("check-config")
def check_config(
    config: Optional[Path] = ConfigOption,
    remote: bool = typer.Option(False, "--remote", help="Also check the account against the venue before the first "
                                "order: API key, funder and signature type, balance, allowances (one line each)."),
) -> None:
    """Validate the configuration and print it (secrets are never printed); with --remote, check the account too."""
    cfg = _load_config(config)
    if not remote:
        typer.echo(json.dumps(cfg.model_dump(mode="json"), indent=2))
        return
    from polymm.venue.account import remote_findings

    with _trading_gateway(cfg) as (trading, secrets):
        findings = remote_findings(trading, cfg.venue.signature_type,
                                   secrets.funder.get_secret_value() if secrets.funder else None,
                                   cfg.strategy.max_exposure_per_market_usdc)
    for finding in findings:
        typer.echo(finding.line())
    problems = [f for f in findings if not f.ok]
    if problems:
        raise CommandFailed(f"{len(problems)} problem(s) found at {cfg.venue.clob_url}: fix them before the first order")
    typer.echo(f"the account is ready to trade at {cfg.venue.clob_url}")


@contextmanager
def _trading_gateway(cfg):
    """The wallet's trading gateway against the configured remote venue (for keys and remote checks)."""
    from polymm.config import ConfigError
    from polymm.controller.endpoints import venue_endpoints
    from polymm.venue.trading import TradingGateway

    import logging

    # the SDK logs every non-200 reply (a fresh wallet's derive is one); the findings say it in one line
    logging.getLogger("polymarket").setLevel(logging.CRITICAL)
    if cfg.venue.mode != "remote":
        raise ConfigError(["venue.mode: 'embedded-sim' — the account commands talk to a real venue: set venue.mode: "
                           "remote and its URLs (e.g. POLYMM_VENUE__MODE=remote)"])
    secrets = _load_secrets()
    if secrets.private_key is None:
        raise ConfigError(["POLYMARKET_PRIVATE_KEY: not set — the wallet's key is needed (0x and 64 hex digits)"])
    creds = None
    if secrets.api_key and secrets.api_secret and secrets.api_passphrase:
        from polymm.venue.trading import ApiCreds  # only venue/ imports the SDK

        creds = ApiCreds(secrets.api_key.get_secret_value(), secrets.api_secret.get_secret_value(),
                         secrets.api_passphrase.get_secret_value())
    with venue_endpoints(cfg) as endpoints:
        trading = TradingGateway(endpoints, secrets.private_key.get_secret_value(), creds, cfg.venue.signature_type,
                                 secrets.funder.get_secret_value() if secrets.funder else None,
                                 cfg.venue.request_timeout_seconds)
        try:
            yield trading, secrets
        finally:
            trading.close()


@app.command("keys")
def keys_cmd(
    config: Optional[Path] = ConfigOption,
    create: bool = typer.Option(False, "--create", help="Create the wallet's API key at the venue if it has none yet."),
    show_secrets: bool = typer.Option(False, "--show-secrets", help="Print the full credentials as POLYMARKET_API_* "
                                      "lines for an EnvironmentFile (stdout only; keep that file mode 600)."),
) -> None:
    """Show the wallet's API credentials (redacted), or create them with --create.

    polymm derives them from the wallet at every start, so storing them is optional."""
    from polymm.venue.account import SIGNATURE_TYPES, credentials, redact, signer_address, wallet_findings

    cfg = _load_config(config)
    with _trading_gateway(cfg) as (trading, secrets):
        how, creds, reason = credentials(trading, create=create)
        signer = signer_address(trading)
    funder = secrets.funder.get_secret_value() if secrets.funder else None
    # the funder rule of `check-config --remote`, not a guess: an unset funder is never shown as the signer
    [wallet] = wallet_findings(cfg.venue.signature_type, signer, funder)
    typer.echo(f"wallet     {signer} (signer), funder {funder or ('the signer' if wallet.ok else 'NOT SET')}, "
               f"signature type {cfg.venue.signature_type} ({SIGNATURE_TYPES.get(cfg.venue.signature_type, '?')})")
    if not wallet.ok:
        typer.echo(wallet.line())
    if creds is None:
        if "Could not derive api key" in reason and not create:
            raise CommandFailed(f"this wallet has no API key at {cfg.venue.clob_url} yet ({reason}); "
                                "run `polymm keys --create` to create it")
        raise CommandFailed(f"no API key for this wallet at {cfg.venue.clob_url}: {reason}")
    source = {"env": "from POLYMARKET_API_KEY/SECRET/PASSPHRASE", "derived": "derived from the wallet (it exists)",
              "created": "created now"}[how]
    typer.echo(f"api key    {redact(creds.api_key)}  {source}")
    typer.echo("secret     ********   passphrase ********")
    if show_secrets:
        typer.echo("# polymm derives these at every start; pinning them is optional", err=True)
        typer.echo(f"POLYMARKET_API_KEY={creds.api_key}\nPOLYMARKET_API_SECRET={creds.api_secret}\n"
                   f"POLYMARKET_API_PASSPHRASE={creds.api_passphrase}")
    if not wallet.ok:
        raise CommandFailed(f"the API key is the signer's, but this wallet cannot trade as configured: {wallet.detail}")


@app.command("markets")
def markets_cmd(
    config: Optional[Path] = ConfigOption,
    show_all: bool = typer.Option(False, "--all", help="Also list the rejected markets with the rule that rejected each."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Scan the reward markets, run the selection funnel and show what polymm would quote (sends nothing)."""
    from datetime import datetime, timezone

    from rich.progress import Progress

    from polymm.controller.endpoints import venue_endpoints
    from polymm.desired.funnel import SelectionParams, prefilter, select_markets
    from polymm.venue.gateway import VenueGateway
    from polymm.views.plan import print_selection, selection_json

    cfg = _load_config(config)
    params = SelectionParams.from_config(cfg)
    with venue_endpoints(cfg) as endpoints:
        gateway = VenueGateway(endpoints, cfg.venue.request_timeout_seconds)
        try:
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task("reward markets", total=None)
                rows = gateway.reward_rows()
                progress.update(task, total=len(rows), description="market details")
                markets, problems = gateway.reward_markets(progress=lambda n: progress.advance(task, n), rows=rows)
                survivors, _, _ = prefilter(markets, params)
                tokens = [t for m in survivors for t in m.token_ids]
                books_task = progress.add_task("order books", total=len(tokens))
                books = gateway.books(tokens, progress=lambda n: progress.advance(books_task, n))
        finally:
            gateway.close()
    selection = select_markets(markets, books, params, datetime.now(timezone.utc))
    if as_json:
        typer.echo(json.dumps(selection_json(selection, show_all, problems), indent=2))
    else:
        print_selection(make_console(), selection, show_all, problems)


def _load_secrets():
    from polymm.config import load_secrets

    return load_secrets()


def _setup_logging(cfg, secrets=None, console: bool = True) -> None:
    """Logging for a long-running command; an unwritable log directory is a configuration error."""
    from polymm.controller.session import writable_directory
    from polymm.config import under_install_dir
    from polymm.logs import setup_logging

    writable_directory(under_install_dir(Path(cfg.logging.directory)), "logging.directory", cfg.logging.directory)
    setup_logging(cfg, _secret_values(secrets) if secrets is not None else (), console=console)


def _secret_values(secrets) -> tuple[str, ...]:
    return tuple(v.get_secret_value() for v in (secrets.private_key, secrets.api_key, secrets.api_secret,
                                                 secrets.api_passphrase) if v is not None)


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

    cfg = _load_config(config)
    secrets = _load_secrets()
    _setup_logging(cfg, secrets, console=False)
    owner = _running_loop(cfg)
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

    cfg = _load_config(config)
    secrets = _load_secrets()
    _setup_logging(cfg, secrets)
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


@app.command("status")
def status_cmd(
    config: Optional[Path] = ConfigOption,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    watch: bool = typer.Option(False, "--watch", help="Refresh in place every second until Ctrl-C."),
) -> None:
    """Inspect the ledger (safe while the loop runs): health, orders, positions, exposure, fills, rewards."""
    from polymm.controller.session import ledger_path_for
    from polymm.views.status import gather_status, render_status

    cfg = _load_config(config)
    path = ledger_path_for(cfg)
    if not path.exists():
        raise CommandFailed(f"no ledger at {path}: polymm has not run with this configuration yet")
    if as_json:
        typer.echo(json.dumps(gather_status(cfg, path), indent=2, default=str))
        return
    if not watch:
        make_console().print(render_status(gather_status(cfg, path)))
        return
    import time

    from rich.live import Live

    with Live(render_status(gather_status(cfg, path)), console=make_console(), refresh_per_second=2,
              screen=False) as live:
        try:
            while True:
                time.sleep(1)
                live.update(render_status(gather_status(cfg, path)))
        except KeyboardInterrupt:
            pass


@app.command("fills")
def fills_cmd(
    config: Optional[Path] = ConfigOption,
    as_csv: bool = typer.Option(False, "--csv", help="Write every fill as CSV to stdout (one header line, then a row per fill)."),
    since: Optional[str] = typer.Option(None, help="Only fills polymm first saw on or after this UTC date (YYYY-MM-DD)."),
) -> None:
    """The fills in the ledger (safe while the loop runs): a table, or with --csv an export for accounting."""
    from datetime import datetime, timezone

    from rich.table import Table

    from polymm.controller.session import ledger_path_for
    from polymm.views.fills import fill_rows, to_csv

    cfg = _load_config(config)
    path = ledger_path_for(cfg)
    if not path.exists():
        raise CommandFailed(f"no ledger at {path}: polymm has not run with this configuration yet")
    start = None
    if since is not None:
        try:
            start = datetime.strptime(since, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            raise UsageError(f"--since {since!r}: must be a date YYYY-MM-DD") from None
    rows = fill_rows(path, start)
    if as_csv:
        sys.stdout.write(to_csv(rows))
        return
    table = Table(title=f"Fills ({len(rows)})")
    shown = ("time_utc", "question", "outcome", "side", "role", "price", "size", "notional_usdc", "fee_usdc", "status")
    for col in shown:
        table.add_column(col, justify="right" if col in ("price", "size", "notional_usdc", "fee_usdc") else "left",
                         overflow="fold")
    for r in rows:
        table.add_row(*(r[c] or f"{r['condition_id'][:10]}…" if c == "question" else r[c] for c in shown))
    make_console().print(table)


@app.command("dashboard")
def dashboard_cmd(
    config: Optional[Path] = ConfigOption,
    port: int = typer.Option(8765, callback=lambda v: _port(v), help="Port to listen on (0: any free port)."),
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback by default; the page is read-only but shows your book)."),
) -> None:
    """A live read-only web dashboard from the ledger (safe while the loop runs).

    Health, markets with our quotes and the reward band, positions and hedges, exposure against the caps,
    P&L and reward charts; plain HTML and SVG, no CDN, works offline."""
    from polymm.controller.session import ledger_path_for
    from polymm.views.dashboard import make_server

    cfg = _load_config(config)
    path = ledger_path_for(cfg)
    try:
        server = make_server(cfg, path, host, port)
    except OSError as exc:
        console.print(Text(f"cannot listen on {host}:{port}:", style="red"), exc.strerror or str(exc))
        raise typer.Exit(1) from None
    typer.echo(f"polymm dashboard on http://{host}:{server.server_port}/ (ledger {path}); Ctrl-C stops it")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _running_loop(cfg):
    """The live controller holding this configuration's ledger, if any (controller/lock.py)."""
    from polymm.controller.lock import live_owner
    from polymm.controller.session import ledger_path_for

    return live_owner(ledger_path_for(cfg))


def _ask_loop(owner, command: str, **args) -> dict:
    from polymm.controller.control import request

    if not owner.control:
        raise CommandFailed(f"the running loop ({owner.describe()}) is not serving its control channel yet; try again")
    return request(owner.control, command, server_uid=owner.uid, **args)  # the loop runs as the lock file's owner


def _need_loop(cfg, what: str):
    owner = _running_loop(cfg)
    if owner is None:
        from polymm.controller.session import ledger_path_for

        raise CommandFailed(f"cannot {what}: no polymm loop is running on ledger {ledger_path_for(cfg)}")
    return owner


def _answer(reply: dict) -> None:
    if not reply.get("ok"):
        raise CommandFailed(reply.get("message", "refused"))
    typer.echo(reply.get("message", "done"))


def _stop_lines(final: dict, ledger_path: Path) -> list[str]:
    """What a stop left at the venue, from the loop's final journal entry (read after its cancels); positions are
    named by market and outcome as `status` names them (the ledger's market catalog)."""
    from polymm.ledger import Ledger
    from polymm.text import catalog
    from polymm.text import format as fmt

    lines = []
    live = final.get("live_at_venue_after_stop")
    if live is None:
        lines.append("venue: our open orders could not be read after the cancels — check with `polymm cancel --all`")
    elif live:
        lines.append(f"venue: {len(live)} order(s) of ours still live after the cancels; the venue cancels them "
                     "when the heartbeats stop (~10 s)")
    else:
        lines.append("venue: no order of ours is live (quotes and hedges cancelled)")
    unhedged = final.get("unhedged") or {}
    if unhedged:
        with Ledger(ledger_path) as ledger:
            names = catalog.parse(ledger.get_cursor(catalog.CURSOR))
        by_token = {t: (m.question, o) for m in names.values() for t, o in m.outcomes.items()}

        def label(token: str) -> str:
            question, outcome = by_token.get(token, (None, None))
            return fmt.market_label(question, outcome) if question else f"token {token[:16]}…"

        lines.append(f"positions left unhedged ({len(unhedged)}): "
                     + "; ".join(f"{label(t)}: {fmt.shares(size)} shares" for t, size in unhedged.items()))
    else:
        lines.append("no position left unhedged")
    return lines


@app.command("stop")
def stop_cmd(
    config: Optional[Path] = ConfigOption,
    keep_hedges: bool = typer.Option(False, "--keep-hedges", help="Keep the loop up, heartbeating with quoting off, "
                                     "until its positions are sold (or --timeout), then stop fully."),
    timeout: float = typer.Option(600.0, help="With --keep-hedges: the longest wait for the positions to be sold, seconds."),
    wait: float = typer.Option(60.0, help="How long to wait for the running loop to exit, seconds."),
) -> None:
    """Stop: the running loop cancels every order of ours (quotes and hedges) and exits; this waits for it and
    reports what is left at the venue. Without a running loop, does the same itself."""
    import os
    import signal as signals

    from polymm.controller.lock import wait_for_exit
    from polymm.controller.session import ledger_path_for
    from polymm.ledger import Ledger

    cfg = _load_config(config)
    path = ledger_path_for(cfg)
    owner = _running_loop(cfg)
    if owner is not None:
        if keep_hedges:
            _answer(_ask_loop(owner, "stop", keep_hedges=True, timeout=timeout))
            return
        if owner.control:
            reply = _ask_loop(owner, "stop")
            if not reply.get("ok"):
                _answer(reply)
        else:  # the loop is still starting (or a single tick): SIGTERM is the same full stop
            os.kill(owner.pid, signals.SIGTERM)
        typer.echo(f"stopping the loop ({owner.describe()}) …")
        if not wait_for_exit(path, owner.pid, wait):
            raise CommandFailed(f"the loop (PID {owner.pid}) has not exited within {wait:.0f} s")
        with Ledger(path) as ledger:
            last = ledger.last_tick()
        final = (last or {}).get("summary") or {}
        if not final.get("final"):
            raise CommandFailed(f"the loop (PID {owner.pid}) exited without journaling its stop: check the venue")
        typer.echo(f"stopped (PID {owner.pid}): {final.get('cancels_confirmed_at_stop', 0)} cancel(s) confirmed at the stop")
        for line in _stop_lines(final, path):
            typer.echo(line)
        return
    if keep_hedges:
        raise CommandFailed("cannot keep hedges: no polymm loop is running (the venue cancels every order once "
                            "heartbeats stop)")
    if cfg.venue.mode == "embedded-sim":
        typer.echo("no polymm loop is running: the embedded venue stopped with it, so nothing of ours rests there")
        return
    _stop_without_loop(cfg)


def _stop_without_loop(cfg) -> None:
    from polymm.controller.loop import Service
    from polymm.controller.session import open_session

    secrets = _load_secrets()
    _setup_logging(cfg, secrets)
    with open_session(cfg, secrets) as session:  # AlreadyRunning if a loop started meanwhile
        service = Service(session, use_user_channel=False)
        session.controller.record_observation(session.controller.observe(rescan=False))
        service.shutdown()
        final = service.stop_report
    typer.echo(f"no polymm loop was running; cancelled ourselves: {final.get('cancels_confirmed_at_stop', 0)} cancel(s) confirmed")
    for line in _stop_lines(final, session.ledger_path):
        typer.echo(line)


@app.command("pause")
def pause_cmd(config: Optional[Path] = ConfigOption) -> None:
    """Quoting off on the running loop (its buy quotes are cancelled); hedging continues. `polymm resume` undoes it."""
    cfg = _load_config(config)
    _answer(_ask_loop(_need_loop(cfg, "pause"), "pause"))


@app.command("resume")
def resume_cmd(config: Optional[Path] = ConfigOption) -> None:
    """Quoting (and hedging, after cancel --all) back on for the running loop."""
    cfg = _load_config(config)
    _answer(_ask_loop(_need_loop(cfg, "resume"), "resume"))


@app.command("reload")
def reload_cmd(config: Optional[Path] = ConfigOption) -> None:
    """The running loop re-reads its config.yaml (and its environment's POLYMM_* keys), validates it and applies
    it, or refuses with the errors (venue, ledger, logging and orderbook_service changes need a restart)."""
    cfg = _load_config(config)  # the same problems, one per line, before asking the loop
    _answer(_ask_loop(_need_loop(cfg, "reload"), "reload"))


@app.command("cancel")
def cancel_cmd(
    config: Optional[Path] = ConfigOption,
    all_orders: bool = typer.Option(False, "--all", help="Cancel EVERY order on the account, polymm's or not."),
) -> None:
    """Cancel every order on the account (only with --all, an explicit operator command). With a running loop,
    the loop does it and keeps quoting and hedging off until `polymm resume`."""
    from polymm.controller.session import open_session
    from polymm.venue.outcomes import Ok

    if not all_orders:
        console.print(Text("refusing:", style="red"), "`polymm cancel` cancels every order on the account; say so with --all")
        raise typer.Exit(2)
    cfg = _load_config(config)
    owner = _running_loop(cfg)
    if owner is not None:
        _answer(_ask_loop(owner, "cancel_all"))
        return
    if cfg.venue.mode == "embedded-sim":
        typer.echo("no polymm loop is running: the embedded venue stopped with it, so no order rests there")
        return
    with open_session(cfg, _load_secrets()) as session:
        outcome = session.trading.cancel_all()
    if not isinstance(outcome, Ok):
        raise CommandFailed(f"cancel-all failed: {outcome.reason}")
    typer.echo(f"cancelled {len(outcome.value.get('canceled', []))} order(s)")


@app.command("data-service")
def data_service_cmd(config: Optional[Path] = ConfigOption) -> None:
    """Keep reward markets, order books and volatility fresh in Redis for one or many controllers."""
    import threading

    from polymm.controller.endpoints import venue_endpoints
    from polymm.controller.session import redis_url
    from polymm.marketdata.service import DataService
    from polymm.marketdata.store import RedisStore
    from polymm.venue.gateway import VenueGateway

    cfg = _load_config(config)
    _setup_logging(cfg)
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


def _register_economics() -> None:
    from polymm.backtest.commands import register

    register(app, _load_config, ConfigOption)


_register_economics()


def _port(value: int) -> int:
    if not 0 <= value <= 65535:
        raise typer.BadParameter(f"{value} is not a TCP port: must be 0..65535 (0: any free port)")
    return value


@sim_app.command("serve")
def sim_serve(
    port: int = typer.Option(8080, callback=lambda v: _port(v), help="Loopback port to listen on (0: any free port)."),
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback by default)."),
    seed: Optional[int] = typer.Option(None, help="Seed for markets, traders, ids and faults (default: venue.sim.seed)."),
    scenario: Optional[str] = typer.Option(None, help="calm | trending | jumpy (default: venue.sim.scenario)."),
    speed: Optional[float] = typer.Option(None, help="Simulated seconds per wall second; 0 = manual clock (POST /_sim/advance)."),
    markets: Optional[int] = typer.Option(None, help="How many markets to generate besides the captured ones."),
    depth: Optional[int] = typer.Option(None, help="Price levels a side in every simulated book (default: 4–12, drawn per market)."),
    universe: Optional[str] = typer.Option(None, help="real (drawn from the real reward universe) | generated "
                                           "(default: venue.sim.universe)."),
    faults: Optional[Path] = typer.Option(None, help="Fault plan file (JSON or YAML) applied from the start."),
    fail_rate: float = typer.Option(0.0, help="Fraction of trades that end FAILED and are reversed."),
    mined_delay: Optional[float] = typer.Option(None, help="Simulated seconds from MATCHED to MINED (default 26, the captures; --instant: 2)."),
    confirmed_delay: Optional[float] = typer.Option(None, help="Simulated seconds from MATCHED to CONFIRMED or FAILED (default 180; --instant: 6)."),
    balance_delay: Optional[float] = typer.Option(None, help="Simulated seconds before bought tokens can be sold (default 5; 0 = at once; --instant: 0)."),
    no_fees: bool = typer.Option(False, "--no-fees", help="No taker fees (and so no maker rebates)."),
    no_rebates: bool = typer.Option(False, "--no-rebates", help="No maker rebates."),
    allow_self_trades: bool = typer.Option(False, "--allow-self-trades", help="Let an account's orders match each other."),
    no_heartbeat_rotation: bool = typer.Option(False, "--no-heartbeat-rotation", help="Keep one heartbeat id per session."),
    no_weekly_restart: bool = typer.Option(False, "--no-weekly-restart",
                                           help="No scheduled matching-engine restart (Tuesdays 07:00 ET); POST /_sim/restart still works."),
    instant: bool = typer.Option(False, "--instant", help="The kind venue: no fees, self-trades, 2 s/6 s settlement, "
                                 "no balance lag, fixed heartbeat id (explicit flags still apply)."),
    deposit_wallet_accounts: bool = typer.Option(
        False, "--deposit-wallet-accounts",
        help="Accounts created from now on trade only through a deposit wallet (signature type 3), as new Polymarket accounts do."),
    no_rate_limits: bool = typer.Option(False, "--no-rate-limits", help="Disable the rate limits: per-IP throttling per endpoint family and the per-signer order/cancel buckets."),
    start_time: Optional[float] = typer.Option(None, help="Simulated unix time at start (pins timestamps for reproducible runs)."),
    config: Optional[Path] = ConfigOption,
) -> None:
    """Serve the simulated venue (CLOB REST, Gamma, Data API, WebSockets, /_sim admin) until SIGTERM."""
    from polymm.sim.faults import FaultPlanSpec
    from polymm.sim.runner import SimOptions, serve_forever

    sim_cfg = _load_config(config).venue.sim
    plan = FaultPlanSpec()
    if faults is not None:
        plan = _read_fault_plan(faults)
    try:
        options = SimOptions(
            seed=sim_cfg.seed if seed is None else seed,
            scenario=sim_cfg.scenario if scenario is None else scenario,
            speed=sim_cfg.speed if speed is None else speed,
            markets=sim_cfg.markets if markets is None else markets,
            depth=depth,
            universe=sim_cfg.universe if universe is None else universe,
            universe_file=sim_cfg.universe_file or None,
            initial_collateral_usdc=sim_cfg.initial_collateral_usdc,
            fail_rate=fail_rate,
            # an explicit --mined-delay / --confirmed-delay / --balance-delay wins over --instant's value
            mined_delay_s=mined_delay if mined_delay is not None else (2.0 if instant else 26.0),
            confirmed_delay_s=confirmed_delay if confirmed_delay is not None else (6.0 if instant else 180.0),
            balance_delay_s=balance_delay if balance_delay is not None else (0.0 if instant else 5.0),
            taker_fees=not (no_fees or instant),
            maker_rebates=not (no_fees or no_rebates or instant),
            self_trade_prevention=not (allow_self_trades or instant),
            heartbeat_rotation=not (no_heartbeat_rotation or instant),
            weekly_restart=not (no_weekly_restart or instant),
            rate_limits=not no_rate_limits,
            deposit_wallet_accounts=deposit_wallet_accounts,
            start_time=start_time,
            faults=plan,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None

    def announce(urls: dict[str, str]) -> None:
        typer.echo(f"polymm sim listening on {urls['clob_url']}", err=False)
        for name, url in urls.items():
            typer.echo(f"  {name}: {url}")
        typer.echo(f"  seed={options.seed} scenario={options.scenario} speed={options.speed} markets={options.markets} "
                   f"universe={options.universe}")
        o = options
        typer.echo(f"  fees={'on' if o.taker_fees else 'off'} rebates={'on' if o.maker_rebates else 'off'} "
                   f"self_trades={'blocked' if o.self_trade_prevention else 'allowed'} mined_delay={o.mined_delay_s:g}s "
                   f"confirmed_delay={o.confirmed_delay_s:g}s balance_delay={o.balance_delay_s:g}s "
                   f"heartbeat_rotation={'on' if o.heartbeat_rotation else 'off'} "
                   f"weekly_restart={'on' if o.weekly_restart else 'off'} rate_limits={'on' if o.rate_limits else 'off'}")

    async def main() -> None:
        task = asyncio.ensure_future(serve_forever(options, host, port, announce))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            pass

    try:
        asyncio.run(main())
    except OSError as exc:  # bind(): the port is taken, or the address is not ours
        import errno

        why = "the port is already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        raise CommandFailed(f"cannot listen on {host}:{port}: {why} — choose another --port "
                            "(or stop the process holding it)") from None


@sim_app.command("universe")
def sim_universe(
    url: Optional[str] = typer.Option(None, help="A running venue's CLOB URL (e.g. http://127.0.0.1:8080); "
                                      "without it a venue of --seed/--markets is started in-process."),
    gamma_url: Optional[str] = typer.Option(None, help="Its Gamma URL (default: URL/gamma, the simulator's)."),
    seed: Optional[int] = typer.Option(None, help="Seed of the in-process venue (default: venue.sim.seed)."),
    markets: Optional[int] = typer.Option(None, help="Markets of the in-process venue (default: venue.sim.markets)."),
    universe: Optional[str] = typer.Option(None, help="real | generated (default: venue.sim.universe)."),
    minutes: int = typer.Option(0, min=0, help="Simulated minutes the in-process venue trades before it is measured."),
    config: Optional[Path] = ConfigOption,
) -> None:
    """Print the quantiles of a venue's reward universe beside the real snapshot's, read through its public HTTP
    surface as the snapshot job read Polymarket (sampling-markets, Gamma markets, POST /books)."""
    from polymm.sim.calibration import comparison, measure_rows, measure_venue
    from polymm.sim.realdata import load_rows, snapshot_path

    if url is None:
        from polymm.sim.runner import SimOptions, SimVenue

        sim_cfg = _load_config(config).venue.sim
        try:
            options = SimOptions(seed=sim_cfg.seed if seed is None else seed, speed=0.0, rate_limits=False,
                                 markets=sim_cfg.markets if markets is None else markets,
                                 universe=sim_cfg.universe if universe is None else universe,
                                 universe_file=sim_cfg.universe_file or None)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        running = SimVenue(options)
        running.server.engine.advance(minutes * 60)  # before its thread starts: nothing else touches the engine
        with running:
            measured = measure_venue(running.urls["clob_url"], running.urls["gamma_url"])
        where = f"in-process venue: seed {options.seed}, {options.markets} markets, universe {options.universe}"
    else:
        try:
            measured = measure_venue(url, gamma_url or url.rstrip("/") + "/gamma")
        except OSError as exc:
            raise CommandFailed(f"cannot read the venue at {url}: {exc}") from None
        where = url
    lines, failures = comparison(measured, measure_rows(list(load_rows())))
    typer.echo(f"{where} against {snapshot_path()}")
    typer.echo("\n".join(lines))
    typer.echo("out of tolerance:\n  " + "\n  ".join(failures) if failures else "all within tolerance")


def _read_fault_plan(path: Path):
    import yaml
    from pydantic import ValidationError

    from polymm.sim.faults import FaultPlanSpec

    try:
        data = yaml.safe_load(path.read_text())
        return FaultPlanSpec.model_validate(data or {})
    except OSError as exc:
        raise UsageError(f"fault plan {path}: {exc.strerror or exc}") from None
    except ValidationError as exc:  # one clause per problem: where, what is allowed, what was given
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})"
                             for e in exc.errors())
        raise UsageError(f"fault plan {path} is invalid: {problems}") from None
    except (yaml.YAMLError, ValueError) as exc:
        raise UsageError(f"fault plan {path} is invalid: {exc}") from None


if __name__ == "__main__":
    app()
