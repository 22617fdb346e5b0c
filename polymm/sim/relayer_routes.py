"""The relayer's HTTP surface over polymm.sim.relayer, under /relayer, and the minimal Polygon JSON-RPC at /rpc that
polymarket-client's merge reads (chain id, block time, on-chain balances).

Endpoints and their sources: polymm.sim.relayer's docstring (builder-relayer-client src/endpoints.ts;
polymarket-client polymarket/_internal/actions/relayer/*.py).
"""

from __future__ import annotations

import json
from typing import Callable

from aiohttp import web
from eth_abi.abi import decode as abi_decode, encode as abi_encode
from eth_hash.auto import keccak

from polymm.sim import auth
from polymm.sim import rest
from polymm.sim.engine import Engine
from polymm.sim.orders import VenueError
from polymm.sim.relayer import RELAY_ADDRESS, Relayer


class RelayerRoutes:
    """Nonces, submit, transaction status, wallet deployment reads; `builder_secrets`: the Builder API keys the relayer
    accepts (made on the CLOB: polymm.sim.clob_account)."""

    def __init__(self, engine: Engine, relayer: Relayer, builder_secrets: Callable[[], dict[str, tuple[str, str]]]) -> None:
        self.engine = engine
        self.relayer = relayer
        self.builder_secrets = builder_secrets

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/relayer/deployed", self.relayer_deployed),
            web.get("/relayer/nonce", self.relayer_nonce),
            web.get("/relayer/relay-payload", self.relayer_relay_payload),
            web.get("/relayer/v1/account/transactions/params", self.relayer_params),
            web.post("/relayer/submit", self.relayer_submit),
            web.get("/relayer/transaction", self.relayer_transaction),
            web.get("/relayer/transactions", self.relayer_transactions),
            web.get("/relayer/v1/account/transactions/{transaction_id}", self.relayer_gasless_transaction),
            web.post("/rpc", self.rpc),
        ]

    async def relayer_deployed(self, request: web.Request) -> web.Response:
        """The relayer's GET /deployed?address=&type= (WALLET | PROXY | SAFE): whether that contract wallet exists
        (polymarket-client asks before trading through one: polymarket/_internal/actions/relayer/deployed.py)."""
        kinds = {"PROXY": 1, "SAFE": 2, "WALLET": 3}
        try:
            address = auth.checksum_address(request.query.get("address", ""))
        except (ValueError, IndexError) as exc:
            raise VenueError(400, "invalid address") from exc
        wallet = self.engine.wallets.get(address)
        wanted = kinds.get(request.query.get("type", "").upper())
        return web.json_response({"deployed": wallet is not None and (wanted is None or wallet[1] == wanted)})

    def _relayer_auth(self, request: web.Request, body: str = "") -> None:
        self.relayer.authenticate(request.headers, request.method, request.path_qs.removeprefix("/relayer"), body,
                                  self.builder_secrets())

    def _relayer_query(self, request: web.Request) -> tuple[str, str]:
        return request.query.get("address", ""), request.query.get("type", "").upper()

    async def relayer_nonce(self, request: web.Request) -> web.Response:
        """GET /nonce?address=&type= (builder-relayer-client src/endpoints.ts GET_NONCE): {"nonce"}."""
        address, kind = self._relayer_query(request)
        return web.json_response({"nonce": str(self.relayer.nonce(address, kind))})

    async def relayer_relay_payload(self, request: web.Request) -> web.Response:
        """GET /relay-payload?address=&type=PROXY: the relay's address and the nonce a PROXY transaction signs
        (polymarket-client relayer/nonce.py fetch_relay_payload)."""
        address, kind = self._relayer_query(request)
        return web.json_response({"address": RELAY_ADDRESS, "nonce": str(self.relayer.nonce(address, kind or "PROXY"))})

    async def relayer_params(self, request: web.Request) -> web.Response:
        """GET /v1/account/transactions/params?address=&type=SAFE|WALLET (polymarket-client relayer/nonce.py)."""
        address, kind = self._relayer_query(request)
        return web.json_response({"address": self.relayer.wallet_for(address, kind),
                                  "nonce": str(self.relayer.nonce(address, kind))})

    async def relayer_submit(self, request: web.Request) -> web.Response:
        body = await rest.body_text(request)
        self._relayer_auth(request, body)
        try:
            data = json.loads(body or "{}")
        except ValueError as exc:
            raise VenueError(400, f"the body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise VenueError(400, "the body must be a JSON object")
        return web.json_response(self.relayer.submit(data))

    def _relayed(self, transaction_id: str):
        tx = self.relayer.transactions.get(transaction_id)
        if tx is None:
            raise VenueError(404, f"transaction {transaction_id!r} not found")
        return tx

    async def relayer_transaction(self, request: web.Request) -> web.Response:
        """GET /transaction?id= : a one-element array of RelayerTransaction (the docs' example reply)."""
        return web.json_response([self._relayed(request.query.get("id", "")).relayer_json()])

    async def relayer_gasless_transaction(self, request: web.Request) -> web.Response:
        """GET /v1/account/transactions/{id}: what polymarket-client polls (relayer/poll.py)."""
        return web.json_response(self._relayed(request.match_info["transaction_id"]).gasless_json())

    async def relayer_transactions(self, request: web.Request) -> web.Response:
        """GET /transactions (builder-relayer-client GET_TRANSACTIONS), authenticated: the transactions signed by
        the key's owner (Relayer API key) or all the builder's (Builder API key), newest first."""
        self._relayer_auth(request)
        owner = request.headers.get("RELAYER_API_KEY_ADDRESS")
        rows = [tx.relayer_json() for tx in self.relayer.transactions.values()
                if owner is None or tx.owner.lower() == owner.lower()]
        return web.json_response(rows[::-1])

    async def rpc(self, request: web.Request) -> web.Response:
        """A minimal Polygon JSON-RPC for polymarket-client's merge: eth_chainId, eth_getBlockByNumber (the block's
        timestamp: the simulated clock), eth_call of ERC-1155 balanceOfBatch (on-chain balances). Anything else is
        a JSON-RPC error (the client falls back where it can, e.g. on eth_estimateGas)."""
        data = json.loads(await rest.body_text(request) or "{}")
        method, params, rid = data.get("method"), data.get("params") or [], data.get("id")

        def result(value):
            return web.json_response({"jsonrpc": "2.0", "id": rid, "result": value})
        if method == "eth_chainId":
            return result(hex(self.engine.settings.chain_id))
        if method == "eth_getBlockByNumber":
            return result({"number": hex(int(self.engine.now) // 2), "timestamp": hex(int(self.engine.now))})
        if method == "eth_call" and params and isinstance(params[0], dict):
            raw = bytes.fromhex(str(params[0].get("data", "0x"))[2:])
            if raw[:4] == keccak(b"balanceOfBatch(address[],uint256[])")[:4]:
                owners, ids = abi_decode(["address[]", "uint256[]"], raw[4:])
                values = [max(self.relayer.onchain_tokens(auth.checksum_address(o), str(i)), 0)
                          for o, i in zip(owners, ids)]
                return result("0x" + abi_encode(["uint256[]"], [values]).hex())
        return web.json_response({"jsonrpc": "2.0", "id": rid,
                                  "error": {"code": -32601, "message": f"{method} is not served by the simulator"}})
