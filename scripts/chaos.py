"""Chaos run: `kill -9` the controller at random moments while a simulated venue fills its quotes, then
check the venue's truth against RELIABILITY.md's promises.

    .venv/bin/python scripts/chaos.py --kills 20 --seed 1

What it does: starts `polymm sim serve` (manual clock, seeded) and `polymm reconcile --loop` as real
processes (the real SDK over loopback), with a seeded venue fault plan (order posts executed but their
reply lost, cancels executed then answered 500: `--fault-rate`); a traffic thread advances the simulated
clock, fills our quotes and hedges at random through `/_sim/take`, and samples `/_sim/state` on every
round. The controller is killed with SIGKILL at random moments (half of them just after a fill, while
it reacts) and restarted each time. Before the final restart the traffic and the faults stop; that
restart runs K = 3 ticks (`controller.settle_ticks`); then everything is judged from the venue
(`/_sim/state`), never from polymm's ledger:

- duplicates: more than one live order of ours for one slot (token + side), at any sampled moment;
- exposure breaches: open buy notional + position cost per market above the cap, at any moment;
- orphans after K: our live orders that are not in the ledger, or not active in it;
- unhedged after K: positions ≥ the market's minimum order size without a live sell covering them;
- fills double counted: ledger fills per (trade id, order id) > 1, or a ledger position ≠ the venue's;
- also: fills missing from the ledger, and self trades (a hedge of ours that traded with a quote of ours).

The venue runs with its realistic defaults (`polymm sim serve`: taker fees, self-trade prevention, 26 s / 180 s
settlement, the balance lag after a buy), and the run meets two venue events: after `--restart-at` kills (4)
a matching-engine restart (`POST /_sim/restart`: 425 for `--restart-down` simulated seconds, then post-only
mode for `--restart-post-only`; shorter than the venue's 90 s / 120 s so that a run of about 80 simulated
seconds sees all of it; the last life starts once the engine is back), and after `--resolve-at` kills (10) a
market we hold a position or an order in resolves (`POST /_sim/market`): the venue cancels our orders there
and our shares there cannot be sold, so they are not counted unhedged (`-1` turns either off).

The venue serves the generated universe (`--universe generated`, the default here, unlike `polymm sim serve`
whose default is the real reward universe): the seeds and figures were made on the generator, whose markets
are quoted and filled within simulated minutes; on the real universe the default filters quote nothing, so a
run there (`--universe real`) has no fills to judge.

It prints the figures line of RELIABILITY.md and, when a check fails, the command that reruns the
seed (the same markets, kill moments, takes and faults; the interleaving with the controller's own
timing is not replayed exactly) with its ledger and logs kept; the exit status is 0 only when every
count is zero.

This file is the command: its options, the runs over seeds, the exit status. The harness it drives is the
package beside it, scripts/chaos/ (the venue and controller processes, the fault driver, the judgement
against RELIABILITY.md, the report), reused by the end-to-end tests (tests/controller_support.py,
tests/test_chaos.py) and by bench/bench_hedge_latency.py.

A developer's script, not a `polymm` command: it needs the simulated venue's admin surface (`/_sim/...`:
the clock, taker fills, fault plans, the venue's whole state) and the repository's checkout (`.venv/bin/polymm`,
the tests that share its harness); against the real venue none of that exists, so an operator has no use
for it, and the installed package stays free of test machinery.
"""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal
from pathlib import Path

# the harness package beside this file (scripts/chaos/), also when this file is loaded from elsewhere
sys.path.insert(0, str(Path(__file__).resolve().parent))

