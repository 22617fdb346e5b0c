"""Venue-side verification of Polymarket authentication: L1 (EIP-712 ClobAuth), L2 (HMAC) and order signatures.

Everything here recomputes the hashes the real venue checks, from the wire fields, so a client
that signs the wrong thing is refused exactly where Polymarket would refuse it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from eth_hash.auto import keccak

from polymm.domain.eip712 import (  # noqa: F401  (re-exported: the venue verifies what the domain defines)
    EXCHANGE_V2,
    NEG_RISK_EXCHANGE_V2,
    SignatureError,
    checksum_address,
    order_digest,
    recover_poly_1271_owner,
    recover_address,
    address_word,
    word,
)

CLOB_AUTH_MESSAGE = "This message attests that I control the given wallet"
_AUTH_DOMAIN_TYPE_HASH = keccak(b"EIP712Domain(string name,string version,uint256 chainId)")
_CLOB_AUTH_TYPE_HASH = keccak(b"ClobAuth(address address,string timestamp,uint256 nonce,string message)")


def clob_auth_digest(address: str, timestamp: str, nonce: int, chain_id: int) -> bytes:
    """The EIP-712 digest an L1 header signs (domain ClobAuthDomain v1, no verifying contract)."""
    domain = keccak(
        _AUTH_DOMAIN_TYPE_HASH + keccak(b"ClobAuthDomain") + keccak(b"1") + word(chain_id)
    )
    struct = keccak(
        _CLOB_AUTH_TYPE_HASH
        + address_word(address)
        + keccak(timestamp.encode())
        + word(nonce)
        + keccak(CLOB_AUTH_MESSAGE.encode())
    )
    return keccak(b"\x19\x01" + domain + struct)


def hmac_signature(secret: str, timestamp: str, method: str, path: str, body: str) -> str:
    """urlsafe-b64(HMAC-SHA256(b64decode(secret), ts+METHOD+path+body)), body quotes normalised as the SDK does."""
    message = f"{timestamp}{method}{path}" + (body.replace("'", '"') if body else "")
    digest = hmac.new(base64.urlsafe_b64decode(secret), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()


@dataclass(frozen=True)
class ApiCredentials:
    """An API key as the venue issues it, bound to the address that created it."""

    api_key: str
    secret: str
    passphrase: str
    address: str


def derive_credentials(venue_secret: bytes, address: str, nonce: int) -> ApiCredentials:
    """Deterministic credentials per (address, nonce), so derive-api-key returns what create issued."""
    seed = hmac.new(venue_secret, f"{address.lower()}:{nonce}".encode(), hashlib.sha256).digest()
    more = hashlib.sha256(seed).digest()
    key_hex = seed[:16].hex()
    api_key = f"{key_hex[:8]}-{key_hex[8:12]}-{key_hex[12:16]}-{key_hex[16:20]}-{key_hex[20:32]}"
    return ApiCredentials(
        api_key=api_key,
        secret=base64.urlsafe_b64encode(more).decode(),
        passphrase=hashlib.sha256(more).hexdigest(),
        address=checksum_address(address),
    )
