"""Issue 29, item 9 on real `polymm` processes: status and the dashboard write numbers through the one formatter
(avg cost at the tick, money to the cent), the dashboard shows the wallet and the rewards the venue paid, and
status says merging is off only when a YES+NO pair is held."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from test_views_snapshots import status_ledger  # noqa: F401  (the snapshot tests' ledger: two markets, fills)

ROOT = Path(__file__).resolve().parents[1]
POLYMM = ROOT / ".venv" / "bin" / "polymm"


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("POLYMM_", "POLYMARKET_"))}
    return subprocess.run([str(POLYMM), *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True,
                          timeout=90)


def test_status_writes_avg_cost_at_the_tick_and_says_merging_is_off_only_with_a_pair_held(status_ledger: Path) -> None:
    from polymm.ledger import Ledger

    env = {"POLYMM_VENUE__MODE": "remote", "POLYMM_LEDGER__PATH": str(status_ledger)}
    with Ledger(status_ledger) as ledger:
        ledger.set_cursor("merge_pairs_off", "venue.signature_type 0: an EOA cannot use the relayer")
    shown = run("status", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "0.7000" not in shown.stdout and " 0.70 " in shown.stdout  # avg cost of 12 bought at 0.70
    assert "merging YES+NO pairs is off" not in shown.stdout  # one outcome held per market: nothing to merge


def test_the_dashboard_shows_wallet_and_rewards_paid_and_money_to_the_cent(status_ledger: Path) -> None:
    import re
    import urllib.request

    env = {"POLYMM_VENUE__MODE": "remote", "POLYMM_LEDGER__PATH": str(status_ledger)}
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("POLYMM_", "POLYMARKET_"))}
    proc = subprocess.Popen([str(POLYMM), "dashboard", "--port", "0"], cwd=ROOT, env={**clean, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        url = re.search(r"http://[\d.]+:\d+/", first).group(0)
        page = urllib.request.urlopen(url, timeout=30).read().decode()
    finally:
        proc.terminate()
        proc.wait(10)
    assert "<span>Wallet</span><b>$812.34</b>" in page
    assert "<span>Rewards paid</span><b>$1.27</b>" in page
    assert not re.search(r"\$\d+\.\d{3,}", page)  # no sub-cent money
    assert not re.search(r">\d\.\d{4}<", page)  # avg cost 0.70, not 0.7000
