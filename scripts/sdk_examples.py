#!/usr/bin/env python3
"""Run py-clob-client-v2's own example scripts against `polymm sim serve`, as a new user would.

The examples are not part of the installed package: point --examples at the `examples/` folder of a
checkout of github.com/Polymarket/py-clob-client-v2 (or set POLYMM_TEST_SDK_EXAMPLES). Each script runs
unchanged as its own process, with the environment it documents (PK, CLOB_API_KEY, CLOB_SECRET,
CLOB_PASS_PHRASE, PK2 …, DEPOSIT_WALLET, CLOB_API_URL, CHAIN_ID, YES_TOKEN_ID, NO_TOKEN_ID, CONDITION_ID), pointed at
a simulated venue this script starts (or at --url). A script fails when it exits non-zero, when its
output shows an HTTP 404 or a traceback.

    .venv/bin/python scripts/sdk_examples.py --examples /path/to/py-clob-client-v2/examples

Scripts left out, and why: account/approve_*allowances.py send transactions to a Polygon RPC (a chain);
market/market_socket.py and account/user_socket.py run forever on the `websocket-client` package
(the channels have their own tests in tests/test_sim_ws.py).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import httpx

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable

# (script, why it is left out) — everything else under examples/ runs
SKIPPED = {
    "account/approve_allowances.py": "sends transactions to a Polygon RPC",
    "account/approve_neg_risk_allowances.py": "sends transactions to a Polygon RPC",
    "market/market_socket.py": "runs forever on websocket-client",
    "account/user_socket.py": "runs forever on websocket-client",
}
# creates the wallet's first API key: run with a wallet that has none yet (a second create is refused, as at the venue)
FRESH_WALLET = ("keys/create_api_key.py",)
# run last: they change the wallet's keys or cancel everything
LAST = ("orders/cancel_all.py", "keys/delete_api_key.py")
PROBLEM = re.compile(r"\b404\b|Traceback \(most recent call last\)|JSONDecodeError|ValidationError|KeyError")


@dataclass
class Outcome:
    script: str
    returncode: int
    output: str

    @property
    def problems(self) -> list[str]:
        found = [m.group(0) for m in PROBLEM.finditer(self.output)]
        if self.returncode != 0:
            found.insert(0, f"exit {self.returncode}")
        return found


def _wallet(url: str) -> tuple[str, dict[str, str]]:
    from py_clob_client_v2.client import ClobClient

    key = "0x" + os.urandom(32).hex()
    creds = ClobClient(url, chain_id=137, key=key).create_or_derive_api_key()
    return key, {"api_key": creds.api_key, "secret": creds.api_secret, "passphrase": creds.api_passphrase}


def example_env(url: str) -> dict[str, str]:
    """Two funded wallets with API keys (the first with a deployed deposit wallet) and a 0.01-tick market in the
    middle of its range, as the examples' environment variables (the examples post at 0.4–0.6 with tick_size 0.01 and sell 100 shares)."""
    from eth_account import Account

    http = httpx.Client(base_url=url, timeout=30)
    markets = http.get("/sampling-markets").json()["data"]
    market = None
    for m in markets:
        if float(m["minimum_tick_size"]) != 0.01 or m.get("neg_risk") or not m.get("accepting_orders"):
            continue
        book = http.get("/book", params={"token_id": m["tokens"][0]["token_id"]}).json()
        bids = [float(b["price"]) for b in book["bids"]]
        asks = [float(a["price"]) for a in book["asks"]]
        if bids and asks and max(bids) < 0.4 and min(asks) > 0.6:  # the examples' resting orders rest
            market = m
            break
    if market is None:
        market = next(m for m in markets if float(m["minimum_tick_size"]) == 0.01 and not m.get("neg_risk"))
    yes, no = (t["token_id"] for t in market["tokens"])
    env = {"CLOB_API_URL": url, "CHAIN_ID": "137", "WS_URL": url.replace("http", "ws", 1),
           "YES_TOKEN_ID": yes, "NO_TOKEN_ID": no, "CONDITION_ID": market["condition_id"],
           "BUILDER_CODE": "0x" + "00" * 31 + "01"}
    for suffix in ("", "_2"):
        key, creds = _wallet(url)
        address = Account.from_key(key).address
        http.post("/_sim/fund", json={"address": address, "collateral": 10_000, "tokens": {yes: 1000, no: 1000}})
        if not suffix:  # the first wallet also has a deposit wallet (gtc_limit_buy_deposit_wallet.py: type 3)
            env["DEPOSIT_WALLET"] = http.post("/_sim/wallet", json={"owner": address, "signature_type": 3}).json()["address"]
        env.update({f"PK{suffix.replace('_', '')}": key, f"CLOB_API_KEY{suffix}": creds["api_key"],
                    f"CLOB_SECRET{suffix}": creds["secret"], f"CLOB_PASS_PHRASE{suffix}": creds["passphrase"]})
    http.close()
    return env


