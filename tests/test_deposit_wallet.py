"""Signature types 1, 2 and 3 as the venue checks them (VENUE.md "wallets"), and polymm trading through a deposit
wallet (type 3, POLY_1271: what accounts made on polymarket.com since the 2026 migration use) end to end.

The venue: a contract wallet (proxy 1, safe 2, deposit wallet 3) trades for the EOA it belongs to; the API key is
the EOA's. A type-1/2 maker that is not the signer's own wallet is refused "invalid signature"; a type-3 order
whose deposit wallet is not deployed for the API key's owner is refused "the order signer address has to be the
address of the API KEY". Judged from `/_sim/state`."""

from __future__ import annotations

import os

import httpx
import pytest
from eth_account import Account
from py_clob_client_v2 import OrderArgs, OrderType, PartialCreateOrderOptions, Side, SignatureTypeV2
from py_clob_client_v2.clob_types import AssetType, BalanceAllowanceParams
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.exceptions import PolyApiException

from controller_support import h
from polymm.sim.runner import SimOptions


def deploy(venue, owner: str, signature_type: int, **extra) -> str:
    r = httpx.post(f"{venue.url}/_sim/wallet", json={"owner": owner, "signature_type": signature_type, **extra})
    r.raise_for_status()
    return r.json()["address"]


def key_and_client(venue, make_client) -> tuple[str, str, ClobClient]:
    key = "0x" + os.urandom(32).hex()
    return key, Account.from_key(key).address, make_client(key)


def trading_client(venue, key: str, creds, signature_type: int, funder: str) -> ClobClient:
    return ClobClient(venue.url, chain_id=137, key=key, creds=creds, signature_type=signature_type, funder=funder)


def bid(client: ClobClient, market) -> dict:
    price = (market.book.best_bid() - market.tick_pips) / 10_000
    return client.create_and_post_order(OrderArgs(token_id=market.token_ids[0], price=round(price, 2), side=Side.BUY,
                                                  size=10), PartialCreateOrderOptions(tick_size="0.01"), OrderType.GTC)


def refusal(call) -> str:
    with pytest.raises(PolyApiException) as info:
        call()
    assert info.value.status_code == 400
    return info.value.error_msg["error"]


def test_a_deposit_wallet_order_rests_on_the_wallet_and_the_balance_is_the_wallets(venue, admin, make_client, reward_market):
    key, eoa, l1 = key_and_client(venue, make_client)
    wallet = deploy(venue, eoa, 3)
    client = trading_client(venue, key, l1.creds, SignatureTypeV2.POLY_1271, wallet)
    reply = bid(client, reward_market)
    assert reply["success"] and reply["status"] == "live"
    state = admin.state()
    assert [o["id"] for o in state["accounts"][wallet]["open_orders"]] == [reply["orderID"]]
    assert state["accounts"][wallet]["wallet_of"] == eoa and state["accounts"][wallet]["signature_type"] == 3
    assert state["accounts"][eoa]["open_orders"] == []
    admin.fund(wallet, collateral=234.5)
    balance = client.get_balance_allowance(BalanceAllowanceParams(asset_type=AssetType.COLLATERAL))
    assert int(balance["balance"]) == round(state["accounts"][wallet]["collateral"] * 1e6) + 234_500_000
    assert [o["id"] for o in client.get_open_orders()] == [reply["orderID"]]  # listed under the EOA's API key
    assert client.cancel_all()["canceled"] == [reply["orderID"]]
    assert admin.state()["accounts"][wallet]["open_orders"] == []


def test_a_deposit_wallet_that_is_not_deployed_for_the_api_keys_owner_is_refused(venue, admin, make_client, reward_market):
    key, eoa, l1 = key_and_client(venue, make_client)
    undeployed = Account.from_key("0x" + os.urandom(32).hex()).address  # nothing deployed there
    _, other, _ = key_and_client(venue, make_client)
    someone_elses = deploy(venue, other, 3)
    for funder in (undeployed, someone_elses):
        client = trading_client(venue, key, l1.creds, SignatureTypeV2.POLY_1271, funder)
        assert refusal(lambda: bid(client, reward_market)) == \
            "the order signer address has to be the address of the API KEY"
    assert admin.state()["accounts"][someone_elses]["open_orders"] == []


