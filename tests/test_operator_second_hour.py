"""What the operator's second hour met (issue 29, items 4–10), each checked on a real `polymm` process:
a stop's timeout honoured, ports and tick counts refused in one line, config mistakes named by the key
to change, paths found from any directory, and paper runs kept."""

from __future__ import annotations

import os
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from controller_support import h, wait_until

ROOT = Path(__file__).resolve().parents[1]
POLYMM = ROOT / ".venv" / "bin" / "polymm"
HEDGE_RESTS = {"POLYMM_HEDGE_SELL__MAX_BID_GAP": "0.001", "POLYMM_RISK__MIN_PROTECTION_SIZE_MULTIPLIER_HEDGE": "0"}


def run(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT, timeout: float = 90) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("POLYMM_", "POLYMARKET_"))}
    return subprocess.run([str(POLYMM), *args], cwd=cwd, env={**clean, **(env or {})}, capture_output=True,
                          text=True, timeout=timeout)


def one_line(result: subprocess.CompletedProcess, code: int) -> str:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert result.returncode == code, (result.returncode, result.stderr)
    return lines[0]


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


# --- item 4: stop --keep-hedges --timeout -------------------------------------------------------------


def test_stop_keep_hedges_gives_up_after_its_timeout_not_600_s(venue, truth, controllers):
    ctl = controllers("keep-hedges-timeout", {**HEDGE_RESTS, "POLYMM_CONTROLLER__HEARTBEAT_INTERVAL_SECONDS": "0.5"})
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    mine = [o for o in h.live_orders(truth.state(), ctl.address)
            if o["side"] == "BUY" and Decimal("0.2") <= Decimal(o["price"]) <= Decimal("0.8")]
    assert mine, ctl.log_tail()
    h.take_through(truth, mine[0], Decimal("0.5"))
    wait_until(lambda: [o for o in h.live_orders(truth.state(), ctl.address) if o["side"] == "SELL"], 20,
               "a hedge resting after the fill", ctl)
    done = ctl.run("stop", "--keep-hedges", "--timeout", "3")
    assert done.returncode == 0, done.stderr
    assert "or 3 s pass" in done.stdout, done.stdout
    assert ctl.proc.wait(30) == 0  # the hedge never sold: the loop stopped fully at its 3 s timeout
    assert "timeout with 1 hedge(s) resting" in ctl.log_tail()


# --- item 6: dashboard --port -------------------------------------------------------------------------


def test_dashboard_port_out_of_range_is_one_usage_line_exit_2() -> None:
    line = one_line(run("dashboard", "--port", "80000"), 2)
    assert line == ("usage error: Invalid value for '--port': 80000 is not a TCP port: must be 0..65535 "
                    "(0: any free port) (see polymm dashboard --help)")


# --- item 10: validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("count", ["-3", "0"])
def test_max_ticks_below_one_is_refused_before_any_tick(tmp_path: Path, count: str) -> None:
    env = {"POLYMM_LEDGER__PATH": str(tmp_path / "l.sqlite"), "POLYMM_LOGGING__DIRECTORY": str(tmp_path / "logs")}
    line = one_line(run("reconcile", "--max-ticks", count, env=env), 2)
    assert line == (f"usage error: Invalid value for '--max-ticks': {count} is not a number of ticks: must be 1 or "
                    "more (see polymm reconcile --help)")
    assert not list(tmp_path.glob("l*.sqlite"))


def test_an_unquoted_shortened_override_id_is_refused_not_padded(tmp_path: Path) -> None:
    path = config_file(tmp_path, "markets:\n  overrides:\n    0xd4e80f0665: {enabled: false}\n")
    line = one_line(run("check-config", "--config", str(path)), 2)
    assert line == ("config error: markets.overrides.0xd4e80f0665: '0xd4e80f0665' — must be a condition id: "
                    "0x followed by 64 hex digits")


def test_an_unquoted_full_override_id_still_loads(tmp_path: Path) -> None:
    full = "0x" + "0d" * 32
    path = config_file(tmp_path, f"markets:\n  overrides:\n    {full}: {{enabled: false}}\n")
    done = run("check-config", "--config", str(path))
    assert done.returncode == 0, done.stderr
    assert full in done.stdout


