"""Commands that check and set up the account: `check-config` and `keys`."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

from polymm.cli.app import (
    CommandFailed,
    ConfigOption,
    command_config,
    command_secrets,
    app,
)


@app.command("check-config")
def check_config(
    config: Optional[Path] = ConfigOption,
    remote: bool = typer.Option(False, "--remote", help="Also check the account against the venue before the first "
                                "order: API key, funder and signature type, balance, allowances (one line each)."),
) -> None:
    """Validate the configuration and print it (secrets are never printed); with --remote, check the account too."""
    cfg = command_config(config)
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
    import logging

    from polymm.config import ConfigError
    from polymm.controller.endpoints import venue_endpoints
    from polymm.venue.trading import TradingGateway

    # the SDK logs every non-200 reply (a fresh wallet's derive is one); the findings say it in one line
    logging.getLogger("polymarket").setLevel(logging.CRITICAL)
    if cfg.venue.mode != "remote":
        raise ConfigError(["venue.mode: 'embedded-sim' — the account commands talk to a real venue: set venue.mode: "
                           "remote and its URLs (e.g. POLYMM_VENUE__MODE=remote)"])
    secrets = command_secrets()
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
    from polymm.venue.account import (
        SIGNATURE_TYPES,
        credentials,
        redact,
        signer_address,
        wallet_findings,
    )

    cfg = command_config(config)
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