@pytest.mark.parametrize("signature_type", [1, 2])
def test_a_proxy_or_safe_maker_must_be_the_signers_own_wallet(venue, admin, make_client, reward_market, signature_type):
    key, eoa, l1 = key_and_client(venue, make_client)
    stranger = Account.from_key("0x" + os.urandom(32).hex()).address
    client = trading_client(venue, key, l1.creds, signature_type, stranger)
    assert refusal(lambda: bid(client, reward_market)) == "invalid signature"
    wrong_kind = deploy(venue, eoa, 3 - signature_type)  # the signer's wallet of the other kind
    client = trading_client(venue, key, l1.creds, signature_type, wrong_kind)
    assert refusal(lambda: bid(client, reward_market)) == "invalid signature"
    own = deploy(venue, eoa, signature_type)
    reply = bid(trading_client(venue, key, l1.creds, signature_type, own), reward_market)
    assert reply["success"]
    assert [o["id"] for o in admin.state()["accounts"][own]["open_orders"]] == [reply["orderID"]]


def test_the_official_client_trades_through_its_own_deposit_wallet(venue, admin):
    """polymarket-client defaults to the signer's deposit wallet (its CREATE2 address), asks the relayer whether it
    is deployed, and signs type 3 itself: the venue accepts it once that wallet is deployed for the owner."""
    from polymarket import PRODUCTION, SecureClient
    from polymarket._internal.environment import get_environment_config
    from polymarket._internal.wallet import derive_beacon_deposit_wallet_address

    from test_official_clients import examples

    key = "0x" + os.urandom(32).hex()
    eoa = Account.from_key(key).address
    wallet = derive_beacon_deposit_wallet_address(eoa, get_environment_config(PRODUCTION).wallet_derivation)
    deploy(venue, eoa, 3, address=wallet)
    market = next(m for m in venue.server.engine.markets.values()
                  if m.tick_pips == 100 and not m.neg_risk and m.book.best_bid() and m.book.best_bid() > 1000)
    sec = SecureClient.create(private_key=key, environment=examples.official_environment(venue.url))
    try:
        assert sec.wallet == wallet
        price = (market.book.best_bid() - market.tick_pips) / 10_000
        reply = sec.place_limit_order(token_id=market.token_ids[0], price=f"{price:.2f}", size="10", side="BUY")
        assert type(reply).__name__ == "AcceptedOrder", reply
        assert [o["id"] for o in admin.state()["accounts"][wallet]["open_orders"]] == [reply.order_id]
        assert list(sec.cancel_all().canceled) == [reply.order_id]
    finally:
        sec.close()
    assert admin.state()["accounts"][wallet]["open_orders"] == []


def test_polymm_quotes_and_stops_through_a_deposit_wallet(venue, truth, controllers, make_client):
    """The controller with venue.signature_type 3 and POLYMARKET_FUNDER = the deposit wallet: its quotes rest on the
    wallet (maker and signer), `polymm stop` cancels them all; the EOA itself never holds an order."""
    key = h.wallet_key("deposit-wallet")
    eoa = Account.from_key(key).address
    make_client(key)  # the EOA's API key, as both official clients create it
    wallet = deploy(venue, eoa, 3)
    ctl = controllers("deposit-wallet", extra_env={"POLYMM_VENUE__SIGNATURE_TYPE": "3", "POLYMARKET_FUNDER": wallet})
    assert ctl.key == key
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    state = truth.state()
    live = h.live_orders(state, wallet)
    assert live and all(o["maker_address"] == wallet for o in live)
    assert state["accounts"][eoa]["open_orders"] == []
    done = ctl.run("stop")
    assert done.returncode == 0, done.stdout + done.stderr
    assert h.live_orders(truth.state(), wallet) == []


