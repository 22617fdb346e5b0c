"""The `polymm` command line: the app (cli/app.py) and its commands, one module a group.

Importing this package registers every command on `app`; `polymm = "polymm.cli:app"` (pyproject.toml) and
`python -m polymm.cli` run it."""

from polymm.cli.app import app
from polymm.cli import account, control, service, sim, views  # noqa: F401  (each registers its commands)
from polymm.cli.app import secret_values  # noqa: F401  (the redaction list, for tests/helpers/log_secrets.py)


def _register_economics() -> None:
    from polymm.backtest.commands import register
    from polymm.cli.app import ConfigOption, command_config

    register(app, command_config, ConfigOption)


_register_economics()

__all__ = ["app"]
