"""polymm's one door into the unified Polymarket SDK (`polymarket-client` 0.14.0): transports, auth headers, signing.

Why building blocks and not `SecureClient`: `SecureClient.create` does I/O while it is built (it derives and
validates credentials, asks the relayer whether the wallet is deployed: polymarket/clients/secure.py `_create`,
`_ensure_wallet_ready`), and its `create_limit_order` looks up each token's tick size and neg-risk flag over HTTP
(_internal/actions/orders/limit.py `prepare_limit_order_draft_sync`) that polymm already holds. polymm must build
a gateway without a request, derive keys when it chooses (typed outcomes), and sign an order before any send so its
id and payload are stored first. So this module uses the SDK's parts the client itself is made of:
- `SyncTransport` (clients/_transport.py): the HTTP call, the typed errors (RateLimitError, RequestRejectedError,
  TransportError, UnexpectedResponseError) and the Poly-RateLimit headers;
- the L1 ClobAuth signature and headers (_internal/l1_auth.py `sign_api_key_auth`; _internal/actions/auth.py
  `build_l1_auth_headers`, `derive_api_key_sync`, `create_api_key_sync`);
- the L2 HMAC header signer (clients/secure.py `_make_l2_header_resolver_sync`);
- the order builder: amounts (_internal/actions/orders/limit.py `_compute_limit_order_amounts`), the unsigned
  order (orders.py `create_unsigned_order`: salt, millisecond timestamp, signer of a deposit wallet), the EIP-712
  typed data and the POLY_1271 wrapping (typed_data.py), and the POST /order(s) body (post.py).
The SDK has no call for the CLOB's GET /prices-history nor GET /ok (it charts prices from the Data API's
/v2/prices-history: _internal/actions/data.py); those are sent through the same transport.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from polymarket._internal.actions import auth as sdk_auth
from polymarket._internal.actions.orders.context import resolve_order_exchange_address
from polymarket._internal.actions.orders.limit import _compute_limit_order_amounts
from polymarket._internal.actions.orders.orders import create_signed_order, create_unsigned_order
from polymarket._internal.actions.orders.post import build_post_order_request
from polymarket._internal.actions.orders.typed_data import build_order_signature, build_order_typed_data
from polymarket._internal.actions.orders.types import OrderDraft
from polymarket._internal.environment import PRODUCTION_CONFIG, EnvironmentConfig
from polymarket._internal.l1_auth import sign_api_key_auth
from polymarket.clients._transport import SyncTransport
from polymarket.clients.secure import _make_l2_header_resolver_sync
from polymarket.models.clob import ApiKeyCreds

# polymarket-client's wallet kinds by signature type (_internal/wallet.py `_SIGNATURE_TYPE_BY_WALLET`)
WALLET_TYPES = {0: "EOA", 1: "POLY_PROXY", 2: "GNOSIS_SAFE", 3: "DEPOSIT_WALLET"}


@dataclass(frozen=True)
class ApiCreds:
    """A CLOB API key (L2 credentials), as GET /auth/derive-api-key answers it (apiKey, secret, passphrase)."""

    api_key: str
    api_secret: str
    api_passphrase: str


def environment_config(clob_url: str, gamma_url: str, data_url: str, chain_id: int) -> EnvironmentConfig:
    """The SDK's production configuration (contract addresses: polymarket/environments.py) at polymm's URLs."""
    return dataclasses.replace(PRODUCTION_CONFIG, clob_url=clob_url, gamma_url=gamma_url, data_url=data_url,
                               chain_id=chain_id)


def transport(base_url: str, timeout_s: float, creds: ApiCreds | None = None,
              signer: LocalAccount | None = None) -> SyncTransport:
    """An SDK transport on `base_url`; with credentials, every request carries the L2 headers."""
    resolver = None
    if creds is not None and signer is not None:
        sdk_creds = ApiKeyCreds.model_validate({"apiKey": creds.api_key, "secret": creds.api_secret,
                                                "passphrase": creds.api_passphrase})
        resolver = _make_l2_header_resolver_sync(signer, sdk_creds)
    client = httpx.Client(base_url=base_url, timeout=timeout_s, http2=True)
    return SyncTransport(base_url=base_url, client=client, header_resolver=resolver)


def close_transport(t: SyncTransport) -> None:
    t._client.close()  # the transport was handed its client, so its own close() leaves it open


class ClobAccount:
    """The wallet's key, its trading identity (funder, signature type) and its API credentials once known."""

    def __init__(self, private_key: str, chain_id: int, signature_type: int, funder: str | None,
                 creds: ApiCreds | None) -> None:
        self.signer: LocalAccount = Account.from_key(private_key)
        self.chain_id = chain_id
        self.signature_type = signature_type
        self.wallet_type = WALLET_TYPES[signature_type]
        self.funder = funder or self.signer.address
        self.creds = creds

    def derive_api_key(self, clob: SyncTransport) -> ApiCreds:
        """GET /auth/derive-api-key with the L1 headers; raises the SDK's errors."""
        return _creds(sdk_auth.derive_api_key_sync(clob, self._l1()))

    def create_api_key(self, clob: SyncTransport) -> ApiCreds:
        """POST /auth/api-key with the L1 headers; raises the SDK's errors."""
        return _creds(sdk_auth.create_api_key_sync(clob, self._l1()))

    def _l1(self):
        return sign_api_key_auth(self.signer, chain_id=self.chain_id, timestamp=int(time.time()), nonce=0)

    def signed_order(self, config: EnvironmentConfig, token_id: str, side: str, price: Decimal, size: Decimal,
                     tick_size: Decimal, neg_risk: bool, order_type: str, post_only: bool) -> dict[str, Any]:
        """The POST /order body of a signed limit order (the SDK's `_sign_order`, clients/secure.py, without the
        market lookups: the caller knows the tick size and the neg-risk flag)."""
        maker_amount, taker_amount = _compute_limit_order_amounts(price=price, size=size, side=side,
                                                                  tick_size=tick_size)
        draft = OrderDraft(
            chain_id=self.chain_id,
            exchange_address=resolve_order_exchange_address(config, asset_id=token_id, neg_risk=neg_risk),
            expiration=0, funder_address=self.funder, offered_amount=maker_amount, order_type=order_type,
            side=side, signer=self.signer.address, requested_amount=taker_amount, asset_id=token_id,
        )
        unsigned = create_unsigned_order(draft, wallet=self.funder, wallet_type=self.wallet_type)
        signed = self.signer.sign_typed_data(full_message=build_order_typed_data(unsigned))
        raw = signed.signature.hex()
        signature = build_order_signature(unsigned, raw if raw.startswith("0x") else "0x" + raw)
        order = create_signed_order(unsigned, signature, post_only=post_only)
        _, body = build_post_order_request(order, owner_api_key=self.creds.api_key if self.creds else "")
        return body


def _creds(sdk_creds: ApiKeyCreds) -> ApiCreds:
    return ApiCreds(sdk_creds.key, sdk_creds.secret, sdk_creds.passphrase)
