"""EIP-712 hashing of Polymarket CLOB V2 orders and signer recovery — the order id is this hash.

Shared by the controller (which computes an order's id before sending it) and the simulated venue
(which verifies signatures), so both agree by construction with what the SDK signs.
"""

from __future__ import annotations

from coincurve import PublicKey
from eth_hash.auto import keccak

# Contract addresses of CLOB V2 on Polygon (VENUE.md); the neg-risk exchange signs neg-risk markets.
EXCHANGE_V2 = "0xE111180000d2663C0091e4f400237545B87B996B"
NEG_RISK_EXCHANGE_V2 = "0xe2222d279d744050d28e00520010520000310F59"

_ORDER_TYPE_HASH = keccak(
    b"Order(uint256 salt,address maker,address signer,uint256 tokenId,"
    b"uint256 makerAmount,uint256 takerAmount,uint8 side,uint8 signatureType,"
    b"uint256 timestamp,bytes32 metadata,bytes32 builder)"
)
_DOMAIN_TYPE_HASH = keccak(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)


class SignatureError(ValueError):
    """A signature or signed field does not verify."""


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def address_word(address: str) -> bytes:
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
        + word(chain_id)
        + address_word(verifying_contract)
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
            + word(int(order["salt"]))
            + address_word(order["maker"])
            + address_word(order["signer"])
            + word(int(order["tokenId"]))
            + word(int(order["makerAmount"]))
            + word(int(order["takerAmount"]))
            + word(side)
            + word(int(order["signatureType"]))
            + word(int(order["timestamp"]))
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
