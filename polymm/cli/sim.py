"""`polymm sim`: the simulated venue as its own process (`serve`) and its universe beside the real one (`universe`)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Optional

import typer
from typer._click.exceptions import (  # typer vendors its click (pinned)
    UsageError,
)

from polymm.cli.app import (
    CommandFailed,
    ConfigOption,
    command_config,
    tcp_port,
    sim_app,
)


@sim_app.command("serve")
def sim_serve(
    port: int = typer.Option(8080, callback=lambda v: tcp_port(v), help="Loopback port to listen on (0: any free port)."),
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

    sim_cfg = command_config(config).venue.sim
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

        sim_cfg = command_config(config).venue.sim
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