def test_lowering_the_total_cap_below_the_market_cap_names_the_total_cap() -> None:
    line = one_line(run("check-config", env={"POLYMM_STRATEGY__MAX_TOTAL_EXPOSURE_USDC": "20"}), 2)
    assert line == ("config error: strategy.max_total_exposure_usdc: 20 — must be ≥ "
                    "strategy.max_exposure_per_market_usdc (25): lower the per-market cap with it "
                    "(set by POLYMM_STRATEGY__MAX_TOTAL_EXPOSURE_USDC)")


def test_a_misspelt_section_suggests_the_section(tmp_path: Path) -> None:
    path = config_file(tmp_path, "strategey:\n  max_markets: 3\n")
    line = one_line(run("check-config", "--config", str(path)), 2)
    assert line == "config error: strategey: {'max_markets': 3} — unknown key: did you mean strategy?"


# --- item 7: paths and paper runs ---------------------------------------------------------------------


def paper_env(ledger: str, logs: str) -> dict[str, str]:
    return {"POLYMM_LEDGER__PATH": ledger, "POLYMM_LOGGING__DIRECTORY": logs, "POLYMM_VENUE__SIM__MARKETS": "30",
            "POLYMM_STRATEGY__MAX_MARKETS": "3"}


def test_a_relative_ledger_path_is_found_from_any_working_directory(tmp_path: Path) -> None:
    """Relative paths are under polymm's directory (where config.yaml is found), not the shell's: the loop started
    in one directory and `status` run from another read the same ledger."""
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir(), there.mkdir()
    env = paper_env(os.path.relpath(tmp_path / "var" / "paper.sqlite", ROOT), os.path.relpath(tmp_path / "logs", ROOT))
    ran = run("reconcile", "--max-ticks", "1", env=env, cwd=here, timeout=180)
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "var" / "paper-embedded.sqlite").exists() and (tmp_path / "logs").is_dir()
    status = run("status", "--json", env=env, cwd=there)
    assert status.returncode == 0, status.stderr
    assert '"last_tick": null' not in status.stdout


def test_a_paper_run_keeps_the_previous_runs_ledger(tmp_path: Path) -> None:
    env = paper_env(str(tmp_path / "paper.sqlite"), str(tmp_path / "logs"))
    for _ in range(2):
        ran = run("reconcile", "--max-ticks", "1", env=env, timeout=180)
        assert ran.returncode == 0, ran.stderr
    [kept] = tmp_path.glob("paper-embedded-*Z.sqlite")
    assert (tmp_path / "paper-embedded.sqlite").exists()
    report = run("report", "--ledger", str(kept), "--out", str(tmp_path / "report"), env=env, timeout=180)
    assert report.returncode == 0, report.stderr
    import re

    page = (tmp_path / "report" / "report.html").read_text()
    assert not re.findall(r'<span class="[a-z]*">-?[\d,]+\.\d{3,}</span>', page)  # money to the cent (item 9)
    assert not re.search(r"\b\d+\.\d{4}\b", report.stdout)
    ran = run("reconcile", "--max-ticks", "1", env={**env, "POLYMM_LEDGER__KEEP_PAPER_RUNS": "0"}, timeout=180)
    assert ran.returncode == 0, ran.stderr
    assert not list(tmp_path.glob("paper-embedded-*Z.sqlite"))  # asked: none kept


# --- item 5: the path to real money -------------------------------------------------------------------

A_KEY = "0x" + "3c" * 32


def remote(tmp_path: Path, url: str, **extra: str) -> dict[str, str]:
    return {"POLYMM_VENUE__MODE": "remote", "POLYMM_VENUE__CLOB_URL": url, "POLYMM_VENUE__REQUEST_TIMEOUT_SECONDS": "3",
            "POLYMM_LEDGER__PATH": str(tmp_path / "l.sqlite"), "POLYMM_LOGGING__DIRECTORY": str(tmp_path / "logs"),
            "POLYMARKET_PRIVATE_KEY": A_KEY, **extra}