import chaos.controller  # noqa: E402
from chaos.report import chaos_line, detail_lines, figures_line, storm_line  # noqa: E402
from chaos.scenarios import run_chaos, run_storm  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="kill -9 this many times (default 20)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the venue, the kill moments and the takes")
    parser.add_argument("--runs", type=int, default=1, help="runs with seeds seed, seed+1, ...")
    parser.add_argument("--markets", type=int, default=60, help="simulated markets (default 60)")
    parser.add_argument("--max-markets", type=int, default=3, help="strategy.max_markets (default 3)")
    parser.add_argument("--max-life", type=float, default=4.0,
                        help="longest wall time between a restart and the next kill, seconds (default 4)")
    parser.add_argument("--fault-rate", type=float, default=0.1,
                        help="probability of a lost reply per order post and of a 500 after each cancel (default 0.1)")
    parser.add_argument("--stale-rate", type=float, default=0.0,
                        help="probability that an open-orders read shows the venue 2 simulated seconds ago (default 0)")
    parser.add_argument("--fail-rate", type=float, default=0.0,
                        help="fraction of trades that settle FAILED and are reversed (default 0)")
    parser.add_argument("--restart-at", type=int, default=None,
                        help="after this many kills, a matching-engine restart (POST /_sim/restart; default 4 if --kills is larger; -1: none)")
    parser.add_argument("--restart-down", type=float, default=20.0,
                        help="simulated seconds of HTTP 425 in that restart (default 20; the venue's is ~90, shortened "
                             "so that the run of about 80 simulated seconds sees the outage, post-only mode and after)")
    parser.add_argument("--restart-post-only", type=float, default=40.0,
                        help="simulated seconds of post-only mode after it (default 40; the venue's is 120)")
    parser.add_argument("--resolve-at", type=int, default=None,
                        help="after this many kills, a market we hold a position or an order in resolves to a random "
                             "outcome (POST /_sim/market; default 10 if --kills is larger; -1: none)")
    parser.add_argument("--strategy", choices=("seed", "defaults"), default="seed",
                        help="the controller's strategy: the seed's (hedges cross at once, no stepping back; the "
                             "figures in docs/TESTING.md) or config.yaml's defaults as shipped (maker hedges, stepping back)")
    parser.add_argument("--storm", action="store_true",
                        help="instead of kills: faults at --storm-rate of all requests for --storm-seconds simulated "
                             "seconds (clock 8x) while takers fill quotes and hedges")
    parser.add_argument("--storm-rate", type=float, default=0.4, help="storm fault rate per request (default 0.4)")
    parser.add_argument("--storm-seconds", type=float, default=3600.0,
                        help="storm length in simulated seconds (default 3600: a simulated hour, ~8 wall minutes)")
    parser.add_argument("--universe", choices=("generated", "real"), default="generated",
                        help="the venue's market: generated (default; the seeds' market) or real (the real reward "
                             "universe, where the default filters quote nothing)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep ledgers and logs here")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    chaos.controller.SEED_STRATEGY = args.strategy == "seed"
    # a value the run cannot honour is refused, naming what is allowed (a --kills 0 run "FAILED" on its own
    # harness; a --restart-at at or past --kills silently had no restart)
    at_least = {"--kills": (args.kills, 1), "--runs": (args.runs, 1), "--markets": (args.markets, 1),
                "--max-markets": (args.max_markets, 1)}
    for flag, (value, low) in at_least.items():
        if value < low:
            parser.error(f"{flag} {value}: must be ≥ {low}")
    for flag, value in {"--fault-rate": args.fault_rate, "--stale-rate": args.stale_rate,
                        "--fail-rate": args.fail_rate, "--storm-rate": args.storm_rate}.items():
        if not 0 <= value <= 1:
            parser.error(f"{flag} {value:g}: must be a probability in [0, 1]")
    for flag, value in {"--max-life": args.max_life, "--storm-seconds": args.storm_seconds}.items():
        if value <= 0:
            parser.error(f"{flag} {value:g}: must be > 0 seconds")
    for flag, value in {"--restart-down": args.restart_down, "--restart-post-only": args.restart_post_only}.items():
        if value < 0:
            parser.error(f"{flag} {value:g}: must be ≥ 0 seconds")
    for flag, name, default in (("--restart-at", "restart_at", 4), ("--resolve-at", "resolve_at", 10)):
        value = getattr(args, name)
        if value is None:  # the default applies when the run has that many kills
            setattr(args, name, default if default < args.kills else -1)
        elif not args.storm and value != -1 and not 0 <= value < args.kills:
            parser.error(f"{flag} {value}: must be a kill number from 0 to {args.kills - 1} (< --kills), or -1 for none")
    runs = []
    for n in range(args.runs):
        seed = args.seed + n
        workdir = args.workdir / f"seed-{seed}" if args.workdir else None
        started = time.monotonic()
        if args.storm:
            result = run_storm(seed, args.storm_seconds, args.storm_rate, workdir, args.markets, args.max_markets,
                               verbose=not args.quiet, universe=args.universe)
            runs.append(result)
            print(storm_line(result, args.storm_seconds, args.storm_rate, time.monotonic() - started))
            for line in detail_lines(result.audit):
                print(line)
            continue
        result = run_chaos(args.kills, seed, workdir, args.markets, args.max_markets, verbose=not args.quiet,
                           max_life_s=args.max_life, fault_rate=args.fault_rate, stale_rate=args.stale_rate,
                           fail_rate=args.fail_rate,
                           restart_at=args.restart_at if 0 <= args.restart_at < args.kills else None,
                           restart_down_s=args.restart_down, restart_post_only_s=args.restart_post_only,
                           resolve_at=args.resolve_at if 0 <= args.resolve_at < args.kills else None,
                           universe=args.universe)
        runs.append(result)
        print(chaos_line(result, time.monotonic() - started))
        for line in detail_lines(result.audit):
            print(line)
    print(figures_line(runs, Decimal("25")))
    failed = [r for r in runs if r.failures]
    for r in failed:
        print(f"FAILED seed {r.seed}: {', '.join(r.failures)}")
        mode = (f"--storm --storm-rate {args.storm_rate} --storm-seconds {args.storm_seconds:g}" if args.storm
                else f"--kills {args.kills}")
        print(f"  reproduce: .venv/bin/python scripts/chaos.py {mode} --seed {r.seed} "
              f"--markets {args.markets} --max-markets {args.max_markets} --max-life {args.max_life} "
              f"--fault-rate {args.fault_rate} --restart-at {args.restart_at} --restart-down {args.restart_down:g} "
              f"--restart-post-only {args.restart_post_only:g} --resolve-at {args.resolve_at} "
              f"--stale-rate {args.stale_rate} --fail-rate {args.fail_rate} "
              f"--strategy {args.strategy} --universe {args.universe} --workdir /tmp/polymm-chaos")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
