"""`polymm plan` end to end: the real CLI as a subprocess against the simulated venue (remote mode).

The plan is a dry run of the same functions `reconcile` calls: it lists what the next tick would do
and sends nothing. The venue's own request log (`/_sim/requests`, keys "METHOD /path") proves it made
no POST and no DELETE; the filesystem proves it created no ledger; the ledger's rows prove it wrote
nothing. Orders placed straight through the SDK are not in polymm's ledger, so they are foreign.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from decimal import Decimal as D
from pathlib import Path

import httpx
import pytest
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import OrderArgsV2, PartialCreateOrderOptions

from polymm.sim.runner import SimVenue

ROOT = Path(__file__).resolve().parents[1]
POLYMM = ROOT / ".venv" / "bin" / "polymm"
SDK_KEY = "0x" + "5a" * 32  # fixed: the CLI must find the same account
POLYMM_KEY = "0x" + "3c" * 32
TIMEOUT_S = 60


def env_for(venue: SimVenue, key: str, ledger: Path, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("POLYMM_", "POLYMARKET_"))}
    urls = venue.urls
    return {
        **clean,
        "POLYMM_VENUE__MODE": "remote",
        "POLYMM_VENUE__CLOB_URL": urls["clob_url"],
        "POLYMM_VENUE__GAMMA_URL": urls["gamma_url"],
        "POLYMM_VENUE__DATA_URL": urls["data_url"],
        "POLYMM_VENUE__WS_URL": urls["ws_url"],
        "POLYMARKET_PRIVATE_KEY": key,
        "POLYMM_LEDGER__PATH": str(ledger),
        "POLYMM_LOGGING__DIRECTORY": str(ledger.parent / "logs"),
        **extra,
    }


def run_plan(env: dict[str, str]) -> dict:
    done = subprocess.run([str(POLYMM), "plan", "--json"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def writes_between(before: dict, after: dict) -> dict[str, int]:
    """POST and DELETE requests the venue received between two reads of its request log."""
    return {k: n - before["counts"].get(k, 0) for k, n in after["counts"].items()
            if k.split(" ", 1)[0] in ("POST", "DELETE") and n != before["counts"].get(k, 0)}


def ledger_rows(path: Path) -> tuple:
    """Everything polymm keeps in its ledger, read without writing (read-only connection)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return tuple(tuple(conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall())
                     for table in ("orders", "order_events", "fills", "positions", "cursors", "ticks", "selection"))
    finally:
        conn.close()


def our_open_orders(admin, address: str) -> dict[str, dict]:
    account = admin.state()["accounts"].get(address, {})
    return {o["id"]: o for o in account.get("open_orders", [])}


# ----------------------------------------------------------------------------- foreign orders
def place_foreign_orders(venue: SimVenue, client: ClobClient, count: int) -> set[str]:
    """Resting buys at each market's lowest price (far from any taker), placed straight through the SDK."""

    def markets():
        return [m for m in venue.server.engine.markets.values() if m.rate_per_day > 0][:count]

    ids = set()
    for m in venue.call(markets):
        order = client.create_order(
            OrderArgsV2(token_id=m.token_ids[0], price=float(m.tick_str), size=float(max(5, m.min_order_size)), side="BUY"),
            PartialCreateOrderOptions(tick_size=m.tick_str, neg_risk=m.neg_risk))
        reply = client.post_order(order)
        assert reply["success"] and reply["status"] == "live", reply
        ids.add(reply["orderID"])
    return ids


@pytest.fixture
def foreign_setup(venue, admin, make_client, tmp_path):
    client = make_client(key=SDK_KEY)
    ids = place_foreign_orders(venue, client, 3)
    assert set(our_open_orders(admin, client.get_address())) == ids
    return ids, tmp_path / "state" / "ledger.sqlite"


def test_plan_leaves_foreign_orders_alone_and_lists_places_for_the_selected_markets(venue, admin, foreign_setup):
    sdk_ids, ledger = foreign_setup
    before = admin.requests()
    out = run_plan(env_for(venue, SDK_KEY, ledger))
    after = admin.requests()

    assert writes_between(before, after) == {}
    assert not any(ledger.parent.glob("ledger.sqlite*")), "a plan without a ledger uses a throwaway one"
    assert set(out["foreign_orders"]) == sdk_ids
    assert [a for a in out["actions"] if a["action"] == "cancel"] == []
    assert out["selected_markets"], "the simulated universe has quotable reward markets"
    places = [a for a in out["actions"] if a["action"] == "place"]
    assert places and all(a["side"] == "BUY" and a["role"] == "quote" and a["after_cancel"] is None for a in places)
    assert {a["condition_id"] for a in places} <= set(out["selected_markets"])
    # every selected market is either quoted or its quotes were refused by the risk gate, with a reason
    dropped_markets = {a["slot"].split("|")[0] for a in out["dropped"] if a["reason"]}
    assert set(out["selected_markets"]) <= {a["condition_id"] for a in places} | dropped_markets
    assert "open_orders" not in out["unknown_sections"]