def test_keys_with_a_safe_wallet_and_no_funder_says_what_check_config_says(venue, tmp_path: Path) -> None:
    """Signature type 2 trades through a contract wallet: `keys` shows the signer's key but never passes the signer
    off as the funder; it prints the same FAIL funder line as `check-config --remote` and exits 1."""
    env = remote(tmp_path, venue.url, POLYMM_VENUE__SIGNATURE_TYPE="2")
    keys = run("keys", "--create", env=env)
    assert keys.returncode == 1, keys.stderr
    assert "funder NOT SET" in keys.stdout and "api key" in keys.stdout, keys.stdout
    [fail] = [line for line in keys.stdout.splitlines() if line.startswith("FAIL")]
    assert fail.startswith("FAIL funder: venue.signature_type 2 (POLY_GNOSIS_SAFE) trades through a contract wallet")
    assert one_line(keys, 1).endswith(fail[len("FAIL funder: "):])
    checked = run("check-config", "--remote", env=env)
    assert fail in checked.stdout.splitlines(), checked.stdout


def test_keys_against_an_unreachable_venue_names_the_url_and_the_cause(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    line = one_line(run("keys", env=remote(tmp_path, f"http://127.0.0.1:{port}")), 1)
    assert "Request exception" not in line
    assert line.endswith(f"no reply from http://127.0.0.1:{port}/auth/derive-api-key: [Errno 111] Connection refused")


# --- item 3: where to install polymm for the unit -----------------------------------------------------


def protect_home(command: str) -> subprocess.CompletedProcess:
    """`command` with /root and /home hidden, as the unit's ProtectHome=true hides them (empty and inaccessible)."""
    inner = "mount -t tmpfs -o mode=000 tmpfs /root && mount -t tmpfs -o mode=000 tmpfs /home && " + command
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", inner], capture_output=True,
                          text=True, timeout=120)


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/unshare").exists() or not Path("/usr/bin/python3.11").exists(),
                    reason="needs root, unshare and a system Python 3.11")
def test_under_protect_home_a_venv_needs_a_python_outside_root_and_home(tmp_path: Path) -> None:
    """docs/GOING-LIVE.md: a venv's python is a link to the Python it was built on; one under /root (pyenv, uv) is
    hidden from the unit, one built on the system's /usr/bin/python3.11 is not."""
    if os.path.realpath(ROOT / ".venv" / "bin" / "python").startswith(("/root/", "/home/")):
        hidden = protect_home(f"{ROOT / '.venv' / 'bin' / 'polymm'} --version")
        assert hidden.returncode != 0  # the interpreter behind the script is gone: the unit could never start
    venv = tmp_path / "venv"
    subprocess.run(["/usr/bin/python3.11", "-m", "venv", str(venv)], check=True, timeout=120)
    # polymm and its dependencies as installed in the repository's venv (pure Python and cp311 wheels)
    (venv / "lib" / "python3.11" / "site-packages" / "polymm-dev.pth").write_text(
        f"import site; site.addsitedir({str(ROOT / '.venv' / 'lib' / 'python3.11' / 'site-packages')!r})\n")
    seen = protect_home(f"{venv / 'bin' / 'python'} -c 'import sys; from polymm.cli import app; "
                        "sys.argv = [\"polymm\", \"--version\"]; app()'")
    assert seen.returncode == 0 and seen.stdout.startswith("polymm "), seen.stderr


# --- item 9: positions named by market (the views' numbers: tests/test_operator_views.py) -------------


def test_stop_names_the_positions_it_leaves_unhedged_by_market_and_outcome(venue, truth, controllers):
    ctl = controllers("stop-names", HEDGE_RESTS)
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    mine = [o for o in h.live_orders(truth.state(), ctl.address)
            if o["side"] == "BUY" and Decimal("0.2") <= Decimal(o["price"]) <= Decimal("0.8")]
    assert mine, ctl.log_tail()
    h.take_through(truth, mine[0], Decimal("0.5"))
    wait_until(lambda: [o for o in h.live_orders(truth.state(), ctl.address) if o["side"] == "SELL"], 20,
               "a hedge resting after the fill", ctl)
    done = ctl.run("stop", timeout=90)
    assert done.returncode == 0, done.stderr
    [line] = [x for x in done.stdout.splitlines() if x.startswith("positions left unhedged (1): ")]
    from polymm.ledger import Ledger
    from polymm.text import catalog

    with Ledger(ctl.ledger_path) as ledger:
        names = catalog.parse(ledger.get_cursor(catalog.CURSOR))
    question = next(m.question for m in names.values() if mine[0]["asset_id"] in m.outcomes)
    assert question[:30] in line and mine[0]["asset_id"][:16] not in line, line
    assert line.endswith(" shares") and " — " in line
