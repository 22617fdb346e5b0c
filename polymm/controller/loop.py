"""`polymm reconcile [--loop]`: start-up reconciliation, the tick loop, heartbeats, wake-ups and a clean stop.

Start: the ledger is loaded and reconciled against the venue before anything is sent (our orders
are adopted by hash, foreign ones left alone unless configured); with `controller.clean_start` our
leftover buy quotes are cancelled. Loop: one tick at a time (never overlapping) every
`loop.order_check_interval_seconds`, sooner (but never more than every MIN_TICK_SPACING_S) when
the market channel reports a change in a book we have orders in, or the user channel a fill or an order
update; the market universe is rescanned every `loop.update_interval_seconds`. While heartbeats are
not healthy nothing is placed. Stop (SIGTERM/SIGINT): cancel our buy quotes, keep hedge sells,
journal final stats, exit 0. A failing tick is logged and the loop goes on: nothing crashes it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from decimal import Decimal

from polymm.catalog import CatalogWriter
from polymm.controller.account import AccountRecorder
from polymm.controller.core import Decision
from polymm.controller.executor import ExecutionReport
from polymm.controller.gcpolicy import settle_heap
from polymm.controller.heartbeat import Heartbeat
from polymm.controller.session import Session
from polymm.controller.wake import MarketChannelWaker, UserChannelWaker
from polymm.format import money
from polymm.observed.state import known
from polymm.observers import Observers
from polymm.reconciler.gate import GatedPlan
from polymm.reconciler.plan import Cancel

log = logging.getLogger("polymm.loop")
SLOW_STEP_S = 1.0
SUMMARY_EVERY_S = 10.0
MIN_TICK_SPACING_S = 0.1


@dataclass
class TickResult:
    number: int
    health: str
    why: str
    report: ExecutionReport
    decision: Decision | None


class Service:
    def __init__(self, session: Session, stop: threading.Event | None = None, use_user_channel: bool = True) -> None:
        self.session = session
        self.cfg = session.cfg
        self.controller = session.controller
        self.ledger = session.ledger
        self.stop_event = stop or threading.Event()
        self.wake = threading.Event()
        self.heartbeat = Heartbeat(session.trading, self.cfg.controller.heartbeat_interval_seconds)
        creds = session.trading.client.creds
        use_user_channel = use_user_channel and self.cfg.loop.channels_enabled
        self.waker = UserChannelWaker(session.endpoints.ws_url, creds.api_key, creds.api_secret, creds.api_passphrase,
                                      self.wake) if use_user_channel and creds else None
        self.book_waker = MarketChannelWaker(session.endpoints.ws_url, self.wake) if use_user_channel else None
        self.ticks = 0
        self.last_summary = 0.0
        self.totals = ExecutionReport()
        self.placing_problem: str | None = None
        self.observers = Observers(self)  # metrics, alerts, the dashboard's market snapshot (polymm/observers.py)
        self.catalog = CatalogWriter(session.ledger)  # market names for `polymm status` (polymm/catalog.py)
        self.controller.market_names = self.catalog.known  # the same entries name markets in the fill log lines
        self.account = AccountRecorder(session.trading, session.ledger, self.stop_event)  # balance, rewards paid

    # ------------------------------------------------------------------ start
    def startup(self) -> None:
        log.info("starting: ledger %s, venue %s (%s)", self.session.ledger_path, self.session.endpoints.clob_url,
                 "embedded simulator" if self.session.embedded else "remote")
        # our orders and fills only: the first tick scans the reward markets (once, not twice at start)
        observed = self.controller.observe(rescan=False)
        if not known(observed.open_orders):
            log.warning("open orders unknown at start (%s): nothing will be placed until they can be read",
                        observed.open_orders.reason)
        updates = self.controller.record_observation(observed)
        self._sends_of_a_previous_run_are_unknown()
        adopted = len(self.ledger.active_orders())
        log.info("reconciled with the venue: %d ledger update(s), %d active order(s) adopted", len(updates), adopted)
        if self.cfg.controller.clean_start:
            self._cancel_quotes("clean start")
        self.heartbeat.start()
        deadline = time.monotonic() + 5
        while not self.heartbeat.healthy and time.monotonic() < deadline and not self.stop_event.is_set():
            time.sleep(0.05)
        if self.waker:
            self.waker.start()
        if self.book_waker:
            self.book_waker.start()

    def _sends_of_a_previous_run_are_unknown(self) -> None:
        """Orders a previous run wrote (intent) or sent (submitting) but whose outcome it never recorded — it
        was killed in between — may or may not be at the venue, and the venue's open-orders read may lag:
        they are `unknown`. The executor then resends their stored payload at once (the same bytes: the
        venue cannot hold two), and observation settles them, instead of their slots (a hedge's too) being
        held for the whole grace window after every crash."""
        for rec in self.ledger.orders(["intent", "submitting"]):
            if rec.state == "intent":
                self.ledger.transition(rec.order_id, "submit", reason="a previous run wrote the intent; sent or not")
            self.ledger.transition(rec.order_id, "lose_reply", reason="a previous run stopped before recording the reply")

    def _cancel_quotes(self, why: str) -> ExecutionReport:
        quotes = [o for o in self.ledger.active_orders() if o.role == "quote" and o.side == "BUY"
                  and o.state in ("open", "partially_filled", "unknown")]
        cancels = tuple(Cancel(o.order_id, o.slot_key, o.condition_id, o.token_id, o.side, o.role, o.price,
                               o.remaining, why) for o in quotes)
        if not cancels:
            return ExecutionReport()
        report = self.controller.executor.run(GatedPlan(cancels, (), (), (), {}, {}))
        log.info("%s: cancelled %d of %d buy quote(s)", why, report.cancels_confirmed, len(cancels))
        return report

    # ------------------------------------------------------------------ tick
    def tick(self) -> TickResult:
        self.ticks += 1
        started = self.controller.clock()  # the controller's clock: simulated in a backtest
        t0, cpu0 = time.monotonic(), time.process_time()
        observed = self.controller.observe()
        t_observe = time.monotonic() - t0
        decision = self.controller.decide(observed)
        t_decide = time.monotonic() - t0 - t_observe
        health, why = self._health(decision)
        gated = decision.gated
        if not self.heartbeat.healthy and gated.places:
            gated = replace(gated, places=(), dropped=gated.dropped + tuple(
                (p, "heartbeat not healthy: placing stopped") for p in gated.places))
        report = self.controller.executor.run(gated)
        health, why = self._placing_health(health, why, report)
        if observed.full_scan:  # the new universe is long-lived: stop full collections walking it (gcpolicy)
            settle_heap()
        t_total = time.monotonic() - t0
        t_cpu = time.process_time() - cpu0
        if t_total > SLOW_STEP_S:
            log.info("slow tick %d: observe %.2f s, decide %.2f s, execute %.2f s", self.ticks, t_observe, t_decide,
                     t_total - t_observe - t_decide)
        self._accumulate(report)
        summary = self._summary(decision, report, health, why, t_total)
        summary["cpu_seconds"] = round(t_cpu, 4)  # this process's CPU (all threads) during the tick
        self.observers.tick(summary, decision, report)
        self.catalog.update(decision)
        self.account.flush()
        self.ledger.journal_tick(started, self.controller.clock(), summary)
        self._log_progress(summary, report)
        return TickResult(self.ticks, health, why, report, decision)

    def _health(self, decision: Decision) -> tuple[str, str]:
        obs = decision.observed
        unknown = [name for name in ("open_orders", "fills", "collateral") if not known(getattr(obs, name))]
        if not known(obs.open_orders):
            return "halted", f"open orders unknown: {obs.open_orders.reason}"
        if not self.heartbeat.healthy:
            return "degraded", f"heartbeat not healthy: {self.heartbeat.last_error or 'starting'}"
        if unknown:
            return "degraded", "unknown: " + ", ".join(f"{n} ({getattr(obs, n).reason})" for n in unknown)
        if not known(obs.reward_markets):
            return "degraded", f"market data unknown: {obs.reward_markets.reason}"
        held = decision.desired.held_markets
        if held:
            cause = next(iter(obs.problems), "their order books are missing or stale")
            return "degraded", f"{len(held)} market(s) held, market data unknown: {cause}"
        problems = self.controller.health_problems()  # unhedged too long, positions unlike the venue's
        if problems:
            return "degraded", "; ".join(problems)
        return "ok", ""

    def _placing_health(self, health: str, why: str, report: ExecutionReport) -> tuple[str, str]:
        """Degraded while the venue does not accept our orders (e.g. trading disabled: every post answers
        503): from a tick whose places failed until one is confirmed, or no order is left in doubt."""
        if report.place_errors:
            self.placing_problem = report.place_errors[-1]
        elif report.places_confirmed or not any(o.state == "unknown" for o in self.ledger.active_orders()):
            self.placing_problem = None
        if health == "ok" and self.placing_problem:
            return "degraded", f"the venue is not accepting our orders: {self.placing_problem}"
        return health, why

    def _accumulate(self, report: ExecutionReport) -> None:
        for name in ("cancels_sent", "cancels_confirmed", "places_sent", "places_confirmed", "places_refused",
                     "places_unknown", "places_denied", "resends"):
            setattr(self.totals, name, getattr(self.totals, name) + getattr(report, name))

    def _summary(self, decision: Decision, report: ExecutionReport, health: str, why: str, seconds: float) -> dict:
        gated = decision.gated
        return {
            "tick": self.ticks,
            "health": health,
            "why": why,
            "seconds": round(seconds, 4),
            "full_scan": decision.observed.full_scan,
            "writes": report.writes,
            "cancels": report.cancels_sent,
            "places": report.places_sent,
            "confirmed": report.places_confirmed,
            "refused": report.places_refused,
            "unknown": report.places_unknown,
            "denied": [why for _, why in gated.dropped][:20],
            "held": list(decision.plan.held)[:20],
            "selected": [ev.market.condition_id for ev in decision.selection.selected],
            "expected_rewards_per_day": round(sum(ev.expected_per_day for ev in decision.selection.selected), 4),
            "expected_by_market": {ev.market.condition_id: round(ev.expected_per_day, 6) for ev in decision.selection.selected},
            "exposure": {k: str(v) for k, v in gated.exposure_after.items()},
            "exposure_cap_per_market": str(self.cfg.strategy.max_exposure_per_market_usdc),
            "exposure_cap_total": str(self.cfg.strategy.max_total_exposure_usdc),
            "heartbeat_healthy": self.heartbeat.healthy,
            "user_channel": bool(self.waker and self.waker.connected),
            "market_data": self.controller.market_data.freshness(time.time()),
            "notes": (list(decision.desired.notes) + list(decision.observed.problems) + report.notes)[:20],
        }

    def _log_health_change(self, health: str, why: str) -> None:
        """One WARNING per change of health (so it reaches logs/, which keeps WARNING and above), not per tick."""
        previous = getattr(self, "_last_health", "ok")
        if health != previous:
            if health == "ok":
                log.warning("health ok again (was %s)", previous)
            else:
                log.warning("health %s: %s", health, why)
        self._last_health = health

    def _log_progress(self, summary: dict, report: ExecutionReport) -> None:
        self._log_health_change(summary["health"], summary["why"])
        now = time.monotonic()
        if report.writes == 0 and now - self.last_summary < SUMMARY_EVERY_S:
            return
        self.last_summary = now
        active = self.ledger.active_orders()
        quotes = sum(1 for o in active if o.role == "quote")
        hedges = sum(1 for o in active if o.role == "hedge")
        positions = [p for p in self.ledger.positions().values() if p.size > 0]
        exposure = sum((Decimal(v) for v in summary["exposure"].values()), Decimal(0))
        log.info("tick %d [%s] quotes %d, hedges %d, positions %d, exposure %s/%s, this tick: %d cancel(s), %d place(s)%s",
                 self.ticks, summary["health"], quotes, hedges, len(positions), money(exposure), money(summary["exposure_cap_total"]),
                 report.cancels_sent, report.places_sent, f" — {summary['why']}" if summary["why"] else "")

    # ------------------------------------------------------------------ run and stop
    def run(self, loop: bool = True) -> int:
        self.startup()
        try:
            while True:
                tick_started = time.monotonic()
                try:
                    self.tick()
                except Exception:  # nothing may crash the loop; the next tick re-reads everything
                    log.exception("tick %d failed; continuing", self.ticks)
                if not loop or self.stop_event.is_set():
                    break
                if self.book_waker:
                    self.book_waker.watch({o.token_id for o in self.ledger.active_orders()})
                # books are re-read every tick: ticks come at least every orderbook_update_interval_seconds too
                self.wake.wait(min(self.cfg.loop.order_check_interval_seconds,
                                   self.cfg.loop.orderbook_update_interval_seconds))
                self.wake.clear()
                # a burst of book changes must not turn into back-to-back ticks: ticks start at most every
                # MIN_TICK_SPACING_S — counted from the last tick's start, so a fill that arrived during a
                # tick is acted on as soon as that tick ends, not a spacing later
                self.stop_event.wait(max(0.0, MIN_TICK_SPACING_S - (time.monotonic() - tick_started)))
                if self.stop_event.is_set():
                    break
        finally:
            self.shutdown()
        return 0

    def shutdown(self) -> None:
        report = self._cancel_quotes("shutdown")
        if self.waker:
            self.waker.stop()
        if self.book_waker:
            self.book_waker.stop()
        self.heartbeat.stop()
        self.observers.close()
        positions = {t: str(p.size) for t, p in self.ledger.positions().items() if p.size > 0}
        final = {"final": True, "tick": self.ticks, "ticks": self.ticks, "totals": self.totals.__dict__ | {"notes": []},
                 "quotes_cancelled_at_stop": report.cancels_confirmed, "positions": positions}
        self.ledger.journal_tick(time.time(), time.time(), final)
        active = self.ledger.active_orders()
        hedged = {o.token_id for o in active if o.role == "hedge" and o.state in ("open", "partially_filled")}
        unsettled = sum(1 for o in active if o.state in ("intent", "submitting", "unknown", "cancel_requested"))
        log.info("stopped after %d tick(s): %d place(s), %d cancel(s); %d of %d position(s) with a resting hedge%s",
                 self.ticks, self.totals.places_sent, self.totals.cancels_sent, len(hedged & set(positions)),
                 len(positions), f"; {unsettled} order(s) not settled (cancel unconfirmed or outcome unknown: see "
                 "polymm status)" if unsettled else "")
        if unsettled:
            log.warning("stopped with %d order(s) not settled at the venue", unsettled)
