"""The one guarded venue call (polymm.venue.guard): back-off per kind, the call, the outcome typed from
polymarket-client's errors (clients/_transport.py `_raise_for_response_status`, errors.py); and the order builder
of polymm.venue.sdk signing what the venue checks."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from polymarket.errors import RateLimitError, RequestRejectedError, TransportError, UnexpectedResponseError

from polymm.domain.eip712 import order_digest
from polymm.venue.gateway import VenueEndpoints
from polymm.venue.guard import MAX_BACKOFF_S, Guard, classify
from polymm.venue.outcomes import Ok, Refused, Unknown
from polymm.venue.trading import TradingGateway

KEY = "0x" + "11" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _raise(exc: Exception):
    def send():
        raise exc
    return send


def test_a_429_backs_that_kind_off_for_the_retry_after_and_sends_nothing_meanwhile():
    clock, sent = Clock(), []
    guard = Guard(clock)
    first = guard.call("orders", _raise(RateLimitError("Too Many Requests", retry_after=3.0)))
    assert isinstance(first, Refused) and first.status == 429 and first.retry_after_s == 3.0
    blocked = guard.call("orders", lambda: sent.append(1))
    assert isinstance(blocked, Refused) and blocked.status == 429 and "backing off after 429" in blocked.reason
    assert sent == [] and guard.blocked_for("orders") == 3.0
    assert isinstance(guard.call("cancels", lambda: "ok"), Ok)  # another kind is not held back
    clock.now += 3.0
    assert guard.call("orders", lambda: "ok") == Ok("ok")


def test_429s_without_retry_after_double_from_one_second_and_stay_bounded():
    clock = Clock()
    guard = Guard(clock)
    waits = []
    for _ in range(9):
        guard.call("reads", _raise(RateLimitError("Too Many Requests")))
        waits.append(guard.blocked_for("reads"))
        clock.now += waits[-1]
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, MAX_BACKOFF_S, MAX_BACKOFF_S, MAX_BACKOFF_S]
    guard.call("reads", lambda: [])  # a success ends the streak
    guard.call("reads", _raise(RateLimitError("Too Many Requests")))
    assert guard.blocked_for("reads") == 1.0


def test_a_restarting_engine_backs_off_from_two_to_thirty_seconds():
    clock = Clock()
    guard = Guard(clock)
    waits = []
    for _ in range(6):
        out = guard.call("orders", _raise(RequestRejectedError("The matching engine is restarting", status=425)))
        assert isinstance(out, Refused) and out.status == 425
        waits.append(guard.blocked_for("orders"))
        clock.now += waits[-1]
    assert waits == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


@pytest.mark.parametrize("exc, kind, status", [
    (RequestRejectedError("not enough balance / allowance", status=400, code="INVALID_ORDER_NOT_ENOUGH_BALANCE"),
     Refused, 400),
    (RequestRejectedError("Unauthorized/Invalid api key", status=401), Refused, 401),
    (RequestRejectedError("order 0xab is invalid. Duplicated.", status=400), Unknown, None),
    (RequestRejectedError("Internal Server Error", status=500), Unknown, None),
    (UnexpectedResponseError("Received non-JSON response"), Unknown, None),
])
def test_failures_are_typed_refused_only_when_the_venue_definitely_did_not_act(exc, kind, status):
    out = classify(exc)
    assert isinstance(out, kind)
    if kind is Refused:
        assert out.status == status


def test_a_refusal_keeps_the_code_so_the_wording_checks_see_it():
    out = classify(RequestRejectedError("not enough balance / allowance", status=400,
                                        code="INVALID_ORDER_NOT_ENOUGH_BALANCE"))
    assert out.reason == "INVALID_ORDER_NOT_ENOUGH_BALANCE not enough balance / allowance"


def test_no_reply_names_the_url_and_the_cause():
    request = httpx.Request("GET", "http://127.0.0.1:9/data/orders")
    try:
        try:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        except httpx.ConnectError as cause:
            raise TransportError("[Errno 111] Connection refused") from cause
    except TransportError as exc:
        out = classify(exc)
    assert isinstance(out, Unknown)
    assert out.reason == "no reply from http://127.0.0.1:9/data/orders: [Errno 111] Connection refused"


def test_a_reply_that_cannot_be_read_is_unknown_and_a_programming_error_is_raised():
    guard = Guard(Clock())
    assert isinstance(guard.call(None, lambda: {"x": 1}, lambda reply: reply["balance"]), Unknown)
    with pytest.raises(AttributeError):
        guard.call(None, lambda: None.reply)


@pytest.mark.parametrize("signature_type", [0, 3])
def test_a_signed_order_carries_the_exact_amounts_and_its_id_is_the_eip712_digest(signature_type):
    endpoints = VenueEndpoints("http://127.0.0.1:9", "http://127.0.0.1:9/gamma", "http://127.0.0.1:9/data", "ws://x")
    wallet = "0x" + "22" * 20 if signature_type == 3 else None
    trading = TradingGateway(endpoints, KEY, None, signature_type, wallet)
    try:
        # 4.35 shares at 0.01: 4.35 × 10⁶ exactly (float arithmetic would floor 434.999… to 4.34)
        order_id, payload = trading.sign("12345678901234567890", "BUY", Decimal("0.01"), Decimal("4.35"),
                                         Decimal("0.01"), False, "GTC", post_only=True)
    finally:
        trading.close()
    order = payload["order"]
    assert (order["makerAmount"], order["takerAmount"]) == ("43500", "4350000")
    assert order["maker"] == trading.address and order["signatureType"] == signature_type
    assert payload["postOnly"] is True and payload["orderType"] == "GTC"
    assert order_id == "0x" + order_digest(order, 137, False).hex()
