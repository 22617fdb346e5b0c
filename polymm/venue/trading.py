"""The trading side of the venue gateway: signing, posting stored payloads, cancels, private reads, heartbeats.

Every call returns a typed outcome (Ok, Refused, Unknown) and never raises for a venue problem: each goes through
the one guarded call (venue/guard.py), under the back-off of its kind — "orders", "cancels" or "reads" (private
reads of orders and trades); the other calls were never held back and are not. Orders are posted from their STORED
signed payload (not the SDK's `post_orders`, which signs anew: polymarket/clients/secure.py): a retry resends the
same bytes, so it can never create a second order. Requests go through polymarket-client's transport with its L2
header signer (venue/sdk.py says which parts and why).
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, Callable

from polymarket._internal.actions import account as sdk_account
from polymarket._internal.actions import order_heartbeats as sdk_heartbeats
from polymarket._internal.actions import rewards as sdk_rewards
from polymarket._internal.actions._cursor import next_cursor_or_none
from polymarket._internal.actions.orders import cancel as sdk_cancel
from polymarket.clients._transport import SyncTransport
from polymarket.errors import OrderHeartbeatMismatchError

from polymm.domain.eip712 import order_digest
from polymm.venue import sdk
from polymm.venue.gateway import VenueEndpoints
from polymm.venue.guard import MAX_BACKOFF_S, Guard, is_duplicate
from polymm.venue.outcomes import Ok, Outcome, Refused, Unknown
from polymm.venue.sdk import ApiCreds

__all__ = ["ApiCreds", "MAX_BACKOFF_S", "MAX_BATCH", "TradingGateway", "is_balance_refusal", "is_duplicate",
           "is_post_only_cross", "is_post_only_mode"]

MAX_BATCH = 15  # orders in one POST /orders (polymarket-client _internal/actions/orders/post.py `_MAX_BATCH`)
USDC = Decimal(1_000_000)  # collateral amounts are in base units of a 6-decimal token


def is_balance_refusal(message: str) -> bool:
    """`not enough balance / allowance` (code INVALID_ORDER_NOT_ENOUGH_BALANCE; docs error codes)."""
    text = message.lower()
    return "not enough balance" in text or "invalid_order_not_enough_balance" in text


def is_post_only_cross(message: str) -> bool:
    """A post-only order that would have traded at once: `invalid post-only order: order crosses book`
    (code INVALID_POST_ONLY_ORDER; docs.polymarket.com/api-reference — order errors). The book moved between
    our read and the venue's match: a race, the next tick prices from the new book."""
    text = message.lower()
    return "crosses book" in text or "invalid_post_only_order" in text


def is_post_only_mode(message: str) -> bool:
    """The refusal of a non-post-only order in the 2 minutes after a matching-engine restart."""
    return "post-only mode" in message.lower()


def _rows(reply: Any) -> list[dict]:
    if not isinstance(reply, list) or not all(isinstance(r, dict) for r in reply):
        raise ValueError("expected a JSON array of objects")
    return reply


