"""The operator's controls on a running loop: `stop`, `pause`, `resume`, `reload`, `cancel --all`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.text import Text

from polymm.cli.app import (
    CommandFailed,
    ConfigOption,
    command_config,
    command_secrets,
    setup_command_logging,
    app,
    console,
)


def running_loop(cfg):
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
    owner = running_loop(cfg)
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

    cfg = command_config(config)
    path = ledger_path_for(cfg)
    owner = running_loop(cfg)
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

    secrets = command_secrets()
    setup_command_logging(cfg, secrets)
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
    cfg = command_config(config)
    _answer(_ask_loop(_need_loop(cfg, "pause"), "pause"))


@app.command("resume")
def resume_cmd(config: Optional[Path] = ConfigOption) -> None:
    """Quoting (and hedging, after cancel --all) back on for the running loop."""
    cfg = command_config(config)
    _answer(_ask_loop(_need_loop(cfg, "resume"), "resume"))


@app.command("reload")
def reload_cmd(config: Optional[Path] = ConfigOption) -> None:
    """The running loop re-reads its config.yaml (and its environment's POLYMM_* keys), validates it and applies
    it, or refuses with the errors (venue, ledger, logging and orderbook_service changes need a restart)."""
    cfg = command_config(config)  # the same problems, one per line, before asking the loop
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
    cfg = command_config(config)
    owner = running_loop(cfg)
    if owner is not None:
        _answer(_ask_loop(owner, "cancel_all"))
        return
    if cfg.venue.mode == "embedded-sim":
        typer.echo("no polymm loop is running: the embedded venue stopped with it, so no order rests there")
        return
    with open_session(cfg, command_secrets()) as session:
        outcome = session.trading.cancel_all()
    if not isinstance(outcome, Ok):
        raise CommandFailed(f"cancel-all failed: {outcome.reason}")
    typer.echo(f"cancelled {len(outcome.value.get('canceled', []))} order(s)")
