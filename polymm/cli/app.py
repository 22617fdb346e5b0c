"""The command line's frame: the app, the mapping of every expected failure to its lines and exit code, and
what every command shares (loading the configuration, the secrets, logging)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from typer import Abort
from typer._click.exceptions import (  # typer vendors its click (pinned)
    ClickException,
    UsageError,
)
from typer.core import TyperGroup

from polymm.text.format import make_console, visible

EXIT_RUNTIME = 1  # an outage or a fault at run time: worth retrying (systemd restarts it)
EXIT_CONFIG = 2   # bad configuration or usage: retrying cannot help (deploy/polymm.service does not restart it)


class CommandFailed(Exception):
    """A runtime fault a command reports as one line (exit 1): the message says what failed and why."""


def failure_lines(exc: BaseException) -> tuple[int, list[str]] | None:
    """The one place that maps an error type to its stderr lines and exit code; None for a bug (traceback)."""
    from polymm.config import ConfigError
    from polymm.controller.control import ControlError
    from polymm.controller.lock import AlreadyRunning, UnsafeRuntimePath
    from polymm.controller.session import SessionError
    from polymm.venue.gateway import VenueUnavailable

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
    from polymm.ledger import SQLITE_ERRORS
    from polymm.marketdata.store import STORE_ERRORS

    if isinstance(exc, SQLITE_ERRORS):
        return EXIT_RUNTIME, [f"ledger error: {exc}"]
    if isinstance(exc, STORE_ERRORS):
        return EXIT_RUNTIME, [f"redis error: {exc}"]
    return None


# the commands in the order `polymm --help` lists them: running it, watching it, steering it, research, the venue
COMMAND_ORDER = ("check-config", "keys", "markets", "plan", "reconcile", "status", "fills", "dashboard", "stop",
                 "pause", "resume", "reload", "cancel", "data-service", "backtest", "report", "sim")


class PolymmGroup(TyperGroup):
    """Runs a command and turns every expected failure into its lines on stderr and its exit code."""

    def list_commands(self, ctx):  # type: ignore[override]
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: COMMAND_ORDER.index(n) if n in COMMAND_ORDER else len(COMMAND_ORDER))

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


def command_config(path: Optional[Path]):
    """Validate the configuration once; a bad value is a ConfigError (exit 2, one line per problem)."""
    from polymm.config import load_config

    return load_config(path)



def command_secrets():
    from polymm.config import load_secrets

    return load_secrets()


def setup_command_logging(cfg, secrets=None, console: bool = True) -> None:
    """Logging for a long-running command; an unwritable log directory is a configuration error."""
    from polymm.config import under_install_dir
    from polymm.controller.session import writable_directory
    from polymm.logs import setup_logging

    writable_directory(under_install_dir(Path(cfg.logging.directory)), "logging.directory", cfg.logging.directory)
    setup_logging(cfg, secret_values(secrets) if secrets is not None else (), console=console)


def secret_values(secrets) -> tuple[str, ...]:
    return tuple(v.get_secret_value() for v in (secrets.private_key, secrets.api_key, secrets.api_secret,
                                                 secrets.api_passphrase) if v is not None)


def tcp_port(value: int) -> int:
    if not 0 <= value <= 65535:
        raise typer.BadParameter(f"{value} is not a TCP port: must be 0..65535 (0: any free port)")
    return value