class TradingGateway:
    """One account's private connection to the venue (L2)."""

    def __init__(self, endpoints: VenueEndpoints, private_key: str, creds: ApiCreds | None = None,
                 signature_type: int = 0, funder: str | None = None, timeout_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.endpoints = endpoints
        self.timeout_s = timeout_s
        self.client = sdk.ClobAccount(private_key, endpoints.chain_id, signature_type, funder, creds)
        self.config = sdk.environment_config(endpoints.clob_url, endpoints.gamma_url, endpoints.data_url,
                                             endpoints.chain_id)
        self.public = sdk.transport(endpoints.clob_url, timeout_s)
        self.data = sdk.transport(endpoints.data_url, timeout_s)
        self._private: SyncTransport | None = None
        self._private_creds: ApiCreds | None = None
        self.clock = clock
        self.guard = Guard(lambda: self.clock())
        self.heartbeat_mismatch: str | None = None  # set when the last beat's id was stale (then echoed)

    # ------------------------------------------------------------------ identity
    @property
    def address(self) -> str:
        return self.client.funder

    @property
    def signer_address(self) -> str:
        return self.client.signer.address

    @property
    def api_key(self) -> str:
        return self.client.creds.api_key if self.client.creds else ""

    @property
    def private(self) -> SyncTransport:
        """The L2 transport of the current credentials (made again when they change)."""
        creds = self.client.creds
        if self._private is None or self._private_creds is not creds:
            if self._private is not None:
                sdk.close_transport(self._private)
            self._private = sdk.transport(self.endpoints.clob_url, self.timeout_s, creds, self.client.signer)
            self._private_creds = creds
        return self._private

    def use_credentials(self, creds: ApiCreds) -> None:
        self.client.creds = creds

    def derive_credentials(self) -> Outcome[ApiCreds]:
        """GET /auth/derive-api-key (L1): the wallet's existing key."""
        return self.guard.call(None, lambda: self.client.derive_api_key(self.public))

    def create_credentials(self) -> Outcome[ApiCreds]:
        """POST /auth/api-key (L1): a new key (refused when the wallet has one)."""
        return self.guard.call(None, lambda: self.client.create_api_key(self.public))

    def ensure_credentials(self, allow_create: bool = True) -> Outcome[ApiCreds]:
        """Credentials from the environment, else derived (GET), else created (POST) when allowed."""
        if self.client.creds is not None:
            return Ok(self.client.creds)
        attempts = [self.derive_credentials] + ([self.create_credentials] if allow_create else [])
        last: Outcome[ApiCreds] = Unknown("no credentials")
        for attempt in attempts:
            last = attempt()
            if isinstance(last, Ok):
                self.use_credentials(last.value)
                return last
        return last

    def venue_reachable(self) -> Outcome[Any]:
        """GET /ok (public; py-clob-client-v2 endpoints.py `OK`; polymarket-client has no call for it)."""
        return self.guard.call(None, lambda: self.public.get_bytes("/ok"))

    # ------------------------------------------------------------------ signing
    def sign(self, token_id: str, side: str, price: Decimal, size: Decimal, tick_size: Decimal, neg_risk: bool,
             order_type: str = "GTC", post_only: bool = False) -> tuple[str, dict]:
        """A signed order body for POST /orders and its id (the EIP-712 hash), computed before sending."""
        payload = self.client.signed_order(self.config, token_id, side, Decimal(price), Decimal(size),
                                           Decimal(tick_size), neg_risk, order_type, post_only)
        order_id = "0x" + order_digest(payload["order"], self.endpoints.chain_id, neg_risk).hex()
        return order_id, payload

    # ------------------------------------------------------------------ writes
    def blocked_for(self, kind: str) -> float:
        """Seconds until calls of `kind` ("orders" | "cancels" | "reads") are sent again (0: not backing off)."""
        return self.guard.blocked_for(kind)

    def post_batch(self, payloads: list[dict]) -> Outcome[list[Outcome[dict]]]:
        """POST /orders with at most 15 stored payloads; per-order outcomes when the request itself succeeded."""
        if not payloads or len(payloads) > MAX_BATCH:
            return Refused(f"a batch holds 1 to {MAX_BATCH} orders, not {len(payloads)}")
        sent = self.guard.call("orders", lambda: self.private.post_json("/orders", json=payloads))
        if not isinstance(sent, Ok):
            return sent
        reply = sent.value
        if not isinstance(reply, list) or len(reply) != len(payloads):
            return Unknown(f"unparseable reply to POST /orders: {str(reply)[:200]}")
        per_order: list[Outcome[dict]] = []
        for item in reply:
            if not isinstance(item, dict):
                per_order.append(Unknown(f"unparseable order result {str(item)[:100]}"))
            elif item.get("success"):
                per_order.append(Ok(item))
            else:
                message = f"{item.get('errorCode', '')} {item.get('errorMsg', '')}".strip()
                if is_duplicate(message):
                    per_order.append(Unknown(f"duplicate: the order is already at the venue ({message})"))
                else:
                    per_order.append(Refused(message or "refused"))
        return Ok(per_order)

    def cancel(self, order_ids: list[str]) -> Outcome[dict]:
        """DELETE /orders with the ids as the body (polymarket-client orders/cancel.py
        `build_cancel_orders_request`); Ok({"canceled": [...], "not_canceled": {id: reason}})."""
        sent = self.guard.call("cancels", lambda: self.private.delete_json("/orders", json=list(order_ids)))
        if not isinstance(sent, Ok):
            return sent
        reply = sent.value
        if not isinstance(reply, dict) or not isinstance(reply.get("canceled", []), list):
            return Unknown(f"unparseable reply to DELETE /orders: {str(reply)[:200]}")
        return Ok({"canceled": list(reply.get("canceled") or []), "not_canceled": dict(reply.get("not_canceled") or {})})

    def cancel_all(self) -> Outcome[dict]:
        path, _ = sdk_cancel.build_cancel_all_request()
        sent = self.guard.call(None, lambda: self.private.delete_json(path))
        if isinstance(sent, Ok) and not isinstance(sent.value, dict):
            return Unknown(f"unparseable reply: {str(sent.value)[:200]}")
        return sent

    def heartbeat(self, heartbeat_id: str) -> Outcome[str]:
        """One beat. The id rotates on each beat; a stale id is refused with the id the venue expects
        (VENUE.md, "heartbeats"; polymarket-client raises OrderHeartbeatMismatchError carrying it), which is then
        echoed at once — one retry, so a lost reply costs no lapse."""
        self.heartbeat_mismatch = None

        def beat(beat_id: str) -> Any:
            path, body = sdk_heartbeats.build_send_order_heartbeat_request(heartbeat_id=beat_id)
            return self.private.post_json(path, json=body)

        def send() -> Any:
            try:
                return beat(heartbeat_id)
            except OrderHeartbeatMismatchError as exc:
                expected = exc.heartbeat_id
                if not expected or expected == heartbeat_id:
                    raise
                # after an acknowledged beat of ours, only another client can have rotated the id
                # (controller/heartbeat.py)
                self.heartbeat_mismatch = f"Invalid Heartbeat ID: the venue expected {str(expected)[:8]}…, not ours"
                return beat(str(expected))

        def read(reply: Any) -> str:
            if not isinstance(reply, dict) or not reply.get("heartbeat_id"):
                raise ValueError(f"unparseable heartbeat reply: {str(reply)[:200]}")
            return str(reply["heartbeat_id"])

        return self.guard.call(None, send, read)

    # ------------------------------------------------------------------ private reads
    def _pages(self, build: Callable[[str | None], tuple[str, dict]]) -> list:
        """Every page of a cursor-paginated CLOB listing (`next_cursor` until "LTE=": _internal/actions/_cursor.py)."""
        rows: list = []
        cursor = None
        while True:
            path, params = build(cursor)
            page = self.private.get_json(path, params=params)
            rows.extend(page["data"])
            cursor = next_cursor_or_none(page.get("next_cursor"))
            if cursor is None:
                return rows

    def open_orders(self) -> Outcome[list[dict]]:
        """GET /data/orders, every page."""
        return self.guard.call("reads", lambda: self._pages(
            lambda cursor: sdk_account.build_list_open_orders_request(cursor=cursor)), _rows)

    def trades(self, after: int | None = None) -> Outcome[list[dict]]:
        """GET /data/trades (after: unix seconds), every page."""
        return self.guard.call("reads", lambda: self._pages(
            lambda cursor: sdk_account.build_list_account_trades_request(after=str(after) if after else None,
                                                                         cursor=cursor)), _rows)

    def _balance_reply(self) -> Any:
        path, params = sdk_account.build_balance_allowance_request(asset_type="COLLATERAL",
                                                                   signature_type=self.client.signature_type)
        return self.private.get_json(path, params=params)

    def collateral(self) -> Outcome[Decimal]:
        return self.guard.call(None, self._balance_reply, lambda reply: Decimal(str(reply["balance"])) / USDC)

    def balance_allowance(self) -> Outcome[tuple[Decimal, Decimal | None]]:
        """(collateral balance, allowance) in USDC from GET /balance-allowance. Amounts are in base units of
        the 6-decimal collateral token; the reply carries `allowance` or, for several exchange contracts,
        `allowances` {contract: amount}, of which the smallest limits trading
        (https://docs.polymarket.com/api-reference — balance-allowance; polymarket-client models/clob
        `BalanceAllowance`)."""
        def read(reply: Any) -> tuple[Decimal, Decimal | None]:
            balance = Decimal(str(reply["balance"])) / USDC
            raw = reply.get("allowances") or ({"": reply["allowance"]} if "allowance" in reply else {})
            allowance = min((Decimal(str(v)) for v in raw.values()), default=None)
            return balance, None if allowance is None else allowance / USDC

        return self.guard.call(None, self._balance_reply, read)

    def balance_allowance_reply(self) -> Outcome[Any]:
        """The raw GET /balance-allowance?asset_type=COLLATERAL reply (for check-config's findings)."""
        return self.guard.call(None, self._balance_reply)

    def rewards_paid(self, date: str) -> Outcome[Decimal]:
        """Liquidity rewards the venue credited to us on `date` (YYYY-MM-DD, UTC): the sum of `earnings` in
        GET /rewards/user/total, one row per reward asset
        (https://docs.polymarket.com/api-reference/rewards/get-total-earnings-for-user-by-date)."""
        def send() -> Any:
            path, params = sdk_rewards.build_total_user_earnings_for_day_request(
                date=date, signature_type=self.client.signature_type)
            return self.private.get_json(path, params=params)

        def read(rows: Any) -> Decimal:
            rows = rows if isinstance(rows, list) else [rows]
            return sum((Decimal(str(r.get("earnings") or 0)) for r in rows if isinstance(r, dict)), Decimal(0))

        return self.guard.call(None, send, read)

    def rebates_paid(self, date: str) -> Outcome[Decimal]:
        """Maker rebates the venue paid us for `date` (YYYY-MM-DD, UTC): the sum of `rebated_fees_usdc` in
        GET /rebates/current?date=&maker_address= (public; docs.polymarket.com/api-reference/rebates/
        get-current-rebated-fees-for-a-maker)."""
        def send() -> Any:
            path, params = sdk_rewards.build_get_current_rebates_request(date=date, maker_address=self.address)
            return self.public.get_json(path, params=params)

        def read(rows: Any) -> Decimal:
            if not isinstance(rows, list):
                raise ValueError("rebates: expected a JSON array")
            return sum((Decimal(str(r.get("rebated_fees_usdc") or 0)) for r in rows if isinstance(r, dict)), Decimal(0))

        return self.guard.call(None, send, read)

    def reward_shares(self) -> Outcome[dict[str, float]]:
        """The share (0–1) of each market's reward pool our resting orders earn now: GET /rewards/user/percentages,
        a map of condition id to percent (docs.polymarket.com/api-reference/rewards/get-reward-percentages-for-user)."""
        def send() -> Any:
            path, params = sdk_rewards.build_get_reward_percentages_request(signature_type=self.client.signature_type)
            return self.private.get_json(path, params=params)

        def read(raw: Any) -> dict[str, float]:
            if not isinstance(raw, dict):
                raise ValueError("reward percentages: expected a JSON object")
            return {str(cid): float(pct) / 100 for cid, pct in raw.items() if float(pct) >= 0}

        return self.guard.call(None, send, read)

    def positions(self) -> Outcome[list[dict]]:
        """Data API GET /positions: sizeThreshold 1 is the documented default (rows under 1 share are not listed);
        one page of 500 (docs.polymarket.com/developers/open-api/get-positions.json)."""
        def read(rows: Any) -> list[dict]:
            if not isinstance(rows, list):
                raise ValueError("positions: expected a JSON array")
            return rows

        return self.guard.call(None, lambda: self.data.get_json(
            "/positions", params={"user": self.address, "sizeThreshold": "1", "limit": "500"}), read)

    def close(self) -> None:
        for t in (self.public, self.data, self._private):
            if t is not None:
                sdk.close_transport(t)
