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


def _exchange_domain(chain_id: int, neg_risk: bool) -> bytes:
    contract = NEG_RISK_EXCHANGE_V2 if neg_risk else EXCHANGE_V2
    domain = _DOMAIN_CACHE.get((chain_id, contract))
    if domain is None:
        domain = _DOMAIN_CACHE[(chain_id, contract)] = _domain_separator(chain_id, contract)
    return domain


def order_struct_hash(order: dict) -> bytes:
    """hashStruct(Order) of a V2 order as sent in a POST /order body."""
    try:
        side = {"BUY": 0, "SELL": 1}[order["side"]]
        return keccak(
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


def order_digest(order: dict, chain_id: int, neg_risk: bool) -> bytes:
    """The EIP-712 digest of a V2 order as sent in a POST /order body; its hex is the order id."""
    return keccak(b"\x19\x01" + _exchange_domain(chain_id, neg_risk) + order_struct_hash(order))


# Signature type 3 (POLY_1271): the order's maker and signer are a deposit wallet, a contract that checks
# signatures with ERC-1271 as Solady's ERC1271 does for nested EIP-712 (ERC-7739 "TypedDataSign"): the owner's
# key signs keccak(0x1901 ‖ exchange domain ‖ hashStruct(TypedDataSign(contents = the order, the wallet's own
# domain: name "DepositWallet", version "1", chainId, verifyingContract = the wallet, salt 0))), and the
# signature travels as owner-sig(65) ‖ exchange domain(32) ‖ hashStruct(Order)(32) ‖ contents type ‖ its
# length (2 bytes). Layout read from py-clob-client-v2 order_utils/exchange_order_builder_v2.py
# (_build_poly_1271_order_signature) and polymarket-client _internal/actions/orders/typed_data.py.
ORDER_TYPE_STRING = (
    "Order(uint256 salt,address maker,address signer,uint256 tokenId,"
    "uint256 makerAmount,uint256 takerAmount,uint8 side,uint8 signatureType,"
    "uint256 timestamp,bytes32 metadata,bytes32 builder)"
)
_TYPED_DATA_SIGN_HASH = keccak(
    b"TypedDataSign(Order contents,string name,string version,uint256 chainId,"
    b"address verifyingContract,bytes32 salt)" + ORDER_TYPE_STRING.encode()
)


def recover_poly_1271_owner(order: dict, chain_id: int, neg_risk: bool) -> str:
    """The owner key behind a type-3 order's wrapped signature; SignatureError when the wrapping does not
    describe this order on this exchange."""
    try:
        sig = bytes.fromhex(str(order.get("signature", "")).removeprefix("0x"))
    except ValueError as exc:
        raise SignatureError("signature is not hex") from exc
    if len(sig) < 65 + 32 + 32 + 2:
        raise SignatureError("POLY_1271 signature too short")
    type_len = int.from_bytes(sig[-2:], "big")
    if len(sig) != 65 + 32 + 32 + type_len + 2:
        raise SignatureError("POLY_1271 signature length does not match its contents type")
    inner, app_domain, contents = sig[:65], sig[65:97], sig[97:129]
    if sig[129:129 + type_len] != ORDER_TYPE_STRING.encode():
        raise SignatureError("POLY_1271 signature does not wrap an Order")
    if app_domain != _exchange_domain(chain_id, neg_risk) or contents != order_struct_hash(order):
        raise SignatureError("POLY_1271 signature wraps another order or exchange")
    wallet = str(order["signer"])
    struct = keccak(
        _TYPED_DATA_SIGN_HASH + contents + keccak(b"DepositWallet") + keccak(b"1") + word(chain_id)
        + address_word(wallet) + bytes(32)
    )
    return recover_address(keccak(b"\x19\x01" + app_domain + struct), "0x" + inner.hex())


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


def deposit_wallet_batch(chain_id: int, wallet: str, nonce: int, deadline: int,
                         calls: list[tuple[str, int, bytes]]) -> dict:
    """The EIP-712 message a deposit wallet's owner signs for a relayed batch of calls (target, value, data):
    domain DepositWallet v1 at the wallet's address (polymarket-client 0.14.0,
    polymarket/_internal/actions/relayer/signing/deposit_wallet.py). The relayer client signs it and the
    simulated relayer verifies it (checked against the official client in tests/test_sim_merge.py)."""
    return {
        "domain": {"name": "DepositWallet", "version": "1", "chainId": chain_id, "verifyingContract": wallet},
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
            "Batch": [{"name": "wallet", "type": "address"}, {"name": "nonce", "type": "uint256"},
                      {"name": "deadline", "type": "uint256"}, {"name": "calls", "type": "Call[]"}],
            "Call": [{"name": "target", "type": "address"}, {"name": "value", "type": "uint256"},
                     {"name": "data", "type": "bytes"}],
        },
        "primaryType": "Batch",
        "message": {"wallet": wallet, "nonce": nonce, "deadline": deadline,
                    "calls": [{"target": t, "value": v, "data": d} for t, v, d in calls]},
    }
