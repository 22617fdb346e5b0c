"""How the venue reads a signed order before matching it: who may sign for whom, the shares and price its amounts
imply, and the shapes of its refusals."""

from __future__ import annotations

from dataclasses import dataclass

from polymm.sim import auth
from polymm.sim.model import MICRO, PIPS, SimMarket

ORDER_TYPES = ("GTC", "GTD", "FOK", "FAK")


class VenueError(Exception):
    """A refusal the venue returns as an error envelope with an HTTP status."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


class HeartbeatMismatch(VenueError):
    """A heartbeat with a stale id: 400 naming the id the venue expects."""

    def __init__(self, expected: str) -> None:
        super().__init__(400, "Invalid Heartbeat ID")
        self.expected = expected


@dataclass(frozen=True)
class SignedOrder:
    """The fields of a `POST /order` body the venue reads before it checks the signature."""

    fields: dict  # the signed order as sent
    order_type: str
    post_only: bool
    token_id: str
    side: str
    maker_amount: int
    taker_amount: int
    signature_type: int
    expiration: int

    @classmethod
    def read(cls, body: dict, api_key: str) -> "SignedOrder":
        """The order of a request body sent with `api_key`; VenueError 400 naming what is wrong."""
        try:
            fields = body["order"]
            signed = cls(fields=fields, order_type=body.get("orderType", "GTC"),
                         post_only=bool(body.get("postOnly", False)), token_id=str(fields["tokenId"]),
                         side=fields["side"], maker_amount=int(fields["makerAmount"]),
                         taker_amount=int(fields["takerAmount"]), signature_type=int(fields["signatureType"]),
                         expiration=int(fields.get("expiration", "0") or 0))
            owner = body["owner"]
        except (KeyError, TypeError, ValueError) as exc:
            raise VenueError(400, f"Invalid order payload: {exc}") from exc
        if owner != api_key:
            raise VenueError(400, "the order owner has to be the owner of the API KEY")
        if signed.side not in ("BUY", "SELL"):
            raise VenueError(400, f"invalid side {signed.side!r}")
        if signed.order_type not in ORDER_TYPES:
            raise VenueError(400, f"invalid order type {signed.order_type!r}")
        if signed.post_only and signed.order_type in ("FOK", "FAK"):
            raise VenueError(400, "invalid post-only order: only GTC and GTD orders can be post-only")
        return signed


def price_and_size_refusal(signed: SignedOrder, order_id: str, market: SimMarket, size_micro: int,
                           price_pips: int | None, now: float) -> dict | None:
    """The refusal of an order whose price breaks the market's tick or range, whose size is under the minimum or
    whose GTD expiration is too near; None when it passes (wordings: docs.polymarket.com/resources/error-codes)."""
    if price_pips is None or price_pips % market.tick_pips:
        return order_refusal(
            order_id, "INVALID_ORDER_MIN_TICK_SIZE",
            f"order {order_id} is invalid. Price ({implied_price(signed.side, signed.maker_amount, signed.taker_amount)}) "
            f"breaks minimum tick size rule: {market.tick_str}",
        )
    if not market.tick_pips <= price_pips <= PIPS - market.tick_pips:
        return order_refusal(order_id, "INVALID_ORDER_ERROR", f"invalid price, min: {market.tick_str} - max: {1 - market.tick_pips / PIPS:g}")
    if signed.order_type in ("GTC", "GTD") and size_micro < market.min_order_size * MICRO:
        return order_refusal(
            order_id, "INVALID_ORDER_MIN_SIZE",
            f"order {order_id} is invalid. Size ({size_micro / MICRO:g}) lower than the minimum: {market.min_order_size}",
        )
    if signed.order_type == "GTD" and signed.expiration and signed.expiration <= now + 60:
        return order_refusal(order_id, "INVALID_ORDER_EXPIRATION", "invalid expiration: must be at least 1 minute in the future")
    return None


def order_refusal(order_id: str, code: str, message: str) -> dict:
    """The per-order reply of a refused order (success false, the error code and message)."""
    return {
        "success": False, "orderID": order_id, "status": "", "makingAmount": "", "takingAmount": "",
        "transactionsHashes": [], "tradeIDs": [], "errorMsg": message, "errorCode": code,
    }


def implied_price(side: str, maker_amount: int, taker_amount: int) -> str:
    """The price the amounts imply, as the tick-size refusal prints it."""
    shares, collateral = (taker_amount, maker_amount) if side == "BUY" else (maker_amount, taker_amount)
    return f"{collateral / shares:g}" if shares > 0 else "0"


def size_and_price(side: str, maker_amount: int, taker_amount: int, order_type: str, tick_pips: int) -> tuple[int, int | None]:
    """Shares and the price the amounts imply. Limit orders must imply an exact tick price; a
    market order (FOK/FAK: a dollar amount at a worst price) need not, and its limit is the
    implied price rounded onto the tick to the taker's disadvantage-free side (down for a BUY,
    up for a SELL), as the SDK's market orders expect."""
    shares, collateral = (taker_amount, maker_amount) if side == "BUY" else (maker_amount, taker_amount)
    if shares <= 0 or collateral <= 0:
        return max(shares, 0), None
    pips, rest = divmod(collateral * PIPS, shares)
    if rest == 0:
        return shares, pips
    if order_type not in ("FOK", "FAK"):
        return shares, None
    if side == "BUY":
        return shares, pips // tick_pips * tick_pips
    return shares, -(-(pips + 1) // tick_pips) * tick_pips


def check_signer(fields: dict, signature_type: int, digest: bytes, neg_risk: bool, creds: auth.ApiCredentials,
                 wallets: dict[str, tuple[str, int]], deposit_wallet_only: set[str], chain_id: int) -> None:
    """Who may sign for whom, as the venue and the exchange contract check it (VENUE.md "wallets"):
    - 0 EOA: the signature recovers to `signer`, which is the API key's address and the maker;
    - 1 POLY_PROXY / 2 POLY_GNOSIS_SAFE: it recovers to `signer` (the API key's address), and the maker is
      that signer's proxy / safe — the exchange derives it from the signer (CTF exchange Signatures.sol), so a
      maker that is not the signer's own wallet is refused "invalid signature" (py-clob-client issue #93);
    - 3 POLY_1271: maker = signer = a deposit wallet, the signature wraps the owner's (ERC-7739, see
      polymm.domain.eip712); the API key is the owner EOA's (L1 signed by it, as both official clients do)
      and the wallet must be deployed for that owner, else "the order signer address has to be the address
      of the API KEY" (py-clob-client-v2 issues #64, #77, #83).
    `wallets`: deployed contract wallets, address -> (owner EOA, signature type); `deposit_wallet_only`: EOAs
    that must trade through a deposit wallet."""
    signer, maker = str(fields["signer"]), str(fields["maker"])
    if signature_type != 3 and creds.address in deposit_wallet_only:
        raise VenueError(400, "maker address not allowed, please use the deposit wallet flow")
    if signature_type == 3:
        try:
            owner = auth.recover_poly_1271_owner(fields, chain_id, neg_risk)
        except auth.SignatureError as exc:
            raise VenueError(400, f"invalid signature: {exc}") from exc
        wallet = wallets.get(auth.checksum_address(signer))
        if wallet is None or wallet != (creds.address, 3) or owner != creds.address:
            raise VenueError(400, "the order signer address has to be the address of the API KEY")
        if maker.lower() != signer.lower():
            raise VenueError(400, "invalid signature")
        return
    try:
        recovered = auth.recover_address(digest, fields.get("signature", ""))
    except auth.SignatureError as exc:
        raise VenueError(400, f"invalid signature: {exc}") from exc
    if recovered.lower() != signer.lower():
        raise VenueError(400, "invalid signature")
    if signer.lower() != creds.address.lower():
        raise VenueError(400, "the order signer address has to be the address of the API KEY")
    if signature_type == 0:
        if maker.lower() != creds.address.lower():
            raise VenueError(400, "the order maker has to be the signer for EOA orders")
    elif signature_type in (1, 2):
        if wallets.get(auth.checksum_address(maker)) != (creds.address, signature_type):
            raise VenueError(400, "invalid signature")
    else:
        raise VenueError(400, f"unsupported signature type {signature_type}")
