"""The simulator's seeded fault plan, as the real SDK experiences it and as the venue records it.

Every outcome is judged by what the venue holds (`/_sim/state`), never by what the client was told:
a reply lost or garbled *after* the venue acted leaves a live order behind.
"""

from __future__ import annotations

import time

import httpx
import pytest
from py_clob_client_v2.clob_types import OpenOrderParams, OrderArgsV2, OrderPayload, PartialCreateOrderOptions
from py_clob_client_v2.exceptions import PolyApiException

from conftest import Admin
from polymm.sim.model import PIPS, SimMarket
from polymm.sim.runner import SimOptions, SimVenue


def install(admin: Admin, *rules: dict, seed: int = 1) -> None:
    admin.faults({"seed": seed, "rules": list(rules)})


def post_bid(client, market: SimMarket, size: float = 10) -> dict:
    """A GTC BUY at the market's best bid, signed for its exchange without look-ups."""
    options = PartialCreateOrderOptions(tick_size=market.tick_str, neg_risk=market.neg_risk)
    price = market.book.best_bid() / PIPS
    return client.create_and_post_order(OrderArgsV2(token_id=market.token_ids[0], price=price, size=size, side="BUY"), options)


def live_orders_at_venue(admin: Admin, client) -> list[dict]:
    address = client.get_address().lower()
    return next((a["open_orders"] for addr, a in admin.state()["accounts"].items() if addr.lower() == address), [])


def fired(admin: Admin) -> list[dict]:
    return admin.http.get("/_sim/faults").json()["fired"]


# ---------------------------------------------------------------------------- failures around execution
def test_error_after_execution_raises_500_yet_the_order_is_live(admin, client, reward_market):
    install(admin, {"match": "POST /order", "kind": "error_after"})
    with pytest.raises(PolyApiException) as raised:
        post_bid(client, reward_market)
    assert raised.value.status_code == 500
    orders = live_orders_at_venue(admin, client)
    assert [(o["side"], o["original_size"], o["asset_id"]) for o in orders] == [("BUY", "10", reward_market.token_ids[0])]


def test_error_before_execution_raises_500_and_places_nothing(admin, client, reward_market):
    install(admin, {"match": "POST /order", "kind": "error_before", "status": 503})
    with pytest.raises(PolyApiException) as raised:
        post_bid(client, reward_market)
    assert raised.value.status_code == 503
    assert live_orders_at_venue(admin, client) == []


def test_lost_reply_drops_the_connection_yet_the_order_is_live(admin, client, reward_market):
    install(admin, {"match": "POST /order", "kind": "lost_reply"})
    with pytest.raises(PolyApiException) as raised:
        post_bid(client, reward_market)
    assert raised.value.status_code is None  # no HTTP status: the connection died
    assert len(live_orders_at_venue(admin, client)) == 1
    install(admin)  # the next request gets a fresh connection and a reply
    assert post_bid(client, reward_market)["success"] is True


def test_malformed_reply_is_a_non_json_body_yet_the_order_is_live(admin, client, reward_market):
    install(admin, {"match": "POST /order", "kind": "malformed"})
    reply = post_bid(client, reward_market)
    assert isinstance(reply, str) and reply.lstrip().startswith("<html>")  # the SDK hands back the raw text
    assert len(live_orders_at_venue(admin, client)) == 1


# ---------------------------------------------------------------------------- refusals and delays
def test_rate_limit_replies_429_with_retry_after_and_does_not_execute(venue, admin, client, reward_market):
    install(admin, {"match": "* /book", "kind": "rate_limit", "retry_after": 7},
            {"match": "POST /order", "kind": "rate_limit", "retry_after": 7})
    reply = httpx.get(f"{venue.url}/book", params={"token_id": reward_market.token_ids[0]})
    assert (reply.status_code, reply.headers["Retry-After"]) == (429, "7")
    assert reply.json()["retry_after_seconds"] == 7
    with pytest.raises(PolyApiException) as raised:
        post_bid(client, reward_market)
    assert raised.value.status_code == 429
    assert live_orders_at_venue(admin, client) == []


def test_latency_delays_the_reply_by_about_latency_ms(admin, client, reward_market):
    token = reward_market.token_ids[0]
    started = time.monotonic()
    client.get_order_book(token)
    baseline = time.monotonic() - started
    install(admin, {"match": "GET /book", "kind": "latency", "latency_ms": 400})
    started = time.monotonic()
    client.get_order_book(token)
    delayed = time.monotonic() - started
    assert 0.39 <= delayed < 3.0
    assert delayed > baseline + 0.3


