"""The `polymm` command line: the simulated venue today; the controller commands land beside it."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

app = typer.Typer(no_args_is_help=True, add_completion=False, help="polymm — a reconciliation market maker for Polymarket liquidity rewards.")
sim_app = typer.Typer(no_args_is_help=True, help="The simulated Polymarket venue (paper trading, demos, tests).")
app.add_typer(sim_app, name="sim")
console = Console(stderr=True)

ConfigOption = typer.Option(None, "--config", help="Path of config.yaml (default: the repository's config.yaml).")


def _load_config(path: Optional[Path]):
    """Validate the configuration once; a bad value exits 2 with one line per problem."""
    from polymm.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        for line in exc.problems:
            typer.echo(f"config error: {line}", err=True)
        raise typer.Exit(2) from None


@app.command("check-config")
def check_config(config: Optional[Path] = ConfigOption) -> None:
    """Validate the configuration and print it (secrets are never printed)."""
    cfg = _load_config(config)
    typer.echo(json.dumps(cfg.model_dump(mode="json"), indent=2))


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
    from polymm.venue.gateway import VenueGateway, VenueUnavailable
    from polymm.views import print_selection, selection_json

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
        except VenueUnavailable as exc:
            console.print(f"[red]venue unavailable:[/red] {exc}")
            raise typer.Exit(1) from None
        finally:
            gateway.close()
    selection = select_markets(markets, books, params, datetime.now(timezone.utc))
    if as_json:
        typer.echo(json.dumps(selection_json(selection, show_all, problems), indent=2))
    else:
        print_selection(Console(), selection, show_all, problems)


def _load_secrets():
    from polymm.config import ConfigError, load_secrets

    try:
        return load_secrets()
    except ConfigError as exc:
        for line in exc.problems:
            typer.echo(f"config error: {line}", err=True)
        raise typer.Exit(2) from None


def _secret_values(secrets) -> tuple[str, ...]:
    return tuple(v.get_secret_value() for v in (secrets.private_key, secrets.api_key, secrets.api_secret,
                                                 secrets.api_passphrase) if v is not None)


@app.command("plan")
def plan_cmd(
    config: Optional[Path] = ConfigOption,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Dry run: observe the venue, compute the desired state, plan and gate — list what the next tick would
    do and why. Sends nothing to the venue and writes nothing to the ledger."""
    from polymm.controller.session import SessionError, open_session

    from polymm.logs import setup_logging

    cfg = _load_config(config)
    secrets = _load_secrets()
    setup_logging(cfg, _secret_values(secrets), console=False)
    try:
        with open_session(cfg, secrets, dry_run=True) as session:
            observed = session.controller.observe(rescan=True)
            decision = session.controller.decide(observed, dry_run=True)
    except SessionError as exc:
        console.print(f"[red]cannot plan:[/red] {exc}")
        raise typer.Exit(1) from None
    from polymm.views import plan_json, print_plan

    if as_json:
        typer.echo(json.dumps(plan_json(decision), indent=2))
    else:
        print_plan(Console(), decision)


@app.command("reconcile")
def reconcile_cmd(
    config: Optional[Path] = ConfigOption,
    loop: bool = typer.Option(False, "--loop", help="Run as a service: tick until SIGTERM/SIGINT."),
    max_ticks: Optional[int] = typer.Option(None, help="Stop after this many ticks (demos and tests)."),
) -> None:
    """Reconcile the venue with the desired state: one tick, or with --loop the service (systemd runs this)."""
    import threading

    from polymm.controller.loop import Service
    from polymm.controller.session import SessionError, open_session
    from polymm.logs import setup_logging

    cfg = _load_config(config)
    secrets = _load_secrets()
    setup_logging(cfg, _secret_values(secrets))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        with open_session(cfg, secrets) as session:
            service = Service(session, stop)
            if max_ticks is not None:
                _stop_after(service, max_ticks, stop)
            code = service.run(loop=loop or max_ticks is not None)
    except SessionError as exc:
        console.print(f"[red]cannot start:[/red] {exc}")
        raise typer.Exit(1) from None
    raise typer.Exit(code)


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
    from polymm.status import gather_status, render_status

    cfg = _load_config(config)
    path = ledger_path_for(cfg)
    if not path.exists():
        console.print(f"[yellow]no ledger at {path}[/yellow]: polymm has not run with this configuration yet")
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(gather_status(cfg, path), indent=2, default=str))
        return
    if not watch:
        Console().print(render_status(gather_status(cfg, path)))
        return
    import time

    from rich.live import Live

    with Live(render_status(gather_status(cfg, path)), refresh_per_second=2, screen=False) as live:
        try:
            while True:
                time.sleep(1)
                live.update(render_status(gather_status(cfg, path)))
        except KeyboardInterrupt:
            pass


