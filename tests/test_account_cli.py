"""First run on a real account, against `polymm sim serve` as its own process: a fresh wallet's `polymm plan`
names the next command, `polymm keys` creates or shows the API key (redacted), and
`polymm check-config --remote` checks keys, funder, signature type, balance and allowances."""

from __future__ import annotations

import os

import pytest
from py_clob_client_v2.client import ClobClient

from controller_support import h


@pytest.fixture(scope="module")
def served():
    with h.VenueProcess(seed=3, speed=0, markets=20) as venue:
        yield venue


@pytest.fixture
def wallet(served, tmp_path):
    """A fresh wallet (no API key at the venue yet) and a runner of polymm commands for it."""
    key = "0x" + os.urandom(32).hex()
    ctl = h.ControllerProcess(served.url, key, tmp_path / "fresh")
    return ctl


def lines(done) -> list[str]:
    return [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


def test_plan_on_a_fresh_wallet_exits_naming_the_command_that_creates_its_api_key(served, wallet):
    done = wallet.run("plan")
    assert done.returncode == 1
    assert lines(done) == [
        f"error: this wallet has no API key at {served.url} yet (the venue answered \"Could not derive api key!\"); "
        "run `polymm keys --create` to create it, then `polymm plan` again"]
    assert "Traceback" not in done.stderr
    created = wallet.run("keys", "--create")
    assert created.returncode == 0, created.stderr
    assert wallet.run("plan", "--json").returncode == 0  # the command it named was the right one


def test_keys_creates_then_shows_the_credentials_redacted(served, wallet):
    shown = wallet.run("keys")
    assert shown.returncode == 1
    assert "run `polymm keys --create` to create it" in shown.stderr
    created = wallet.run("keys", "--create")
    assert created.returncode == 0, created.stderr
    creds = ClobClient(served.url, chain_id=137, key=wallet.key).derive_api_key()  # the venue has it now
    assert f"api key    {creds.api_key[:8]}…  created now" in created.stdout
    again = wallet.run("keys")
    assert again.returncode == 0
    assert f"api key    {creds.api_key[:8]}…  derived from the wallet (it exists)" in again.stdout
    assert f"wallet     {wallet.address} (signer)" in again.stdout
    for out in (created.stdout + created.stderr, again.stdout + again.stderr):
        assert creds.api_key not in out and creds.api_secret not in out and creds.api_passphrase not in out
        assert wallet.key[2:] not in out
    pinned = wallet.run("keys", "--show-secrets")
    assert pinned.returncode == 0
    assert f"POLYMARKET_API_SECRET={creds.api_secret}" in pinned.stdout.splitlines()


def test_check_config_remote_reports_one_line_per_problem_until_the_account_is_ready(served, wallet):
    fresh = wallet.run("check-config", "--remote")
    assert fresh.returncode == 1
    assert fresh.stdout.splitlines() == [
        f"ok   wallet: signer {wallet.address} trades for itself (signature type 0, EOA)",
        f"ok   venue: {served.url} reachable",
        "FAIL api key: this wallet has no API key yet (400: Could not derive api key!): run `polymm keys --create` "
        "to create it",
    ]
    assert fresh.stderr.strip() == f"error: 1 problem(s) found at {served.url}: fix them before the first order"
    assert wallet.run("keys", "--create").returncode == 0
    ready = wallet.run("check-config", "--remote")
    assert ready.returncode == 0, ready.stdout + ready.stderr
    assert [line.split(":")[0] for line in ready.stdout.splitlines()[:-1]] == \
        ["ok   wallet", "ok   venue", "ok   api key", "ok   balance", "ok   allowances"]
    assert "1000.00 USDC collateral" in ready.stdout

    other = "0x" + "12" * 20
    eoa_with_funder = wallet.run("check-config", "--remote", env={"POLYMARKET_FUNDER": other})
    assert eoa_with_funder.returncode == 1
    assert [l for l in eoa_with_funder.stdout.splitlines() if l.startswith("FAIL")] == [
        f"FAIL funder: POLYMARKET_FUNDER is {other}, but venue.signature_type 0 (EOA) trades from the signer "
        f"{wallet.address} itself: unset POLYMARKET_FUNDER, or set venue.signature_type to 1, 2 or 3 for a proxy, "
        "safe or deposit wallet"]
    safe_without_funder = wallet.run("check-config", "--remote", env={"POLYMM_VENUE__SIGNATURE_TYPE": "2"})
    assert [l for l in safe_without_funder.stdout.splitlines() if l.startswith("FAIL")] == [
        "FAIL funder: venue.signature_type 2 (POLY_GNOSIS_SAFE) trades through a contract wallet: set "
        "POLYMARKET_FUNDER to its address (the one Polymarket shows on your profile)",
        # the venue answers the balance of the signer's safe (signature_type=2), and it has none deployed
        "FAIL balance: no collateral at the venue (0 USDC): deposit USDC to the funder address first"]
    wrong_creds = wallet.run("check-config", "--remote", env={"POLYMARKET_API_KEY": "00000000-0000-0000-0000-000000000000",
                                                              "POLYMARKET_API_SECRET": "c2VjcmV0",
                                                              "POLYMARKET_API_PASSPHRASE": "nope"})
    assert wrong_creds.returncode == 1
    assert any(l.startswith("FAIL api key: POLYMARKET_API_KEY/SECRET/PASSPHRASE were refused (401")
               for l in wrong_creds.stdout.splitlines()), wrong_creds.stdout


def test_check_config_remote_flags_an_unfunded_account(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYMM_VENUE__SIM__INITIAL_COLLATERAL_USDC", "0")
    with h.VenueProcess(seed=4, speed=0, markets=5) as venue:
        ctl = h.ControllerProcess(venue.url, "0x" + os.urandom(32).hex(), tmp_path / "poor")
        assert ctl.run("keys", "--create").returncode == 0
        done = ctl.run("check-config", "--remote")
    assert done.returncode == 1
    assert [l for l in done.stdout.splitlines() if l.startswith("FAIL")] == [
        "FAIL balance: no collateral at the venue (0 USDC): deposit USDC to the signer address first"]


def test_account_commands_refuse_the_embedded_simulator_with_a_config_error(tmp_path):
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYMM_", "POLYMARKET_"))}
    done = subprocess.run([h.POLYMM, "keys"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("config error: venue.mode: 'embedded-sim' — the account commands talk to a real venue")
