"""Merging a YES+NO pair back into collateral through the simulated relayer (polymm/sim/relayer.py has the sources).

The official `polymarket-client` (0.14.0) merges a deposit wallet's full sets itself: it reads the balances over
JSON-RPC (`balanceOfBatch`), signs the deposit-wallet batch of a `mergePositions` call, submits it to the relayer
and polls the transaction. Judged from `/_sim/state`: the shares leave the wallet and the collateral arrives only
when the transaction is mined (simulated seconds later, not at submit), the states are the relayer's, and what the
venue refuses is refused."""

from __future__ import annotations

import dataclasses
import os

import httpx
import pytest
from eth_account import Account


def _official(venue, key: str, relayer_key: dict):
    """polymarket-client's SecureClient on the simulated venue, its JSON-RPC too, with a Relayer API key."""
    from polymarket import PRODUCTION, RelayerApiKey, SecureClient
    from polymarket._internal.environment import create_environment, get_environment_config

    url, ws = venue.url, venue.url.replace("http", "ws", 1)
    config = dataclasses.replace(get_environment_config(PRODUCTION), clob_url=url, gamma_url=f"{url}/gamma",
                                 data_url=f"{url}/dataapi", relayer_url=f"{url}/relayer", rpc_url=f"{url}/rpc",
                                 clob_market_ws_url=f"{ws}/ws/market", clob_user_ws_url=f"{ws}/ws/user")
    return SecureClient.create(private_key=key, environment=create_environment(name="polymm-sim-rpc", config=config),
                               api_key=RelayerApiKey(key=relayer_key["key"], address=relayer_key["address"]))


@pytest.fixture
def wallet_owner(venue, admin):
    """A fresh EOA, its deposit wallet (at the address polymarket-client derives) and a relayer key."""
    from polymarket import PRODUCTION
    from polymarket._internal.environment import get_environment_config
    from polymarket._internal.wallet import derive_beacon_deposit_wallet_address

    key = "0x" + os.urandom(32).hex()
    eoa = Account.from_key(key).address
    wallet = derive_beacon_deposit_wallet_address(eoa, get_environment_config(PRODUCTION).wallet_derivation)
    r = httpx.post(f"{venue.url}/_sim/wallet", json={"owner": eoa, "signature_type": 3, "address": wallet,
                                                      "collateral": 100})
    r.raise_for_status()
    relayer_key = httpx.post(f"{venue.url}/_sim/relayer-key", json={"address": eoa}).json()
    return key, eoa, wallet, relayer_key


def _market(venue):
    return next(m for m in venue.server.engine.markets.values() if not m.neg_risk and not m.closed)


def test_the_official_client_merges_a_full_set_through_the_relayer(venue, admin, wallet_owner):
    key, eoa, wallet, relayer_key = wallet_owner
    market = _market(venue)
    yes, no = market.token_ids
    admin.fund(wallet, tokens={yes: 30, no: 12.5})
    rows = httpx.get(f"{venue.url}/dataapi/positions", params={"user": wallet}).json()
    assert {r["asset"]: r["mergeable"] for r in rows} == {yes: True, no: True}
    sec = _official(venue, key, relayer_key)
    try:
        handle = sec.merge_positions(condition_id=market.condition_id, amount="max", metadata="test merge")
        state = admin.state()
        [tx] = state["merges"]
        assert tx["transaction_id"] == handle.transaction_id and tx["state"] == "STATE_NEW"
        assert tx["wallet"] == wallet and tx["merges"] == [{"condition_id": market.condition_id, "amount": 12.5}]
        # submitted, not yet mined: nothing has moved
        assert state["accounts"][wallet]["positions"] == {yes: 30, no: 12.5}
        assert state["accounts"][wallet]["collateral"] == 100
        admin.advance(3)
        assert admin.state()["merges"][0]["state"] == "STATE_EXECUTED"
        admin.advance(4)
        state = admin.state()
        assert state["merges"][0]["state"] == "STATE_MINED"
        assert state["accounts"][wallet]["positions"] == {yes: 17.5}
        assert state["accounts"][wallet]["collateral"] == pytest.approx(112.5)
        admin.advance(40)
        outcome = handle.wait()  # polymarket-client's own poll: it returns on STATE_CONFIRMED only
        assert outcome.transaction_hash.startswith("0x")
        assert [h["state"] for h in admin.state()["merges"][0]["history"]] == [
            "STATE_NEW", "STATE_EXECUTED", "STATE_MINED", "STATE_CONFIRMED"]
        rows = httpx.get(f"{venue.url}/dataapi/positions", params={"user": wallet}).json()
        assert [(r["asset"], r["size"], r["mergeable"]) for r in rows] == [(yes, 17.5, False)]
        # nothing left to merge: the client itself refuses (its balance read says so)
        with pytest.raises(Exception, match="no complementary positions"):
            sec.merge_positions(condition_id=market.condition_id, amount="max")
    finally:
        sec.close()