def test_plan_with_cancel_foreign_lists_exactly_the_foreign_cancels_and_sends_none(venue, admin, foreign_setup):
    sdk_ids, ledger = foreign_setup
    before = admin.requests()
    out = run_plan(env_for(venue, SDK_KEY, ledger, POLYMM_CONTROLLER__CANCEL_FOREIGN_ORDERS="true"))
    after = admin.requests()

    assert writes_between(before, after) == {}
    assert not any(ledger.parent.glob("ledger.sqlite*"))
    cancels = [a for a in out["actions"] if a["action"] == "cancel"]
    assert {a["order_id"] for a in cancels} == sdk_ids and len(cancels) == len(sdk_ids)
    assert all(a["role"] == "foreign" for a in cancels)
    # the orders are still there: a plan only lists
    assert set(our_open_orders(admin, ClobClient(venue.url, chain_id=137, key=SDK_KEY).get_address())) == sdk_ids


# ----------------------------------------------------------------------------- polymm's own orders
def wait_for(predicate, what: str, timeout: float = TIMEOUT_S, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def leave_quotes_behind(venue: SimVenue, admin, env: dict[str, str], address: str, ledger: Path) -> dict[str, dict]:
    """Run the controller until its quotes rest at the venue and in its ledger, then kill -9 it
    (a clean stop would cancel its quotes). The venue's clock is manual, so no heartbeat expires."""
    log = open(ledger.parent.parent / "reconcile.out", "w")
    proc = subprocess.Popen([str(POLYMM), "reconcile", "--loop"], cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        def settled():
            live = our_open_orders(admin, address)
            if not live or not ledger.exists():
                return None
            rows = dict(sqlite3.connect(f"file:{ledger}?mode=ro", uri=True).execute(
                "SELECT order_id, state FROM orders WHERE state IN ('intent','submitting','unknown','open',"
                "'partially_filled','cancel_requested')").fetchall())
            return live if rows and set(rows) == set(live) and set(rows.values()) == {"open"} else None

        live = wait_for(settled, "the controller's quotes to rest")
        time.sleep(1.0)  # a few more (idle) ticks: nothing changes on a frozen venue
        assert set(settled() or {}) == set(live), "the controller kept changing orders on a frozen venue"
    finally:
        proc.kill()
        proc.wait(TIMEOUT_S)
        log.close()
    return live


def sweep_best_bid(venue: SimVenue, admin, token_id: str) -> None:
    book = httpx.get(f"{venue.url}/book", params={"token_id": token_id}).json()
    best = max(book["bids"], key=lambda lv: D(lv["price"]))
    admin.take(token_id, "SELL", float(best["price"]), float(best["size"]))


def test_plan_after_a_book_moves_lists_only_changes_to_polymm_orders_and_sends_nothing(venue, admin, tmp_path):
    ledger = tmp_path / "state" / "ledger.sqlite"
    env = env_for(venue, POLYMM_KEY, ledger)
    address = ClobClient(venue.url, chain_id=137, key=POLYMM_KEY).get_address()
    live = leave_quotes_behind(venue, admin, env, address, ledger)
    rows_before = ledger_rows(ledger)

    # Nothing moved: the venue already matches the desired state.
    before = admin.requests()
    calm = run_plan(env)
    assert writes_between(before, admin.requests()) == {}
    assert calm["actions"] == [] and calm["dropped"] == [] and calm["foreign_orders"] == []
    assert set(calm["kept"]) == set(live)

    # Sweep the best bid under one of our quotes: that token's quote price must move.
    ours_by_token = {}
    for oid, o in live.items():
        ours_by_token.setdefault(o["asset_id"], []).append(oid)
    token = next(t for t, ids in sorted(ours_by_token.items())
                 if all(D(live[i]["price"]) < max(D(lv["price"]) for lv in httpx.get(
                     f"{venue.url}/book", params={"token_id": t}).json()["bids"]) for i in ids))
    sweep_best_bid(venue, admin, token)
    assert set(our_open_orders(admin, address)) == set(live), "the sweep must not touch our orders"

    before = admin.requests()
    out = run_plan(env)
    assert writes_between(before, admin.requests()) == {}
    assert ledger_rows(ledger) == rows_before, "a plan writes nothing to the ledger"

    cancels = [a for a in out["actions"] if a["action"] == "cancel"]
    places = [a for a in out["actions"] if a["action"] == "place"]
    cancelled = {a["order_id"] for a in cancels}
    assert cancelled, "a moved book must change at least one quote"
    assert set(ours_by_token[token]) <= cancelled
    # Every order of ours is either kept or cancelled — never both, never forgotten.
    assert cancelled | set(out["kept"]) == set(live) and not cancelled & set(out["kept"])
    live_by_slot = {}
    for a in cancels:
        assert a["order_id"] in live and a["role"] == "quote"
        live_by_slot[a["slot"]] = a["order_id"]
    kept_slots = {f"{live[i]['market']}|{live[i]['asset_id']}|{live[i]['side']}|quote" for i in out["kept"]}
    for p in places:
        # a place goes into an empty slot, or replaces exactly the order cancelled there
        assert p["slot"] not in kept_slots
        assert p["after_cancel"] == live_by_slot.get(p["slot"])
    assert out["foreign_orders"] == []