def scripts_in(examples: Path) -> list[str]:
    names = sorted(str(p.relative_to(examples)) for p in examples.rglob("*.py")
                   if p.name != "__init__.py" and "abi" not in p.parts)
    names = [n for n in names if n not in SKIPPED]
    return [n for n in names if n not in LAST] + [n for n in LAST if n in names]


def run_examples(examples: Path, url: str, only: list[str] | None = None, timeout_s: float = 60) -> list[Outcome]:
    env = {**os.environ, **example_env(url), "PYTHONPATH": str(examples.parent)}
    out = []
    for script in only or scripts_in(examples):
        run_env = {**env, "PK": "0x" + os.urandom(32).hex()} if script in FRESH_WALLET else env
        try:
            done = subprocess.run([PYTHON, str(examples / script)], env=run_env, cwd=examples.parent, capture_output=True,
                                  text=True, timeout=timeout_s)
            out.append(Outcome(script, done.returncode, done.stdout + done.stderr))
        except subprocess.TimeoutExpired as exc:
            out.append(Outcome(script, -1, f"timed out after {timeout_s} s: {exc.stdout or ''}{exc.stderr or ''}"))
    return out


# ------------------------------------------------------------------------------------------------ drivers
def _calls(steps: list[tuple[str, Callable[[], Any]]]) -> list[tuple[str, str | None]]:
    """Run each (name, call); the error of the ones that raised (the type and message), None for the others."""
    out = []
    for name, call in steps:
        try:
            call()
            out.append((name, None))
        except Exception as exc:  # a client error of any kind is what this reports
            out.append((name, f"{type(exc).__name__}: {exc}"))
    return out


