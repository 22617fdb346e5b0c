"""Every bad input the operator's first hour met gets one line on stderr and the right exit code
(2: configuration or usage, 1: a runtime fault), never a traceback. Real `polymm` processes."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
POLYMM = ROOT / ".venv" / "bin" / "polymm"
UNIT = ROOT / "deploy" / "polymm.service"
A_KEY = "0x" + "3c" * 32


def run(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("POLYMM_", "POLYMARKET_"))}
    return subprocess.run([str(POLYMM), *args], cwd=cwd, env={**clean, **(env or {})}, capture_output=True,
                          text=True, timeout=timeout)


def one_line(result: subprocess.CompletedProcess, code: int) -> str:
    """The single stderr line of a failed command; asserts its exit code and that no traceback was shown."""
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert result.returncode == code, (result.returncode, result.stderr)
    return lines[0]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def remote_env(tmp_path: Path, clob_url: str, **extra: str) -> dict[str, str]:
    return {"POLYMM_VENUE__MODE": "remote", "POLYMM_VENUE__CLOB_URL": clob_url,
            "POLYMM_VENUE__REQUEST_TIMEOUT_SECONDS": "3", "POLYMM_LEDGER__PATH": str(tmp_path / "ledger.sqlite"),
            "POLYMM_LOGGING__DIRECTORY": str(tmp_path / "logs"), **extra}


def test_sim_serve_on_a_port_in_use_is_one_line_exit_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line(run("sim", "serve", "--port", str(port)), 1)
    assert line == (f"error: cannot listen on 127.0.0.1:{port}: the port is already in use — choose another --port "
                    "(or stop the process holding it)")


def test_sim_serve_port_out_of_range_is_a_usage_error() -> None:
    line = one_line(run("sim", "serve", "--port", "80000"), 2)
    assert line == ("usage error: Invalid value for '--port': 80000 is not a TCP port: must be 0..65535 (0: any free port) "
                    "(see polymm sim serve --help)")


def test_unwritable_ledger_path_is_a_config_error(tmp_path: Path) -> None:
    result = run("reconcile", env={"POLYMM_LEDGER__PATH": "/proc/nope/polymm.sqlite",
                                   "POLYMM_LOGGING__DIRECTORY": str(tmp_path / "logs")})
    line = one_line(result, 2)
    assert line.startswith("config error: ledger.path: '/proc/nope/polymm.sqlite' — cannot write in /proc/nope")
    assert "must be a path in a writable directory" in line


def test_unwritable_log_directory_is_a_config_error() -> None:
    line = one_line(run("reconcile", env={"POLYMM_LOGGING__DIRECTORY": "/proc/nope/logs"}), 2)
    assert line.startswith("config error: logging.directory: '/proc/nope/logs' — cannot write in /proc/nope")


def test_all_zero_private_key_is_a_config_error_without_the_key() -> None:
    key = "0x" + "0" * 64
    line = one_line(run("plan", env={"POLYMARKET_PRIVATE_KEY": key}), 2)
    assert line == ("config error: POLYMARKET_PRIVATE_KEY: <hidden> — is not a usable secp256k1 key "
                    "(zero, or not below the curve order)")


def test_missing_key_in_remote_mode_is_a_config_error(tmp_path: Path) -> None:
    line = one_line(run("plan", env=remote_env(tmp_path, f"http://127.0.0.1:{closed_port()}")), 2)
    assert line.startswith("config error: POLYMARKET_PRIVATE_KEY: not set — venue.mode remote needs the wallet's key")


@pytest.mark.parametrize("command", [("plan",), ("reconcile",)], ids=["plan", "reconcile"])
def test_unreachable_venue_names_the_url_and_the_cause_exit_1(tmp_path: Path, command: tuple[str, ...]) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = run(*command, env=remote_env(tmp_path, url, POLYMARKET_PRIVATE_KEY=A_KEY))
    line = one_line(result, 1)
    # plan only derives the API key (GET); reconcile then tries to create one (POST)
    assert re.fullmatch(rf"error: API credentials: no reply from {url}/auth/(derive-)?api-key: "
                        r"\[Errno 111\] Connection refused", line), line


def test_env_name_with_a_single_underscore_is_refused(tmp_path: Path) -> None:
    line = one_line(run("check-config", env={"POLYMM_STRATEGY_MAX_MARKETS": "abc"}), 2)
    assert line == ("config error: POLYMM_STRATEGY_MAX_MARKETS: not a configuration key — did you mean "
                    "POLYMM_STRATEGY__MAX_MARKETS? (sections and keys are separated by a double underscore)")


def test_env_name_of_a_section_is_refused() -> None:
    line = one_line(run("check-config", env={"POLYMM_STRATEGY": "5"}), 2)
    assert line.startswith("config error: strategy: 5 — a section, not a key: set one key as POLYMM_STRATEGY__<KEY>")


def test_unknown_command_and_option_are_usage_errors() -> None:
    assert one_line(run("bogus"), 2) == "usage error: No such command 'bogus'. (see polymm --help)"
    assert one_line(run("status", "--bogus"), 2) == "usage error: No such option: --bogus (see polymm status --help)"


def test_status_without_a_ledger_is_one_line_exit_1(tmp_path: Path) -> None:
    line = one_line(run("status", env={"POLYMM_LEDGER__PATH": str(tmp_path / "none.sqlite")}), 1)
    assert line.startswith("error: no ledger at ") and "none-embedded.sqlite" in line


def test_bad_fault_plan_is_a_usage_error(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("rules:\n  - {match: '*', kind: nope, probability: 2}\n")
    line = one_line(run("sim", "serve", "--faults", str(plan)), 2)
    assert line.startswith(f"usage error: fault plan {plan} is invalid:")
    # each problem named by its place with what is allowed, without pydantic's boilerplate
    assert "rules.0.kind: Input should be 'error_before'" in line and "(got 'nope')" in line, line
    assert "rules.0.probability: Input should be less than or equal to 1 (got 2)" in line, line
    assert "errors.pydantic.dev" not in line, line
    assert one_line(run("sim", "serve", "--faults", str(tmp_path / "absent.yaml")), 2).endswith(
        "No such file or directory (see polymm sim serve --help)")


def test_version_prints_the_package_version() -> None:
    from polymm import __version__

    result = run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"polymm {__version__}"


def test_config_path_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("strategy:\n  max_markets: 0\n")
    line = one_line(run("check-config", env={"POLYMM_CONFIG": str(config)}), 2)
    assert line == "config error: strategy.max_markets: 0 — must be ≥ 1"


# --- the systemd unit -------------------------------------------------------------------------


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser


def test_unit_retries_outages_forever_and_never_restarts_config_errors() -> None:
    unit = _unit()
    assert unit["Unit"]["StartLimitIntervalSec"] == "0"  # a boot-time outage can never exhaust a start limit
    assert "StartLimitBurst" not in unit["Unit"]
    service = unit["Service"]
    assert service["Restart"] == "on-failure"  # exit 1 (runtime) restarts, exit 0 (clean stop) does not
    assert service["RestartPreventExitStatus"] == "2"  # configuration errors are not restarted
    assert float(service["RestartSec"]) >= 1 and int(service["RestartSteps"]) >= 1
    assert int(service["RestartMaxDelaySec"]) >= 60


def test_unit_environment_file_example_has_one_assignment_per_line() -> None:
    example = [line.lstrip("# ").split("#")[0].strip() for line in UNIT.read_text().splitlines()
               if line.startswith("#   POLYM")]
    assert any(line.startswith("POLYMARKET_API_SECRET=") for line in example)
    for line in example:
        assert line.count("=") == 1, line


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_unit_file_parses(tmp_path: Path) -> None:
    copy = tmp_path / "polymm.service"
    copy.write_text(UNIT.read_text())
    result = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=30)
    problems = [line for line in result.stderr.splitlines()
                if "is not executable" not in line and "Unknown key 'Restart" not in line  # ≥ 254 only
                and "polymm.service" in line]
    assert problems == []


def test_sim_serve_port_0_announces_the_port_it_listens_on_and_explicit_flags_beat_instant() -> None:
    """`--port 0` ("any free port") printed `http://127.0.0.1:0`; `--instant --balance-delay 5` dropped the 5."""
    import httpx

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("POLYMM_", "POLYMARKET_"))}
    proc = subprocess.Popen([str(POLYMM), "sim", "serve", "--port", "0", "--speed", "0", "--markets", "2", "--instant",
                             "--balance-delay", "5"], cwd=ROOT, env=clean, stdout=subprocess.PIPE, text=True)
    try:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout.readline() for _ in range(8)), daemon=True)
        reader.start()
        reader.join(20)  # 8 lines: the URL, the five URLs (clob, gamma, data, ws, relayer), the seed line, the settings
        url = re.fullmatch(r"polymm sim listening on (http://127\.0\.0\.1:(\d+))\n", lines[0] if lines else "")
        assert url and int(url.group(2)) > 0, lines
        assert httpx.get(url.group(1) + "/ok", timeout=10).status_code == 200
        settings = lines[7] if len(lines) == 8 else ""
        assert "fees=off" in settings and "balance_delay=5s" in settings and "mined_delay=2s" in settings, lines
    finally:
        proc.terminate()
        proc.wait(10)


def test_sim_serve_negative_markets_is_a_usage_error() -> None:
    line = one_line(run("sim", "serve", "--markets", "-1"), 2)
    assert line == "usage error: markets -1 — must be ≥ 0 (generated markets besides the captured ones) (see polymm sim serve --help)"
