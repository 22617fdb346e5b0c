"""Prometheus metrics scraped from `polymm reconcile --loop` (a real process) against the simulated venue,
and the Grafana dashboard in deploy/ charting exactly those metrics."""

from __future__ import annotations

import json
import re
import time
from decimal import Decimal
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from controller_support import h

ROOT = Path(__file__).resolve().parents[1]
GRAFANA = ROOT / "deploy" / "grafana-dashboard.json"
HEDGE_RESTS = {"POLYMM_HEDGE_SELL__MAX_BID_GAP": "0.001", "POLYMM_RISK__MIN_PROTECTION_SIZE_MULTIPLIER_HEDGE": "0"}
METRIC_NAMES = (
    "polymm_ticks_total", "polymm_tick_duration_seconds", "polymm_health", "polymm_heartbeat_healthy",
    "polymm_venue_requests_total", "polymm_venue_errors_total", "polymm_orders", "polymm_order_actions_total",
    "polymm_fills_total", "polymm_fill_volume_usdc_total", "polymm_fill_to_hedge_seconds", "polymm_exposure_usdc",
    "polymm_exposure_total_usdc", "polymm_exposure_cap_usdc", "polymm_exposure_cap_ratio", "polymm_pnl_usdc",
    "polymm_rewards_expected_usdc_per_day", "polymm_positions", "polymm_unhedged_shares", "polymm_data_age_seconds",
    "polymm_last_tick_timestamp_seconds", "polymm_balance_usdc",
)


