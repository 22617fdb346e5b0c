"""Refusals: the simulated venue rejects bad L1/L2 authentication, foreign or tampered orders, replays and bursts.

Well-formed requests are built by the real SDK; the bad ones are the SDK's own headers and order
bodies with exactly one thing changed, sent raw with httpx so nothing else differs.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import replace
from decimal import Decimal

import httpx
import pytest
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import ApiCreds, OrderArgsV2, OrderPayload, OrderType, PartialCreateOrderOptions, PostOrdersV2Args, RequestArgs
from py_clob_client_v2.exceptions import PolyApiException
from py_clob_client_v2.headers.headers import create_level_1_headers, create_level_2_headers
from py_clob_client_v2.order_utils.model.order_data_v2 import order_to_json_v2

from polymm.sim.model import SimMarket

BURST = 60  # per-signer order bucket: 40/s, burst 60 (VENUE.md, Limits)


# ----------------------------------------------------------------------------- helpers
def low_bid(client: ClobClient, market: SimMarket, size: float = 5):
    """A signed BUY at the lowest price of the grid: valid, affordable and resting if posted."""
    options = PartialCreateOrderOptions(tick_size=market.tick_str, neg_risk=market.neg_risk)
    return client.create_order(
        OrderArgsV2(token_id=market.token_ids[0], price=float(Decimal(market.tick_str)), size=size, side="BUY"), options
    )


def order_body(client: ClobClient, order, owner: str | None = None) -> dict:
    return order_to_json_v2(order, owner or client.creds.api_key, OrderType.GTC)


def l2_request(venue, client: ClobClient, method: str, path: str, body=None, *, creds: ApiCreds | None = None,
               timestamp: int | None = None, tamper_signature: bool = False) -> httpx.Response:
    """A raw request carrying the SDK's own L2 headers (optionally for other creds, time, or a spoiled HMAC)."""
    serialized = json.dumps(body, separators=(",", ":"), ensure_ascii=False) if body is not None else None
    headers = create_level_2_headers(
        client.signer, creds or client.creds,
        RequestArgs(method=method, request_path=path, body=body, serialized_body=serialized), timestamp=timestamp,
    )
    if tamper_signature:
        digest = bytearray(base64.urlsafe_b64decode(headers["POLY_SIGNATURE"]))
        digest[0] ^= 0x01
        headers["POLY_SIGNATURE"] = base64.urlsafe_b64encode(bytes(digest)).decode()
    headers["Content-Type"] = "application/json"
    return httpx.request(method, venue.url + path, headers=headers, content=serialized)


def venue_open_ids(admin, client: ClobClient) -> set[str]:
    return {o["id"] for o in admin.state()["accounts"][client.get_address()]["open_orders"]}


def orders_ever_placed(venue, client: ClobClient) -> set[str]:
    """Ids of every order the engine ever accepted for this key, live or not."""
    api_key = client.creds.api_key
    return venue.call(lambda: {o.id for o in venue.server.engine.orders.values() if o.owner == api_key})


def random_secret() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


# ----------------------------------------------------------------------------- L2
def test_wrong_hmac_secret_is_refused_with_401_and_places_nothing(venue, admin, client, reward_market) -> None:
    wrong = ClobClient(
        venue.url, chain_id=137, key=client.signer.private_key,
        creds=replace(client.creds, api_secret=random_secret()),
    )

    with pytest.raises(PolyApiException) as read_refused:
        wrong.get_open_orders()
    with pytest.raises(PolyApiException) as post_refused:
        wrong.post_order(low_bid(wrong, reward_market))

    assert (read_refused.value.status_code, post_refused.value.status_code) == (401, 401)
    assert venue_open_ids(admin, client) == set()


def test_tampered_hmac_header_is_refused_with_401(venue, client) -> None:
    assert l2_request(venue, client, "GET", "/data/orders").status_code == 200

    assert l2_request(venue, client, "GET", "/data/orders", tamper_signature=True).status_code == 401


def test_body_changed_after_hmac_signing_is_refused_with_401(venue, admin, client, reward_market) -> None:
    body = order_body(client, low_bid(client, reward_market))
    serialized = json.dumps(body, separators=(",", ":"))
    headers = create_level_2_headers(
        client.signer, client.creds, RequestArgs(method="POST", request_path="/order", body=body, serialized_body=serialized)
    )
    swapped = serialized.replace('"postOnly":false', '"postOnly":true')

    reply = httpx.post(venue.url + "/order", headers=headers, content=swapped)

    assert reply.status_code == 401
    assert venue_open_ids(admin, client) == set()


