"""The simulated Polymarket relayer: gasless transactions of contract wallets, of which it executes merges.

What the real one does (sources):
- endpoints (Polymarket/builder-relayer-client src/endpoints.ts; polymarket-client 0.14.0
  polymarket/_internal/actions/relayer/{nonce,submit,poll}.py): `GET /nonce`, `GET /relay-payload` (PROXY: the
  relay's address and nonce), `GET /v1/account/transactions/params` (SAFE / WALLET: address and nonce),
  `POST /submit`, `GET /transaction?id=` (docs.polymarket.com/api-reference/relayer/get-a-transaction-by-id),
  `GET /v1/account/transactions/{id}` (what polymarket-client polls), `GET /transactions`;
- auth: Builder API key headers (POLY_BUILDER_API_KEY / _TIMESTAMP / _PASSPHRASE / _SIGNATURE, HMAC as the CLOB's
  L2) or Relayer API key headers (RELAYER_API_KEY, RELAYER_API_KEY_ADDRESS; "must match the address that owns the
  key") — docs.polymarket.com/api-reference/relayer/submit-a-transaction. Real Relayer API keys are made on
  polymarket.com (Settings > API Keys); the simulator issues them through the admin `POST /_sim/relayer-key`;
- `POST /submit` "returns immediately with the transactionID and a state of STATE_NEW" (same page); the
  transaction then moves STATE_NEW → STATE_EXECUTED → STATE_MINED → STATE_CONFIRMED, or ends STATE_FAILED /
  STATE_INVALID (builder-relayer-client src/types.ts RelayerTransactionState; polymarket-client waits for
  STATE_CONFIRMED and raises on FAILED / INVALID: relayer/poll.py). The docs' example transaction was created at
  21:13:08.8 and last updated (CONFIRMED) at 21:13:46.6, 38 s later: the simulated one is EXECUTED after 2 s, MINED
  (the call takes effect on chain) after 6 s and CONFIRMED 38 s after submission, all in simulated time;
- a nonce the wallet has already used is refused "batch nonce N does not match on-chain nonce M" (the message
  polymarket-client parses: relayer/submit.py `_NONCE_MISMATCH_RE`);
- what is signed (polymarket-client relayer/signing/{proxy,safe,deposit_wallet}.py): PROXY — keccak("rlx:" ‖ from ‖
  to ‖ data ‖ relayerFee ‖ gasPrice ‖ gasLimit ‖ nonce ‖ relayHub ‖ relay), personal-signed by the owner, data =
  the proxy factory's `proxy((uint8,address,uint256,bytes)[])`; SAFE — the EIP-712 SafeTx (domain chainId +
  the safe), eth_sign'ed, v + 4; WALLET (deposit wallet) — the EIP-712 `Batch(address wallet,uint256 nonce,
  uint256 deadline,Call[] calls)` of domain DepositWallet v1 at the wallet. The signer must own the wallet
  (a proxy / safe / deposit wallet deployed for it), else the wallet contract would refuse the call.

The merge itself is the Conditional Tokens Framework's `mergePositions(collateral, parentCollectionId,
conditionId, partition, amount)` (docs.polymarket.com/developers/CTF/merge: "one unit of each position in a
full set is burned in return for 1 collateral unit"; "if you don't have enough of both tokens, the transaction
reverts"), sent by polymarket-client 0.14.0 to the collateral adapter (or, for neg-risk markets, the neg-risk
collateral adapter) with the pUSD collateral and partition [1, 2] (polymarket/clients/secure.py merge_positions,
relayer/calls.py ctf_merge_positions_call); the NegRiskAdapter's own `mergePositions(bytes32 conditionId, uint256
amount)` is accepted for neg-risk markets too. It burns `amount` (base units of 10⁻⁶ share) of each outcome token
held by the wallet *on chain* — tokens of a trade not yet mined are not there yet — and credits `amount` of
collateral. The CTF does not check resolution (a resolved market's full set still merges for 1). The call runs when
the transaction is mined; a revert then ends it STATE_FAILED with the reason.

Modelling choices (no source): the relayer refuses at `/submit` any call other than a merge (the simulator does not
model approvals, transfers or redemptions on chain; a real relayer would relay them); resting sell orders of the
wallet that the burnt balance no longer covers are cancelled (the real CLOB's handling of an order whose balance
went away is not documented; the simulator will not match an order against tokens that no longer exist). EOAs
(signature type 0) have no contract wallet and cannot use the relayer: they would send the transaction themselves
and pay gas (polymarket-client: "EOA wallets do not use the relayer"); the simulator has no chain for them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field

from eth_abi.abi import decode as abi_decode
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_hash.auto import keccak

from polymm.domain.eip712 import deposit_wallet_batch
from polymm.sim import auth
from polymm.sim.engine import Engine
from polymm.sim.model import MICRO
from polymm.sim.orders import VenueError
from polymm.sim.wire import iso_time

# polymarket-client 0.14.0 PRODUCTION environment (polymarket/_internal/environment.py)
COLLATERAL_TOKEN = "0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB"  # pUSD
CONDITIONAL_TOKENS = "0x4D97DCd97eC945f40cF65F87097ACe5EA0476045"
NEG_RISK_ADAPTER = "0xd91E80cF2E7be2e162c6513ceD06f1dD0dA35296"
COLLATERAL_ADAPTER = "0xAdA100Db00Ca00073811820692005400218FcE1f"
NEG_RISK_COLLATERAL_ADAPTER = "0xadA2005600Dec949baf300f4C6120000bDB6eAab"
PROXY_FACTORY = "0xaB45c5A4B0c941a2F231C04C3f49182e1A254052"
DEPOSIT_WALLET_FACTORY = "0x00000000000Fb5C9ADea0298D729A0CB3823Cc07"
SAFE_MULTISEND = "0xA238CBeb142c10Ef7Ad8442C6D1f9E89e07e7761"
RELAY_HUB = "0xD216153c06E857cD7f72665E0aF1d7D82172F494"
RELAY_ADDRESS = "0x7Db63fE6d62eB73fb01f8009416F4C2bB4FBDA6A"  # the simulated relay's own address

WALLET_TYPES = {"PROXY": 1, "SAFE": 2, "WALLET": 3}
EXECUTED_AFTER_S, MINED_AFTER_S, CONFIRMED_AFTER_S = 2.0, 6.0, 38.0


def _selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


CTF_MERGE = _selector("mergePositions(address,bytes32,bytes32,uint256[],uint256)")
NEG_RISK_MERGE = _selector("mergePositions(bytes32,uint256)")
PROXY_CALL = _selector("proxy((uint8,address,uint256,bytes)[])")
MULTISEND = _selector("multiSend(bytes)")
NONCE_MISMATCH = "batch nonce {0} does not match on-chain nonce {1}"


@dataclass
class Merge:
    condition_id: str
    amount: int  # micro-shares of each outcome = micro-collateral
    cost: int = 0  # micro-collateral of cost basis the burnt shares carried (set when mined): P&L = amount − cost
    mined_at: float | None = None


@dataclass
class RelayedTransaction:
    transaction_id: str
    type: str
    owner: str  # the signer EOA
    wallet: str
    to: str
    data: str
    nonce: int
    signature: str
    metadata: str
    merges: list[Merge]
    created_at: float
    updated_at: float
    state: str = "STATE_NEW"
    transaction_hash: str = ""
    error_msg: str = ""
    history: list[tuple[str, float]] = field(default_factory=list)

    def gasless_json(self) -> dict:
        """`GET /v1/account/transactions/{id}` (polymarket-client models/clob/relayer.py GaslessTransaction)."""
        return {"transaction_id": self.transaction_id, "transaction_hash": self.transaction_hash or None,
                "state": self.state, "error_msg": self.error_msg or None, "type": self.type,
                "metadata": self.metadata, "nonce": str(self.nonce)}

    def relayer_json(self) -> dict:
        """The RelayerTransaction of `GET /transaction` (docs example; builder-relayer-client src/types.ts)."""
        return {"transactionID": self.transaction_id, "transactionHash": self.transaction_hash,
                "from": self.owner, "to": self.to, "proxyAddress": self.wallet, "data": self.data,
                "nonce": str(self.nonce), "value": "", "signature": self.signature, "state": self.state,
                "type": self.type, "owner": self.owner, "metadata": self.metadata,
                "createdAt": iso_time(self.created_at), "updatedAt": iso_time(self.updated_at)}

    def state_json(self) -> dict:
        """What `/_sim/state` shows of it."""
        return {"transaction_id": self.transaction_id, "type": self.type, "owner": self.owner, "wallet": self.wallet,
                "state": self.state, "error": self.error_msg or None, "metadata": self.metadata,
                "merges": [{"condition_id": m.condition_id, "amount": m.amount / MICRO} for m in self.merges],
                "history": [{"state": s, "at": t} for s, t in self.history]}


def _hex_bytes(value, what: str) -> bytes:
    if not isinstance(value, str) or not re.fullmatch(r"0x([0-9a-fA-F]{2})*", value):
        raise VenueError(400, f"{what} must be 0x-prefixed hex")
    return bytes.fromhex(value[2:])


def _address(value, what: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"0x[0-9a-fA-F]{40}", value):
        raise VenueError(400, f"{what}: {value!r} is not an address")
    return auth.checksum_address(value)


def _uint(value, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise VenueError(400, f"{what} must be a non-negative integer string")


class Relayer:
    """Transactions by id, nonces by wallet, relayer API keys; `step` moves transactions on with the clock."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.transactions: dict[str, RelayedTransaction] = {}
        self.nonces: dict[str, int] = {}  # wallet -> next nonce
        self.api_keys: dict[str, str] = {}  # relayer API key -> owner address
        engine.on_step(self.step, during_restart=True)  # the chain does not stop when the CLOB restarts
        engine.relayer = self  # the backtest's account truth reads the merges (polymm.backtest.truth)

    # ------------------------------------------------------------------ keys and auth
    def issue_key(self, address: str) -> dict:
        address = _address(address, "address")
        key = hashlib.sha256(self.engine.venue_secret + b"relayer" + address.encode()
                             + bytes([len(self.api_keys) % 256])).hexdigest()
        key = f"{key[:8]}-{key[8:12]}-{key[12:16]}-{key[16:20]}-{key[20:32]}"
        self.api_keys[key] = address
        return {"key": key, "address": address}

    def authenticate(self, headers, method: str, path: str, body: str, builder_secrets: dict[str, tuple[str, str]]) -> None:
        """Relayer API key or Builder API key headers, else 401 (docs: submit-a-transaction)."""
        key = headers.get("RELAYER_API_KEY")
        if key is not None:
            owner = self.api_keys.get(key)
            if owner is None or headers.get("RELAYER_API_KEY_ADDRESS", "").lower() != owner.lower():
                raise VenueError(401, "invalid relayer api key")
            return
        bkey = headers.get("POLY_BUILDER_API_KEY")
        if bkey is not None and bkey in builder_secrets:
            secret, passphrase = builder_secrets[bkey]
            ts = headers.get("POLY_BUILDER_TIMESTAMP", "")
            expected = auth.hmac_signature(secret, ts, method, path, body)
            if headers.get("POLY_BUILDER_PASSPHRASE") == passphrase and ts.isdigit() and hmac.compare_digest(
                    expected, headers.get("POLY_BUILDER_SIGNATURE", "")):
                return
        raise VenueError(401, "invalid authorization: send Relayer API key or Builder API key headers")

    # ------------------------------------------------------------------ nonces
    def wallet_for(self, owner: str, type_: str) -> str:
        if type_ not in WALLET_TYPES:
            raise VenueError(400, f"type {type_!r} — allowed: {', '.join(WALLET_TYPES)}")
        owner = _address(owner, "address")
        wallet = self.engine.wallet_of(owner, WALLET_TYPES[type_])
        if wallet is None:
            raise VenueError(400, f"no {type_} wallet is deployed for {owner}")
        return wallet

    def nonce(self, owner: str, type_: str) -> int:
        return self.nonces.get(self.wallet_for(owner, type_), 0)

    # ------------------------------------------------------------------ submit
    def submit(self, body: dict) -> dict:
        type_ = body.get("type")
        if type_ not in WALLET_TYPES:
            raise VenueError(400, f"type {type_!r} — the relayer executes PROXY, SAFE and WALLET transactions")
        owner = _address(body.get("from"), "from")
        nonce = _uint(body.get("nonce"), "nonce")
        signature = body.get("signature", "")
        if type_ == "WALLET":
            wallet, calls, to, data = self._wallet_calls(body, owner, nonce, signature)
        elif type_ == "SAFE":
            wallet, calls, to, data = self._safe_calls(body, owner, nonce, signature)
        else:
            wallet, calls, to, data = self._proxy_calls(body, owner, nonce, signature)
        if self.engine.wallets.get(wallet) != (owner, WALLET_TYPES[type_]):
            raise VenueError(400, f"{wallet} is not a {type_} wallet of {owner}")
        expected = self.nonces.get(wallet, 0)
        if nonce != expected:
            raise VenueError(400, NONCE_MISMATCH.format(nonce, expected))
        merges = [self._merge_of(target, calldata) for target, calldata in calls]
        if not merges:
            raise VenueError(400, "no calls")
        self.nonces[wallet] = expected + 1
        now = self.engine.now
        tx = RelayedTransaction(self.engine.new_uuid(), type_, owner, wallet, to, data, nonce, str(signature),
                                str(body.get("metadata", ""))[:500], merges, now, now)
        tx.history.append((tx.state, now))
        self.transactions[tx.transaction_id] = tx
        # docs submit-a-transaction: the hash is not in this reply
        return {"transactionID": tx.transaction_id, "state": tx.state, "transactionHash": ""}

    def _wallet_calls(self, body: dict, owner: str, nonce: int, signature: str):
        params = body.get("depositWalletParams")
        if not isinstance(params, dict) or not isinstance(params.get("calls"), list):
            raise VenueError(400, "depositWalletParams with depositWallet, deadline and calls is required")
        wallet = _address(params.get("depositWallet"), "depositWallet")
        deadline = _uint(params.get("deadline"), "deadline")
        if deadline < self.engine.now:
            raise VenueError(400, f"batch deadline {deadline} has passed")
        calls = []
        for i, call in enumerate(params["calls"]):
            if not isinstance(call, dict):
                raise VenueError(400, f"calls[{i}] must be an object")
            calls.append((_address(call.get("target"), f"calls[{i}].target"), _uint(call.get("value", "0"), "value"),
                          _hex_bytes(call.get("data"), f"calls[{i}].data")))
        typed = deposit_wallet_batch(self.engine.settings.chain_id, wallet, nonce, deadline, calls)
        self._check_signer(encode_typed_data(full_message=typed), signature, owner)
        return wallet, [(t, d) for t, _, d in calls], _address(body.get("to", DEPOSIT_WALLET_FACTORY), "to"), ""

    def _safe_calls(self, body: dict, owner: str, nonce: int, signature: str):
        wallet = _address(body.get("proxyWallet"), "proxyWallet")
        to = _address(body.get("to"), "to")
        data = _hex_bytes(body.get("data"), "data")
        params = body.get("signatureParams") or {}
        operation = _uint(params.get("operation", "0"), "signatureParams.operation")
        typed = {
            "domain": {"chainId": self.engine.settings.chain_id, "verifyingContract": wallet},
            "types": {
                "EIP712Domain": [{"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
                "SafeTx": [{"name": n, "type": t} for n, t in (
                    ("to", "address"), ("value", "uint256"), ("data", "bytes"), ("operation", "uint8"),
                    ("safeTxGas", "uint256"), ("baseGas", "uint256"), ("gasPrice", "uint256"), ("gasToken", "address"),
                    ("refundReceiver", "address"), ("nonce", "uint256"))],
            },
            "primaryType": "SafeTx",
            "message": {"to": to, "value": _uint(body.get("value", "0"), "value"), "data": data, "operation": operation,
                        "safeTxGas": 0, "baseGas": 0, "gasPrice": 0,
                        "gasToken": "0x0000000000000000000000000000000000000000",
                        "refundReceiver": "0x0000000000000000000000000000000000000000", "nonce": nonce},
        }
        signable = encode_typed_data(full_message=typed)
        digest = keccak(b"\x19" + signable.version + signable.header + signable.body)
        raw = _hex_bytes(signature, "signature")
        if len(raw) != 65 or raw[64] not in (31, 32):
            raise VenueError(400, "invalid signature: a Safe eth_sign signature has v 31 or 32")
        self._check_signer(encode_defunct(primitive=digest), "0x" + (raw[:64] + bytes([raw[64] - 4])).hex(), owner)
        if operation == 1:
            if to != auth.checksum_address(SAFE_MULTISEND) or data[:4] != MULTISEND:
                raise VenueError(400, "a delegatecall is accepted to the MultiSend contract only")
            calls = self._multisend(abi_decode(["bytes"], data[4:])[0])
        else:
            calls = [(to, data)]
        return wallet, calls, to, body.get("data", "")

    @staticmethod
    def _multisend(packed: bytes) -> list[tuple[str, bytes]]:
        calls, i = [], 0
        while i < len(packed):
            target = auth.checksum_address("0x" + packed[i + 1:i + 21].hex())
            length = int.from_bytes(packed[i + 53:i + 85], "big")
            calls.append((target, packed[i + 85:i + 85 + length]))
            i += 85 + length
        return calls

    def _proxy_calls(self, body: dict, owner: str, nonce: int, signature: str):
        wallet = _address(body.get("proxyWallet"), "proxyWallet")
        to = _address(body.get("to"), "to")
        data_hex = body.get("data")
        data = _hex_bytes(data_hex, "data")
        params = body.get("signatureParams") or {}
        relay = _address(params.get("relay"), "signatureParams.relay")
        hub = _address(params.get("relayHub"), "signatureParams.relayHub")
        if relay != auth.checksum_address(RELAY_ADDRESS):
            raise VenueError(400, f"signatureParams.relay {relay} is not this relay (GET /relay-payload)")
        if to != auth.checksum_address(PROXY_FACTORY) or data[:4] != PROXY_CALL:
            raise VenueError(400, "a PROXY transaction calls the proxy factory's proxy(calls)")
        hashed = keccak(b"rlx:" + bytes.fromhex(owner[2:]) + bytes.fromhex(to[2:]) + data
                        + b"".join(_uint(params.get(k, "0"), f"signatureParams.{k}").to_bytes(32, "big")
                                   for k in ("relayerFee", "gasPrice", "gasLimit"))
                        + nonce.to_bytes(32, "big") + bytes.fromhex(hub[2:]) + bytes.fromhex(relay[2:]))
        self._check_signer(encode_defunct(primitive=hashed), signature, owner)
        rows = abi_decode(["(uint8,address,uint256,bytes)[]"], data[4:])[0]
        return wallet, [(auth.checksum_address(t), d) for _, t, _, d in rows], to, data_hex

    @staticmethod
    def _check_signer(signable, signature: str, owner: str) -> None:
        try:
            recovered = Account.recover_message(signable, signature=_hex_bytes(signature, "signature"))
        except VenueError:
            raise
        except Exception as exc:
            raise VenueError(400, f"invalid signature: {exc}") from exc
        if recovered.lower() != owner.lower():
            raise VenueError(400, "invalid signature: it does not recover to `from`")

    def _merge_of(self, target: str, data: bytes) -> Merge:
        selector, args = data[:4], data[4:]
        if selector == CTF_MERGE:
            try:
                collateral, parent, condition, partition, amount = abi_decode(
                    ["address", "bytes32", "bytes32", "uint256[]", "uint256"], args)
            except Exception as exc:
                raise VenueError(400, f"mergePositions arguments do not decode: {exc}") from exc
            cid = "0x" + condition.hex()
            market = self.engine.markets.get(cid)
            want = NEG_RISK_COLLATERAL_ADAPTER if market is not None and market.neg_risk else COLLATERAL_ADAPTER
            if market is None:
                raise VenueError(400, f"mergePositions: condition {cid} is not prepared")
            if target.lower() != want.lower() or auth.checksum_address(collateral) != auth.checksum_address(COLLATERAL_TOKEN):
                raise VenueError(400, f"mergePositions for this market goes to {want} with collateral {COLLATERAL_TOKEN} "
                                      "(the simulator keeps pUSD only)")
            if parent != b"\x00" * 32 or list(partition) != [1, 2]:
                raise VenueError(400, "mergePositions: parentCollectionId 0 and partition [1, 2] for a binary market")
        elif selector == NEG_RISK_MERGE:
            try:
                condition, amount = abi_decode(["bytes32", "uint256"], args)
            except Exception as exc:
                raise VenueError(400, f"mergePositions arguments do not decode: {exc}") from exc
            cid = "0x" + condition.hex()
            market = self.engine.markets.get(cid)
            if market is None or not market.neg_risk or target.lower() != NEG_RISK_ADAPTER.lower():
                raise VenueError(400, f"NegRiskAdapter.mergePositions: {cid} is not a neg-risk market of {NEG_RISK_ADAPTER}")
        else:
            raise VenueError(400, f"call 0x{selector.hex()} to {target}: the simulated relayer executes merges only "
                                  "(mergePositions)")
        if amount <= 0:
            raise VenueError(400, "mergePositions: amount must be positive")
        return Merge(cid, int(amount))

    # ------------------------------------------------------------------ the clock
    def _move(self, tx: RelayedTransaction, state: str) -> None:
        tx.state = state
        tx.updated_at = self.engine.now
        tx.history.append((state, self.engine.now))

    def step(self, now: float) -> None:
        for tx in self.transactions.values():
            if tx.state in ("STATE_CONFIRMED", "STATE_FAILED", "STATE_INVALID"):
                continue
            age = now - tx.created_at
            if tx.state == "STATE_NEW" and age >= EXECUTED_AFTER_S:
                tx.transaction_hash = self.engine.new_hash()
                self._move(tx, "STATE_EXECUTED")
            if tx.state == "STATE_EXECUTED" and age >= MINED_AFTER_S:
                problem = self._execute(tx)
                if problem:
                    tx.error_msg = problem
                    self._move(tx, "STATE_FAILED")
                    continue
                self._move(tx, "STATE_MINED")
            if tx.state == "STATE_MINED" and age >= CONFIRMED_AFTER_S:
                self._move(tx, "STATE_CONFIRMED")

    def onchain_tokens(self, address: str, token_id: str) -> int:
        """Micro-shares the wallet holds on chain: what the engine credits, less tokens of trades not mined yet."""
        acct = self.engine.accounts.get(address)
        held = acct.tokens.get(token_id, 0) if acct else 0
        return held - self.engine.unmined_tokens(address, token_id)

    def _execute(self, tx: RelayedTransaction) -> str:
        """Run the calls atomically (all or none, as one transaction); a revert reason, or "" once done."""
        need: dict[str, int] = {}
        for m in tx.merges:
            for token in self.engine.markets[m.condition_id].token_ids:
                need[token] = need.get(token, 0) + m.amount
        for token, amount in need.items():
            have = self.onchain_tokens(tx.wallet, token)
            if have < amount:
                return (f"execution reverted: mergePositions burns {amount / MICRO:g} of token {token} but the wallet "
                        f"holds {max(have, 0) / MICRO:g}")
        acct = self.engine.account(tx.wallet)
        for m in tx.merges:
            for token in self.engine.markets[m.condition_id].token_ids:
                before = acct.cost_basis.get(token, 0)
                self.engine.apply_move(tx.wallet, token, -m.amount, 0)
                m.cost += before - acct.cost_basis.get(token, 0)
            acct.collateral += m.amount
            m.mined_at = self.engine.now
        for token in need:
            left = acct.tokens.get(token, 0)
            for order in sorted((o for o in acct.open_orders.values() if o.side == "SELL" and o.token_id == token),
                                key=lambda o: o.created_at if hasattr(o, "created_at") else 0, reverse=True):
                if acct.reserved_tokens(token) <= left:
                    break
                self.engine.cancel_order(order)
        self.engine.flush_book_events()
        return ""

    def merged_micro(self, wallet: str) -> int:
        return sum(m.amount for tx in self.transactions.values() if tx.wallet == wallet
                   and tx.state in ("STATE_MINED", "STATE_CONFIRMED") for m in tx.merges)
