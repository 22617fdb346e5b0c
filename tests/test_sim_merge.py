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


def test_polymms_relayer_client_merges_and_the_backtest_truth_and_report_count_it(venue, admin, wallet_owner):
    """polymm's own client (polymm/venue/relayer.py) signs what the simulated relayer verifies; the backtest's account
    truth books the merge's collateral as trading cash and its P&L (1 a pair − the pair's cost), and the report
    counts it per market."""
    from polymm.backtest.lockstep import BacktestOptions, RunRecord, _final
    from polymm.backtest.report import build_report
    from polymm.backtest.truth import AccountTruth
    from polymm.config import PolymmConfig
    from polymm.venue.outcomes import Ok
    from polymm.venue.relayer import RelayerClient

    key, eoa, wallet, relayer_key = wallet_owner
    market = _market(venue)
    yes, no = market.token_ids
    admin.fund(wallet, tokens={yes: 10, no: 10})
    engine = venue.server.engine

    def cost_basis():  # as if bought at 0.40 and 0.55
        acct = engine.accounts[wallet]
        acct.cost_basis[yes], acct.cost_basis[no] = 4_000_000, 5_500_000
    venue.call(cost_basis)
    truth = venue.call(lambda: AccountTruth(engine, wallet))
    client = RelayerClient(f"{venue.url}/relayer", key, wallet, relayer_key["key"], relayer_key["address"],
                           clock=lambda: admin.state()["now"])
    signed = client.signed_merge(market.condition_id, market.neg_risk, 6_000_000, "polymm merge t1")
    assert isinstance(signed, Ok)
    sent = client.submit(signed.value)
    assert isinstance(sent, Ok)
    again = client.submit(signed.value)  # the same signed bytes again: the spent nonce refuses them
    assert "does not match on-chain nonce 1" in again.reason
    assert client.find("polymm merge t1").value == sent.value
    admin.advance(40)
    assert client.transaction(sent.value).value["state"] == "STATE_CONFIRMED"
    state = admin.state()
    assert state["accounts"][wallet]["positions"] == {yes: 4, no: 4} and len(state["merges"]) == 1
    final = venue.call(lambda: _final(truth, None))
    [(cid, merged)] = final["merges_by_market"].items()
    assert cid == market.condition_id and merged["merges"] == 1 and merged["pairs"] == 6
    assert merged["pnl"] == pytest.approx(6 * (1 - 0.40 - 0.55))
    assert final["cash_by_market"][cid] == pytest.approx(6.0)
    record = RunRecord(BacktestOptions(scenario="calm", hours=1, seed=1, markets=1),
                       PolymmConfig().model_dump(mode="json"), start=0.0, end=3600.0, final=final)
    report = build_report(record)
    assert (report["totals"]["merges"], report["totals"]["merged_pairs"]) == (1, 6.0)
    assert report["totals"]["merge_pnl"] == pytest.approx(0.3)


def test_a_neg_risk_market_merges_through_the_neg_risk_collateral_adapter(venue, admin, wallet_owner):
    from polymm.venue.outcomes import Ok, Refused
    from polymm.venue.relayer import RelayerClient

    key, eoa, wallet, relayer_key = wallet_owner
    market = next((m for m in venue.server.engine.markets.values() if m.neg_risk and not m.closed), None)
    if market is None:
        pytest.skip("no neg-risk market in this universe")
    yes, no = market.token_ids
    admin.fund(wallet, tokens={yes: 3, no: 3})
    client = RelayerClient(f"{venue.url}/relayer", key, wallet, relayer_key["key"], relayer_key["address"],
                           clock=lambda: admin.state()["now"])
    wrong = client.signed_merge(market.condition_id, False, 3_000_000, "wrong adapter")  # the binary adapter
    refused = client.submit(wrong.value)
    assert isinstance(refused, Refused) and "neg-risk collateral adapter" not in refused.reason.lower() \
        and "goes to 0xadA2005600Dec949baf300f4C6120000bDB6eAab" in refused.reason
    signed = client.signed_merge(market.condition_id, True, 3_000_000, "neg risk")
    sent = client.submit(signed.value)
    assert isinstance(sent, Ok)
    admin.advance(40)
    assert client.transaction(sent.value).value["state"] == "STATE_CONFIRMED"
    assert yes not in admin.state()["accounts"][wallet]["positions"]
