"""The chaos harness: a simulated venue and a controller as real processes, faults, and the venue-truth judgement.

`scripts/chaos.py` is its command; the end-to-end tests (tests/controller_support.py loads this package
as `h`) and bench/bench_hedge_latency.py reuse its parts. One module per responsibility:

- `venue`: `polymm sim serve` as a process (`VenueProcess`) and its admin surface (`Admin`);
- `controller`: `polymm reconcile --loop` and the one-shot commands as processes (`ControllerProcess`);
- `faults`: the fault driver — takers (`Traffic`, `take_through`), fault plans, engine restart, resolution;
- `truth`: the judgement against RELIABILITY.md's promises, from the venue's state (`Audit`, `check_*`);
- `scenarios`: the kill -9 run and the storm, each with its judged final life (`run_chaos`, `run_storm`);
- `report`: a run's counts (`ChaosResult`) and RELIABILITY.md's figures line (`figures_line`).
"""

from __future__ import annotations

import sys
from pathlib import Path

# polymm itself, when the harness runs under a Python that does not have it installed
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from .controller import ControllerProcess, Ledger, address_of, controller_env, wallet_key  # noqa: E402
from .faults import (  # noqa: E402
    Traffic,
    fault_plan,
    resolve_a_market,
    restart_engine,
    storm_plan,
    take_through,
    wait_engine_normal,
)
from .report import ChaosResult, figures_line  # noqa: E402
from .scenarios import run_chaos, run_storm, settle  # noqa: E402
from .truth import (  # noqa: E402
    Audit,
    account,
    check_continuous,
    check_settled,
    exposure_by_market,
    live_orders,
    remaining,
    self_trades,
    venue_fills,
    venue_positions,
)
from .venue import POLYMM, ROOT, WRITES, Admin, VenueProcess, free_port  # noqa: E402
