"""Benchmark: the real loop end to end — `polymm reconcile --loop` against `polymm sim serve` — across universe sizes.

For every configuration it starts the simulated venue as its own process with the clock frozen
(`--speed 0`, so books do not move and every tick does the same work), then the controller as
another process (`reconcile --loop --max-ticks N`, remote mode, 10 markets selected, a fresh test
key the simulator funds, its own ledger). Tick times come from the controller's tick journal in
that ledger (`ticks.summary.seconds`, observe → execute, including every HTTP call), the first
ticks skipped as warm-up; RSS from /proc while it runs (steady: the last sample; peak: the
kernel's high-water mark). The market rescan (`loop.update_interval_seconds`) is left at a
value longer than the run, so the figures are the steady tick; the full scan (the first tick:
the funnel over every reward market with their books) is shown apart, as is the time from the
controller's start to its first tick. `cpu` is the controller's own CPU per tick (all threads),
which a busy machine inflates less than wall time.

Dimensions: the number of reward markets on the venue (300, 1,000, 3,000, 10,000 by default; the
simulator rewards about 90 % of the markets it generates, so it is asked for N / 0.9 and the
real count is printed), and the book depth (levels a side, `polymm sim serve --depth D`) at one
universe size.

    .venv/bin/python bench/bench_e2e.py [--universe 300 10000] [--depth 4 12 30] [--depth-universe 1000]
                                        [--selected 10] [--ticks 40] [--warmup 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from polymm.sim.runner import free_port  # noqa: E402

PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
REWARDED_SHARE = 0.9  # polymm/sim/universe.py: about 90 % of the generated markets carry a reward program
CAPTURED = 3  # the captured markets the simulator always adds (all rewarded)


@dataclass
class Run:
    reward_markets: int
    depth: str
    selected: int
    ticks: list[float]
    cpu: list[float]
    scan_ms: float
    startup_s: float
    rss_mb: float
    peak_rss_mb: float
    selected_seen: int
    max_after_first_ms: float = float("nan")  # every tick after the first, rescans included


def _cli(*args: str) -> list[str]:
    return [PYTHON, "-m", "polymm.cli", *args]


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"simulator exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{url}/time", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"simulator at {url} not ready after {timeout:.0f} s")


def _count_reward_markets(url: str) -> int:
    count, cursor = 0, "MA=="
    while cursor != "LTE=":
        page = httpx.get(f"{url}/rewards/markets/current", params={"next_cursor": cursor}, timeout=30).json()
        count += len(page["data"])
        cursor = page["next_cursor"]
    return count


def _rss_kb(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _journal(ledger: Path) -> tuple[list[dict], list[float]]:
    conn = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT started_at, summary FROM ticks ORDER BY id").fetchall()
    finally:
        conn.close()
    summaries = [json.loads(s) for _, s in rows]
    return [s for s in summaries if not s.get("final")], [a for (a, s) in rows if not json.loads(s).get("final")]


def run_one(reward_markets: int, depth: int | None, selected: int, ticks: int, warmup: int, seed: int,
            rescan_interval_s: float = 100000) -> Run:
    generated = max(1, round((reward_markets - CAPTURED) / REWARDED_SHARE))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sim_args = ["sim", "serve", "--port", str(port), "--seed", str(seed), "--speed", "0", "--markets", str(generated),
                "--start-time", str(int(time.time())), "--no-rate-limits"]
    if depth is not None:
        sim_args += ["--depth", str(depth)]
    with tempfile.TemporaryDirectory(prefix="polymm-e2e-") as tmp:
        sim = subprocess.Popen(_cli(*sim_args), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ctl: subprocess.Popen | None = None
        try:
            _wait_ready(url, sim, timeout=600)
            actual = _count_reward_markets(url)
            ledger = Path(tmp) / "ledger.sqlite"
            env = dict(os.environ,
                       POLYMARKET_PRIVATE_KEY="0x" + os.urandom(32).hex(),
                       POLYMM_VENUE__MODE="remote", POLYMM_VENUE__CLOB_URL=url, POLYMM_VENUE__GAMMA_URL=f"{url}/gamma",
                       POLYMM_VENUE__DATA_URL=f"{url}/dataapi", POLYMM_VENUE__WS_URL=f"ws://127.0.0.1:{port}/ws",
                       POLYMM_STRATEGY__MAX_MARKETS=str(selected), POLYMM_LEDGER__PATH=str(ledger),
                       POLYMM_LOGGING__DIRECTORY=str(Path(tmp) / "logs"), POLYMM_LOGGING__CONSOLE_LEVEL="WARNING",
                       POLYMM_LOOP__UPDATE_INTERVAL_SECONDS=str(rescan_interval_s))
            for key in ("POLYMARKET_FUNDER", "POLYMARKET_API_KEY", "POLYMARKET_API_SECRET", "POLYMARKET_API_PASSPHRASE"):
                env.pop(key, None)
            started = time.time()
            ctl = subprocess.Popen(_cli("reconcile", "--loop", "--max-ticks", str(ticks + warmup)), cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            samples: list[int] = []
            stop = threading.Event()

            def sample() -> None:
                while not stop.wait(0.25):
                    kb = _rss_kb(ctl.pid, "VmRSS")
                    if kb:
                        samples.append(kb)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            _, status, usage = os.wait4(ctl.pid, 0)
            ctl.returncode = os.waitstatus_to_exitcode(status)
            stop.set()
            sampler.join()
            err = ctl.stderr.read().decode()
            if ctl.returncode != 0:
                raise RuntimeError(f"reconcile exited with {ctl.returncode}: {err[-2000:]}")
            summaries, started_at = _journal(ledger)
        finally:
            if ctl is not None and ctl.poll() is None:  # interrupted: do not leave the controller running
                ctl.kill()
                ctl.wait()
            sim.terminate()
            try:
                sim.wait(30)
            except subprocess.TimeoutExpired:
                sim.kill()
    steady = [s for s in summaries[warmup:] if not s.get("full_scan")]
    scans = [s["seconds"] * 1000 for s in summaries if s.get("full_scan")]
    return Run(actual, "4–12" if depth is None else str(depth), selected, [s["seconds"] * 1000 for s in steady],
               [s.get("cpu_seconds", float("nan")) * 1000 for s in steady], scans[0] if scans else float("nan"),
               (started_at[0] - started) if started_at else float("nan"),
               (samples[-1] if samples else 0) / 1024, usage.ru_maxrss / 1024,
               max((len(s.get("selected", [])) for s in summaries), default=0),
               max((s["seconds"] * 1000 for s in summaries[1:]), default=float("nan")))


def pct(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def print_header() -> None:
    print(f"{'reward mkts':>11} {'depth':>5} {'sel':>4} {'ticks':>5} {'p50 ms':>8} {'p90 ms':>8} {'max ms':>8} "
          f"{'cpu p50':>8} {'scan ms':>8} {'start s':>8} {'RSS MB':>7} {'peak MB':>7} {'max all':>8}")


def print_run(r: Run) -> None:
    print(f"{r.reward_markets:>11,} {r.depth:>5} {r.selected_seen:>4} {len(r.ticks):>5} {pct(r.ticks, .5):>8.1f} "
          f"{pct(r.ticks, .9):>8.1f} {max(r.ticks, default=float('nan')):>8.1f} {pct(r.cpu, .5):>8.1f} "
          f"{r.scan_ms:>8.0f} {r.startup_s:>8.1f} {r.rss_mb:>7.0f} "
          f"{r.peak_rss_mb:>7.0f} {r.max_after_first_ms:>8.0f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--universe", type=int, nargs="+", default=[300, 1000, 3000, 10000],
                    help="reward markets on the venue, one run each (book depth: the simulator's default)")
    ap.add_argument("--depth", type=int, nargs="*", default=[4, 12, 30], help="book depths (levels a side) to run")
    ap.add_argument("--depth-universe", type=int, default=1000, help="reward markets for the depth runs")
    ap.add_argument("--selected", type=int, default=10, help="strategy.max_markets")
    ap.add_argument("--ticks", type=int, default=40, help="timed ticks per run")
    ap.add_argument("--warmup", type=int, default=3, help="ticks skipped before timing")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--rescan-interval", type=float, default=100000,
                    help="loop.update_interval_seconds: short to time ticks while rescans run ('max all': every "
                         "tick after the first, rescans included)")
    args = ap.parse_args()

    print(f"polymm end-to-end tick: reconcile --loop vs sim serve (--speed 0), {os.cpu_count()} CPU(s), "
          f"{args.ticks} timed ticks after {args.warmup} warm-up")
    print_header()
    runs: list[Run] = []
    for n in args.universe:
        runs.append(run_one(n, None, args.selected, args.ticks, args.warmup, args.seed, args.rescan_interval))
        print_run(runs[-1])
    for d in args.depth:
        print_run(run_one(args.depth_universe, d, args.selected, args.ticks, args.warmup, args.seed, args.rescan_interval))
    if len(runs) >= 2:
        small, large = runs[0], runs[-1]
        ratio = pct(large.ticks, .5) / pct(small.ticks, .5)
        print(f"\np50 at {large.reward_markets:,} reward markets / p50 at {small.reward_markets:,}: {ratio:.2f} "
              f"(target ≤ 1.25); p50 at {large.reward_markets:,}: {pct(large.ticks, .5):.1f} ms (target < 50 ms)")


if __name__ == "__main__":
    main()
