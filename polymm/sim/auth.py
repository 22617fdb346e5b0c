"""Venue-side verification of Polymarket authentication: L1 (EIP-712 ClobAuth), L2 (HMAC) and order signatures.

Everything here recomputes the hashes the real venue checks, from the wire fields, so a client
that signs the wrong thing is refused exactly where Polymarket would refuse it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from coincurve import PublicKey
from eth_hash.auto import keccak

# Contract addresses of CLOB V2 on Polygon (VENUE.md); the neg-risk exchange signs neg-risk markets.
EXCHANGE_V2 = "0xE111180000d2663C0091e4f400237545B87B996B"
NEG_RISK_EXCHANGE_V2 = "0xe2222d279d744050d28e00520010520000310F59"
CLOB_AUTH_MESSAGE = "This message attests that I control the given wallet"

_ORDER_TYPE_HASH = keccak(
    b"Order(uint256 salt,address maker,address signer,uint256 tokenId,"
    b"uint256 makerAmount,uint256 takerAmount,uint8 side,uint8 signatureType,"
    b"uint256 timestamp,bytes32 metadata,bytes32 builder)"
)
_DOMAIN_TYPE_HASH = keccak(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
_AUTH_DOMAIN_TYPE_HASH = keccak(b"EIP712Domain(string name,string version,uint256 chainId)")
_CLOB_AUTH_TYPE_HASH = keccak(
    b"ClobAuth(address address,string timestamp,uint256 nonce,string message)"
)


class SignatureError(ValueError):
    """A signature or signed field does not verify."""


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _address_word(address: str) -> bytes:
    raw = bytes.fromhex(address[2:] if address.startswith("0x") else address)
    if len(raw) != 20:
        raise SignatureError(f"invalid address {address!r}")
    return raw.rjust(32, b"\0")


def _bytes32(value: str) -> bytes:
    raw = bytes.fromhex(value[2:] if value.startswith("0x") else value)
    if len(raw) != 32:
        raise SignatureError(f"invalid bytes32 {value!r}")
    return raw


def checksum_address(address: str) -> str:
    """EIP-55 mixed-case form, as the SDK and the venue print addresses."""
    lower = address.lower().removeprefix("0x")
    digest = keccak(lower.encode()).hex()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(lower))


def _domain_separator(chain_id: int, verifying_contract: str) -> bytes:
    return keccak(
        _DOMAIN_TYPE_HASH
        + keccak(b"Polymarket CTF Exchange")
        + keccak(b"2")
        + _word(chain_id)
        + _address_word(verifying_contract)
    )


_DOMAIN_CACHE: dict[tuple[int, str], bytes] = {}


def order_digest(order: dict, chain_id: int, neg_risk: bool) -> bytes:
    """The EIP-712 digest of a V2 order as sent in a POST /order body; its hex is the order id."""
    contract = NEG_RISK_EXCHANGE_V2 if neg_risk else EXCHANGE_V2
    domain = _DOMAIN_CACHE.get((chain_id, contract))
    if domain is None:
        domain = _DOMAIN_CACHE[(chain_id, contract)] = _domain_separator(chain_id, contract)
    try:
        side = {"BUY": 0, "SELL": 1}[order["side"]]
        struct = keccak(
            _ORDER_TYPE_HASH
            + _word(int(order["salt"]))
            + _address_word(order["maker"])
            + _address_word(order["signer"])
            + _word(int(order["tokenId"]))
            + _word(int(order["makerAmount"]))
            + _word(int(order["takerAmount"]))
            + _word(side)
            + _word(int(order["signatureType"]))
            + _word(int(order["timestamp"]))
            + _bytes32(order["metadata"])
            + _bytes32(order["builder"])
        )
    except (KeyError, ValueError, TypeError, OverflowError) as exc:
        raise SignatureError(f"malformed order field: {exc}") from exc
    return keccak(b"\x19\x01" + domain + struct)


def recover_address(digest: bytes, signature_hex: str) -> str:
    """The address whose key produced a 65-byte r||s||v signature over `digest`."""
    try:
        sig = bytes.fromhex(signature_hex.removeprefix("0x"))
    except (ValueError, AttributeError) as exc:
        raise SignatureError("signature is not hex") from exc
    if len(sig) != 65:
        raise SignatureError("signature must be 65 bytes")
    v = sig[64]
    recovery_id = v - 27 if v >= 27 else v
    if recovery_id not in (0, 1):
        raise SignatureError("bad signature recovery id")
    try:
        public = PublicKey.from_signature_and_message(sig[:64] + bytes([recovery_id]), digest, hasher=None)
    except Exception as exc:  # coincurve raises a bare Exception for invalid points
        raise SignatureError("signature does not recover") from exc
    return checksum_address("0x" + keccak(public.format(compressed=False)[1:])[-20:].hex())


def clob_auth_digest(address: str, timestamp: str, nonce: int, chain_id: int) -> bytes:
    """The EIP-712 digest an L1 header signs (domain ClobAuthDomain v1, no verifying contract)."""
    domain = keccak(
        _AUTH_DOMAIN_TYPE_HASH + keccak(b"ClobAuthDomain") + keccak(b"1") + _word(chain_id)
    )
    struct = keccak(
        _CLOB_AUTH_TYPE_HASH
        + _address_word(address)
        + keccak(timestamp.encode())
        + _word(nonce)
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
