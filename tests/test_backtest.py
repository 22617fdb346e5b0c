"""`polymm backtest` and `polymm report`: lock-step runs are reproducible, the report holds every figure
and its HTML works offline; the figures are the simulator's own (checked against `/_sim/state`)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HOURS = "0.3"


# the generated universe: its jumpy seed 3 trades our quotes within the run's 18 minutes, which the report's
# figures are checked on (the real universe's markets are quieter)
GENERATED = dict(os.environ, POLYMM_VENUE__SIM__UNIVERSE="generated")


def _polymm(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "polymm.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=GENERATED)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    outs = []
    for name in ("a", "b"):
        out = tmp_path_factory.mktemp(f"bt-{name}")
        proc = _polymm("backtest", "--scenario", "jumpy", "--hours", HOURS, "--seed", "3", "--out", str(out))
        assert proc.returncode == 0, proc.stderr[-2000:]
        outs.append(out)
    return outs


def test_the_same_seed_gives_an_identical_report(two_runs):
    a, b = ((o / "report.json").read_bytes() for o in two_runs)
    assert a == b


def test_the_report_has_every_figure_per_market_and_in_total(two_runs):
    report = json.loads((two_runs[0] / "report.json").read_text())
    totals = report["totals"]
    for key in ("rewards", "rebates", "fees", "trading_pnl", "net", "fills", "expected_rewards",
                "maker_markout_60s", "maker_markout_300s", "reward_per_dollar_per_day"):
        assert key in totals
    assert report["markets"], "no market was quoted"
    for row in report["markets"]:
        assert row["net"] == pytest.approx(row["rewards"] + row["rebates"] - row["fees"] + row["trading_pnl"], abs=1e-5)
    assert totals["net"] == pytest.approx(sum(r["net"] for r in report["markets"]), abs=1e-4)
    assert report["run"]["ticks"] >= float(HOURS) * 3600 / 5 * 0.9


def test_the_report_matches_the_venues_own_state(two_runs):
    report = json.loads((two_runs[0] / "report.json").read_text())
    venue = report["venue_state"]
    t = report["totals"]
    assert t["rewards"] == pytest.approx(venue["rewards_accrued"], abs=1e-5)
    assert t["rewards"] > 0
    assert t["fees"] == pytest.approx(venue["fees_paid"], abs=1e-5)
    # equity at the end = collateral + held shares at mid: trading P&L, fees and what the payouts credited
    # explain its whole change
    assert t["equity_change"] == pytest.approx(
        t["trading_pnl"] - t["fees"] + venue["rewards_paid"] + venue["rebates_paid"], abs=1e-3)


def test_the_html_page_has_its_plots_inline_and_loads_nothing(two_runs):
    page = (two_runs[0] / "report.html").read_text()
    assert page.count("<svg") >= 3
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=['\"]?https?:", page)
    assert "Expected against paid rewards per market" in page


def test_report_from_a_ledger_lists_its_fills(two_runs, tmp_path):
    out = tmp_path / "ledger-report"
    proc = _polymm("report", "--ledger", str(two_runs[0] / "ledger.sqlite"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    backtest = json.loads((two_runs[0] / "report.json").read_text())
    assert report["totals"]["fills"] == backtest["totals"]["fills"]
    assert report["totals"]["fees"] == pytest.approx(backtest["totals"]["fees"], abs=1e-5)
    assert report["totals"]["expected_rewards"] == pytest.approx(backtest["totals"]["expected_rewards"], rel=0.05)
    assert (out / "report.html").exists()


def test_bad_backtest_options_get_one_line_and_exit_2(tmp_path):
    proc = _polymm("backtest", "--scenario", "stormy", "--out", str(tmp_path))
    assert proc.returncode == 2
    assert "calm" in proc.stderr and "Traceback" not in proc.stderr
    proc = _polymm("backtest", "--tick", "30", "--out", str(tmp_path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_report_without_a_ledger_says_so(tmp_path):
    proc = _polymm("report", "--ledger", str(tmp_path / "none.sqlite"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 1
    assert "no ledger" in proc.stderr
