"""A wrong input to the simulator's admin hooks and to the Data API gets one clear 4xx naming what was wrong and
what is allowed — never a 500, never a silent success (`winner: true` resolved a market to "true"; `at` without a
close was ignored; a JSON list as the body was a 500). A refused `POST /_sim/market` changes nothing."""

from __future__ import annotations

import pytest


def _post(admin, path: str, body) -> tuple[int, str]:
    resp = admin.http.post(path, json=body) if not isinstance(body, str) else admin.http.post(path, content=body)
    return resp.status_code, resp.json().get("error", "") if resp.headers.get("content-type", "").startswith(
        "application/json") else resp.text


def test_lifecycle_hook_refuses_bad_input_with_what_is_allowed_and_changes_nothing(venue, admin, reward_market):
    cid = reward_market.condition_id
    cases = [
        ({}, 400, "condition_id is required"),
        ({"condition_id": "0xdead"}, 404, "no market with condition_id '0xdead'"),
        ({"condition_id": cid, "tick_size": 0.02}, 400, "tick_size 0.02 is not one of the venue's tick sizes: 0.1, 0.01"),
        ({"condition_id": cid, "winner": True}, 400, "winner True — must be 0, 1 or an outcome's name: ['Yes', 'No']"),
        ({"condition_id": cid, "winner": 2}, 400, "must be 0, 1 or an outcome's name"),
        ({"condition_id": cid, "winner": "Maybe"}, 400, "winner 'Maybe' is not an outcome of the market: ['Yes', 'No']"),
        ({"condition_id": cid, "at": 123}, 400, "at (when to close) needs closed: true or a winner"),
        ({"condition_id": cid, "winner": 0, "at": "tomorrow"}, 400, "at: 'tomorrow' is not a number"),
        # the tick is valid but the rest is not: the tick must not change either
        ({"condition_id": cid, "tick_size": 0.001, "closed": True, "accepting_orders": True}, 400,
         "a closed market does not accept orders again"),
        ([1, 2], 400, "the body must be a JSON object, not list"),
        ("not json", 400, "the body is not JSON"),
    ]
    for body, status, message in cases:
        got = _post(admin, "/_sim/market", body)
        assert got[0] == status and message in got[1], (body, got)
    lifecycle = admin.http.get("/_sim/state").json()["lifecycle"]
    assert cid not in lifecycle  # nothing refused above touched the market: tick, trading and resolution as listed
    # and a good one still works, the winner as an index; an `at` already passed closes now (with the clock
    # stopped it waited for the next /_sim/advance, answering closed: false)
    now = admin.http.get("/_sim/state").json()["now"]
    ok = admin.http.post("/_sim/market", json={"condition_id": cid, "winner": 1, "at": now - 60}).json()
    assert ok["winner"] == 1 and ok["closed"] is True


@pytest.mark.parametrize("path, body, message", [
    ("/_sim/fund", {}, "address: None is not an address (0x followed by 40 hex digits)"),
    ("/_sim/fund", {"address": "0x12"}, "address: '0x12' is not an address"),
    ("/_sim/fund", {"address": "0x" + "ab" * 20, "collateral": "x"}, "collateral: 'x' is not a number"),
    ("/_sim/fund", {"address": "0x" + "ab" * 20, "tokens": {"123": 5}}, "tokens: unknown token_id '123'"),
    ("/_sim/fund", {"address": "0x" + "ab" * 20, "collateral": True}, "collateral: True is not a number"),
    ("/_sim/advance", {"seconds": "x"}, "seconds: 'x' is not a number"),
    ("/_sim/advance", {"seconds": -1}, "seconds: -1 must be ≥ 0"),
    ("/_sim/advance", "bad", "the body is not JSON"),
    ("/_sim/mode", "bad", "the body is not JSON"),
    ("/_sim/restart", [1], "the body must be a JSON object, not list"),
    ("/_sim/restart", {"down_s": "x"}, "down_s: 'x' is not a number"),
    ("/_sim/rewards", {"condition_id": "0x1"}, "no market with condition_id '0x1'"),
    ("/_sim/wallet", {"owner": "0x12", "signature_type": 3}, "owner: '0x12' is not an address"),
    ("/_sim/faults", {"rules": [{"match": "*", "kind": "latency", "probability": 2}]},
     "invalid fault plan: rules.0.probability: Input should be less than or equal to 1 (got 2)"),
])
def test_admin_hooks_answer_a_bad_body_with_a_4xx_naming_the_field(admin, path, body, message):
    status, error = _post(admin, path, body)
    assert 400 <= status < 500 and message in error, (status, error)


def test_data_api_positions_needs_a_user_address(admin):
    """docs.polymarket.com/api-reference/endpoints/data/get-positions: `user` is required, ^0x[a-fA-F0-9]{40}$."""
    for path in ("/dataapi/positions", "/dataapi/v2/positions"):
        assert admin.http.get(path).status_code == 400
        resp = admin.http.get(path, params={"user": "abc"})
        assert resp.status_code == 400 and "user: 'abc' is not an address" in resp.json()["error"]
        assert admin.http.get(path, params={"user": "0x" + "ab" * 20}).status_code == 200


def test_fund_takes_shares_as_numbers_or_decimal_strings(admin, reward_market):
    user, token = "0x" + "cd" * 20, reward_market.token_ids[0]
    assert admin.http.post("/_sim/fund", json={"address": user, "tokens": {token: "8", reward_market.token_ids[1]: 2.5}}
                           ).status_code == 200
    rows = admin.http.get("/dataapi/positions", params={"user": user}).json()
    assert {r["asset"]: r["size"] for r in rows} == {token: 8.0, reward_market.token_ids[1]: 2.5}
