"""The original bot's configuration keys load in polymm: renamed keys are mapped with one note each."""

from __future__ import annotations

import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from polymm.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]
SEED_CONFIG = ROOT / "tests" / "fixtures" / "seed_bot_config.yaml"
POLYMM = ROOT / ".venv" / "bin" / "polymm"


def test_the_original_bots_documented_table_passes_check_config() -> None:
    env = {"PATH": "/usr/bin:/bin"}
    done = subprocess.run([str(POLYMM), "check-config", "--config", str(SEED_CONFIG)], capture_output=True,
                          text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stderr.splitlines() if line.startswith("config note:")]
    assert notes == [
        "config note: orderbook_service.redis.host → orderbook_service.redis_host "
        "(the original bot's key name; polymm's is orderbook_service.redis_host)",
        "config note: orderbook_service.redis.port → orderbook_service.redis_port "
        "(the original bot's key name; polymm's is orderbook_service.redis_port)",
    ]
    assert '"redis_host": "localhost"' in done.stdout


def test_mapped_keys_take_the_values_the_original_config_gave(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = load_config(SEED_CONFIG, environ={})
    assert cfg.orderbook_service.redis_host == "localhost"
    assert cfg.orderbook_service.redis_port == 6379
    assert cfg.orderbook_service.enabled is True
    assert cfg.orderbook_service.volatility_check.volatility_threshold == 0.03
    assert cfg.hedge_sell.stop_loss_pct == Decimal("0.10")
    assert cfg.loop.price_deviation_threshold_bps == Decimal("0.0001")
    assert capsys.readouterr().err.count("config note:") == 2


def test_polymms_own_names_load_without_a_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("orderbook_service: {redis_host: r1, redis_port: 7000}\n")
    cfg = load_config(path, environ={})
    assert (cfg.orderbook_service.redis_host, cfg.orderbook_service.redis_port) == ("r1", 7000)
    assert capsys.readouterr().err == ""


def test_the_original_names_work_as_environment_overrides_too(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = load_config(environ={"POLYMM_ORDERBOOK_SERVICE__REDIS__PORT": "6390"})
    assert cfg.orderbook_service.redis_port == 6390
    assert "orderbook_service.redis.port → orderbook_service.redis_port" in capsys.readouterr().err


def test_old_and_new_name_together_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("orderbook_service: {redis_host: a, redis: {host: b}}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.problems == [
        "orderbook_service.redis.host: 'b' — the original bot's name of orderbook_service.redis_host, "
        "which is also set ('a'); keep one of them"
    ]


def test_an_unknown_key_beside_the_mapped_ones_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("orderbook_service: {redis: {host: h, hots: x}}\nstrategy: {max_marketz: 3}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    problems = sorted(caught.value.problems)
    assert len(problems) == 2
    assert problems[0] == ("orderbook_service.redis.hots: 'x' — unknown key (the original bot's redis section "
                           "allows: host, port, db)")
    assert problems[1].startswith("strategy.max_marketz: 3 — unknown key (allowed keys: ")


def test_a_mapped_value_is_validated_under_its_new_name(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("orderbook_service: {redis: {port: 70000}}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.problems == ["orderbook_service.redis_port: 70000 — must be ≤ 65535"]
