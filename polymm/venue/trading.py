"""The trading side of the venue gateway: signing, posting stored payloads, cancels, private reads, heartbeats.

Every call returns a typed outcome (Ok, Refused, Unknown) and never raises for a venue problem.
Orders are posted from their STORED signed payload through the SDK's public header and HTTP
helpers (not `post_orders`, which can block for 30 s polling trades when a reply lacks
transaction hashes): a retry resends the same bytes, so it can never create a second order.
A 429 starts a back-off: until `Retry-After` passes (the reply's `retry_after_seconds`, else 1 s doubling per
429 in a row), calls of that kind — orders, cancels or private reads — are refused locally; never longer than
MAX_BACKOFF_S. The venue refuses a rate-limited request whole, a batch included, before processing any of it
(docs.polymarket.com/api-reference/trading-rate-limits), so a back-off never leaves an order half-sent.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any, Callable

import httpx
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import (
    ApiCreds,
    AssetType,
    BalanceAllowanceParams,
    CreateOrderOptions,
    OrderArgsV2,
    RequestArgs,
    TradeParams,
)
from py_clob_client_v2.exceptions import PolyApiException, PolyException
from py_clob_client_v2.headers.headers import create_level_2_headers
from py_clob_client_v2.http_helpers import helpers as sdk_http
from py_clob_client_v2.order_utils.model.order_data_v2 import order_to_json_v2

from polymm.domain.eip712 import order_digest
from polymm.venue.gateway import VenueEndpoints
from polymm.venue.outcomes import Ok, Outcome, Refused, Unknown, no_reply_cause

MAX_BATCH = 15
MAX_BACKOFF_S = 60.0  # the longest a 429 stops calls of one kind, whatever the venue asks
# A duplicate-order refusal means the first post landed: the order is live (or was matched).
# The venue's wording is "order {id} is invalid. Duplicated." with code INVALID_ORDER_DUPLICATED
# (docs.polymarket.com/resources/error-codes, "Order Processing Errors"); matched case-insensitively.
DUPLICATE_MARKERS = ("is invalid. duplicated", "invalid_order_duplicated", "duplicate", "already placed",
                     "already exists")


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


def is_duplicate(message: str) -> bool:
    text = message.lower()
    return any(marker in text for marker in DUPLICATE_MARKERS)


def _classify(exc: Exception) -> Refused | Unknown:
    """A failed call: 4xx (but 429 and duplicates) is a definite refusal; everything else is Unknown."""
    if isinstance(exc, PolyApiException):
        status = exc.status_code
        message = exc.error_msg if isinstance(exc.error_msg, str) else json.dumps(exc.error_msg)[:300]
        if status is None or status >= 500:
            cause = no_reply_cause(exc) if status is None else None
            return Unknown(f"no reply from {cause}" if cause else f"{status or 'no reply'}: {message}")
        if status == 429:
            retry = None
            if isinstance(exc.error_msg, dict):
                retry = exc.error_msg.get("retry_after_seconds")
            return Refused(f"rate limited: {message}", status, float(retry) if retry is not None else None)
        if is_duplicate(message):
            return Unknown(f"duplicate: the order is already at the venue ({message})")
        return Refused(message, status)
    if isinstance(exc, (PolyException, httpx.HTTPError, ValueError, KeyError, TypeError)):
        return Unknown(f"{type(exc).__name__}: {exc}")
    raise exc


class TradingGateway:
    """One account's private connection to the venue (L2)."""

    def __init__(self, endpoints: VenueEndpoints, private_key: str, creds: ApiCreds | None = None,
                 signature_type: int = 0, funder: str | None = None, timeout_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.endpoints = endpoints
        self.client = ClobClient(endpoints.clob_url, chain_id=endpoints.chain_id, key=private_key, creds=creds,
                                 signature_type=signature_type, funder=funder)
        self.http = httpx.Client(timeout=timeout_s)
        self.clock = clock
        self._backoff_until: dict[str, float] = {}
        self._backoff_status: dict[str, int] = {}
        self._restart_backoff: dict[str, float] = {}  # kind -> the last back-off after a 425
        self._rate_backoff: dict[str, float] = {}  # kind -> the last back-off after a 429 without Retry-After
        self.heartbeat_mismatch: str | None = None  # set when the last beat's id was stale (then echoed)

    # ------------------------------------------------------------------ identity
    @property
    def address(self) -> str:
        return self.client.builder.funder

    @property
    def api_key(self) -> str:
        return self.client.creds.api_key if self.client.creds else ""

    def ensure_credentials(self, allow_create: bool = True) -> Outcome[ApiCreds]:
        """Credentials from the environment, else derived (GET), else created (POST) when allowed."""
        if self.client.creds is not None:
            return Ok(self.client.creds)
        attempts = [self.client.derive_api_key] + ([self.client.create_api_key] if allow_create else [])
        last: Refused | Unknown = Unknown("no credentials")
        for attempt in attempts:
            try:
                creds = attempt()
            except Exception as exc:  # the SDK raises bare Exceptions from L1 helpers
                last = _classify(exc) if isinstance(exc, (PolyException, httpx.HTTPError)) else Unknown(str(exc))
                continue
            self.client.set_api_creds(creds)
            return Ok(creds)
        return last

    # ------------------------------------------------------------------ signing
    def sign(self, token_id: str, side: str, price: Decimal, size: Decimal, tick_size: Decimal, neg_risk: bool,
             order_type: str = "GTC", post_only: bool = False) -> tuple[str, dict]:
        """A signed order body for POST /orders and its id (the EIP-712 hash), computed before sending."""
        signed = self.client.builder.build_order(
            OrderArgsV2(token_id=token_id, price=float(price), size=float(size), side=side),
            CreateOrderOptions(tick_size=str(tick_size), neg_risk=neg_risk),
            version=2,
        )
        payload = order_to_json_v2(signed, self.api_key, order_type, post_only, False)
        order_id = "0x" + order_digest(payload["order"], self.endpoints.chain_id, neg_risk).hex()
        return order_id, payload

    # ------------------------------------------------------------------ writes
    def _backing_off(self, kind: str) -> Refused | None:
        until = self._backoff_until.get(kind, 0.0)
        wait = until - self.clock()
        status = self._backoff_status.get(kind, 429)
        return Refused(f"backing off after {status} for {wait:.1f} s", status, wait) if wait > 0 else None

    def blocked_for(self, kind: str) -> float:
        """Seconds until calls of `kind` ("orders" | "cancels") are sent again (0: not backing off)."""
        return max(self._backoff_until.get(kind, 0.0) - self.clock(), 0.0)

    def _note(self, kind: str, outcome: Refused | Unknown) -> None:
        if isinstance(outcome, Refused) and outcome.status == 429:
            # the venue's Retry-After, else 1 s doubling per 429 in a row; bounded either way
            step = outcome.retry_after_s or min(max(self._rate_backoff.get(kind, 0.5) * 2, 1.0), MAX_BACKOFF_S)
            self._rate_backoff[kind] = step
            self._backoff_until[kind] = self.clock() + min(step, MAX_BACKOFF_S)
            self._backoff_status[kind] = 429
        elif isinstance(outcome, Refused) and outcome.status == 425:
            # the matching engine is restarting (~90 s; docs.polymarket.com/trading/matching-engine): back off
            # exponentially from 2 s to 30 s instead of resending every tick
            step = min(max(self._restart_backoff.get(kind, 1.0) * 2, 2.0), 30.0)
            self._restart_backoff[kind] = step
            self._backoff_until[kind] = self.clock() + step
            self._backoff_status[kind] = 425
        else:
            self._restart_backoff.pop(kind, None)

    def _read(self, call: Callable[[], Any]) -> Any | Refused | Unknown:
        """A private read under the "reads" back-off: refused locally while it lasts (the tick treats the section
        as unknown and reads again on a later tick); a 429 starts it. Returns the reply, or the failed outcome."""
        blocked = self._backing_off("reads")
        if blocked:
            return blocked
        try:
            reply = call()
        except Exception as exc:
            outcome = _classify(exc)
            self._note("reads", outcome)
            return outcome
        self._rate_backoff.pop("reads", None)
        return reply

    def _send(self, method: str, path: str, body: Any) -> Any:
        serialized = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        headers = create_level_2_headers(
            self.client.signer, self.client.creds,
            RequestArgs(method=method, request_path=path, body=body, serialized_body=serialized),
        )
        send = sdk_http.post if method == "POST" else sdk_http.delete
        return send(f"{self.endpoints.clob_url}{path}", headers=headers, data=serialized)

    def post_batch(self, payloads: list[dict]) -> Outcome[list[Outcome[dict]]]:
        """POST /orders with at most 15 stored payloads; per-order outcomes when the request itself succeeded."""
        if not payloads or len(payloads) > MAX_BATCH:
            return Refused(f"a batch holds 1 to {MAX_BATCH} orders, not {len(payloads)}")
        blocked = self._backing_off("orders")
        if blocked:
            return blocked
        try:
            reply = self._send("POST", "/orders", payloads)
        except Exception as exc:
            outcome = _classify(exc)
            self._note("orders", outcome)
            return outcome
        self._restart_backoff.pop("orders", None)
        self._rate_backoff.pop("orders", None)
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
        """DELETE /orders; Ok({"canceled": [...], "not_canceled": {id: reason}})."""
        blocked = self._backing_off("cancels")
        if blocked:
            return blocked
        try:
            reply = self._send("DELETE", "/orders", order_ids)
        except Exception as exc:
            outcome = _classify(exc)
            self._note("cancels", outcome)
            return outcome
        self._restart_backoff.pop("cancels", None)
        self._rate_backoff.pop("cancels", None)
        if not isinstance(reply, dict) or not isinstance(reply.get("canceled", []), list):
            return Unknown(f"unparseable reply to DELETE /orders: {str(reply)[:200]}")
        return Ok({"canceled": list(reply.get("canceled") or []), "not_canceled": dict(reply.get("not_canceled") or {})})

    def cancel_all(self) -> Outcome[dict]:
        try:
            reply = self.client.cancel_all()
        except Exception as exc:
            return _classify(exc)
        return Ok(reply) if isinstance(reply, dict) else Unknown(f"unparseable reply: {str(reply)[:200]}")

    def heartbeat(self, heartbeat_id: str) -> Outcome[str]:
        """One beat. The id rotates on each beat; a stale id is refused with the id the venue expects
        (VENUE.md, "heartbeats"), which is then echoed at once — one retry, so a lost reply costs no lapse."""
        self.heartbeat_mismatch = None
        try:
            reply = self.client.post_heartbeat(heartbeat_id)
        except PolyApiException as exc:
            expected = exc.error_msg.get("heartbeat_id") if isinstance(exc.error_msg, dict) else None
            if exc.status_code != 400 or not expected or expected == heartbeat_id:
                return _classify(exc)
            # after an acknowledged beat of ours, only another client can have rotated the id (controller/heartbeat.py)
            self.heartbeat_mismatch = f"Invalid Heartbeat ID: the venue expected {str(expected)[:8]}…, not ours"
            try:
                reply = self.client.post_heartbeat(str(expected))
            except Exception as exc2:
                return _classify(exc2)
        except Exception as exc:
            return _classify(exc)
        if not isinstance(reply, dict) or not reply.get("heartbeat_id"):
            return Unknown(f"unparseable heartbeat reply: {str(reply)[:200]}")
        return Ok(str(reply["heartbeat_id"]))

    # ------------------------------------------------------------------ private reads
    def open_orders(self) -> Outcome[list[dict]]:
        rows = self._read(self.client.get_open_orders)
        if isinstance(rows, (Refused, Unknown)):
            return rows
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            return Unknown("unparseable open orders")
        return Ok(rows)

    def trades(self, after: int | None = None) -> Outcome[list[dict]]:
        rows = self._read(lambda: self.client.get_trades(TradeParams(after=after) if after else None))
        if isinstance(rows, (Refused, Unknown)):
            return rows
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            return Unknown("unparseable trades")
        return Ok(rows)

    def collateral(self) -> Outcome[Decimal]:
        try:
            reply = self.client.get_balance_allowance(BalanceAllowanceParams(asset_type=AssetType.COLLATERAL))
            return Ok(Decimal(str(reply["balance"])) / Decimal(1_000_000))
        except Exception as exc:
            return _classify(exc)

    def balance_allowance(self) -> Outcome[tuple[Decimal, Decimal | None]]:
        """(collateral balance, allowance) in USDC from GET /balance-allowance. Amounts are in base units of
        the 6-decimal collateral token; the reply carries `allowance` or, for several exchange contracts,
        `allowances` {contract: amount}, of which the smallest limits trading
        (https://docs.polymarket.com/api-reference — balance-allowance; py_clob_client_v2 get_balance_allowance)."""
        try:
            reply = self.client.get_balance_allowance(BalanceAllowanceParams(asset_type=AssetType.COLLATERAL))
            balance = Decimal(str(reply["balance"])) / Decimal(1_000_000)
            raw = reply.get("allowances") or ({"": reply["allowance"]} if "allowance" in reply else {})
            allowance = min((Decimal(str(v)) for v in raw.values()), default=None)
        except Exception as exc:
            return _classify(exc)
        return Ok((balance, None if allowance is None else allowance / Decimal(1_000_000)))

    def rewards_paid(self, date: str) -> Outcome[Decimal]:
        """Liquidity rewards the venue credited to us on `date` (YYYY-MM-DD, UTC): the sum of `earnings` in
        GET /rewards/user/total, one row per reward asset
        (https://docs.polymarket.com/api-reference/rewards/get-total-earnings-for-user-by-date)."""
        try:
            rows = self.client.get_total_earnings_for_user_for_day(date)
            rows = rows if isinstance(rows, list) else [rows]
            return Ok(sum((Decimal(str(r.get("earnings") or 0)) for r in rows if isinstance(r, dict)), Decimal(0)))
        except Exception as exc:
            return _classify(exc)

    def rebates_paid(self, date: str) -> Outcome[Decimal]:
        """Maker rebates the venue paid us for `date` (YYYY-MM-DD, UTC): the sum of `rebated_fees_usdc` in
        GET /rebates/current?date=&maker_address= (public; docs.polymarket.com/api-reference/rebates/
        get-current-rebated-fees-for-a-maker)."""
        try:
            resp = self.http.get(f"{self.endpoints.clob_url}/rebates/current",
                                 params={"date": date, "maker_address": self.address})
            resp.raise_for_status()
            rows = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            return Unknown(f"rebates: {exc}")
        if not isinstance(rows, list):
            return Unknown("rebates: expected a JSON array")
        try:
            return Ok(sum((Decimal(str(r.get("rebated_fees_usdc") or 0)) for r in rows if isinstance(r, dict)), Decimal(0)))
        except ArithmeticError as exc:
            return Unknown(f"rebates: {exc}")

    def reward_shares(self) -> Outcome[dict[str, float]]:
        """The share (0–1) of each market's reward pool our resting orders earn now: GET /rewards/user/percentages,
        a map of condition id to percent (docs.polymarket.com/api-reference/rewards/get-reward-percentages-for-user)."""
        try:
            raw = self.client.get_reward_percentages()
        except Exception as exc:
            return _classify(exc)
        if not isinstance(raw, dict):
            return Unknown("reward percentages: expected a JSON object")
        try:
            return Ok({str(cid): float(pct) / 100 for cid, pct in raw.items() if float(pct) >= 0})
        except (TypeError, ValueError) as exc:
            return Unknown(f"reward percentages: {exc}")

    def positions(self) -> Outcome[list[dict]]:
        try:
            # sizeThreshold 1 is the documented default (rows under 1 share are not listed); one page of 500
            # (docs.polymarket.com/developers/open-api/get-positions.json)
            resp = self.http.get(f"{self.endpoints.data_url}/positions",
                                 params={"user": self.address, "sizeThreshold": "1", "limit": "500"})
            resp.raise_for_status()
            rows = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            return Unknown(f"positions: {exc}")
        return Ok(rows) if isinstance(rows, list) else Unknown("positions: expected a JSON array")

    def close(self) -> None:
        self.http.close()