def drive_sdk_like_examples(env: dict[str, str]) -> list[tuple[str, str | None]]:
    """The public py-clob-client-v2 methods the examples call, with the examples' arguments, in this process
    (for when no checkout of the examples is at hand; names are the example scripts they stand for)."""
    from py_clob_client_v2 import (ApiCreds, BookParams, OpenOrderParams, OrderArgs, OrderMarketCancelParams,
                                   OrderPayload, OrderType, PartialCreateOrderOptions, PriceHistoryInterval,
                                   PricesHistoryParams, Side, TradeParams)
    from py_clob_client_v2.clob_types import (AssetType, BalanceAllowanceParams, MarketOrderArgs,
                                              OrderScoringParams, OrdersScoringParams, DropNotificationParams)
    from py_clob_client_v2.client import ClobClient

    url, yes, no, cid = env["CLOB_API_URL"], env["YES_TOKEN_ID"], env["NO_TOKEN_ID"], env["CONDITION_ID"]
    public = ClobClient(url, chain_id=137)
    creds = ApiCreds(env["CLOB_API_KEY"], env["CLOB_SECRET"], env["CLOB_PASS_PHRASE"])
    c = ClobClient(url, chain_id=137, key=env["PK"], creds=creds)
    c2 = ClobClient(url, chain_id=137, key=env["PK2"],
                    creds=ApiCreds(env["CLOB_API_KEY_2"], env["CLOB_SECRET_2"], env["CLOB_PASS_PHRASE_2"]))
    opts = PartialCreateOrderOptions(tick_size="0.01")
    placed: dict[str, str] = {}

    def buy():
        placed["buy"] = c.create_and_post_order(OrderArgs(token_id=yes, price=0.4, side=Side.BUY, size=100), opts,
                                                OrderType.GTC)["orderID"]

    def sell():
        placed["sell"] = c.create_and_post_order(OrderArgs(token_id=yes, price=0.6, side=Side.SELL, size=100), opts,
                                                 OrderType.GTC)["orderID"]

    def market_buy():
        c2.create_and_post_order(OrderArgs(token_id=no, price=0.55, side=Side.SELL, size=10), opts, OrderType.GTC)
        c.create_and_post_market_order(MarketOrderArgs(token_id=no, amount=5, side=Side.BUY, order_type=OrderType.FOK),
                                       opts, OrderType.FOK)

    steps = [
        ("market/get_server_time.py", public.get_server_time),
        ("market/get_markets.py", lambda: (public.get_market(cid), public.get_markets(), public.get_simplified_markets(),
                                           public.get_sampling_markets(), public.get_sampling_simplified_markets())),
        ("market/get_orderbook.py", lambda: public.get_order_book_hash(public.get_order_book(yes))),
        ("market/get_orderbooks.py", lambda: public.get_order_books([BookParams(token_id=yes), BookParams(token_id=no)])),
        ("market/get_midpoint.py", lambda: public.get_midpoint(yes)),
        ("market/get_midpoints.py", lambda: public.get_midpoints([BookParams(token_id=yes), BookParams(token_id=no)])),
        ("market/get_price.py", lambda: (public.get_price(yes, "BUY"), public.get_price(yes, "SELL"))),
        ("market/get_prices.py", lambda: public.get_prices([BookParams(token_id=yes, side=Side.BUY),
                                                             BookParams(token_id=no, side=Side.SELL)])),
        ("market/get_spread.py", lambda: public.get_spread(yes)),
        ("market/get_spreads.py", lambda: public.get_spreads([BookParams(token_id=yes), BookParams(token_id=no)])),
        ("market/get_last_trade_price.py", lambda: public.get_last_trade_price(yes)),
        ("market/get_last_trades_prices.py", lambda: public.get_last_trades_prices([BookParams(token_id=yes)])),
        ("market/get_prices_history.py", lambda: public.get_prices_history(
            PricesHistoryParams(market=yes, interval=PriceHistoryInterval.ONE_HOUR, fidelity=1))),
        ("keys/get_api_keys.py", c.get_api_keys),
        ("scoring/get_closed_only_mode.py", c.get_closed_only_mode),
        ("orders/gtc_limit_buy.py", buy),
        ("orders/gtc_limit_sell.py", sell),
        ("orders/market_buy.py", market_buy),
        ("account/get_open_orders.py", lambda: c.get_open_orders(OpenOrderParams(market=cid))),
        ("account/get_order.py", lambda: c.get_order(placed["buy"])),
        ("account/get_trades.py", lambda: c.get_trades(TradeParams(market=cid), only_first_page=True)),
        ("account/get_notifications.py", c.get_notifications),
        ("account/drop_notifications.py", lambda: c.drop_notifications(DropNotificationParams(ids=["1"]))),
        ("account/get_balance_allowance.py", lambda: c.get_balance_allowance(
            BalanceAllowanceParams(asset_type=AssetType.COLLATERAL))),
        ("account/rewards.py", lambda: (c.get_earnings_for_user_for_day("2024-04-09"), c.get_reward_percentages(),
                                        c.get_current_rewards(), c.get_raw_rewards_for_market(cid),
                                        c.get_user_earnings_and_markets_config("2025-01-31", "earnings", "DESC", True))),
        ("scoring/is_order_scoring.py", lambda: c.is_order_scoring(OrderScoringParams(orderId=placed["buy"]))),
        ("scoring/are_orders_scoring.py", lambda: c.are_orders_scoring(OrdersScoringParams(orderIds=[placed["buy"]]))),
        ("builders/create_builder_api_key.py", c.create_builder_api_key),
        ("builders/get_builder_api_keys.py", c.get_builder_api_keys),
        ("orders/cancel_order.py", lambda: c.cancel_order(OrderPayload(orderID=placed["buy"]))),
        ("orders/cancel_market_orders.py", lambda: c.cancel_market_orders(
            OrderMarketCancelParams(market=cid))),
        ("orders/cancel_all.py", c.cancel_all),
    ]
    return _calls(steps)