def test_check_config_remote_asks_the_relayer_whether_the_funder_is_deployed(tmp_path):
    """`polymm check-config --remote` with signature type 3: ok for the deposit wallet deployed for the signer; a
    funder with nothing deployed (a typo, or a counterfactual wallet) is one FAIL line before any order is sent."""
    with h.VenueProcess(seed=3, speed=0, markets=5) as served:
        key = h.wallet_key("check-config-type-3")
        ctl = h.ControllerProcess(served.url, key, tmp_path / "cc3")
        assert ctl.run("keys", "--create").returncode == 0
        wallet = deploy(served, ctl.address, 3)
        ready = ctl.run("check-config", "--remote", env={"POLYMM_VENUE__SIGNATURE_TYPE": "3", "POLYMARKET_FUNDER": wallet})
        assert ready.returncode == 0, ready.stdout + ready.stderr
        assert f"ok   funder: {wallet} is a deployed POLY_1271 wallet" in ready.stdout.splitlines()
        typo = Account.from_key("0x" + "42" * 32).address
        wrong = ctl.run("check-config", "--remote", env={"POLYMM_VENUE__SIGNATURE_TYPE": "3", "POLYMARKET_FUNDER": typo})
    assert wrong.returncode == 1
    assert [line for line in wrong.stdout.splitlines() if line.startswith("FAIL")] == [
        f"FAIL funder: no POLY_1271 wallet is deployed at POLYMARKET_FUNDER {typo} (the relayer says so): use the "
        "account address polymarket.com shows in the profile menu; a new deposit wallet is deployed by its first "
        "order placed on polymarket.com"]


@pytest.mark.parametrize("sim_options", [SimOptions(seed=7, speed=0, markets=30, balance_delay_s=0.0,
                                                    deposit_wallet_accounts=True, universe="generated")],
                         ids=["deposit-wallet-accounts"])
def test_a_new_deposit_wallet_account_may_not_trade_as_an_eoa_or_proxy(venue, admin, make_client, reward_market):
    key, eoa, l1 = key_and_client(venue, make_client)
    assert refusal(lambda: bid(l1, reward_market)) == "maker address not allowed, please use the deposit wallet flow"
    proxy = deploy(venue, eoa, 1)
    assert refusal(lambda: bid(trading_client(venue, key, l1.creds, 1, proxy), reward_market)) == \
        "maker address not allowed, please use the deposit wallet flow"
    wallet = deploy(venue, eoa, 3)
    assert bid(trading_client(venue, key, l1.creds, SignatureTypeV2.POLY_1271, wallet), reward_market)["success"]
    assert len(admin.state()["accounts"][wallet]["open_orders"]) == 1


def test_an_account_the_venue_refuses_as_configured_is_degraded_until_it_trades(tmp_path):
    """A new deposit-wallet account run as an EOA (`sim serve --deposit-wallet-accounts`, venue.signature_type 0):
    every order is refused "maker address not allowed, please use the deposit wallet flow"; health stays degraded
    with the venue's words and what to check, also while the refused slots cool down and nothing is sent."""
    with h.VenueProcess(seed=3, speed=0, markets=20,
                        extra=("--deposit-wallet-accounts", "--universe", "generated")) as served:
        ctl = h.ControllerProcess(served.url, h.wallet_key("eoa-on-a-deposit-wallet-account"), tmp_path / "eoa")
        try:
            ctl.start()
            ctl.wait_ticks(8, timeout=60)
            status = ctl.status()
        finally:
            ctl.stop()
    assert status["orders_by_state"].get("rejected", 0) >= 1 and not status["active_orders"], status["orders_by_state"]
    assert status["health"] == "degraded", status
    assert status["why"] == ("the venue refuses this account's orders: INVALID_ORDER_ERROR maker address not allowed, please use the "
                             "deposit wallet flow; check venue.signature_type and POLYMARKET_FUNDER (README: Which "
                             "signature type)")
