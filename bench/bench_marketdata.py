"""Benchmark: the data service's book refresh of 1,000+ tokens into Redis, and the controller's Redis reads.

Starts `polymm sim serve` as its own process (so venue and client each have a core) with enough reward
markets for 1,000+ tokens, scans them with `DataService.scan`, then times `DataService.refresh_books`
(POST /books in batches of 500 + one pipelined Redis write) against its 3 s interval, and reading 100
books back through `RedisStore.get_books` and `StoreMarketData.books` (target < 10 ms).

    .venv/bin/python bench/bench_marketdata.py [--markets 600] [--refreshes 5] [--reads 300]

Redis: POLYMM_TEST_REDIS_URL (default redis://127.0.0.1:6379/0); keys go under a fresh
`polymm-bench-<uuid>` prefix and are deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from polymm.marketdata.service import DataService
from polymm.marketdata.source import StoreMarketData
from polymm.marketdata.store import RedisStore
from polymm.sim.runner import free_port, venue_urls
from polymm.venue.gateway import VenueEndpoints, VenueGateway

ROOT = Path(__file__).resolve().parents[1]
INTERVAL_S = 3.0
READ_TARGET_MS = 10.0
READ_TOKENS = 100


def start_venue(port: int, markets: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "polymm.cli", "sim", "serve", "--port", str(port), "--speed", "0",
         "--markets", str(markets), "--no-rate-limits", "--seed", "1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ok", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"venue did not start: {proc.stdout.read() if proc.stdout else ''}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=600, help="generated markets (two tokens each; ~87 %% carry rewards)")
    parser.add_argument("--refreshes", type=int, default=5, help="timed book refreshes")
    parser.add_argument("--reads", type=int, default=300, help="timed reads of 100 books")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    redis_url = os.environ.get("POLYMM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"polymm-bench-{uuid.uuid4().hex[:12]}"
    store = RedisStore.from_url(redis_url, prefix)
    store.r.ping()
    port = args.port or free_port()
    proc = start_venue(port, args.markets)
    urls = venue_urls("127.0.0.1", port)
    gateway = VenueGateway(VenueEndpoints(urls["clob_url"], urls["gamma_url"], urls["data_url"], urls["ws_url"]))
    try:
        service = DataService(gateway, store, 300, INTERVAL_S, ws_url=None)
        started = time.perf_counter()
        service.scan()
        scan_s = time.perf_counter() - started
        tokens = service.tokens
        print(f"venue: {args.markets} generated markets; scan: {len(tokens) // 2} reward markets, {len(tokens)} tokens "
              f"in {scan_s:.2f} s")
        if len(tokens) < 1000:
            print(f"WARNING: only {len(tokens)} tokens (< 1,000); raise --markets")

        service.refresh_books()  # warm the connections
        refresh = timed(service.refresh_books, args.refreshes)
        fetch = timed(lambda: gateway.books(tokens), args.refreshes)
        books = list(service.books.values())
        depth = statistics.mean(len(b.bids) + len(b.asks) for b in books)
        write = timed(lambda: store.put_books(books, time.time()), args.refreshes)
        best, median = min(refresh), statistics.median(refresh)
        print(f"refresh_books, {len(tokens)} tokens into Redis: median {median:.3f} s, best {best:.3f} s, "
              f"worst {max(refresh):.3f} s ({len(tokens) / median:,.0f} tokens/s) — "
              f"{'within' if max(refresh) <= INTERVAL_S else 'OVER'} the {INTERVAL_S:.0f} s interval")
        print(f"  of which POST /books (batches of 500): median {statistics.median(fetch):.3f} s; "
              f"Redis pipelined write: median {statistics.median(write) * 1000:.1f} ms; {depth:.1f} levels a book")

        sample = tokens[:READ_TOKENS]
        now = time.time()
        reader = StoreMarketData(store, max_book_age_s=3 * INTERVAL_S + 1, max_service_age_s=10)
        store.mark_alive(now)
        got, problems = reader.books(sample, now)
        assert len(got) == len(sample) and not problems, (len(got), problems)
        for name, fn in (("RedisStore.get_books", lambda: store.get_books(sample, now, 1e9)),
                         ("StoreMarketData.books", lambda: reader.books(sample, now))):
            ms = [s * 1000 for s in timed(fn, args.reads)]
            p50, p95 = statistics.median(ms), percentile(ms, 0.95)
            verdict = "within" if p95 < READ_TARGET_MS else "OVER"
            print(f"{name}, {len(sample)} books: median {p50:.2f} ms, p95 {p95:.2f} ms — {verdict} the "
                  f"{READ_TARGET_MS:.0f} ms target ({args.reads} reads)")
    finally:
        gateway.close()
        keys = list(store.r.scan_iter(match=f"{prefix}:*", count=1000))
        for i in range(0, len(keys), 1000):
            store.r.delete(*keys[i:i + 1000])
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
