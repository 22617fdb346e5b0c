"""The trend rule end to end: the venue's price history (GET /prices-history, through the real SDK) and a plan that
judges a market's last hour from it — stepping back from a trending market at once, and quoting a calm one at once
instead of watching it for an hour first (polymm.desired.toxicity, polymm.sim.history)."""

from __future__ import annotations

import pytest
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import PricesHistoryParams
from py_clob_client_v2.exceptions import PolyApiException

from polymm.sim.runner import SimOptions, SimVenue
from test_plan_cli import POLYMM_KEY, env_for, run_plan


@pytest.fixture
def sim_options() -> SimOptions:
    """conftest's venue on the generated universe: its calm seed 7 has markets the default funnel quotes at once."""
    return SimOptions(seed=7, speed=0, markets=30, scenario="calm", balance_delay_s=0.0, universe="generated")


def _reward_market(venue):
    return venue.call(lambda: next(m for m in venue.server.engine.markets.values()
                                   if m.rate_per_day > 0 and m.book.best_bid() and m.book.best_ask()))


def test_price_history_is_a_midpoint_a_minute_with_a_day_before_the_start(venue, client, admin):
    market = _reward_market(venue)
    yes, no = market.token_ids
    now = int(admin.state()["now"])
    hour = client.get_prices_history(PricesHistoryParams(market=yes, interval="1h"))["history"]
    assert [p["t"] for p in hour] == list(range(hour[0]["t"], hour[-1]["t"] + 1, 60))
    assert now - 3600 <= hour[0]["t"] < now - 3540 and hour[-1]["t"] <= now
    assert hour[-1]["p"] == pytest.approx(float(client.get_midpoint(yes)["mid"]))
    complement = client.get_prices_history(PricesHistoryParams(market=no, interval="1h"))["history"]
    assert [(p["t"], round(1 - p["p"], 4)) for p in complement] == [(p["t"], p["p"]) for p in hour]
    day = client.get_prices_history(PricesHistoryParams(market=yes, start_ts=now - 86_400, end_ts=now, fidelity=10))
    times = [p["t"] for p in day["history"]]
    assert now - 86_400 <= times[0] < now - 86_400 + 600 and now - 600 < times[-1] <= now  # a made-up day before
    assert {b - a for a, b in zip(times, times[1:])} == {600}
    admin.advance(180)
    later = client.get_prices_history(PricesHistoryParams(market=yes, start_ts=now + 1, end_ts=now + 180))["history"]
    assert len(later) == 3 and {b["t"] - a["t"] for a, b in zip(later, later[1:])} == {60}


def test_bad_price_history_queries_are_refused_naming_what_is_allowed(venue, client):
    yes = _reward_market(venue).token_ids[0]
    with pytest.raises(PolyApiException) as bad_interval:
        client.get_prices_history(PricesHistoryParams(market=yes, interval="2h"))
    assert bad_interval.value.status_code == 400 and "1m, 1h, 6h, 1d, 1w, max, all" in str(bad_interval.value)
    with pytest.raises(PolyApiException) as bad_fidelity:
        client.get_prices_history(PricesHistoryParams(market=yes, interval="1h", fidelity=0))
    assert bad_fidelity.value.status_code == 400
    assert client.get_prices_history(PricesHistoryParams(market="123", interval="1d")) == {"history": []}


def _with_key(venue) -> None:
    """The wallet's API key exists, as after `polymm keys --create` (a plan only derives it)."""
    ClobClient(venue.url, chain_id=137, key=POLYMM_KEY).create_or_derive_api_key()


def _trend_notes(plan: dict) -> list[str]:
    return [n for n in plan["notes"] if "trend:" in n]


def test_a_plan_on_a_calm_venue_quotes_at_once(venue, tmp_path):
    _with_key(venue)
    plan = run_plan(env_for(venue, POLYMM_KEY, tmp_path / "ledger.sqlite", POLYMM_STRATEGY__MAX_MARKETS="3"))
    assert [a for a in plan["actions"] if a["action"] == "place" and a["role"] == "quote"]
    assert not [n for n in _trend_notes(plan) if "watched" in n]  # the history covers the window: no hour's wait


def test_a_plan_on_a_trending_venue_steps_back_from_the_trending_markets(tmp_path):
    with SimVenue(SimOptions(seed=3, speed=0, markets=30, scenario="trending", balance_delay_s=0.0,
                             universe="generated")) as venue:
        _with_key(venue)
        plan = run_plan(env_for(venue, POLYMM_KEY, tmp_path / "ledger.sqlite", POLYMM_STRATEGY__MAX_MARKETS="10"))
        off = run_plan(env_for(venue, POLYMM_KEY, tmp_path / "off.sqlite", POLYMM_STRATEGY__MAX_MARKETS="10",
                               POLYMM_STRATEGY__TREND_WINDOW_SECONDS="0"))
    moved = _trend_notes(plan)
    assert moved and all("midpoint moved" in n and "stepping back" in n for n in moved), plan["notes"]
    stepped_back = {n.split("not quoting ", 1)[1][:12] for n in moved}
    quoted = {a["condition_id"][:12] for a in plan["actions"] if a["action"] == "place" and a["role"] == "quote"}
    quoted_off = {a["condition_id"][:12] for a in off["actions"] if a["action"] == "place" and a["role"] == "quote"}
    assert not stepped_back & quoted
    assert stepped_back & quoted_off  # the rule, not something else, keeps those markets out
