"""Commands that read and show: `markets`, `status`, `fills` and `dashboard`."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.text import Text
from typer._click.exceptions import (  # typer vendors its click (pinned)
    UsageError,
)

from polymm.cli.app import (
    CommandFailed,
    ConfigOption,
    command_config,
    tcp_port,
    app,
    console,
)
from polymm.text.format import make_console


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

    cfg = command_config(config)
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



@app.command("status")
def status_cmd(
    config: Optional[Path] = ConfigOption,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    watch: bool = typer.Option(False, "--watch", help="Refresh in place every second until Ctrl-C."),
) -> None:
    """Inspect the ledger (safe while the loop runs): health, orders, positions, exposure, fills, rewards."""
    from polymm.controller.session import ledger_path_for
    from polymm.views.status import gather_status, render_status

    cfg = command_config(config)
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

    cfg = command_config(config)
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
    port: int = typer.Option(8765, callback=lambda v: tcp_port(v), help="Port to listen on (0: any free port)."),
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback by default; the page is read-only but shows your book)."),
) -> None:
    """A live read-only web dashboard from the ledger (safe while the loop runs).

    Health, markets with our quotes and the reward band, positions and hedges, exposure against the caps,
    P&L and reward charts; plain HTML and SVG, no CDN, works offline."""
    from polymm.controller.session import ledger_path_for
    from polymm.views.dashboard import make_server

    cfg = command_config(config)
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
