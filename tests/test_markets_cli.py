"""`polymm markets` end to end: the real CLI as a subprocess against the simulated venue.

Embedded mode starts its own simulated venue inside the CLI process; remote mode points the CLI at
the `venue` fixture (manual clock, so its books stay put while the test checks the quotes against
them) and then reads the venue's own request log to prove the command only read.
"""

from __future__ import annotations

import json
import os
import subprocess
from decimal import Decimal as D
from pathlib import Path

import httpx
import pytest

from polymm.config import load_config
from polymm.desired.funnel import STEP_NAMES
from polymm.domain.ticks import is_valid_price
from polymm.sim.runner import SimVenue
from polymm.sim.universe import generate_markets

ROOT = Path(__file__).resolve().parents[1]
POLYMM = ROOT / ".venv" / "bin" / "polymm"
CONFIG = load_config(environ={})


def run_markets(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `polymm markets ARGS` with the repository config and no POLYMM_* variables but `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("POLYMM_")}
    return subprocess.run([str(POLYMM), "markets", *args], cwd=ROOT, env={**clean, **(env or {})},
                          capture_output=True, text=True, timeout=120)


def remote_env(venue: SimVenue) -> dict[str, str]:
    urls = venue.urls
    return {
        "POLYMM_VENUE__MODE": "remote",
        "POLYMM_VENUE__CLOB_URL": urls["clob_url"],
        "POLYMM_VENUE__GAMMA_URL": urls["gamma_url"],
        "POLYMM_VENUE__DATA_URL": urls["data_url"],
        "POLYMM_VENUE__WS_URL": urls["ws_url"],
    }


def check_funnel(out: dict, max_markets: int) -> None:
    """The funnel's shape: every step named and counted, never growing, ending at what was selected."""
    assert [step["rule"] for step in out["funnel"]] == list(STEP_NAMES)
    counts = [step["remaining"] for step in out["funnel"]]
    assert counts == sorted(counts, reverse=True)
    assert counts[-1] == len(out["selected"]) <= max_markets
    assert counts[0] > 0


def check_rejections(out: dict) -> None:
    """Each reward market is selected or rejected with a rule and a reason; each step's loss is explained."""
    rejected, selected = out["rejected"], {ev["condition_id"] for ev in out["selected"]}
    assert all(r["rule"] in STEP_NAMES[1:] and r["reason"] for r in rejected)
    assert len({r["condition_id"] for r in rejected} | selected) == len(rejected) + len(selected)
    assert len(rejected) + len(selected) == out["funnel"][0]["remaining"]
    for before, after in zip(out["funnel"], out["funnel"][1:]):
        lost = sum(1 for r in rejected if r["rule"] == after["rule"])
        assert before["remaining"] - after["remaining"] == lost, after["rule"]


def check_quote_shapes(out: dict) -> None:
    for ev in out["selected"]:
        assert ev["quotes"], ev["condition_id"]
        for q in ev["quotes"]:
            lower, upper = (D(x) for x in q["band"])
            price = D(q["price"])
            assert q["side"] == "BUY"
            assert price <= (lower + upper) / 2  # at or below the midpoint, hence below the best ask
            assert D(q["size"]) >= D(str(ev["rewards_min_size"])) * CONFIG.strategy.order_size_multiplier


# --- embedded simulated venue -------------------------------------------------------------


@pytest.fixture(scope="module")
def embedded_all() -> dict:
    # the generated universe: 300 markets of which more pass the funnel than its 10 places (the "top N" rule below),
    # and whose ticks generate_markets rebuilds
    result = run_markets("--json", "--all", env={"POLYMM_VENUE__SIM__UNIVERSE": "generated"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_markets_json_in_embedded_mode_shows_the_funnel_and_the_selected_quotes() -> None:
    result = run_markets("--json")

    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    check_funnel(out, CONFIG.strategy.max_markets)
    check_quote_shapes(out)
    assert "rejected" not in out  # only with --all
    # The simulated universe's end dates are anchored at 2026-11-24 while the CLI judges days-to-end
    # by the wall clock, so this holds for months, not forever (see polymm/sim/universe.py).
    assert out["selected"], "the default simulated universe should yield some markets to quote"


def test_markets_json_all_lists_every_rejected_market_with_its_rule_and_reason(embedded_all: dict) -> None:
    check_funnel(embedded_all, CONFIG.strategy.max_markets)
    check_rejections(embedded_all)
    assert any(r["rule"] == "top N" for r in embedded_all["rejected"])  # 300 markets, 10 places


def test_embedded_quotes_are_on_their_markets_tick(embedded_all: dict) -> None:
    # The embedded venue is seeded from config: its universe (and so each market's tick) is known.
    sim = CONFIG.venue.sim
    ticks = {m.condition_id: D(m.tick_pips) / 10_000 for m in generate_markets(sim.markets, sim.seed)}

    for ev in embedded_all["selected"]:
        for q in ev["quotes"]:
            assert is_valid_price(D(q["price"]), ticks[ev["condition_id"]]), (ev["condition_id"], q["price"])


def test_markets_tables_in_embedded_mode_print_the_funnel_selection_and_rejections() -> None:
    result = run_markets("--all")

    assert result.returncode == 0, result.stderr
    for title in ("Market funnel", "Selected markets", "Rejected markets"):
        assert title in result.stdout


# --- remote mode against the venue fixture ------------------------------------------------


def test_markets_in_remote_mode_reads_the_venue_and_sends_no_order_or_cancel(venue: SimVenue) -> None:
    result = run_markets("--json", "--all", env=remote_env(venue))

    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    check_funnel(out, CONFIG.strategy.max_markets)
    check_rejections(out)
    check_quote_shapes(out)
    assert out["selected"]
    with httpx.Client(base_url=venue.url, timeout=30) as http:
        for ev in out["selected"]:
            for q in ev["quotes"]:
                book = http.get("/book", params={"token_id": q["token_id"]}).json()
                price, tick = D(q["price"]), D(book["tick_size"])
                assert is_valid_price(price, tick)
                assert price < min(D(a["price"]) for a in book["asks"])
        counts = http.get("/_sim/requests").json()["counts"]
    assert counts.get("GET /rewards/markets/current") and counts.get("POST /books")
    writes = [key for key in counts
              if key.startswith(("DELETE ", "PUT ", "PATCH ")) or key in ("POST /order", "POST /orders")]
    assert writes == []
    assert {key for key in counts if key.startswith("POST ")} <= {"POST /books"}  # a batched read


def test_markets_tables_in_remote_mode_show_what_would_be_quoted(venue: SimVenue) -> None:
    result = run_markets(env=remote_env(venue))

    assert result.returncode == 0, result.stderr
    assert "Market funnel" in result.stdout and "Selected markets" in result.stdout
    assert "Rejected markets" not in result.stdout


# --- configuration errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("POLYMM_STRATEGY__MAX_MARKETS", "0",
         "config error: strategy.max_markets: 0 — must be ≥ 1 (set by POLYMM_STRATEGY__MAX_MARKETS)"),
        ("POLYMM_VENUE__MODE", "paper",
         "config error: venue.mode: 'paper' — must be 'embedded-sim' or 'remote' (set by POLYMM_VENUE__MODE)"),
    ],
)
def test_a_bad_config_value_from_the_environment_exits_2_with_one_line(variable: str, value: str, message: str) -> None:
    result = run_markets("--json", env={variable: value})

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [message]
