"""`polymm backtest` and `polymm report`: run a lock-step backtest and write its report, or report on a ledger."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

console = Console(stderr=True)


def register(app: typer.Typer, load_config, config_option) -> None:
    @app.command("backtest")
    def backtest_cmd(
        scenario: str = typer.Option("calm", help="Price behaviour: calm | trending | jumpy."),
        hours: float = typer.Option(24.0, help="Simulated hours to run (> 0)."),
        seed: int = typer.Option(1, help="Seed of the simulated market and traders; the same seed gives the same report."),
        markets: int = typer.Option(10, help="Simulated reward markets besides the captured ones (drawn from the real "
                                    "universe; venue.sim.universe: generated for the old generator)."),
        tick: float = typer.Option(5.0, "--tick", help="Simulated seconds between controller ticks (1–9); a fill wakes it at once."),
        out: Path = typer.Option(..., "--out", help="Directory for report.json, report.html and the run's ledger."),
        config: Optional[Path] = config_option,
    ) -> None:
        """Run the real controller against the simulated venue in lock-step time and write the economics report."""
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from polymm.backtest.lockstep import BacktestError, BacktestOptions, run_backtest
        from polymm.backtest.report import build_report, write_report
        from polymm.sim.traders import SCENARIOS

        if scenario not in SCENARIOS:
            console.print(f"[red]bad --scenario {scenario!r}[/red]: allowed {', '.join(SCENARIOS)}")
            raise typer.Exit(2)
        try:
            options = BacktestOptions(scenario=scenario, hours=hours, seed=seed, markets=markets, tick_s=tick)
        except ValueError as exc:
            console.print(f"[red]bad option:[/red] {exc}")
            raise typer.Exit(2) from None
        cfg = load_config(config)
        logging.basicConfig(level=logging.ERROR)
        logging.getLogger("polymarket").setLevel(logging.CRITICAL)  # the SDK's own lines for refusals
        started = time.monotonic()
        total = hours * 3600
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[sim]}"),
                      TimeElapsedColumn(), console=console) as progress:
            task = progress.add_task(f"backtest {scenario} seed {seed}", total=total, sim="")

            def on_progress(done: float) -> None:
                progress.update(task, completed=done, sim=f"{done / 3600:5.1f} / {hours:g} h simulated")

            try:
                record = run_backtest(cfg, options, out, on_progress)
            except BacktestError as exc:
                console.print(f"[red]backtest failed:[/red] {exc}")
                raise typer.Exit(1) from None
            progress.update(task, completed=total)
        report = build_report(record)
        json_path, html_path = write_report(report, out)
        _print_totals(report)
        console.print(f"{json_path}\n{html_path}\n(wall time {time.monotonic() - started:.0f} s)")

    @app.command("report")
    def report_cmd(
        ledger: Optional[Path] = typer.Option(None, "--ledger", help="Ledger file (default: the configured ledger.path)."),
        out: Path = typer.Option(..., "--out", help="Directory for report.json and report.html."),
        config: Optional[Path] = config_option,
    ) -> None:
        """Write the economics report (JSON and HTML) for the fills and ticks recorded in a live or paper ledger."""
        from polymm.backtest.from_ledger import record_from_ledger
        from polymm.backtest.report import build_report, write_report
        from polymm.controller.session import ledger_path_for

        cfg = load_config(config)
        path = ledger or ledger_path_for(cfg)
        if not path.exists():
            console.print(f"[red]no ledger at {path}[/red]: give --ledger PATH of a ledger polymm has written")
            raise typer.Exit(1)
        record = record_from_ledger(path, cfg)
        report = build_report(record)
        report["source"] = {"ledger": str(path), "note": record.final.get("note", "")}
        json_path, html_path = write_report(report, out)
        _print_totals(report)
        console.print(f"{json_path}\n{html_path}")


def _print_totals(report: dict) -> None:
    from rich.table import Table

    t = report["totals"]
    table = Table(title="economics (USDC)")
    for col in ("rewards", "rebates", "fees", "trading P&L", "net", "fills", "expected", "paid/expected"):
        table.add_column(col, justify="right")
    poe = t.get("paid_over_expected")
    # money to the cent, as every view writes it (report.json keeps the exact figures)
    table.add_row(*(f"{round(t[k], 2) + 0.0:,.2f}" for k in ("rewards", "rebates", "fees", "trading_pnl", "net")), str(t["fills"]),
                  f"{t['expected_rewards']:,.2f}", "—" if poe is None else f"{poe:.2f}")
    Console().print(table)
