"""Benchmark: sustained loopback throughput of the simulated venue with signature checks on.

Starts `polymm sim serve` as its own process (so venue and client each have a core), then drives it
with the official SDK (polymarket-client's SecureClient and PublicClient): single-order posts (POST /order, each order's EIP-712 signature recovered and its
L2 HMAC verified), batched posts (POST /orders, 15 per request) and book reads (GET /book).
Orders are signed before the clock starts: the figure is the venue's, not the client's signing.

    .venv/bin/python bench/bench_sim.py [--orders 1500] [--reads 4000] [--threads 4]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from eth_account import Account
from polymarket import PublicClient, SecureClient

ROOT = Path(__file__).resolve().parents[1]


def start_venue(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/polymm"), "sim", "serve", "--port", str(port), "--speed", "0",
         "--markets", "300", "--no-rate-limits", "--seed", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
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


def pick_tokens(url: str, count: int) -> list[tuple[str, float, str]]:
    """(token_id, a resting buy price well below the best bid, tick) for reward markets with 0.01 ticks."""
    out = []
    cursor = "MA=="
    while cursor != "LTE=" and len(out) < count:
        page = httpx.get(f"{url}/sampling-markets", params={"next_cursor": cursor}).json()
        cursor = page["next_cursor"]
        for m in page["data"]:
            if m["minimum_tick_size"] == 0.01 and not m["neg_risk"] and m["tokens"][0]["price"] > 0.2:
                out.append((m["tokens"][0]["token_id"], 0.05, "0.01"))
    return out[:count]


def sim_environment(url: str):
    """polymarket-client's production Environment with its URLs pointed at the simulated venue (as
    scripts/sdk_examples.py `official_environment`: the package has no public constructor for one)."""
    import dataclasses

    from polymarket import PRODUCTION
    from polymarket._internal.environment import create_environment, get_environment_config

    ws = url.replace("http", "ws", 1)
    config = dataclasses.replace(get_environment_config(PRODUCTION), clob_url=url, gamma_url=f"{url}/gamma",
                                 data_url=f"{url}/dataapi", relayer_url=f"{url}/relayer",
                                 clob_market_ws_url=f"{ws}/ws/market", clob_user_ws_url=f"{ws}/ws/user")
    return create_environment(name="polymm-sim", config=config)


def accepted(reply) -> bool:
    return type(reply).__name__ == "AcceptedOrder"  # else a RejectedOrder (models/clob/order_response.py)


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s ({n} in {seconds:.2f} s)"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (the venue's own cost, apart from the client's)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1500)
    parser.add_argument("--reads", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--port", type=int, default=18731)
    args = parser.parse_args()

    proc = start_venue(args.port)
    url = f"http://127.0.0.1:{args.port}"
    try:
        tokens = pick_tokens(url, 20)
        environment = sim_environment(url)
        public = PublicClient(environment)
        clients = []
        for _ in range(args.threads):  # each an EOA trading for itself; create() derives or creates its API key
            key = "0x" + os.urandom(32).hex()
            clients.append(SecureClient.create(private_key=key, wallet=Account.from_key(key).address,
                                               environment=environment))
        httpx.post(f"{url}/_sim/fund", json={"address": clients[0].wallet, "collateral": 0})
        print(f"signing {args.orders * 2} orders ...", file=sys.stderr)
        signed: list[list] = [[] for _ in clients]
        for i in range(args.orders * 2):
            c = clients[i % len(clients)]
            token, price, tick = tokens[i % len(tokens)]
            signed[i % len(clients)].append(c.create_limit_order(token_id=token, price=str(price), size="5", side="BUY"))
        for c in clients:  # each account needs collateral for its resting orders
            httpx.post(f"{url}/_sim/fund", json={"address": c.wallet, "collateral": 10_000})

        singles = [s[: len(s) // 2] for s in signed]
        batches = [s[len(s) // 2:] for s in signed]

        def post_singles(k: int) -> int:
            for order in singles[k]:
                r = clients[k].post_order(order)
                assert accepted(r), r
            return len(singles[k])

        t, cpu = time.perf_counter(), cpu_seconds(proc.pid)
        with ThreadPoolExecutor(len(clients)) as pool:
            n = sum(pool.map(post_singles, range(len(clients))))
        single_s, single_cpu = time.perf_counter() - t, cpu_seconds(proc.pid) - cpu

        def post_batches(k: int) -> int:
            orders = batches[k]
            for i in range(0, len(orders), 15):
                replies = clients[k].post_orders(orders[i:i + 15])
                assert all(accepted(r) for r in replies), replies
            return len(orders)

        t, cpu = time.perf_counter(), cpu_seconds(proc.pid)
        with ThreadPoolExecutor(len(clients)) as pool:
            nb = sum(pool.map(post_batches, range(len(clients))))
        batch_s, batch_cpu = time.perf_counter() - t, cpu_seconds(proc.pid) - cpu

        def read_books(k: int) -> int:
            per = args.reads // len(clients)
            for i in range(per):
                public.get_order_book(token_id=tokens[i % len(tokens)][0])
            return per

        t, cpu = time.perf_counter(), cpu_seconds(proc.pid)
        with ThreadPoolExecutor(len(clients)) as pool:
            nr = sum(pool.map(read_books, range(len(clients))))
        read_s, read_cpu = time.perf_counter() - t, cpu_seconds(proc.pid) - cpu

        counts = httpx.get(f"{url}/_sim/requests").json()["counts"]
        print("polymm sim — loopback throughput, signature and HMAC checks on, rate limits off")
        print(f"  order posts (POST /order, 1 per request):  {rate(n, single_s)}   target ≥ 300/s;"
              f" venue CPU {single_cpu / n * 1e6:,.0f} µs/order")
        print(f"  order posts (POST /orders, 15 per request): {rate(nb, batch_s)};"
              f" venue CPU {batch_cpu / nb * 1e6:,.0f} µs/order")
        print(f"  book reads  (GET /book):                    {rate(nr, read_s)}   target ≥ 2,000/s;"
              f" venue CPU {read_cpu / nr * 1e6:,.0f} µs/read")
        print(f"  venue request log: POST /order={counts.get('POST /order', 0)} POST /orders={counts.get('POST /orders', 0)} GET /book={counts.get('GET /book', 0)}")
        print(f"  client threads: {len(clients)}, cores: {os.cpu_count()}")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
