"""What reaches logs/ (WARNING and above) in an outage: one line per change of health, none of the SDK's
per-request ERROR lines, and no `Could not derive api key!` from a normal first start. A real
`polymm reconcile` process against the simulator with a fault plan."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POLYMM = ROOT / ".venv" / "bin" / "polymm"


def test_an_outage_is_one_warning_per_health_change_and_the_sdk_is_quiet(venue, admin, tmp_path: Path) -> None:
    admin.faults({"seed": 1, "rules": [{"match": "* /data/orders", "kind": "error_before", "probability": 1,
                                        "status": 500}]})
    urls = venue.urls
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("POLYMM_", "POLYMARKET_"))}
    env = {**clean, "POLYMM_VENUE__MODE": "remote", "POLYMM_VENUE__CLOB_URL": urls["clob_url"],
           "POLYMM_VENUE__GAMMA_URL": urls["gamma_url"], "POLYMM_VENUE__DATA_URL": urls["data_url"],
           "POLYMM_VENUE__WS_URL": urls["ws_url"], "POLYMARKET_PRIVATE_KEY": "7d" * 32,  # as a wallet exports it
           "POLYMM_LEDGER__PATH": str(tmp_path / "ledger.sqlite"), "POLYMM_LOGGING__DIRECTORY": str(tmp_path / "logs")}
    done = subprocess.run([str(POLYMM), "reconcile", "--max-ticks", "4"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    files = {p.name: p.read_text() for p in (tmp_path / "logs").glob("*/*.log")}
    assert "py_clob_client_v2.log" not in files  # the SDK's logger is silenced
    loop = files["loop.log"].splitlines()
    halted = [line for line in loop if "health halted: open orders unknown" in line]
    assert len(halted) == 1 and " WARNING polymm.loop: " in halted[0], loop  # once, not once per tick
    everything = "\n".join(files.values()) + done.stderr
    assert "Could not derive api key" not in everything
    assert " ERROR " not in everything, [line for line in everything.splitlines() if " ERROR " in line]
