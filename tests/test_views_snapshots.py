"""Snapshots of what an operator reads: `polymm status` (table and JSON) from a fixed ledger and `polymm
plan` (table and JSON) from a fixed observation through the one pure tick. Money to the cent, prices at
the market's tick, markets by question and outcome, dust with its reason, the plan's notes.

A snapshot that differs fails; after an intended change of a view, regenerate with
`POLYMM_TEST_UPDATE_SNAPSHOTS=1 scripts/test tests/test_views_snapshots.py` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D
from pathlib import Path

import pytest
from rich.console import Console

from polymm.text import catalog
from polymm.config import load_config
from polymm.controller import account
from polymm.controller.core import Controller
from polymm.domain.terms import FillTerms, OrderTerms
from polymm.domain.types import Book, Fill, RewardMarket, Token
from polymm.text.format import avg_price, money, money_json, price, shares
from polymm.observed.state import ObservedState
from polymm.desired.toxicity import ToxicityParams
from polymm.reconciler.memory import TickMemory
from polymm.reconciler.tick import decide
from polymm.ledger import Ledger, NewOrder
from polymm.views.status import gather_status, render_status
from polymm.views.plan import plan_json, print_plan

SNAPSHOTS = Path(__file__).parent / "snapshots"
NOW = datetime(2026, 9, 1, 12, tzinfo=timezone.utc).timestamp()
CFG = load_config(environ={})
YES_Q = "Will the Fed cut rates at its September 2026 meeting, as futures markets now price with high confidence?"


def check(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("POLYMM_TEST_UPDATE_SNAPSHOTS") == "1" or not path.exists():
        path.write_text(text)
        if os.environ.get("POLYMM_TEST_UPDATE_SNAPSHOTS") != "1":
            pytest.fail(f"{name} did not exist: written, review it and commit it")
    assert text == path.read_text(), f"{name} changed; diff it against the file (regenerate when intended)"


def render(renderable_or_fn, width: int = 200) -> str:
    console = Console(width=width, record=True, color_system=None, force_terminal=False)
    if callable(renderable_or_fn):
        renderable_or_fn(console)
    else:
        console.print(renderable_or_fn)
    return console.export_text()


# --- the formatter ----------------------------------------------------------------------------


def test_money_is_to_the_cent_with_the_sign_before_the_dollar() -> None:
    assert money(D("-1.1000")) == "-$1.10"
    assert money(D("-0.2100000000000000000000000001")) == "-$0.21"
    assert money(D("-0.001")) == "$0.00"  # no negative zero
    assert money(D("1234.5")) == "$1,234.50"
    assert money_json(D("-2.785000000000000000000000000")) == "-2.79"
    assert money(None) == "—" and money_json(None) is None


def test_prices_are_written_at_the_market_tick() -> None:
    assert [price(D("0.9"), D("0.01")), price(D("0.70"), D("0.01"))] == ["0.90", "0.70"]
    assert price(D("0.905"), D("0.001")) == "0.905"
    assert price(D("0.5"), D("0.1")) == "0.5"
    assert avg_price(D("0.305"), D("0.01")) == "0.305" and avg_price(D("0.61"), D("0.01")) == "0.61"
    assert shares(D("5")) == "5.00"


# --- status -----------------------------------------------------------------------------------

A, B = "0x" + "a1" * 32, "0x" + "b2" * 32
A_YES, A_NO, B_YES, B_NO = "1" * 70, "2" * 70, "3" * 70, "4" * 70


def _order(ledger: Ledger, n: int, cid: str, token: str, side: str, role: str, p: str, size: str) -> str:
    oid = f"0x{n:064x}"
    ledger.record_intent(NewOrder(OrderTerms(oid, f"{cid}|{token}|{side}|{role}", cid, token, side, role, D(p),
                                             D(size)), "GTC", True, {"order": {}}))
    ledger.transition(oid, "submit")
    ledger.transition(oid, "accept")
    return oid


def _fill(ledger: Ledger, n: int, oid: str, cid: str, token: str, side: str, size: str, p: str) -> None:
    ledger.apply_fill(Fill(FillTerms(f"trade-{n}", oid, cid, token, side, D(size), D(p), "maker", int(NOW) - 60),
                           "CONFIRMED"))


@pytest.fixture()
def status_ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path, clock=lambda: NOW - 30)
    # market A (0.01 tick): a quote partly filled, the position hedged by a resting sell
    q1 = _order(ledger, 1, A, A_YES, "BUY", "quote", "0.7", "20")
    _fill(ledger, 1, q1, A, A_YES, "BUY", "12", "0.70")
    ledger.transition(q1, "partial_fill", size_matched=D(12))
    _order(ledger, 2, A, A_YES, "SELL", "hedge", "0.72", "12")
    _order(ledger, 3, A, A_NO, "BUY", "quote", "0.27", "20")
    # market B (0.001 tick): bought, sold most back at a loss, a dust remainder below the 5-share minimum
    q4 = _order(ledger, 4, B, B_YES, "BUY", "quote", "0.305", "10")
    _fill(ledger, 2, q4, B, B_YES, "BUY", "10", "0.305")
    ledger.transition(q4, "fill", size_matched=D(10))
    h5 = _order(ledger, 5, B, B_YES, "SELL", "hedge", "0.284", "7")
    _fill(ledger, 3, h5, B, B_YES, "SELL", "7", "0.284")
    ledger.transition(h5, "fill", size_matched=D(7))
    ledger.set_cursor(catalog.CURSOR, json.dumps({
        A: catalog.entry(RewardMarket(A, YES_Q, (Token(A_YES, "Yes"), Token(A_NO, "No")), D(3), D(20), D(40),
                                      D("0.01"), D(5), False, None, None)),
        B: catalog.entry(RewardMarket(B, "Will Bitcoin close above $150,000 on December 31, 2026?",
                                      (Token(B_YES, "Yes"), Token(B_NO, "No")), D(3.5), D(5), D(12), D("0.001"),
                                      D(5), False, None, None)),
    }))
    ledger.set_cursor(account.CURSOR, json.dumps({"at": NOW - 20, "balance": "812.34", "allowance": "unlimited",
                                                  "rewards_paid_today": "1.27"}))
    ledger.journal_tick(NOW - 1.5, NOW - 1.2, {
        "tick": 42, "health": "ok", "why": "", "expected_rewards_per_day": 3.14159,
        "heartbeat_healthy": True, "user_channel": True, "notes": [],
        "market_data": {"backend": "in-process", "books_age_s": 0.4, "markets_age_s": 61.0},
    })
    ledger.close()
    return path


def _normalised(status: dict, path: Path) -> dict:
    assert status["ledger"] == str(path)
    return {**status, "ledger": "<ledger>"}


def test_status_table_snapshot(status_ledger: Path) -> None:
    text = render(render_status(gather_status(CFG, status_ledger, now=NOW)))
    assert YES_Q in text  # the whole question on a wide terminal, not cut at 48 columns
    assert "-$0.15" in text and "0.284" not in text  # realised loss to the cent; closed orders not listed
    assert "dust: below the 5.00-share minimum order, no sell possible" in text
    assert "paid today $1.27 (venue)" in text and "balance $812.34, allowance unlimited" in text
    check("status.txt", text)


def test_status_json_snapshot(status_ledger: Path) -> None:
    status = _normalised(gather_status(CFG, status_ledger, now=NOW), status_ledger)
    money_fields = [status["realized_pnl"], status["exposure_total"], status["fills_today_volume_usdc"],
                    status["expected_rewards_per_day"], *status["exposure"].values(),
                    *(p["realized_pnl"] for p in status["positions"])]
    assert all(re.fullmatch(r"-?\d+\.\d\d", m) for m in money_fields), money_fields
    assert {o["price"] for o in status["active_orders"]} == {"0.70", "0.72", "0.27"}
    check("status.json", json.dumps(status, indent=2, sort_keys=True) + "\n")


def test_status_says_which_orders_a_stop_left_unsettled(status_ledger: Path) -> None:
    ledger = Ledger(status_ledger, clock=lambda: NOW)
    ledger.transition(f"0x{3:064x}", "request_cancel")
    ledger.journal_tick(NOW - 1, NOW - 1, {"final": True, "tick": 43})
    ledger.close()
    status = gather_status(CFG, status_ledger, now=NOW)
    assert status["health"] == "stopped"
    assert status["why"] == "the service stopped with orders not settled: 1 cancel_requested"


def test_fills_csv_exports_every_fill_with_names_and_money_to_the_cent(status_ledger: Path) -> None:
    import csv
    import subprocess

    root = Path(__file__).resolve().parents[1]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("POLYMM_", "POLYMARKET_"))}
    done = subprocess.run([str(root / ".venv" / "bin" / "polymm"), "fills", "--csv"], cwd=root, capture_output=True,
                          text=True, timeout=60, env={**clean, "POLYMM_VENUE__MODE": "remote",
                                                      "POLYMM_LEDGER__PATH": str(status_ledger)})
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(done.stdout.splitlines()))
    assert [(r["question"][:12], r["outcome"], r["side"], r["role"], r["price"], r["size"], r["notional_usdc"])
            for r in rows] == [
        ("Will the Fed", "Yes", "BUY", "quote", "0.70", "12.00", "8.40"),
        ("Will Bitcoin", "Yes", "BUY", "quote", "0.305", "10.00", "3.05"),
        ("Will Bitcoin", "Yes", "SELL", "hedge", "0.284", "7.00", "1.99"),
    ]
    assert rows[0]["time_utc"] == "2026-09-01T11:59:00Z" and rows[0]["status"] == "CONFIRMED"
    assert rows[0]["fee_usdc"] == "0.00" and rows[0]["reversed"] == "no"


# --- plan -------------------------------------------------------------------------------------


def _market(cid: str, question: str, tick: str, **kw) -> RewardMarket:
    fields = dict(condition_id=cid, question=question, tokens=(Token(f"{cid[:6]}-yes" + "0" * 60, "Yes"),
                                                               Token(f"{cid[:6]}-no" + "0" * 61, "No")),
                  rewards_max_spread=D(3), rewards_min_size=D(10), rate_per_day=D(50), tick_size=D(tick),
                  min_order_size=D(5), neg_risk=False,
                  end_date=datetime.fromtimestamp(NOW, tz=timezone.utc) + timedelta(days=30), volume_24hr=D(1000))
    fields.update(kw)
    return RewardMarket(**fields)


def _books(m: RewardMarket, bid: str, ask: str) -> dict[str, Book]:
    tick = m.tick_size
    bids = [(D(bid) - k * tick, D(50 if k < 2 else 100)) for k in range(5)]
    asks = [(D(ask) + k * tick, D(50 if k < 2 else 100)) for k in range(5)]
    yes, no = m.token_ids
    return {yes: Book.from_levels(yes, bids, asks, tick),
            no: Book.from_levels(no, [(1 - p, s) for p, s in asks], [(1 - p, s) for p, s in bids], tick)}


@pytest.fixture()
def decision(tmp_path: Path):
    a = _market("0x" + "c3" * 32, YES_Q, "0.01")
    b = _market("0x" + "d4" * 32, "Will the 2026 Atlantic hurricane season have more than 20 named storms?", "0.001",
                rate_per_day=D(20))
    books = {**_books(a, "0.69", "0.71"), **_books(b, "0.402", "0.408")}
    ledger = Ledger(tmp_path / "plan.sqlite", clock=lambda: NOW)
    try:
        controller = Controller(CFG, None, None, ledger, clock=lambda: NOW)  # type: ignore[arg-type]
        observed = ObservedState(at=NOW, open_orders=(), fills=(), books=books, reward_markets=(a, b),
                                 collateral=D(1000), problems=("market 0xe5e5…: no market details",))
        # the controller's parameters without stepping back from toxic markets, as this snapshot was taken
        params = replace(controller.tick_params(), toxicity=ToxicityParams(0.0, D(0)))
        return decide(controller.snapshot(observed), observed, TickMemory(), params, NOW)[0]
    finally:
        ledger.close()


def test_plan_table_snapshot(decision) -> None:
    text = render(lambda console: print_plan(console, decision))
    assert YES_Q in text and "Notes (" in text
    check("plan.txt", text)


def test_plan_json_snapshot(decision) -> None:
    out = plan_json(decision)
    for a in out["actions"]:
        assert a["outcome"] in ("Yes", "No") and not a["market"].startswith("0x")
        places = 2 if a["condition_id"].startswith("0xc3") else 3
        assert re.fullmatch(rf"0\.\d{{{places}}}", a["price"]), a
    check("plan.json", json.dumps(out, indent=2, sort_keys=True) + "\n")
