"""A small client of Polymarket's relayer: merging a deposit wallet's YES+NO pair into collateral, gasless.

Why not polymarket-client's `SecureClient.merge_positions`: it reads the balances over a Polygon JSON-RPC, signs
and submits in one call (retrying inside), and hands back the transaction id only after the submit — a crash in
between leaves nothing to find the transaction by. Here the signed payload is built first, stored by the caller
(the ledger), then sent; its nonce makes a resend harmless (the relayer refuses a spent nonce: "batch nonce N does
not match on-chain nonce M", polymarket-client relayer/submit.py), and the metadata names the merge so a restart
finds the transaction in `GET /transactions`.

What is sent, as polymarket-client 0.14.0 builds it (polymarket/clients/secure.py merge_positions; relayer/calls.py
ctf_merge_positions_call; relayer/gasless.py build_deposit_wallet_payload; relayer/signing/deposit_wallet.py):
- the call: CTF `mergePositions(pUSD, 0x0, conditionId, [1, 2], amount)` to the collateral adapter (neg-risk
  markets: the neg-risk collateral adapter); amount in base units of 10⁻⁶ share (docs.polymarket.com/developers/
  CTF/merge: "the number of full sets to merge. Also the amount of collateral to receive");
- a WALLET transaction: the owner's EIP-712 signature of `Batch(wallet, nonce, deadline, calls)` (domain
  DepositWallet v1, chain 137, verifying contract = the deposit wallet), nonce from `GET /v1/account/transactions/
  params?type=WALLET`, deadline 10 minutes ahead;
- auth: `RELAYER_API_KEY` and `RELAYER_API_KEY_ADDRESS` headers (docs.polymarket.com/api-reference/relayer/
  submit-a-transaction; the key is made on polymarket.com, Settings > API Keys);
- states: STATE_NEW → STATE_EXECUTED → STATE_MINED → STATE_CONFIRMED, or STATE_FAILED / STATE_INVALID
  (builder-relayer-client src/types.ts); polymm records a merge once STATE_MINED (the shares are gone on chain then)
  and follows it to STATE_CONFIRMED (what polymarket-client waits for); a failure after MINED reverses it.

Only deposit wallets (signature type 3, the wallet of accounts made since the 2026 migration) are implemented;
proxy (1) and Safe (2) wallets sign differently (relayer/signing/{proxy,safe}.py) and are not merged by polymm.
An EOA (type 0) has no wallet the relayer can act for: it would send the transaction itself and pay gas.
"""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_hash.auto import keccak

from polymm.domain.eip712 import deposit_wallet_batch
from polymm.venue.outcomes import Ok, Outcome, Refused, Unknown

COLLATERAL_TOKEN = "0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB"  # pUSD (polymarket-client PRODUCTION config)
COLLATERAL_ADAPTER = "0xAdA100Db00Ca00073811820692005400218FcE1f"
NEG_RISK_COLLATERAL_ADAPTER = "0xadA2005600Dec949baf300f4C6120000bDB6eAab"
DEPOSIT_WALLET_FACTORY = "0x00000000000Fb5C9ADea0298D729A0CB3823Cc07"
MERGE_SELECTOR = keccak(b"mergePositions(address,bytes32,bytes32,uint256[],uint256)")[:4]
DEADLINE_S = 600
TERMINAL_FAILURE = ("STATE_FAILED", "STATE_INVALID")
MICRO = Decimal(1_000_000)


def merge_units(shares: Decimal) -> int:
    """Shares to the CTF's base units (10⁻⁶), rounded down: never more than held."""
    return int((shares * MICRO).to_integral_value(rounding="ROUND_FLOOR"))