def test_stale_open_orders_hide_a_new_order_until_stale_s_have_passed(admin, client, reward_market):
    install(admin, {"match": "GET /data/orders", "kind": "stale_orders", "stale_s": 5})
    placed = post_bid(client, reward_market)
    assert placed["orderID"] not in {o["id"] for o in client.get_open_orders()}
    admin.advance(6)
    assert placed["orderID"] in {o["id"] for o in client.get_open_orders()}


def test_stale_open_orders_still_show_a_cancelled_order_until_stale_s_have_passed(admin, client, reward_market):
    placed = post_bid(client, reward_market)
    admin.advance(10)
    client.cancel_order(OrderPayload(orderID=placed["orderID"]))
    install(admin, {"match": "GET /data/orders", "kind": "stale_orders", "stale_s": 5})
    assert [o["id"] for o in client.get_open_orders(OpenOrderParams(market=reward_market.condition_id))] == [placed["orderID"]]
    admin.advance(6)
    assert client.get_open_orders(OpenOrderParams(market=reward_market.condition_id)) == []
    assert live_orders_at_venue(admin, client) == []  # the venue itself was never stale


# ---------------------------------------------------------------------------- how often rules fire
def test_max_count_limits_how_often_a_rule_fires(venue, admin, reward_market):
    install(admin, {"match": "GET /book", "kind": "error_before", "max_count": 2})
    statuses = [httpx.get(f"{venue.url}/book", params={"token_id": reward_market.token_ids[0]}).status_code for _ in range(4)]
    assert statuses == [500, 500, 200, 200]
    assert [f["kind"] for f in fired(admin)] == ["error_before", "error_before"]


def test_rules_match_method_and_path_globs_only(venue, admin, reward_market):
    install(admin, {"match": "POST /book*", "kind": "error_before"})
    assert httpx.get(f"{venue.url}/book", params={"token_id": reward_market.token_ids[0]}).status_code == 200
    assert httpx.post(f"{venue.url}/books", json=[{"token_id": reward_market.token_ids[0]}]).status_code == 500
    assert fired(admin) == [{"seq": 2, "method": "POST", "path": "/books", "kind": "error_before"}]


def _fired_under_half_probability(plan_seed: int) -> list[dict]:
    """A fresh venue, a 50 % plan and the same 30 requests: the faults that fired."""
    with SimVenue(SimOptions(seed=11, speed=0, markets=5, scenario="calm")) as venue:
        admin = Admin(venue.url)
        token = venue.call(lambda: next(iter(venue.server.engine.markets.values())).token_ids[0])
        install(admin, {"match": "GET /book", "kind": "error_before", "probability": 0.5},
                {"match": "GET /midpoint", "kind": "rate_limit", "probability": 0.5}, seed=plan_seed)
        for i in range(30):
            httpx.get(f"{venue.url}/{'book' if i % 3 else 'midpoint'}", params={"token_id": token})
        return fired(admin)


def test_probability_fires_on_the_same_subset_for_the_same_plan_seed():
    first, second = _fired_under_half_probability(5), _fired_under_half_probability(5)
    assert first == second
    assert 0 < len(first) < 30, "a 50 % rule fires on some requests, not all or none"
    assert first != _fired_under_half_probability(6)


def test_fault_plan_never_touches_the_admin_surface(admin):
    install(admin, {"match": "*", "kind": "error_before"})
    assert admin.http.get("/_sim/state").status_code == 200
    assert admin.http.post("/_sim/advance", json={"seconds": 1}).status_code == 200
    assert fired(admin) == []


def test_invalid_fault_plan_is_refused_with_400(admin):
    reply = admin.http.post("/_sim/faults", json={"rules": [{"match": "GET /book", "kind": "meteor"}]})
    assert reply.status_code == 400
    assert "invalid fault plan" in reply.json()["error"]


# ---------------------------------------------------------------------------- venue modes
def test_unknown_mode_is_refused_with_the_allowed_values(admin):
    reply = admin.mode("sideways")
    assert reply.status_code == 400
    assert "normal, trading-disabled, cancel-only" in reply.json()["error"]
    assert admin.state()["mode"] == "normal"


def test_cancel_only_mode_refuses_orders_with_503_but_cancels(admin, client, reward_market):
    placed = post_bid(client, reward_market)
    assert admin.mode("cancel-only").status_code == 200
    with pytest.raises(PolyApiException) as raised:
        post_bid(client, reward_market)
    assert raised.value.status_code == 503
    assert client.cancel_order(OrderPayload(orderID=placed["orderID"]))["canceled"] == [placed["orderID"]]
    assert live_orders_at_venue(admin, client) == []