def test_wrong_passphrase_is_refused_with_401(venue, client) -> None:
    wrong = replace(client.creds, api_passphrase="0" * 64)

    assert l2_request(venue, client, "GET", "/data/orders", creds=wrong).status_code == 401


def test_unknown_api_key_is_refused_with_401(venue, client) -> None:
    unknown = replace(client.creds, api_key="00000000-0000-4000-8000-000000000000")

    assert l2_request(venue, client, "GET", "/data/orders", creds=unknown).status_code == 401


def test_api_key_used_from_another_address_is_refused_with_401(venue, make_client) -> None:
    ours, theirs = make_client(), make_client()
    stolen = ClobClient(venue.url, chain_id=137, key=theirs.signer.private_key, creds=ours.creds)

    with pytest.raises(PolyApiException) as refused:
        stolen.get_open_orders()

    assert refused.value.status_code == 401


def test_l2_timestamp_far_in_the_past_is_refused_with_401(venue, client) -> None:
    an_hour_ago = int(time.time()) - 3600

    assert l2_request(venue, client, "GET", "/data/orders", timestamp=an_hour_ago).status_code == 401


# ----------------------------------------------------------------------------- orders
def test_order_signed_by_another_wallet_is_refused_and_creates_no_order(admin, make_client, reward_market) -> None:
    ours, theirs = make_client(), make_client()
    foreign = low_bid(theirs, reward_market)

    with pytest.raises(PolyApiException) as refused:
        ours.post_order(foreign)

    assert refused.value.status_code == 400
    assert venue_open_ids(admin, ours) == set()
    assert venue_open_ids(admin, theirs) == set()


def test_order_claiming_another_api_key_as_owner_is_refused(venue, admin, make_client, reward_market) -> None:
    ours, theirs = make_client(), make_client()
    body = order_body(ours, low_bid(ours, reward_market), owner=theirs.creds.api_key)

    reply = l2_request(venue, ours, "POST", "/order", body)

    assert reply.status_code == 400
    assert venue_open_ids(admin, ours) == set()


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("makerAmount", lambda order, market: str(int(order["makerAmount"]) * 2)),
        ("takerAmount", lambda order, market: str(int(order["takerAmount"]) + 1_000_000)),
        ("tokenId", lambda order, market: market.token_ids[1]),
        ("side", lambda order, market: "SELL"),
        ("salt", lambda order, market: order["salt"] + 1),
    ],
)
def test_order_with_a_signed_field_changed_after_signing_is_refused(venue, admin, client, reward_market, field, change) -> None:
    body = order_body(client, low_bid(client, reward_market))
    body["order"][field] = change(body["order"], reward_market)

    reply = l2_request(venue, client, "POST", "/order", body)

    assert reply.status_code == 400
    assert "signature" in reply.json()["error"]
    assert venue_open_ids(admin, client) == set()
    assert admin.state()["accounts"][client.get_address()]["collateral"] == 1000


def test_order_signed_for_the_wrong_exchange_contract_is_refused(venue, admin, client) -> None:
    neg_risk_market = venue.call(lambda: next(m for m in venue.server.engine.markets.values() if m.neg_risk))
    # Signed as if the market were not neg-risk: the domain's verifyingContract is the wrong exchange.
    order = client.create_order(
        OrderArgsV2(token_id=neg_risk_market.token_ids[0], price=float(Decimal(neg_risk_market.tick_str)), size=5, side="BUY"),
        PartialCreateOrderOptions(tick_size=neg_risk_market.tick_str, neg_risk=False),
    )

    with pytest.raises(PolyApiException) as refused:
        client.post_order(order)

    assert refused.value.status_code == 400
    assert venue_open_ids(admin, client) == set()


def v1_order(client: ClobClient, market: SimMarket):
    """An order signed the pre-2026 way (CTF Exchange V1), which the V2 venue no longer takes."""
    options = PartialCreateOrderOptions(tick_size=market.tick_str, neg_risk=market.neg_risk, version=1)
    return client.create_order(
        OrderArgsV2(token_id=market.token_ids[0], price=float(Decimal(market.tick_str)), size=5, side="BUY"), options
    )


def test_v1_signed_order_is_refused_with_order_version_mismatch(admin, client, reward_market) -> None:
    with pytest.raises(PolyApiException) as refused:
        client.post_order(v1_order(client, reward_market))

    assert refused.value.status_code == 400
    assert "order_version_mismatch" in json.dumps(refused.value.error_msg)
    assert venue_open_ids(admin, client) == set()


def test_malformed_order_in_a_batch_is_refused_alone(admin, client, reward_market) -> None:
    good = low_bid(client, reward_market)

    replies = client.post_orders([PostOrdersV2Args(order=good), PostOrdersV2Args(order=v1_order(client, reward_market))])

    assert [r["success"] for r in replies] == [True, False]
    assert venue_open_ids(admin, client) == {replies[0]["orderID"]}