@app.command("stop")
def stop_cmd(config: Optional[Path] = ConfigOption) -> None:
    """Cancel our buy quotes at the venue and exit (the original --stop mode); hedge sells stay."""
    from polymm.controller.loop import Service
    from polymm.controller.session import SessionError, open_session
    from polymm.logs import setup_logging

    cfg = _load_config(config)
    secrets = _load_secrets()
    setup_logging(cfg, _secret_values(secrets))
    try:
        with open_session(cfg, secrets) as session:
            service = Service(session, use_user_channel=False)
            session.controller.record_observation(session.controller.observe(rescan=False))
            report = service._cancel_quotes("polymm stop")
    except SessionError as exc:
        console.print(f"[red]cannot stop:[/red] {exc}")
        raise typer.Exit(1) from None
    typer.echo(f"cancelled {report.cancels_confirmed} buy quote(s)")


@app.command("cancel")
def cancel_cmd(
    config: Optional[Path] = ConfigOption,
    all_orders: bool = typer.Option(False, "--all", help="Cancel EVERY order on the account, polymm's or not."),
) -> None:
    """Cancel every order on the account (only with --all, an explicit operator command)."""
    from polymm.controller.session import SessionError, open_session
    from polymm.venue.outcomes import Ok

    if not all_orders:
        console.print("[red]refusing:[/red] `polymm cancel` cancels every order on the account; say so with --all")
        raise typer.Exit(2)
    cfg = _load_config(config)
    try:
        with open_session(cfg, _load_secrets()) as session:
            outcome = session.trading.cancel_all()
    except SessionError as exc:
        console.print(f"[red]cannot cancel:[/red] {exc}")
        raise typer.Exit(1) from None
    if not isinstance(outcome, Ok):
        console.print(f"[red]cancel-all failed:[/red] {outcome.reason}")
        raise typer.Exit(1)
    typer.echo(f"cancelled {len(outcome.value.get('canceled', []))} order(s)")


@app.command("data-service")
def data_service_cmd(config: Optional[Path] = ConfigOption) -> None:
    """Keep reward markets, order books and volatility fresh in Redis for one or many controllers."""
    import threading

    from polymm.controller.endpoints import venue_endpoints
    from polymm.controller.session import redis_url
    from polymm.logs import setup_logging
    from polymm.marketdata.service import DataService
    from polymm.marketdata.store import RedisStore
    from polymm.venue.gateway import VenueGateway

    cfg = _load_config(config)
    setup_logging(cfg)
    svc = cfg.orderbook_service
    store = RedisStore.from_url(redis_url(cfg), svc.redis_key_prefix)
    try:
        store.r.ping()
    except Exception as exc:
        console.print(f"[red]cannot reach Redis at {redis_url(cfg)}:[/red] {exc}")
        raise typer.Exit(1) from None
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


@sim_app.command("serve")
def sim_serve(
    port: int = typer.Option(8080, help="Loopback port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback by default)."),
    seed: Optional[int] = typer.Option(None, help="Seed for markets, traders, ids and faults (default: venue.sim.seed)."),
    scenario: Optional[str] = typer.Option(None, help="calm | trending | jumpy (default: venue.sim.scenario)."),
    speed: Optional[float] = typer.Option(None, help="Simulated seconds per wall second; 0 = manual clock (POST /_sim/advance)."),
    markets: Optional[int] = typer.Option(None, help="How many markets to generate besides the captured ones."),
    faults: Optional[Path] = typer.Option(None, help="Fault plan file (JSON or YAML) applied from the start."),
    fail_rate: float = typer.Option(0.0, help="Fraction of trades that end FAILED and are reversed."),
    mined_delay: float = typer.Option(2.0, help="Simulated seconds from MATCHED to MINED."),
    confirmed_delay: float = typer.Option(6.0, help="Simulated seconds from MATCHED to CONFIRMED (or FAILED)."),
    no_rate_limits: bool = typer.Option(False, "--no-rate-limits", help="Disable the per-signer token buckets."),
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
            initial_collateral_usdc=sim_cfg.initial_collateral_usdc,
            fail_rate=fail_rate,
            mined_delay_s=mined_delay,
            confirmed_delay_s=confirmed_delay,
            rate_limits=not no_rate_limits,
            start_time=start_time,
            faults=plan,
        )
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None

    def announce(urls: dict[str, str]) -> None:
        typer.echo(f"polymm sim listening on {urls['clob_url']}", err=False)
        for name, url in urls.items():
            typer.echo(f"  {name}: {url}")
        typer.echo(f"  seed={options.seed} scenario={options.scenario} speed={options.speed} markets={options.markets}")

    async def main() -> None:
        task = asyncio.ensure_future(serve_forever(options, host, port, announce))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            pass

    asyncio.run(main())


def _read_fault_plan(path: Path):
    import yaml

    from polymm.sim.faults import FaultPlanSpec

    try:
        data = yaml.safe_load(path.read_text())
        return FaultPlanSpec.model_validate(data or {})
    except FileNotFoundError:
        console.print(f"[red]error:[/red] fault plan {path} does not exist")
    except (yaml.YAMLError, ValueError) as exc:
        console.print(f"[red]error:[/red] fault plan {path} is invalid: {exc}")
    raise typer.Exit(2)


if __name__ == "__main__":
    app()
