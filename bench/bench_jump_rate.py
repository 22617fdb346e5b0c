"""Measurement: how often the simulated markets jump, and how much of the day the jump-rate rule steps back.

Runs the simulated venue alone (its seeded traders, no controller) for `--hours` simulated hours, reads
every market's book every 5 simulated seconds (the backtest's tick) and feeds the midpoints to polymm's own
toxicity rule (polymm.desired.toxicity `step` and `paused`, the config's defaults unless overridden), as if
every market were watched. Prints, per scenario and seed, the jumps seen (a move of `jump_size` within a
minute), the share of the time the rate rule leaves every market, and when it first does, for each
`--rates` limit. The figures behind `strategy.max_jump_rate` (docs/STRATEGY.md).

    .venv/bin/python bench/bench_jump_rate.py [--scenarios calm trending jumpy] [--seeds 1 2 3] [--hours 24]
        [--rates 0.03 0.04 0.05]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from decimal import Decimal

from polymm.backtest.lockstep import START_TIME
from polymm.config import load_config
from polymm.desired.toxicity import ToxicityParams, ToxicityState, paused, step
from polymm.sim.runner import SimOptions, build_server

TICK_S = 5


def measure(scenario: str, seed: int, hours: float, markets: int, base: ToxicityParams, rates: list[float]) -> dict:
    server = build_server(SimOptions(seed=seed, scenario=scenario, speed=0.0, markets=markets, start_time=START_TIME))
    engine = server.engine
    state = ToxicityState()
    off = {r: 0.0 for r in rates}
    first: dict[float, float] = {}
    jumps = 0
    t = START_TIME
    end = START_TIME + hours * 3600
    while t < end:
        for _ in range(TICK_S):
            engine.advance(engine.settings.step_s)
        t += TICK_S
        mids = {}
        for cid, m in engine.markets.items():
            bid, ask = m.book.best_bid(), m.book.best_ask()
            if m.accepting_orders and bid is not None and ask is not None:
                mids[m.token_ids[0]] = (cid, Decimal(bid + ask) / 20_000)
        state = step(state, t, mids, [], base)
        jumps += sum(1 for at, _ in state.jumps.values() if at == t)
        for r in rates:
            params = replace(base, max_jump_rate=r)
            if any(reason.startswith("jump rate") for reason in paused(state, t, params).values()):
                off[r] += TICK_S
                first.setdefault(r, (t - START_TIME) / 3600)
    return {"jumps": jumps, "off": {r: off[r] / (hours * 3600) for r in rates}, "first": first}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenarios", nargs="+", default=["calm", "trending", "jumpy"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--markets", type=int, default=10)
    ap.add_argument("--rates", nargs="+", type=float, default=[0.03, 0.04, 0.05])
    args = ap.parse_args()
    s = load_config(environ={}).strategy
    base = ToxicityParams(s.toxic_pause_seconds, s.toxic_jump, s.jump_memory_seconds, s.jump_size, s.jump_scope,
                          float(s.max_jump_rate))
    print(f"jump_size {s.jump_size} within a minute, memory {s.jump_memory_seconds:.0f} s, {args.markets} markets, "
          f"{args.hours} h, books every {TICK_S} s")
    print("scenario  seed  jumps  " + "  ".join(f"rate>{r}: off (first)" for r in args.rates))
    for scenario in args.scenarios:
        for seed in args.seeds:
            m = measure(scenario, seed, args.hours, args.markets, base, args.rates)
            cells = "  ".join(f"{m['off'][r]:>5.0%} ({m['first'][r]:.1f} h)" if r in m["first"] else f"{0:>5.0%} (never)"
                              for r in args.rates)
            print(f"{scenario:<9} {seed:>4}  {m['jumps']:>5}  {cells}", flush=True)


if __name__ == "__main__":
    main()
