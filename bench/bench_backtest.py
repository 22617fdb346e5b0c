"""Benchmark: how long `polymm backtest` takes per simulated hour, and the projection for a simulated day.

Runs the lock-step backtest (the real controller against the simulator, 10 generated markets) for
`--hours` simulated hours in this process and prints wall time and CPU time (this process: the
controller and the simulator share it) per simulated hour, the ticks per hour, and the projected
wall and CPU time of 24 simulated hours. Target: a simulated day in under 10 minutes on 2 cores.
CPU time is the figure to trust on a busy machine; wall time follows the load.

    .venv/bin/python bench/bench_backtest.py [--hours 1] [--scenario calm] [--seed 1] [--tick 5]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from polymm.backtest.lockstep import BacktestOptions, run_backtest
from polymm.config import load_config


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--scenario", default="calm")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tick", type=float, default=5.0)
    ap.add_argument("--markets", type=int, default=10)
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("py_clob_client_v2").setLevel(logging.CRITICAL)
    cfg = load_config(None)
    options = BacktestOptions(scenario=args.scenario, hours=args.hours, seed=args.seed, tick_s=args.tick,
                              markets=args.markets)
    with tempfile.TemporaryDirectory(prefix="polymm-bench-bt-") as out:
        wall0, cpu0 = time.monotonic(), time.process_time()
        record = run_backtest(cfg, options, Path(out))
        wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
    per_hour_wall, per_hour_cpu = wall / args.hours, cpu / args.hours
    print(f"backtest {args.scenario} seed {args.seed}, {args.markets} markets, tick {args.tick} s, {args.hours} h simulated")
    print(f"  ticks {record.ticks} ({record.ticks / args.hours:.0f}/h, {record.fill_ticks} woken by a fill), fills {len(record.fills)}")
    print(f"  wall {wall:.1f} s ({per_hour_wall:.1f} s per simulated hour), cpu {cpu:.1f} s ({per_hour_cpu:.1f} s/h)")
    print(f"  projected 24 h: wall {per_hour_wall * 24 / 60:.1f} min, cpu {per_hour_cpu * 24 / 60:.1f} min (target < 10 min)")


if __name__ == "__main__":
    main()