class RelayerClient:
    def __init__(self, relayer_url: str, private_key: str, wallet: str, api_key: str, api_key_address: str,
                 chain_id: int = 137, timeout_s: float = 15.0, clock=time.time) -> None:
        self.url = relayer_url.rstrip("/")
        self.account = Account.from_key(private_key)
        self.wallet = wallet
        self.chain_id = chain_id
        self.headers = {"RELAYER_API_KEY": api_key, "RELAYER_API_KEY_ADDRESS": api_key_address}
        self.http = httpx.Client(timeout=timeout_s)
        self.clock = clock  # wall time: the deadline is checked against the chain's clock

    def _get(self, path: str, params: dict | None = None, auth: bool = False) -> Outcome:
        try:
            reply = self.http.get(f"{self.url}{path}", params=params, headers=self.headers if auth else None)
        except httpx.HTTPError as exc:
            return Unknown(f"relayer {path}: {type(exc).__name__}: {exc}")
        return _outcome(reply, path)

    def signed_merge(self, condition_id: str, neg_risk: bool, amount: int, metadata: str) -> Outcome[dict]:
        """The signed WALLET transaction of one merge, ready to send (nothing is sent but the nonce read)."""
        got = self._get("/v1/account/transactions/params", {"address": self.account.address, "type": "WALLET"})
        if not isinstance(got, Ok):
            return got
        try:
            nonce = int(got.value["nonce"])
        except (KeyError, TypeError, ValueError):
            return Unknown(f"relayer nonce reply without a nonce: {got.value!r}"[:300])
        target = NEG_RISK_COLLATERAL_ADAPTER if neg_risk else COLLATERAL_ADAPTER
        data = "0x" + (MERGE_SELECTOR + abi_encode(
            ["address", "bytes32", "bytes32", "uint256[]", "uint256"],
            [COLLATERAL_TOKEN, b"\x00" * 32, bytes.fromhex(condition_id.removeprefix("0x")), [1, 2], amount])).hex()
        deadline = int(self.clock()) + DEADLINE_S
        typed = deposit_wallet_batch(self.chain_id, self.wallet, nonce, deadline,
                                     [(target, 0, bytes.fromhex(data[2:]))])
        signature = "0x" + self.account.sign_message(encode_typed_data(full_message=typed)).signature.hex()
        return Ok({"type": "WALLET", "from": self.account.address, "to": DEPOSIT_WALLET_FACTORY, "nonce": str(nonce),
                   "signature": signature, "metadata": metadata,
                   "depositWalletParams": {"depositWallet": self.wallet, "deadline": str(deadline),
                                           "calls": [{"target": target, "value": "0", "data": data}]}})

    def submit(self, payload: dict) -> Outcome[str]:
        """POST /submit: Ok(transaction id); Refused for a 4xx (nothing was relayed); Unknown otherwise."""
        try:
            reply = self.http.post(f"{self.url}/submit", json=payload, headers=self.headers)
        except httpx.HTTPError as exc:
            return Unknown(f"relayer /submit: {type(exc).__name__}: {exc}")
        got = _outcome(reply, "/submit")
        if isinstance(got, Ok):
            tx_id = got.value.get("transactionID") if isinstance(got.value, dict) else None
            return Ok(str(tx_id)) if tx_id else Unknown(f"relayer /submit reply without transactionID: {got.value!r}"[:300])
        return got

    def transaction(self, transaction_id: str) -> Outcome[dict]:
        """GET /transaction?id=: {"state", "transactionHash", "error"} of one transaction."""
        got = self._get("/transaction", {"id": transaction_id})
        if not isinstance(got, Ok):
            return got
        rows = got.value if isinstance(got.value, list) else [got.value]
        if not rows or not isinstance(rows[0], dict) or "state" not in rows[0]:
            return Unknown(f"relayer /transaction reply without a state: {got.value!r}"[:300])
        row = rows[0]
        return Ok({"state": row["state"], "transactionHash": row.get("transactionHash") or None,
                   "error": row.get("error_msg") or row.get("errorMsg") or row.get("error")})

    def find(self, metadata: str) -> Outcome[str | None]:
        """The id of our transaction with this metadata among the key's transactions (GET /transactions)."""
        got = self._get("/transactions", auth=True)
        if not isinstance(got, Ok):
            return got
        rows = got.value if isinstance(got.value, list) else []
        return Ok(next((str(r.get("transactionID")) for r in rows if isinstance(r, dict) and r.get("metadata") == metadata), None))

    def close(self) -> None:
        self.http.close()


def _outcome(reply: httpx.Response, path: str) -> Outcome:
    if reply.status_code >= 500 or reply.status_code == 429:
        return Unknown(f"relayer {path}: {reply.status_code} {reply.text[:200]}")
    if reply.status_code >= 400:
        try:
            message = reply.json().get("error", reply.text)
        except ValueError:
            message = reply.text
        return Refused(f"relayer {path}: {message}"[:400], reply.status_code)
    try:
        return Ok(reply.json())
    except ValueError:
        return Unknown(f"relayer {path}: the reply is not JSON")