def test_the_relayer_refuses_what_the_venue_refuses(venue, admin, wallet_owner):
    """A replayed nonce, a signature not of the wallet's owner, no auth; and a merge of more than the wallet
    holds on chain is accepted by the relayer but reverts when mined (STATE_FAILED), moving nothing."""
    from polymarket._internal.actions.relayer.calls import ctf_merge_positions_call
    from polymarket._internal.actions.relayer.gasless import build_deposit_wallet_payload
    from polymarket._internal.actions.relayer.signing.deposit_wallet import sign_deposit_wallet_batch
    from polymarket import PRODUCTION
    from polymarket._internal.environment import get_environment_config

    key, eoa, wallet, relayer_key = wallet_owner
    config = get_environment_config(PRODUCTION)
    market = _market(venue)
    yes, no = market.token_ids
    admin.fund(wallet, tokens={yes: 5, no: 5})
    headers = {"RELAYER_API_KEY": relayer_key["key"], "RELAYER_API_KEY_ADDRESS": relayer_key["address"]}
    deadline = str(int(admin.state()["now"]) + 600)

    def payload(amount_shares: float, nonce: str, signer=None):
        call = ctf_merge_positions_call(target=config.collateral_adapter, collateral=config.collateral_token,
                                        condition_id=market.condition_id, amount=int(amount_shares * 1_000_000))
        signature = sign_deposit_wallet_batch(signer or Account.from_key(key), wallet=wallet, calls=[call],
                                              nonce=nonce, deadline=deadline, chain_id=137)
        return build_deposit_wallet_payload(signer_address=eoa, deposit_wallet_factory=
                                            config.wallet_derivation.deposit_wallet_factory, wallet=wallet,
                                            calls=[call], nonce=nonce, deadline=deadline, signature=signature,
                                            metadata="")

    nonce = httpx.get(f"{venue.url}/relayer/v1/account/transactions/params",
                      params={"address": eoa, "type": "WALLET"}).json()["nonce"]
    assert nonce == "0"
    assert httpx.post(f"{venue.url}/relayer/submit", json=payload(5, nonce)).status_code == 401
    stranger = Account.create()
    r = httpx.post(f"{venue.url}/relayer/submit", json=payload(5, nonce, stranger), headers=headers)
    assert r.status_code == 400 and "invalid signature" in r.json()["error"]
    r = httpx.post(f"{venue.url}/relayer/submit", json=payload(8, nonce), headers=headers)
    assert r.status_code == 200 and r.json()["state"] == "STATE_NEW"
    failing = r.json()["transactionID"]
    r = httpx.post(f"{venue.url}/relayer/submit", json=payload(5, nonce), headers=headers)
    assert r.status_code == 400 and r.json()["error"] == "batch nonce 0 does not match on-chain nonce 1"
    admin.advance(10)
    tx = httpx.get(f"{venue.url}/relayer/v1/account/transactions/{failing}").json()
    assert tx["state"] == "STATE_FAILED" and "holds 5" in tx["error_msg"]
    state = admin.state()
    assert state["accounts"][wallet]["positions"] == {yes: 5, no: 5}
    assert state["accounts"][wallet]["collateral"] == 100


def test_an_eoa_has_no_relayer_wallet(venue, make_client):
    client = make_client()
    r = httpx.get(f"{venue.url}/relayer/v1/account/transactions/params",
                  params={"address": client.get_address(), "type": "WALLET"})
    assert r.status_code == 400 and "no WALLET wallet is deployed" in r.json()["error"]