def scrape(port: int) -> dict[str, list[tuple[dict, float]]]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    samples: dict[str, list[tuple[dict, float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, []).append((s.labels, s.value))
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    found = [v for lab, v in samples.get(name, []) if all(lab.get(k) == want for k, want in labels.items())]
    assert found, f"{name}{labels} not exported; have {sorted(samples)}"
    return sum(found)


def wait_for_metrics(port: int, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return scrape(port)
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_metrics_scraped_during_a_run_cover_ticks_venue_orders_fills_hedges_exposure_and_freshness(
        venue, truth, controllers):
    port = h.free_port()
    ctl = controllers("metrics", {**HEDGE_RESTS, "POLYMM_CONTROLLER__METRICS_PORT": str(port),
                                  "POLYMM_CONTROLLER__EARNINGS_INTERVAL_SECONDS": "1",
                                  "POLYMM_CONTROLLER__HEARTBEAT_INTERVAL_SECONDS": "0.5"})
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    quotes = [o for o in h.live_orders(truth.state(), ctl.address) if o["side"] == "BUY"
              and Decimal("0.2") <= Decimal(o["price"]) <= Decimal("0.8")]
    assert quotes
    h.take_through(truth, quotes[0], Decimal(1))
    visible = time.time()
    ctl.wait_tick_started_after(visible)
    # a read the venue fails twice: the errors counter and a degraded tick
    truth.faults({"rules": [{"match": "GET /data/trades*", "kind": "error_before", "status": 500, "max_count": 2}]})
    ctl.wait_ticks(4)
    samples = wait_for_metrics(port)
    state = truth.state()
    journal_ticks = ctl.last_tick()["summary"]["tick"]

    for name in METRIC_NAMES:
        assert any(n == name or n.startswith(name + "_") for n in samples), name
    ticks = value(samples, "polymm_ticks_total")
    assert 6 <= ticks <= journal_ticks + 1
    assert value(samples, "polymm_tick_duration_seconds_count") == ticks
    assert 0 < value(samples, "polymm_tick_duration_seconds_sum") < ticks * 10
    assert sum(v for lab, v in samples["polymm_health"]) == 1  # exactly one state is set
    assert value(samples, "polymm_heartbeat_healthy") == 1

    assert value(samples, "polymm_venue_requests_total", endpoint="GET /data/orders", outcome="ok") >= ticks - 1
    assert value(samples, "polymm_venue_requests_total", endpoint="POST /orders", outcome="ok") >= 1
    assert value(samples, "polymm_venue_requests_total", endpoint="POST /v1/heartbeats", outcome="ok") >= 1
    assert value(samples, "polymm_venue_errors_total", endpoint="GET /data/trades", outcome="unknown") == 2
    assert value(samples, "polymm_venue_requests_total", endpoint="GET /data/trades", outcome="unknown") == 2

    live = h.live_orders(state, ctl.address)
    assert value(samples, "polymm_orders", role="quote") == sum(1 for o in live if o["side"] == "BUY")
    assert value(samples, "polymm_orders", role="hedge") == sum(1 for o in live if o["side"] == "SELL") >= 1
    assert value(samples, "polymm_order_actions_total", action="confirmed") >= len(live)
    assert value(samples, "polymm_fills_total", side="BUY") == 1
    filled = Decimal(quotes[0]["original_size"]) * Decimal(quotes[0]["price"])
    assert abs(value(samples, "polymm_fill_volume_usdc_total", side="BUY") - float(filled)) < 1e-6
    assert value(samples, "polymm_fill_to_hedge_seconds_count") == 1
    assert 0 <= value(samples, "polymm_fill_to_hedge_seconds_sum") < 30  # one tick or so (a loaded CI machine is slow)
    assert value(samples, "polymm_positions") == 1
    assert value(samples, "polymm_unhedged_shares") == 0

    venue_exposure = h.exposure_by_market(state, ctl.address)
    exported = {lab["market"]: v for lab, v in samples["polymm_exposure_usdc"]}
    assert set(exported) >= {m for m, v in venue_exposure.items() if v > 0}
    for market, v in venue_exposure.items():
        assert abs(exported.get(market, 0.0) - float(v)) < 1e-6, market
    total = value(samples, "polymm_exposure_total_usdc")
    assert abs(total - float(sum(venue_exposure.values()))) < 1e-6
    assert value(samples, "polymm_exposure_cap_usdc", scope="total") == 250
    assert value(samples, "polymm_exposure_cap_usdc", scope="per_market") == 25
    assert abs(value(samples, "polymm_exposure_cap_ratio", scope="total") - total / 250) < 1e-9
    assert value(samples, "polymm_exposure_cap_ratio", scope="per_market") <= 1.0
    assert value(samples, "polymm_pnl_usdc", kind="trading_realized") == 0  # nothing sold yet
    assert value(samples, "polymm_rewards_expected_usdc_per_day") > 0
    assert 0 <= value(samples, "polymm_data_age_seconds", source="books") < 30
    assert abs(value(samples, "polymm_last_tick_timestamp_seconds") - time.time()) < 30
    money = h.account(state, ctl.address)
    assert value(samples, "polymm_pnl_usdc", kind="fees_paid") == money["fees_paid"] == 0  # makers pay no fee

    # simulated minutes of quoting (in steps the 0.5 s heartbeat keeps up with): the venue samples rewards, and
    # the metric follows the venue's figure
    for _ in range(40):
        truth.advance(2)
        time.sleep(0.2)
    earned = h.account(truth.state(), ctl.address)["rewards"]["accrued"]
    assert earned > 0
    deadline = time.monotonic() + 20
    while abs(value(scrape(port), "polymm_pnl_usdc", kind="rewards_today") - earned) > 1e-6:
        assert time.monotonic() < deadline, (earned, scrape(port)["polymm_pnl_usdc"])
        time.sleep(0.2)
    assert value(scrape(port), "polymm_pnl_usdc", kind="rebates_paid_yesterday") == 0
    assert 0 < value(scrape(port), "polymm_balance_usdc") <= 1000  # the funded wallet's collateral, read at start
    ctl.terminate()


def test_metrics_are_off_by_default_and_bind_loopback(tmp_path):
    from polymm.config import load_config

    cfg = load_config(environ={})
    assert cfg.controller.metrics_port is None
    assert cfg.controller.metrics_host == "127.0.0.1"


def test_grafana_dashboard_is_valid_json_charting_every_metric():
    board = json.loads(GRAFANA.read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    used = {m for e in exprs for m in re.findall(r"polymm_[a-z_]+", e)}
    base = {re.sub(r"_(bucket|count|sum)$", "", m) for m in used}
    for name in METRIC_NAMES:
        assert name in used or name in base, f"{name} is not charted"
    assert base <= set(METRIC_NAMES), base - set(METRIC_NAMES)