def official_environment(url: str):
    """polymarket-client's production Environment with every URL it needs pointed at the simulated venue. The
    package has no public constructor for one: this uses its `polymarket._internal.environment.create_environment`."""
    import dataclasses

    from polymarket import PRODUCTION
    from polymarket._internal.environment import create_environment, get_environment_config

    ws = url.replace("http", "ws", 1)
    config = dataclasses.replace(get_environment_config(PRODUCTION), clob_url=url, gamma_url=f"{url}/gamma",
                                 data_url=f"{url}/dataapi", relayer_url=f"{url}/relayer",
                                 clob_market_ws_url=f"{ws}/ws/market", clob_user_ws_url=f"{ws}/ws/user")
    return create_environment(name="polymm-sim", config=config)


def drive_official_client(env: dict[str, str], wallet: str | None = None) -> list[tuple[str, str | None]]:
    """The official `polymarket-client` package's CLOB methods against the simulated venue (PublicClient and
    SecureClient), each parsed into the package's own models — a shape mismatch is a parse error here."""
    import itertools

    from eth_account import Account
    from polymarket import PriceRequest, PublicClient, SecureClient

    environment = official_environment(env["CLOB_API_URL"])
    yes, no, cid = env["YES_TOKEN_ID"], env["NO_TOKEN_ID"], env["CONDITION_ID"]
    pub = PublicClient(environment)
    sec = SecureClient.create(private_key=env["PK"], wallet=wallet or Account.from_key(env["PK"]).address,
                              environment=environment)
    first = lambda pager: list(itertools.islice(pager.iter_items(), 5))  # noqa: E731  (parses the rows)
    placed: dict[str, str] = {}
    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")

    def place():
        reply = sec.place_limit_order(token_id=yes, price="0.4", size="100", side="BUY")
        placed["id"] = reply.order_id if hasattr(reply, "order_id") else reply.id
        if type(reply).__name__ != "AcceptedOrder":
            raise AssertionError(f"order refused: {reply!r}")

    steps = [
        ("get_order_book", lambda: pub.get_order_book(token_id=yes)),
        ("get_order_books", lambda: pub.get_order_books(token_ids=[yes, no])),
        ("get_midpoint", lambda: pub.get_midpoint(token_id=yes)),
        ("get_midpoints", lambda: pub.get_midpoints(token_ids=[yes, no])),
        ("get_price", lambda: (pub.get_price(token_id=yes, side="BUY"), pub.get_price(token_id=yes, side="SELL"))),
        ("get_prices", lambda: pub.get_prices(requests=[PriceRequest(yes, "BUY"), PriceRequest(no, "SELL")])),
        ("get_spread", lambda: pub.get_spread(token_id=yes)),
        ("get_spreads", lambda: pub.get_spreads(token_ids=[yes, no])),
        ("get_last_trade_price", lambda: pub.get_last_trade_price(token_id=yes)),
        ("get_last_trade_prices", lambda: pub.get_last_trade_prices(token_ids=[yes, no])),
        ("list_markets (Gamma)", lambda: first(pub.list_markets())),
        ("get_market (Gamma)", lambda: pub.get_market(slug=first(pub.list_markets())[0].slug)),
        ("list_positions (Data API)", lambda: first(pub.list_positions(user=sec.wallet))),
        ("list_trades (Data API)", lambda: first(pub.list_trades(user=sec.wallet))),
        ("list_price_history (Data API)", lambda: first(pub.list_price_history(asset_id=yes, interval="1d"))),
        ("estimate_market_price", lambda: pub.estimate_market_price(token_id=yes, side="BUY", amount="5")),
        ("list_current_rewards", lambda: first(pub.list_current_rewards())),
        ("list_market_rewards", lambda: first(pub.list_market_rewards(condition_id=cid))),
        ("get_current_rebates", lambda: pub.get_current_rebates(date=today, maker_address=sec.wallet)),
        ("fetch_api_keys", sec.fetch_api_keys),
        ("get_closed_only_mode", sec.get_closed_only_mode),
        ("send_order_heartbeat", lambda: sec.send_order_heartbeat()),
        ("get_balance_allowance", lambda: sec.get_balance_allowance(asset_type="COLLATERAL")),
        ("place_limit_order", place),
        ("list_open_orders", lambda: first(sec.list_open_orders(market=cid))),
        ("get_order", lambda: sec.get_order(order_id=placed["id"])),
        ("get_order_scoring", lambda: sec.get_order_scoring(order_id=placed["id"])),
        ("get_orders_scoring", lambda: sec.get_orders_scoring(order_ids=[placed["id"]])),
        ("list_account_trades", lambda: first(sec.list_account_trades(market=cid))),
        ("get_notifications", sec.get_notifications),
        ("list_user_earnings_for_day", lambda: first(sec.list_user_earnings_for_day(date=today))),
        ("get_total_earnings_for_user_for_day", lambda: sec.get_total_earnings_for_user_for_day(date=today)),
        ("list_user_earnings_and_markets_config", lambda: first(sec.list_user_earnings_and_markets_config(date=today))),
        ("get_reward_percentages", sec.get_reward_percentages),
        ("create_builder_api_key", sec.create_builder_api_key),
        ("fetch_builder_api_keys", sec.fetch_builder_api_keys),
        ("cancel_order", lambda: sec.cancel_order(order_id=placed["id"])),
        ("cancel_orders", lambda: sec.cancel_orders(order_ids=[placed["id"]])),
        ("cancel_market_orders", lambda: sec.cancel_market_orders(market=cid)),
        ("cancel_all", sec.cancel_all),
    ]
    try:
        return _calls(steps)
    finally:
        sec.close()
        pub.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=Path, default=os.environ.get("POLYMM_TEST_SDK_EXAMPLES"),
                        help="the examples/ folder of a py-clob-client-v2 checkout (env POLYMM_TEST_SDK_EXAMPLES)")
    parser.add_argument("--url", help="a running simulated venue (default: start `polymm sim serve` here)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every script's output")
    args = parser.parse_args()
    if not args.examples or not (Path(args.examples) / "orders").is_dir():
        parser.error("--examples must be the examples/ folder of a py-clob-client-v2 checkout")
    sys.path.insert(0, str(ROOT / "tests"))
    from controller_support import h

    venue = None
    try:
        if args.url:
            url = args.url
        else:
            venue = h.VenueProcess(seed=5, speed=1, markets=30).start()
            url = venue.url
        outcomes = run_examples(Path(args.examples), url)
    finally:
        if venue:
            venue.stop()
    bad = 0
    for o in outcomes:
        problems = o.problems
        bad += bool(problems)
        print(f"{'FAIL' if problems else 'ok  '} {o.script}" + (f"  ({', '.join(problems)})" if problems else ""))
        if problems or args.verbose:
            print("     " + o.output.strip().replace("\n", "\n     "))
    print(f"{len(outcomes) - bad} passed, {bad} failed ({len(SKIPPED)} left out: {', '.join(SKIPPED)})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