def test_same_signed_order_posted_twice_creates_exactly_one_order(admin, client, reward_market) -> None:
    order = low_bid(client, reward_market)
    first = client.post_order(order)

    with pytest.raises(PolyApiException) as second:
        client.post_order(order)

    assert first["success"] and first["status"] == "live"
    assert second.value.status_code == 400
    assert "duplicat" in json.dumps(second.value.error_msg).lower()
    assert venue_open_ids(admin, client) == {first["orderID"]}


def test_placed_order_resent_inside_a_batch_creates_nothing(admin, client, reward_market) -> None:
    order = low_bid(client, reward_market)
    order_id = client.post_order(order)["orderID"]

    (replay,) = client.post_orders([PostOrdersV2Args(order=order, orderType=OrderType.GTC)])

    assert not replay["success"]
    assert venue_open_ids(admin, client) == {order_id}


def test_cancelled_order_cannot_be_resurrected_by_posting_it_again(admin, client, reward_market) -> None:
    order = low_bid(client, reward_market)
    order_id = client.post_order(order)["orderID"]
    client.cancel_order(OrderPayload(orderID=order_id))

    with pytest.raises(PolyApiException) as single:
        client.post_order(order)
    (batched,) = client.post_orders([PostOrdersV2Args(order=order, orderType=OrderType.GTC)])

    assert single.value.status_code == 400
    assert not batched["success"]
    assert venue_open_ids(admin, client) == set()


# ----------------------------------------------------------------------------- L1
def l1_get(venue, headers: dict) -> httpx.Response:
    return httpx.get(venue.url + "/auth/derive-api-key", headers=headers)


def test_l1_headers_signed_by_another_wallet_are_refused_with_401(venue, make_client) -> None:
    ours, theirs = make_client(), make_client()
    headers = create_level_1_headers(theirs.signer)
    headers["POLY_ADDRESS"] = ours.get_address()

    assert l1_get(venue, headers).status_code == 401
    assert httpx.post(venue.url + "/auth/api-key", headers=headers).status_code == 401


def test_l1_nonce_changed_after_signing_is_refused_with_401(venue, client) -> None:
    headers = create_level_1_headers(client.signer, nonce=0)
    assert l1_get(venue, headers).status_code == 200

    headers["POLY_NONCE"] = "1"

    assert l1_get(venue, headers).status_code == 401


def test_l1_signature_that_is_not_a_signature_is_refused_with_401(venue, client) -> None:
    headers = create_level_1_headers(client.signer)
    headers["POLY_SIGNATURE"] = "0x" + "00" * 65

    assert l1_get(venue, headers).status_code == 401


# ----------------------------------------------------------------------------- rate limits
def post_batches_until_refused(client: ClobClient, orders: list) -> tuple[list[dict], PolyApiException | None, list]:
    """Post 15 at a time; stop at the first refusal and return (accepted replies, the refusal, the refused batch)."""
    accepted: list[dict] = []
    for start in range(0, len(orders), 15):
        batch = orders[start:start + 15]
        try:
            accepted += client.post_orders([PostOrdersV2Args(order=o, orderType=OrderType.GTC) for o in batch])
        except PolyApiException as refusal:
            return accepted, refusal, batch
    return accepted, None, []


def test_orders_beyond_the_burst_are_refused_with_429_and_not_placed(venue, admin, client, reward_market) -> None:
    orders = [low_bid(client, reward_market) for _ in range(BURST + 45)]

    accepted, refusal, refused_batch = post_batches_until_refused(client, orders)

    assert refusal is not None and refusal.status_code == 429
    assert refusal.error_msg["retry_after_seconds"] >= 1
    assert len(accepted) >= BURST
    assert len(refused_batch) == 15
    assert orders_ever_placed(venue, client) == venue_open_ids(admin, client) == {r["orderID"] for r in accepted}


def test_api_keys_of_one_wallet_share_the_per_signer_order_limit(make_client, reward_market) -> None:
    key = "0x" + os.urandom(32).hex()
    first, second = make_client(key=key), make_client(key=key, nonce=1)
    first_orders = [low_bid(first, reward_market) for _ in range(BURST)]
    second_orders = [low_bid(second, reward_market) for _ in range(30)]
    accepted, refusal, _ = post_batches_until_refused(first, first_orders)
    assert refusal is None and len(accepted) == BURST

    _, refusal, _ = post_batches_until_refused(second, second_orders)

    assert refusal is not None and refusal.status_code == 429
