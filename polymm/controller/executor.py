"""Executing a gated plan: ledger first, then the venue, then the outcome through the order state machine.

Order of work in one tick: cancels (batched), then places (hedges first, batches of ≤ 15). A place
that replaces an order goes out only if that order's cancel was confirmed in this tick. For every
place: sign, write the intent with the exact signed payload and mark it `submitting` (one synchronous
commit a batch), send, and record the outcome — `accept`/`fill` when the venue confirms, `reject` on a
definite refusal, `lose_reply` (→ unknown) when the outcome is unknown. Unknown orders are resolved
only by observation; while unresolved, their stored payload may be resent (the same bytes, so the
venue can never hold two), and a refusal of a resend proves nothing and changes nothing.

Retries never block the loop: a slot whose places keep being refused is tried again on the next
ticks, up to `order_max_tries` (quotes) or `hedge_max_tries` (hedges) in a row, then rests for
`hedge_cooldown_seconds` — except a hedge refused for balance ("not enough balance / allowance"
right after the buy that it hedges), which is tried again on every tick until the balance catches up.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import Callable

from decimal import Decimal

from polymm.config import PolymmConfig
from polymm.domain.exposure import BuyExposure
from polymm.domain.terms import OrderTerms
from polymm.reconciler.gate import GatedPlan
from polymm.reconciler.plan import Place, hedges_first
from polymm.ledger import Ledger, NewOrder
from polymm.statemachines.orders import CANCELLABLE_STATES
from polymm.venue.outcomes import Ok, Refused
from polymm.venue.trading import MAX_BATCH, TradingGateway, is_balance_refusal, is_post_only_cross, is_post_only_mode

ZERO = Decimal(0)
log = logging.getLogger("polymm.executor")
CANCEL_BATCH = 100
# after a matching-engine restart the venue takes only post-only orders for 2 minutes
# (docs.polymarket.com/trading/matching-engine)
POST_ONLY_MODE_S = 120.0


@dataclass
class ExecutionReport:
    cancels_sent: int = 0
    cancels_confirmed: int = 0
    places_sent: int = 0
    places_confirmed: int = 0
    places_refused: int = 0
    places_unknown: int = 0
    places_denied: int = 0
    places_skipped: int = 0
    resends: int = 0
    notes: list[str] = field(default_factory=list)
    place_errors: list[str] = field(default_factory=list)  # why places were refused or left unknown, this tick

    @property
    def writes(self) -> int:
        return self.cancels_sent + self.places_sent + self.resends


@dataclass
class _SlotFailures:
    count: int = 0
    cooldown_until: float = 0.0


class Executor:
    def __init__(self, ledger: Ledger, trading: TradingGateway, cfg: PolymmConfig,
                 clock: Callable[[], float] = time.time) -> None:
        self.ledger = ledger
        self.trading = trading
        self.cfg = cfg
        self.clock = clock
        self.failures: dict[str, _SlotFailures] = {}
        self.post_only_until = 0.0  # hedges go out as post-only asks until then
        # (order id, what was left of it, when) for our buys whose cancel the venue confirmed: the controller takes
        # them (Controller.settling) and counts them against the caps until a trades read after the cancel
        self.cancelled_buys: list[tuple[str, BuyExposure, float]] = []
        self.resend_counts: dict[str, int] = {}
        self.last_resend: dict[str, float] = {}

    # ------------------------------------------------------------------ cancels
    def _cancel(self, gated: GatedPlan, report: ExecutionReport) -> set[str]:
        confirmed: set[str] = set()
        ours = []
        buys: dict[str, BuyExposure] = {}  # our buys being cancelled, with what was left of them
        for c in gated.cancels:
            rec = None if c.foreign else self.ledger.order(c.order_id)
            if rec is not None and rec.state in CANCELLABLE_STATES:
                self.ledger.transition(c.order_id, "request_cancel", reason=c.reason)
            if rec is not None and rec.side == "BUY":  # what our fills do not yet show matched
                left = max(rec.size - self.ledger.matched_by_fills(c.order_id), ZERO)
                buys[c.order_id] = BuyExposure(rec.condition_id, rec.price, left)
            ours.append(c.order_id)
        for i in range(0, len(ours), CANCEL_BATCH):
            chunk = ours[i:i + CANCEL_BATCH]
            report.cancels_sent += len(chunk)
            outcome = self.trading.cancel(chunk)
            if not isinstance(outcome, Ok):
                report.notes.append(f"cancel of {len(chunk)} order(s): {outcome.reason}")
                continue
            for oid in outcome.value["canceled"]:
                confirmed.add(oid)
                rec = self.ledger.order(oid)
                if rec is not None and rec.state == "cancel_requested":
                    self.ledger.transition(oid, "confirm_cancel", reason="cancel confirmed")
            for oid, why in outcome.value["not_canceled"].items():
                report.notes.append(f"not cancelled {oid[:12]}…: {why}")
                if "already canceled" in why:
                    # no longer resting, which is all a place waiting on this cancel needs (an earlier
                    # cancel whose reply was lost did land); "already canceled" alone is definite enough
                    # to record, "or matched" is left for observation to tell apart
                    confirmed.add(oid)
                    rec = self.ledger.order(oid)
                    if rec is not None and rec.state == "cancel_requested" and why.strip() == "order already canceled":
                        self.ledger.transition(oid, "confirm_cancel", reason=f"venue: {why}")
        report.cancels_confirmed = len(confirmed)
        # a cancel confirmed is not the end of a buy's story: a fill may have come just before it, which only a
        # later trades read shows; until then what was left of it counts against the caps (Controller.settling)
        now = self.clock()
        self.cancelled_buys.extend((oid, buys[oid], now) for oid in sorted(confirmed) if oid in buys)
        return confirmed

    # ------------------------------------------------------------------ places
    def _cooling(self, place: Place, now: float) -> bool:
        f = self.failures.get(place.slot_key)
        return f is not None and f.cooldown_until > now

    def _note_failure(self, place: Place, now: float) -> None:
        f = self.failures.setdefault(place.slot_key, _SlotFailures())
        f.count += 1
        tries = self.cfg.retries.hedge_max_tries if place.order.role == "hedge" else self.cfg.retries.order_max_tries
        if f.count >= tries:
            f.cooldown_until = now + self.cfg.retries.hedge_cooldown_seconds
            f.count = 0

    def post_only_mode(self) -> bool:
        return self.clock() < self.post_only_until

    def _place(self, gated: GatedPlan, cancelled: set[str], report: ExecutionReport) -> None:
        now = self.clock()
        report.places_denied = len(gated.dropped)
        blocked_for = getattr(self.trading, "blocked_for", None)  # test doubles of the gateway may not back off
        wait = blocked_for("orders") if blocked_for else 0.0
        if wait > 0 and gated.places:
            # backing off (429, or 425 while the matching engine restarts): nothing is signed or recorded,
            # so a restart costs no ledger churn and no venue writes; the plan is made again next tick
            report.places_skipped += len(gated.places)
            report.notes.append(f"placing paused {wait:.1f} s more (venue back-off)")
            return
        sendable = []
        for place in gated.places:
            if place.after_cancel and place.after_cancel not in cancelled:
                report.places_skipped += 1
                continue
            if self._cooling(place, now):
                report.places_skipped += 1
                continue
            sendable.append(place)
        for start in range(0, len(sendable), MAX_BATCH):
            wait = blocked_for("orders") if blocked_for and start else 0.0
            if wait > 0:
                # an earlier batch of this tick was rate limited: the rest is neither signed nor recorded (the
                # gateway would refuse it unsent, and a ledger of rejections the venue never saw is false)
                report.places_skipped += len(sendable) - start
                report.notes.append(f"placing paused {wait:.1f} s more (venue back-off)")
                return
            batch = []
            for place in sendable[start:start + MAX_BATCH]:
                want = place.order
                order_id, payload = self.trading.sign(want.token_id, want.side, want.price, want.size, want.tick_size,
                                                      want.neg_risk, "GTC", want.post_only)
                batch.append((place, order_id, payload))
            with self.ledger.transaction():  # the batch's intents durable, in one commit, before it is sent
                for place, order_id, payload in batch:
                    want = place.order
                    self.ledger.record_intent(NewOrder(
                        terms=OrderTerms(order_id=order_id, slot_key=want.slot_key, condition_id=want.condition_id,
                                         token_id=want.token_id, side=want.side, role=want.role, price=want.price,
                                         size=want.size),
                        order_type="GTC", post_only=want.post_only, payload=payload,
                    ))
                    # `submit` joins the intent's commit (one fsync less before the send; a restart treats
                    # `intent` and `submitting` alike: both become unknown and are resent)
                    self.ledger.transition(order_id, "submit", reason="sending")
            self._send_batch(batch, report, now)

    def _send_batch(self, batch: list[tuple[Place, str, dict]], report: ExecutionReport, now: float) -> None:
        report.places_sent += len(batch)
        outcome = self.trading.post_batch([payload for _, _, payload in batch])
        if not isinstance(outcome, Ok):
            for place, order_id, _ in batch:
                self._record(place, order_id, outcome, report, now)
            return
        for (place, order_id, _), result in zip(batch, outcome.value):
            self._record(place, order_id, result, report, now)

    def _record(self, place: Place, order_id: str, outcome, report: ExecutionReport, now: float) -> None:
        if isinstance(outcome, Ok):
            reply = outcome.value
            if reply.get("orderID") and reply["orderID"] != order_id:
                # the venue computed another id: our hash is wrong somewhere; never guess which order this is
                self.ledger.transition(order_id, "lose_reply", reason=f"venue id {reply['orderID']} differs")
                report.places_unknown += 1
                return
            status = str(reply.get("status", "")).lower()
            if status == "live":
                self.ledger.transition(order_id, "accept", reason="live", venue_status="live")
            elif status == "matched":
                self.ledger.transition(order_id, "fill", reason="matched on arrival", venue_status="matched",
                                       size_matched=place.order.size)
            else:
                self.ledger.transition(order_id, "lose_reply", reason=f"venue status {status or '?'}", venue_status=status)
                report.places_unknown += 1
                return
            report.places_confirmed += 1
            self.failures.pop(place.slot_key, None)
        elif isinstance(outcome, Refused) and outcome.status == 429:
            # rate limited: the venue refused the request whole before processing it (trading-rate-limits), so
            # the order does not exist; the gateway backs off and a later tick places it again (a new intent)
            self.ledger.transition(order_id, "reject", reason=outcome.reason, error=outcome.reason)
            report.places_refused += 1
            report.notes.append(f"rate limited {place.order.role} {place.slot_key}: backing off")
        elif isinstance(outcome, Refused):
            self.ledger.transition(order_id, "reject", reason=outcome.reason, error=outcome.reason)
            report.places_refused += 1
            hedge_waits_for_balance = place.order.role == "hedge" and is_balance_refusal(outcome.reason)
            # neither an expected wait after a fill (controller.settle_ticks bounds how long it may last) nor a
            # post-only order the book moved onto before it arrived (the slot's cool-down keeps a price that
            # always crosses from repeating) is the venue refusing our orders: health stays as it is
            if not hedge_waits_for_balance and not is_post_only_cross(outcome.reason):
                report.place_errors.append(outcome.reason)
            report.notes.append(f"refused {place.order.role} {place.slot_key}: {outcome.reason}")
            if is_post_only_mode(outcome.reason):
                # the venue restarted: only post-only orders for a while; hedges are re-priced as post-only asks
                self.post_only_until = now + POST_ONLY_MODE_S
                report.notes.append(f"venue in post-only mode: hedges go out post-only for {POST_ONLY_MODE_S:.0f} s")
            elif hedge_waits_for_balance:
                # tokens just bought are often not sellable until the venue's balance catches up with the
                # settlement (py-clob-client issues #287, #290, #342): retry on the next tick, no cool-down
                report.notes.append(f"hedge {place.slot_key}: balance not caught up yet, retrying next tick")
            else:
                self._note_failure(place, now)
        else:
            self.ledger.transition(order_id, "lose_reply", reason=outcome.reason, error=outcome.reason)
            report.places_unknown += 1
            report.place_errors.append(outcome.reason)
            report.notes.append(f"unknown outcome {order_id[:12]}…: {outcome.reason}")

    # ------------------------------------------------------------------ resends
    def _resend_unknown(self, report: ExecutionReport) -> None:
        """Resend the stored payload of orders whose outcome is unknown (idempotent at the venue)."""
        now = self.clock()
        for rec in self.ledger.orders(["unknown"]):
            tries = self.resend_counts.get(rec.order_id, 0)
            limit = self.cfg.retries.hedge_max_tries if rec.role == "hedge" else self.cfg.retries.order_max_tries
            interval = (self.cfg.retries.hedge_retry_interval_seconds if rec.role == "hedge"
                        else self.cfg.retries.order_retry_interval_seconds)
            if tries >= limit - 1 or now - self.last_resend.get(rec.order_id, 0.0) < interval:
                continue
            self.resend_counts[rec.order_id] = tries + 1
            self.last_resend[rec.order_id] = now
            report.resends += 1
            outcome = self.trading.post_batch([rec.payload])
            if isinstance(outcome, Ok) and isinstance(outcome.value[0], Ok):
                status = str(outcome.value[0].value.get("status", "")).lower()
                if status == "live":
                    self.ledger.transition(rec.order_id, "accept", reason="live after resend", venue_status="live")
                    continue
                answer = f"status {status or 'none'}"
            else:
                answer = outcome.value[0].reason if isinstance(outcome, Ok) else outcome.reason
            # any other answer to a resend proves nothing about the first send: observation decides (it is said,
            # so that a slot held by an order of unknown outcome reads as such in the tick's notes)
            report.notes.append(f"resend of {rec.order_id[:12]}… ({rec.role}, outcome unknown): {answer}")

    def cancel_only(self, gated: GatedPlan) -> ExecutionReport:
        """Only the cancels of a plan (a stop): nothing placed, no unknown order resent."""
        report = ExecutionReport()
        self._cancel(gated, report)
        return report

    def run(self, gated: GatedPlan) -> ExecutionReport:
        report = ExecutionReport()
        # a fill's hedge goes out before the cancels when nothing it could trade with is being cancelled
        # (reconciler.plan.hedges_first): it does not wait for a cancel round trip and its commits
        first = hedges_first(gated.places, gated.cancels)
        if first:
            self._place(replace(gated, places=first, dropped=()), set(), report)
        cancelled = self._cancel(gated, report)
        self._resend_unknown(report)
        self._place(replace(gated, places=tuple(p for p in gated.places if p not in first)) if first else gated,
                    cancelled, report)
        return report

